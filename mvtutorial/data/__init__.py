"""The data layer: every data source as one kind of dataset, with one cache, one pair sampler and one split.

* :mod:`~mvtutorial.data.splits`: ``SPLITS`` and the one stratified split assigner (with its
  whole-clip fallback for tiny folders);
* :mod:`~mvtutorial.data.pairs`: the one pair sampler (same shared factor, another value of the second);
* :mod:`~mvtutorial.data.dataset`: :class:`~mvtutorial.data.dataset.FactorDataset`, the dataset of
  every source, and its checksummed cache file (:func:`~mvtutorial.data.dataset.load_cached`);
* :mod:`~mvtutorial.data.synthesis` and :mod:`~mvtutorial.data.tones`: the tone set
  (:func:`~mvtutorial.data.tones.load_tone_dataset`);
* :mod:`~mvtutorial.data.soundfont` and :mod:`~mvtutorial.data.instruments`: sampled General MIDI
  notes (:func:`~mvtutorial.data.instruments.load_instrument_dataset`);
* :mod:`~mvtutorial.data.folder`: your own folder of audio and a factor CSV
  (:func:`~mvtutorial.data.folder.load_audio_folder`);
* :mod:`~mvtutorial.data.sources`: the registry that turns a checkpoint's data spec back into its
  dataset (:func:`~mvtutorial.data.sources.load_from_spec`).

Each module imports only those above it in this list. The names below are importable from
``mvtutorial.data`` itself.

Reference: Wilkins et al., "Self-Supervised Multi-View Learning for Disentangled Music Audio
Representations", ISMIR 2024 LBD.
"""
from .splits import SPLITS, assign_pair_splits, assign_splits
from .pairs import factor_pairs
from .dataset import CACHE_FORMAT, FactorDataset, load_cached, spec_difference
from .synthesis import WAVEFORMS, synthesize
from .tones import (TONE_FACTORS, ToneConfig, build_tone_dataset, frequency_centres, generate_tones, load_tone_dataset, render,
                    sample_factors, tone_spec)
from .soundfont import find_soundfont, render_notes
from .instruments import (INSTRUMENT_FACTORS, InstrumentConfig, build_instrument_dataset, instrument_spec, load_instrument_dataset,
                          sample_note_factors)
from .folder import FolderConfig, load_audio_folder, read_audio
from .sources import DATA_SOURCES, load_from_spec, register_data_source

__all__ = [
    "SPLITS", "assign_splits", "assign_pair_splits", "factor_pairs", "CACHE_FORMAT", "FactorDataset", "load_cached",
    "spec_difference", "WAVEFORMS", "synthesize", "TONE_FACTORS", "ToneConfig", "build_tone_dataset", "frequency_centres",
    "generate_tones", "load_tone_dataset", "render", "sample_factors", "tone_spec", "find_soundfont", "render_notes",
    "INSTRUMENT_FACTORS", "InstrumentConfig", "build_instrument_dataset", "instrument_spec", "load_instrument_dataset",
    "sample_note_factors", "FolderConfig", "load_audio_folder", "read_audio", "DATA_SOURCES", "load_from_spec",
    "register_data_source",
]
