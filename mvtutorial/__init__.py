"""mvtutorial: self-supervised multi-view VAEs that disentangle timbre and pitch.

Companion package of the book reproducing Wilkins, Ding, Fuentes & Bello,
"Self-Supervised Multi-View Learning for Disentangled Music Audio Representations"
(ISMIR 2024 LBD, arXiv:2411.02711). Importing it sets no global state.
"""
from ._version import __version__

from .features import FeatureConfig, griffin_lim, logmel, logmel_librosa
from .data import (WAVEFORMS, FactorDataset, FolderConfig, InstrumentConfig, ToneConfig, factor_pairs, frequency_centres,
                   generate_tones, load_audio_folder, load_from_spec, load_instrument_dataset, load_tone_dataset,
                   register_data_source, render, sample_factors, synthesize)
from .model import ModelConfig, MultiViewOutput, MultiViewVAE, fuse_mean, fuse_product_of_experts
from .losses import LossWeights, decompose_kl, full_dataset_decomposition, log_importance_weights, multiview_loss
from .objectives import OBJECTIVES, register_objective
from .config import TrainConfig
from .checkpoint import load_model
from .training import train
from .evaluate import encode_split, evaluate_model, evaluate_run, mi_matrix
from .listening import reconstruct, swap, swap_score, to_audio, traverse

__all__ = [
    "__version__", "WAVEFORMS", "ToneConfig", "frequency_centres", "generate_tones", "render", "sample_factors",
    "synthesize", "FeatureConfig", "griffin_lim", "logmel", "logmel_librosa", "FactorDataset", "factor_pairs",
    "load_tone_dataset", "InstrumentConfig", "load_instrument_dataset", "FolderConfig", "load_audio_folder",
    "load_from_spec", "register_data_source", "ModelConfig", "MultiViewOutput", "MultiViewVAE", "fuse_mean", "fuse_product_of_experts",
    "LossWeights", "decompose_kl", "full_dataset_decomposition", "log_importance_weights", "multiview_loss",
    "TrainConfig", "load_model", "train", "encode_split", "evaluate_model", "evaluate_run", "mi_matrix",
    "reconstruct", "swap", "swap_score", "to_audio", "traverse",
]
