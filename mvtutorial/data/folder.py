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
When the cells are too small for that to give every split clips it can pair (e.g. one file per
(instrument, pitch) cell, or up to 5 a cell at 10% val/test), whole clips are assigned instead
(:func:`mvtutorial.data.splits.assign_pair_splits`): about ``split[1]`` and ``split[2]`` of the clips,
at least 4 each, go to val and test, each shared value that enters a split with clips of 2+ values
of the second factor (3 instruments x 8 pitches, one file each: 16/4/4). Every factor gets an integer label column ``<factor>_label`` (the sorted
distinct values), which the probes and MI estimates read.

Bad input is one clear error at load time: a missing CSV or audio file, an unreadable, silent or
constant audio file, a CSV without the named columns, a factor with a single value (nothing to
disentangle), a shared value whose clips all have one value of the second factor (no pair can be
drawn), and a split (given or drawn) that is empty or cannot be paired, or a test split with a
single value of a factor (nothing to score), with what to do about it.

Reference: Wilkins et al., ISMIR 2024 LBD (pairs share one factor and differ in another).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import soundfile
import torch
import torchaudio

from .._progress import tqdm  # tqdm.auto warns with a local path on every page without ipywidgets
from ..features import FeatureConfig, logmel
from .dataset import FactorDataset, load_cached
from .splits import SPLITS, assign_pair_splits, assign_splits, check_fractions

__all__ = ["FOLDER_FORMAT", "FolderConfig", "read_audio", "folder_spec", "load_audio_folder", "from_spec"]

#: Version of a folder's split rule, stored in its spec (2: small cells get a split with clips in
#: val and test, :func:`~mvtutorial.data.splits.assign_pair_splits`).
FOLDER_FORMAT = 2


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
        check_fractions(self.split)
        if not (self.split[1] > 0 and self.split[2] > 0):
            raise ValueError(f"split {self.split!r} leaves val or test empty: training needs val pairs and the evaluation "
                             "test clips; give both a fraction > 0, e.g. (0.8, 0.1, 0.1)")

    @property
    def n_samples(self) -> int:
        return int(round(self.sample_rate * self.duration))


def read_audio(path: str | Path, sample_rate: int = 16_000, n_samples: int | None = None) -> np.ndarray:
    """One file as mono float32 at ``sample_rate`` (torchaudio's band-limited resampling), cut or
    zero-padded to ``n_samples`` when given. Raises ``FileNotFoundError`` / ``ValueError`` naming the file."""
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
    if np.ptp(out) == 0:  # log-mels of a constant clip are all one value: nothing to learn, NaN-prone scaling
        what = "silent (all samples 0)" if out[0] == 0 else f"constant (every sample {out[0]:g})"
        raise ValueError(f"audio file {path} is {what} in its first {len(out)} samples; remove it from the CSV or fix the file")
    return out


def _read_table(config: FolderConfig, seed: int) -> pd.DataFrame:
    """The CSV with ``<factor>_label`` columns and a checked ``split`` column (given, or drawn with ``seed``)."""
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
    problem = _pairing_problem(table, config)
    if problem is not None:  # fails here, not epochs later in the trainer
        raise ValueError(f"{csv} {problem}, so no pair can be drawn for it (a pair is two clips of one {config.factors[0]} "
                         f"{_differing(config)}); add such clips or remove its rows")
    given = "split" in table.columns
    table["split"] = pd.Categorical(_given_split(table, csv) if given else _drawn_split(table, config, seed),
                                    categories=list(SPLITS))
    _check_splits(table, config, given)
    return table


def _given_split(table: pd.DataFrame, csv: Path) -> np.ndarray:
    bad = sorted(set(table["split"].astype(str)) - set(SPLITS))
    if bad:
        raise ValueError(f"split column of {csv} has value(s) {bad}; use {SPLITS}")
    return table["split"].astype(str).to_numpy()


def _drawn_split(table: pd.DataFrame, config: FolderConfig, seed: int) -> np.ndarray:
    """Stratified over (shared, second factor) cells; whole clips (:func:`assign_pair_splits`) where
    that leaves a split that cannot be paired. Both draw from ``default_rng(seed)``."""
    labels = [table[f"{f}_label"].to_numpy() for f in config.factors[:2]]
    cell = labels[0] * (labels[1].max() + 1) + labels[1] if len(labels) > 1 else labels[0]
    split = assign_splits(cell, config.split, np.random.default_rng(seed))
    drawn = table.assign(split=split)
    if any(_pairing_problem(drawn, config, name) for name in SPLITS):  # cells too small to stratify
        split = assign_pair_splits(labels[0], labels[1] if len(labels) > 1 else None, config.split, np.random.default_rng(seed))
    return split


def _check_splits(table: pd.DataFrame, config: FolderConfig, given: bool) -> None:
    """``ValueError`` naming the first split that cannot be paired (or scored), and what to change."""
    for name in SPLITS:
        problem = _pairing_problem(table, config, name)
        if problem is None:
            continue
        counts = "/".join(str(int((table["split"] == n).sum())) for n in SPLITS)
        rule = (f"every split needs clips, each {config.factors[0]} in a split needs {_need(config)} there, and the "
                "test split needs 2+ values of every factor")
        if given:
            how = f"edit the `split` column of {config.csv}: {rule}"
        else:
            how = (f"the {len(table)} clips are too few to split {config.split} this way; add clips, or add a `split` "
                   f"column (train/val/test) to {config.csv}: {rule}")
        raise ValueError(f"split {name!r} {problem} (train/val/test {counts}); {how}")


def _differing(config: FolderConfig) -> str:
    return f"with different {config.factors[1]}" if len(config.factors) > 1 else "(two different clips)"


def _need(config: FolderConfig) -> str:
    return f"clips of 2+ values of {config.factors[1]!r}" if len(config.factors) > 1 else "2+ clips"


def _pairing_problem(table: pd.DataFrame, config: FolderConfig, split: str | None = None) -> str | None:
    """Why no pair can be drawn from the clips of ``split`` (all clips when None), or None: the
    split is empty, or a value of the shared factor has clips of a single value of the second
    factor there (a single clip when there is no second factor), as :func:`factor_pairs` needs;
    or (test split) a factor has a single value there, which the evaluation cannot score."""
    rows = table if split is None else table[(table["split"] == split).to_numpy()]
    if len(rows) == 0:
        return "is empty"
    shared, differ = config.factors[0], (config.factors[1] if len(config.factors) > 1 else None)
    for value, group in rows.groupby(shared, sort=True):
        if differ is None and len(group) < 2:
            return f"has a single clip of {shared}={_show(value)}"
        if differ is not None and group[differ].nunique() < 2:
            return f"has only {differ}={_show(group[differ].iloc[0])} for {shared}={_show(value)}"
    if split == "test":  # the evaluation's probes and MI estimates need 2+ classes of every factor
        for f in config.factors:
            if rows[f].nunique() < 2:
                return f"has a single {f} ({_show(rows[f].iloc[0])}), and the evaluation needs 2+ of every factor there"
    return None


def _show(value) -> str:
    """``repr`` of a table value as the CSV wrote it (``3``, not ``np.int64(3)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


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


def folder_spec(config: FolderConfig, feature_config: FeatureConfig, seed: int) -> dict:
    """The JSON-ready data spec of a folder source (what checkpoints store)."""
    return json.loads(json.dumps({"source": "folder", "format": FOLDER_FORMAT, "config": asdict(config),
                                  "feature_config": asdict(feature_config), "seed": seed}))


def _render(rows: pd.DataFrame, config: FolderConfig, progress: bool = False) -> np.ndarray:
    """The dataset's renderer: the files of ``rows`` as the model saw them (mono, resampled, cut/padded),
    float32 ``(n, n_samples)``."""
    files = tqdm(rows[config.file_column].astype(str).to_numpy(), desc="reading audio", unit="file", disable=not progress)
    return np.stack([read_audio(Path(config.folder) / f, config.sample_rate, config.n_samples) for f in files])


def _dataset(features: torch.Tensor, factors: pd.DataFrame, config: FolderConfig, feature_config: FeatureConfig,
             seed: int) -> FactorDataset:
    columns = {f: f"{f}_label" for f in config.factors}
    return FactorDataset(features, factors, columns, feature_config, folder_spec(config, feature_config, seed), config, seed,
                         _render)


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
) -> FactorDataset:
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
    split : train/val/test fractions of the random split (when the CSV has no ``split`` column);
        val and test must be > 0. Small cells get whole clips assigned (see the module docstring).
    feature_config : log-mel settings (default: the tone set's at ``sample_rate``, which needs
        ``sample_rate >= 16000``; below that pass one with ``f_max <= sample_rate / 2``)
    cache : folder for the cache (default :func:`mvtutorial.cache.cache_dir`), or ``False`` for none

    Returns
    -------
    FactorDataset: ``features`` ``(N, n_mels, n_frames)``, ``factors`` (the CSV plus ``<factor>_label``
    and ``split``), ``factor_columns`` = ``{factor: "<factor>_label"}``, the shared factor first.

    Raises
    ------
    TypeError
        ``factors`` is a string rather than a list of column names.
    FileNotFoundError
        The CSV or a listed audio file is missing.
    ValueError
        Any other bad input (see the module docstring), before features are computed: each names
        the file, column, value or split and says what to change.
    """
    if isinstance(factors, (str, bytes)) or not isinstance(factors, Iterable):
        raise TypeError(f"factors must be a list of CSV column names, e.g. [{factors!r}], got {type(factors).__name__} {factors!r}")
    folder = Path(folder).expanduser().resolve()
    csv_path = Path(csv) if Path(csv).is_absolute() else folder / csv
    names = [shared] + [f for f in factors if f != shared]
    config = FolderConfig(str(folder), str(csv_path.resolve()), tuple(names), file_column, sample_rate, duration, split)
    if feature_config is None:
        nyquist, f_max = config.sample_rate / 2, FeatureConfig.f_max
        if f_max > nyquist:  # FeatureConfig's own error would name f_max, which the caller never set
            raise ValueError(f"sample_rate={sample_rate!r} is too low for the default log-mel features (mel bands up to "
                             f"{f_max:g} Hz need {2 * f_max:g} Hz or more); pass "
                             f"feature_config=FeatureConfig(sample_rate={sample_rate!r}, f_max={nyquist:g}), or keep "
                             f"sample_rate={int(2 * f_max)} (files of any rate are resampled to it)")
        feature_config = FeatureConfig(sample_rate=sample_rate)
    return _load(config, feature_config, seed, cache, progress)


def _load(config: FolderConfig, feature_config: FeatureConfig, seed: int, cache, progress: bool = True) -> FactorDataset:
    if config.sample_rate != feature_config.sample_rate:
        raise ValueError(f"clip sample_rate {config.sample_rate} != feature_config.sample_rate {feature_config.sample_rate}; "
                         "pass the same rate to both")
    table = _read_table(config, seed)
    stamp = _file_stamp(config, table) if cache is not False else ""

    def build() -> FactorDataset:
        features = logmel(torch.from_numpy(_render(table, config, progress)), feature_config)
        return _dataset(features, table, config, feature_config, seed)

    return load_cached(folder_spec(config, feature_config, seed), build,
                       lambda features, factors: _dataset(features, factors, config, feature_config, seed), cache, stamp)


def from_spec(spec: dict) -> FactorDataset:
    """The folder source of a data spec (:func:`folder_spec`), from the cache when it is there."""
    config = FolderConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()})
    return _load(config, FeatureConfig(**spec["feature_config"]), spec["seed"], None)
