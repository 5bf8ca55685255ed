"""The book's figures, one function each: data in, a matplotlib Figure out.

Chapters call these so that a figure cell reads as one line beside its prose (as ``librosa.display``
does for spectrograms). Every function takes plain arrays or the package's tidy tables, draws the
paper's values from :mod:`mvtutorial.paper` where a figure compares with them, returns the figure
(it does not call ``plt.show``), and is tested for what it draws. One file per part of the book:
:mod:`~mvtutorial.plots.spectra` (chapter 1's spectra and log-mels), :mod:`~mvtutorial.plots.diagrams`
(chapters 1-2), :mod:`~mvtutorial.plots.training` (chapter 3), :mod:`~mvtutorial.plots.evaluation`
(chapters 4-6, 8, 9), :mod:`~mvtutorial.plots.swaps` (chapters 6-9).
"""
from __future__ import annotations

from .diagrams import draw_architecture, fusion_figure, minibatch_tc_figure, narrow_posterior_figure, weight_matrices_figure
from .spectra import alias_spectra_figure, harmonics_figure, logmel_grid, logmel_panel, logmel_steps_figure
from .training import loss_terms_figure, reconstruction_figure
from .evaluation import ablation_bars, code_maps, mi_matrix_figure, probe_bars, score_heatmap, study_bars
from .swaps import alias_comb_figure, per_class_figure, pitch_judge_figure, swap_bars, swap_timbre_figure

__all__ = ["draw_architecture", "fusion_figure", "minibatch_tc_figure", "narrow_posterior_figure", "mi_matrix_figure",
           "probe_bars", "ablation_bars", "score_heatmap", "study_bars", "swap_bars", "pitch_judge_figure",
           "per_class_figure", "swap_timbre_figure", "alias_comb_figure", "alias_spectra_figure", "harmonics_figure", "logmel_panel", "logmel_steps_figure",
           "logmel_grid", "weight_matrices_figure", "loss_terms_figure", "reconstruction_figure",
           "code_maps"]
