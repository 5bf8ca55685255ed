"""Your own audio: a folder of audio files plus a CSV naming each file's factors, as a data source.

The CSV has one row per file: a column with the file name (relative to the folder, default
``file``) and one column per factor, with any names and any values (strings or numbers), e.g.::

    file,instrument,pitch
    cello_C3.wav,cello,C3
    cello_D3.wav,cello,D3
    flute_C3.wav,flute,C3

You say which factor the two views of a pair share (``shared``, e.g. the instrument); pairs take
two clips with the same ``shared`` value and different values of the next factor of ``factors``
(e.g. the pitch). Files are read with soundfile (any format libsndfile reads: WAV, FLAC, OGG, ...),
mixed to mono, resampled with torchaudio to ``sample_rate``, cut or zero-padded to ``duration``
seconds and turned into the tone set's log-mel features (:func:`mvtutorial.features.logmel`), so a
model of the book takes them as they are. The result is cached (one checksummed ``.npz``, keyed by
the settings and each file's name, size and modification time).

Splits: a ``split`` column in the CSV (values ``train``, ``val``, ``test``) is used as given;
otherwise each (shared, second factor) cell is split at random (``split`` fractions, ``seed``).
Every factor gets an integer label column ``<factor>_label`` (the sorted distinct values), which
the probes and MI estimates read.

Bad input is one clear error: a missing CSV or audio file, an unreadable audio file, a CSV
without the named columns, a factor with a single value (nothing to disentangle).

Reference: Wilkins et al., ISMIR 2024 LBD (pairs share one factor and differ in another).
"""
from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ._progress import tqdm  # tqdm.auto warns with a local path on every page without ipywidgets
from .cache import cache_dir, config_hash
from .clips import ClipDataset, assign_splits, load_clips, save_clips
from .data import SPLITS
from .dataset import register_data_source
from .features import FeatureConfig, logmel

__all__ = ["FolderConfig", "FolderDataset", "read_audio", "load_audio_folder"]

CACHE_FORMAT = 1


@dataclass(frozen=True)
class FolderConfig:
    """Where the files are and how they become clips (see the module docstring).

    ``factors``: factor columns of the CSV, the shared one first (:func:`load_audio_folder` puts it
    there). Paths are stored absolute, so a checkpoint's data spec finds the files again.
    """

    folder: str
    csv: str
    factors: tuple[str, ...]
    file_column: str = "file"
    sample_rate: int = 16_000
    duration: float = 1.0
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors", tuple(str(f) for f in self.factors))
        object.__setattr__(self, "split", tuple(float(s) for s in self.split))
        if not self.factors:
            raise ValueError("name at least one factor column (the one the views share)")
        if len(set(self.factors)) != len(self.factors):
            raise ValueError(f"factors must be distinct, got {self.factors!r}")
        if self.file_column in self.factors or "split" in self.factors:
            raise ValueError(f"the file column {self.file_column!r} and 'split' cannot be factors, got {self.factors!r}")
        if not self.sample_rate > 0 or not self.duration > 0:
            raise ValueError(f"sample_rate and duration must be positive, got {self.sample_rate!r}, {self.duration!r}")
        if len(self.split) != 3 or any(s < 0 for s in self.split) or abs(sum(self.split) - 1) > 1e-6:
            raise ValueError(f"split must be 3 non-negative fractions summing to 1, got {self.split!r}")

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration))


@dataclass
class FolderDataset(ClipDataset):
    """A folder of audio as a :class:`~mvtutorial.clips.ClipDataset`, with its config and seed."""

    config: FolderConfig | None = None
    seed: int = 0

    def audio(self, index) -> np.ndarray:
        """The clips ``index`` as the model saw them (mono, resampled, cut/padded), ``(n, n_samples)``."""
        files = self.factors[self.config.file_column].to_numpy()[np.atleast_1d(index)]
        return np.stack([read_audio(Path(self.config.folder) / f, self.config.sample_rate, self.config.n_samples) for f in files])


def read_audio(path: str | Path, sample_rate: int = 16_000, n_samples: int | None = None) -> np.ndarray:
    """One file as mono float32 at ``sample_rate`` (torchaudio's band-limited resampling), cut or
    zero-padded to ``n_samples`` when given. Raises ``FileNotFoundError`` / ``ValueError`` naming the file."""
    import soundfile
    import torchaudio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file {path} does not exist")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # soundfile.LibsndfileError, RuntimeError, ...
        raise ValueError(f"cannot read audio file {path}: {err}") from None
    if len(data) == 0:
        raise ValueError(f"audio file {path} is empty")
    mono = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if rate != sample_rate:
        mono = torchaudio.functional.resample(mono, int(rate), int(sample_rate))
    out = mono.numpy().astype(np.float32)
    if n_samples is not None:
        out = out[:n_samples] if len(out) >= n_samples else np.pad(out, (0, n_samples - len(out)))
    if not np.isfinite(out).all():
        raise ValueError(f"audio file {path} contains NaN or inf samples")
    return out


def _read_table(config: FolderConfig, seed: int) -> pd.DataFrame:
    csv = Path(config.csv)
    if not csv.is_file():
        raise FileNotFoundError(f"factor table {csv} does not exist")
    table = pd.read_csv(csv)
    missing = [c for c in (config.file_column, *config.factors) if c not in table.columns]
    if missing:
        raise ValueError(f"{csv} has no column(s) {missing}; its columns are {list(table.columns)}")
    if len(table) == 0:
        raise ValueError(f"{csv} lists no files")
    for f in config.factors:
        values = table[f].dropna().unique()
        if table[f].isna().any():
            raise ValueError(f"factor {f!r} is empty in row(s) {list(np.flatnonzero(table[f].isna().to_numpy()) + 2)} of {csv}")
        if len(values) < 2:
            raise ValueError(f"factor {f!r} has a single value ({values[0]!r}) in {csv}; a factor must vary to be learned")
    for f in config.factors:
        table[f"{f}_label"] = np.unique(table[f].to_numpy(), return_inverse=True)[1].reshape(-1).astype(np.int64)
    if "split" in table.columns:
        bad = sorted(set(table["split"].astype(str)) - set(SPLITS))
        if bad:
            raise ValueError(f"split column of {csv} has value(s) {bad}; use {SPLITS}")
        split = table["split"].astype(str).to_numpy()
    else:
        labels = [table[f"{f}_label"].to_numpy() for f in config.factors[:2]]
        cell = labels[0] * (labels[1].max() + 1) + labels[1] if len(labels) > 1 else labels[0]
        split = assign_splits(cell, config.split, np.random.default_rng(seed))
    table["split"] = pd.Categorical(split, categories=list(SPLITS))
    return table


def _file_stamp(config: FolderConfig, table: pd.DataFrame) -> str:
    """Hash of every listed file's name, size and modification time (missing files raise)."""
    h = hashlib.sha256()
    for name in table[config.file_column].astype(str):
        path = Path(config.folder) / name
        if not path.is_file():
            raise FileNotFoundError(f"audio file {path} (listed in {config.csv}) does not exist")
        st = path.stat()
        h.update(f"{name}\x00{st.st_size}\x00{st.st_mtime_ns}\x00".encode())
    return h.hexdigest()


def _spec(config: FolderConfig, feature_config: FeatureConfig, seed: int) -> dict:
    return {"source": "folder", "format": CACHE_FORMAT, "config": asdict(config), "feature_config": asdict(feature_config), "seed": seed}


def load_audio_folder(
    folder: str | Path,
    shared: str,
    factors: Sequence[str],
    csv: str | Path = "factors.csv",
    file_column: str = "file",
    sample_rate: int = 16_000,
    duration: float = 1.0,
    seed: int = 0,
    split: tuple[float, float, float] = (0.8, 0.1, 0.1),
    feature_config: FeatureConfig | None = None,
    cache: str | Path | None | bool = None,
    progress: bool = True,
) -> FolderDataset:
    """A folder of audio files as a data source for the book's models.

    Parameters
    ----------
    folder : the folder holding the audio files
    shared : the factor the two views of a pair share (e.g. ``"instrument"``)
    factors : factor columns of the CSV (``shared`` may be among them); pairs differ in the first
        one after ``shared``
    csv : the factor table, relative to ``folder`` unless absolute (default ``factors.csv``)
    file_column : the CSV column with the file names (relative to ``folder``)
    sample_rate, duration : clips are resampled to ``sample_rate`` Hz and cut/zero-padded to ``duration`` s
    seed : seed of the random split (when the CSV has no ``split`` column)
    feature_config : log-mel settings (default: the tone set's at ``sample_rate``)
    cache : folder for the cache (default :func:`mvtutorial.cache.cache_dir`), or ``False`` for none

    Returns
    -------
    FolderDataset: ``features`` ``(N, n_mels, n_frames)``, ``factors`` (the CSV plus ``<factor>_label``
    and ``split``), ``factor_columns`` = ``{factor: "<factor>_label"}``, the shared factor first.
    """
    folder = Path(folder).expanduser().resolve()
    csv_path = Path(csv) if Path(csv).is_absolute() else folder / csv
    names = [shared] + [f for f in factors if f != shared]
    config = FolderConfig(str(folder), str(csv_path.resolve()), tuple(names), file_column, sample_rate, duration, split)
    return _load(config, feature_config or FeatureConfig(sample_rate=sample_rate), seed, cache, progress)


def _load(config: FolderConfig, feature_config: FeatureConfig, seed: int, cache, progress: bool = True) -> FolderDataset:
    if config.sample_rate != feature_config.sample_rate:
        raise ValueError(f"clip sample_rate {config.sample_rate} != feature sample_rate {feature_config.sample_rate}")
    table = _read_table(config, seed)
    spec = _spec(config, feature_config, seed)
    columns = {f: f"{f}_label" for f in config.factors}
    path = None
    if cache is not False:
        stamp = _file_stamp(config, table)
        path = cache_dir(None if cache in (None, True) else cache) / f"folder-{config_hash(spec, stamp)}.npz"
        if path.exists():
            try:
                features, factors = load_clips(path, spec)
                return FolderDataset(features, factors, columns, feature_config, spec, config, seed)
            except ValueError as err:
                warnings.warn(f"{err}; rebuilding it", stacklevel=3)
    files = table[config.file_column].astype(str).to_numpy()
    audio = np.stack([read_audio(Path(config.folder) / f, config.sample_rate, config.n_samples)
                      for f in tqdm(files, desc="reading audio", unit="file", disable=not progress)])
    features = logmel(torch.from_numpy(audio), feature_config)
    ds = FolderDataset(features, table, columns, feature_config, spec, config, seed)
    if path is not None:
        save_clips(path, features, table, spec)
    return ds


def _from_spec(spec: dict) -> FolderDataset:
    config = FolderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()})
    return _load(config, FeatureConfig(**spec["feature_config"]), spec["seed"], None)


register_data_source("folder", _from_spec)
