"""Disentanglement and probe metrics on frozen codes (pure NumPy / scikit-learn).

Every function takes plain arrays, in the style of ``disentanglement_lib``:

* ``codes`` -- float array of shape ``(N, D)``: one row per clip, one column per
  latent dimension (for us, posterior means).
* ``factors`` -- integer array of shape ``(N, K)`` (or ``(N,)`` for ``K = 1``):
  the ground-truth class label of each clip for each factor (timbre, pitch class).

Nothing here keeps state between calls and everything random takes an explicit
``random_state`` / ``seed``, so the same inputs always give the same numbers.
All information quantities are in **nats** (natural logarithm).

Layout (one short file per question a reader asks):

* :mod:`mvtutorial.metrics.mi` -- how much does a dimension know about a factor?
* :mod:`mvtutorial.metrics.scores` -- is each factor in one dimension (MIG, DCI, SAP)?
* :mod:`mvtutorial.metrics.probes` -- can a classifier read the factor from a subspace?

Contents
--------
Mutual information: :func:`mi_knn` (k-NN, Ross 2014), :func:`mi_histogram`
(binned, with :func:`discretize`), :func:`factor_entropy`.
Scores: :func:`mig` / :func:`mig_per_factor` (Chen et al. 2018),
:func:`dci` / :func:`dci_from_importance` (Eastwood & Williams 2018),
:func:`sap` / :func:`sap_scores` (Kumar et al. 2018).
Probes: :func:`make_probe`, :func:`probe_accuracy`, :func:`chance_level`,
:func:`probe_table`.

Reference: Wilkins et al., "Self-Supervised Multi-View Learning for Disentangled
Music Audio Representations", ISMIR 2024 LBD (MI matrix and MLP probes);
Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations", ICML 2019 (``disentanglement_lib``).
"""
from .mi import HISTOGRAM_STRATEGIES, discretize, factor_entropy, mi_histogram, mi_knn
from .probes import PROBE_KINDS, chance_level, make_probe, probe_accuracy, probe_table
from .scores import dci, dci_from_importance, mig, mig_per_factor, sap, sap_scores

__all__ = [
    "HISTOGRAM_STRATEGIES", "PROBE_KINDS", "mi_knn", "discretize", "mi_histogram", "factor_entropy",
    "mig_per_factor", "mig", "dci_from_importance", "dci", "sap_scores", "sap",
    "make_probe", "probe_accuracy", "chance_level", "probe_table",
]
