"""The tone set as log-mel features plus factors, cached on disk.

Every chapter calls :func:`load_tone_dataset`; the first call synthesises and
featurises the clips, later calls (any chapter, any process) load the cached
file, keyed by a hash of the configs and the seed. The file carries its own
checksum, so a truncated or corrupt cache is reported and rebuilt, never used.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from ._version import __version__
from .cache import atomic_write, cache_dir, config_hash
from .data import SPLITS, ToneConfig, render, sample_factors, sample_pairs
from .features import FeatureConfig, logmel

__all__ = ["ToneDataset", "load_tone_dataset", "build_tone_dataset", "CACHE_FORMAT", "TONE_FACTORS",
           "DATA_SOURCES", "register_data_source", "load_from_spec", "spec_difference"]

CACHE_FORMAT = 1  # bump when the file layout changes
_FACTOR_COLUMNS = ("waveform", "freq_class", "freq_hz", "amplitude", "phase")
#: The tone set's factors: name -> column of the factor table (timbre is shared by a pair, frequency is not).
TONE_FACTORS = {"timbre": "waveform", "frequency": "freq_class"}


@dataclass
class ToneDataset:
    """Log-mels ``features`` ``(N, n_mels, n_frames)`` float32 in [0, 1] with their ``factors`` table.

    This is the data-source interface the trainer and the evaluation rely on; another source
    (e.g. sampled instruments) provides the same members: ``features``, ``factors`` (with a
    ``split`` column), ``factor_columns`` (factor name -> column; the first factor is the one a
    pair shares), ``input_shape``, ``split_indices``, ``pairs`` and ``spec`` (a JSON-ready dict
    naming the source and its settings, stored in checkpoints; :func:`register_data_source`
    makes :func:`load_from_spec` rebuild it).
    """

    features: torch.Tensor
    factors: pd.DataFrame
    tone_config: ToneConfig
    feature_config: FeatureConfig
    seed: int
    factor_columns: dict = field(default_factory=lambda: dict(TONE_FACTORS))

    def spec(self) -> dict:
        """What identifies this data: ``{"source": "tones", "tone_config", "feature_config", "seed"}``."""
        return json.loads(json.dumps({"source": "tones", **_meta(self.tone_config, self.feature_config, self.seed)}, default=list))

    def __len__(self) -> int:
        return len(self.factors)

    @property
    def input_shape(self) -> tuple[int, int]:
        return tuple(self.features.shape[1:])

    def split_indices(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
        return np.flatnonzero((self.factors["split"] == split).to_numpy())

    def pairs(self, split: str = "train", rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Index pairs ``(n_split, 2)``: same waveform, different frequency class (see :func:`sample_pairs`)."""
        return sample_pairs(self.factors, split, rng)

    def audio(self, index) -> np.ndarray:
        """Re-render the audio of clips ``index`` from their factor rows, ``(n, n_samples)``."""
        return render(self.factors.iloc[np.atleast_1d(index)], self.tone_config)


#: Clips rendered and featurised together by :func:`build_tone_dataset` (16 MB of audio at 16 kHz, 1 s).
BUILD_CHUNK = 256


def build_tone_dataset(
    tone_config: ToneConfig, feature_config: FeatureConfig, seed: int = 0, threads: int | None = None
) -> ToneDataset:
    """Synthesise and featurise the whole set in memory (no cache).

    The clips go through in chunks of :data:`BUILD_CHUNK` (in waveform order, so a chunk is
    rendered as a few contiguous blocks): each chunk is rendered (:func:`~mvtutorial.data.render`),
    turned into log-mels (:func:`~mvtutorial.features.logmel`: one batched float32
    ``torch.fft.rfft`` per 32 clips) and written into its rows of one preallocated array; the
    whole set's audio (2 GB for the full set) never exists at once. ``threads`` chunks run at
    once in worker threads with one torch thread each (default ``torch.get_num_threads()``;
    torch's thread count is restored afterwards). On a busy machine this degrades gracefully,
    where torch's own threads on each small operation wait on each other (measured 6x slower
    under a load of 9 on 2 cores). The features do not depend on ``threads`` (tested bit for bit)
    and each clip's equal those of featurising it alone (to float32 rounding).
    """
    if tone_config.sample_rate != feature_config.sample_rate:
        raise ValueError(
            f"tone sample_rate {tone_config.sample_rate} != feature sample_rate {feature_config.sample_rate}"
        )
    threads = torch.get_num_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    factors = sample_factors(tone_config, seed)
    features = torch.empty(len(factors), *feature_config.shape(tone_config.n_samples))
    # Chunks of one waveform at a time (rows in waveform order): synthesize then renders each
    # chunk as contiguous blocks and hands its array back as it is, with no reordering copy.
    order = np.argsort(factors["waveform"].to_numpy(), kind="stable")

    def featurise(start: int) -> None:
        rows = order[start : start + BUILD_CHUNK]
        audio = render(factors.iloc[rows], tone_config, chunk=BUILD_CHUNK)
        features[torch.from_numpy(rows)] = logmel(torch.from_numpy(audio), feature_config, batch_size=32)

    starts = range(0, len(factors), BUILD_CHUNK)
    if threads == 1 or len(starts) == 1:
        for start in starts:
            featurise(start)
    else:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(featurise, starts))
        finally:
            torch.set_num_threads(previous)
    return ToneDataset(features, factors, tone_config, feature_config, seed)


def _checksum(features: np.ndarray, factors: pd.DataFrame) -> str:
    # Hash the arrays' own memory (a view, not a ``tobytes`` copy of the 0.5 GB of features).
    h = hashlib.sha256(memoryview(np.ascontiguousarray(features)).cast("B"))
    for col in _FACTOR_COLUMNS:
        h.update(memoryview(np.ascontiguousarray(factors[col].to_numpy())).cast("B"))
    h.update(factors["split"].astype(str).str.cat().encode())
    return h.hexdigest()


def _meta(tone_config: ToneConfig, feature_config: FeatureConfig, seed: int) -> dict:
    return {"format": CACHE_FORMAT, "tone_config": asdict(tone_config), "feature_config": asdict(feature_config), "seed": seed}


def _save(ds: ToneDataset, path: Path) -> None:
    features = ds.features.numpy()
    meta = {**_meta(ds.tone_config, ds.feature_config, ds.seed), "checksum": _checksum(features, ds.factors), "version": __version__}
    with atomic_write(path) as fh:  # written once, straight into the file (no in-memory copy first)
        np.savez(
            fh,
            features=features,
            split=ds.factors["split"].cat.codes.to_numpy(),
            meta=np.frombuffer(json.dumps(meta, default=list).encode(), dtype=np.uint8),
            **{c: ds.factors[c].to_numpy() for c in _FACTOR_COLUMNS},
        )


def _load(path: Path, tone_config: ToneConfig, feature_config: FeatureConfig, seed: int) -> ToneDataset:
    """Load and verify a cache file; raise ``ValueError`` saying what is wrong with it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes())
    except Exception as err:  # truncated zip, bad JSON, missing member...
        raise ValueError(f"unreadable cache file {path}: {err}") from err
    expected = json.loads(json.dumps(_meta(tone_config, feature_config, seed), default=list))
    if {k: meta.get(k) for k in expected} != expected:
        raise ValueError(f"cache file {path} was written for another config/seed")
    factors = pd.DataFrame({c: arrays[c] for c in _FACTOR_COLUMNS})
    factors.insert(1, "waveform_name", np.asarray(tone_config.waveforms)[factors["waveform"].to_numpy()])
    factors["split"] = pd.Categorical.from_codes(arrays["split"], categories=list(SPLITS))
    if _checksum(arrays["features"], factors) != meta.get("checksum"):
        raise ValueError(f"cache file {path} is corrupt (checksum mismatch)")
    return ToneDataset(torch.from_numpy(arrays["features"]), factors, tone_config, feature_config, seed)


def load_tone_dataset(
    mode_or_config: str | ToneConfig = "full",
    feature_config: FeatureConfig | None = None,
    seed: int = 0,
    cache: str | Path | None | bool = None,
) -> ToneDataset:
    """The tone set's features and factors, from the cache when a valid file exists.

    Parameters
    ----------
    mode_or_config : ``"fast"``, ``"full"`` or a :class:`ToneConfig`
    feature_config : defaults to :class:`FeatureConfig` at the tone sample rate
    seed : int
        Seed of the factor draw (frequencies, amplitudes, phases, split).
    cache : folder for the cache (default :func:`mvtutorial.cache.cache_dir`), or ``False`` for none.

    A cache file that is unreadable, for another config, or fails its checksum is
    reported with a warning and rebuilt.
    """
    tone_config = ToneConfig.preset(mode_or_config) if isinstance(mode_or_config, str) else mode_or_config
    feature_config = feature_config or FeatureConfig(sample_rate=tone_config.sample_rate)
    if cache is False:
        return build_tone_dataset(tone_config, feature_config, seed)
    path = cache_dir(None if cache in (None, True) else cache) / f"tones-{config_hash(tone_config, feature_config, seed, CACHE_FORMAT)}.npz"
    if path.exists():
        try:
            return _load(path, tone_config, feature_config, seed)
        except ValueError as err:
            warnings.warn(f"{err}; rebuilding it", stacklevel=2)
    ds = build_tone_dataset(tone_config, feature_config, seed)
    _save(ds, path)
    return ds


def _tones_from_spec(spec: dict) -> ToneDataset:
    from .data import ToneConfig as _TC  # noqa: N814 (the class, rebuilt from its dict)

    tone = _TC(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["tone_config"].items()})
    feature = FeatureConfig(**spec["feature_config"])
    return load_tone_dataset(tone, feature, seed=spec["seed"])


#: Data sources by name: ``spec -> dataset`` (see :meth:`ToneDataset.spec`).
DATA_SOURCES: dict[str, Callable[[dict], ToneDataset]] = {"tones": _tones_from_spec}


def register_data_source(name: str, loader: Callable[[dict], object]) -> None:
    """Make ``load_from_spec({"source": name, ...})`` call ``loader(spec)``."""
    if name in DATA_SOURCES:
        raise ValueError(f"data source {name!r} is already registered")
    DATA_SOURCES[name] = loader


def spec_difference(a: dict, b: dict) -> list[str]:
    """The settings in which two data specs differ, as ``"key: a != b"`` (one level into nested
    configs, e.g. ``"tone_config.n_clips: 840 != 1680"``), for error messages."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += [f"{key}.{k}: {va.get(k)!r} != {vb.get(k)!r}" for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
        elif va != vb:
            out.append(f"{key}: {va!r} != {vb!r}")
    return out


def load_from_spec(spec: dict):
    """Rebuild (or load from the cache) the dataset a checkpoint was trained on."""
    source = spec.get("source") if isinstance(spec, dict) else None
    if source not in DATA_SOURCES:
        raise ValueError(f"unknown data source {source!r} in {spec!r}; registered: {sorted(DATA_SOURCES)} "
                         "(pass the dataset explicitly, or register its source with register_data_source)")
    return DATA_SOURCES[source](spec)
