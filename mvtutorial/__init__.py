"""mvtutorial: self-supervised multi-view VAEs that disentangle timbre and pitch.

Companion package of the book reproducing Wilkins, Ding, Fuentes & Bello,
"Self-Supervised Multi-View Learning for Disentangled Music Audio Representations"
(ISMIR 2024 LBD, arXiv:2411.02711). Importing it sets no global state.
"""
from ._version import __version__

from .data import WAVEFORMS, ToneConfig, frequency_centres, generate_tones, render, sample_factors, sample_pairs, synthesize
from .features import FeatureConfig, griffin_lim, logmel, logmel_librosa
from .dataset import ToneDataset, load_tone_dataset
from .model import ModelConfig, MultiViewOutput, MultiViewVAE, fuse_mean, fuse_product_of_experts
from .losses import LossWeights, decompose_kl, full_dataset_decomposition, log_importance_weights, multiview_loss
from .objectives import OBJECTIVES, register_objective
from .config import TrainConfig
from .checkpoint import load_model
from .training import train
from .evaluate import encode_split, evaluate_model, evaluate_run, mi_matrix
from .clips import ClipDataset, factor_pairs
from .instruments import InstrumentConfig, InstrumentDataset, load_instrument_dataset
from .folder import FolderDataset, load_audio_folder
from .listening import reconstruct, swap, swap_score, to_audio, traverse

__all__ = [
    "__version__", "WAVEFORMS", "ToneConfig", "frequency_centres", "generate_tones", "render", "sample_factors",
    "sample_pairs", "synthesize", "FeatureConfig", "griffin_lim", "logmel", "logmel_librosa", "ToneDataset",
    "load_tone_dataset", "ModelConfig", "MultiViewOutput", "MultiViewVAE", "fuse_mean", "fuse_product_of_experts",
    "LossWeights", "decompose_kl", "full_dataset_decomposition", "log_importance_weights", "multiview_loss",
    "TrainConfig", "load_model", "train", "encode_split", "evaluate_model", "evaluate_run", "mi_matrix",
    "ClipDataset", "factor_pairs", "InstrumentConfig", "InstrumentDataset", "load_instrument_dataset", "FolderDataset",
    "load_audio_folder",
    "reconstruct", "swap", "swap_score", "to_audio", "traverse",
]
