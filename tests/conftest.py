"""Fixtures shared by several test files: the fast tone set, an untrained toy model on it, one torch thread."""
from __future__ import annotations

import pytest
import torch

from mvtutorial.data import load_tone_dataset
from mvtutorial.model import MultiViewVAE


@pytest.fixture(scope="session")
def fast_tones():
    """The 840-clip fast tone set (cached on disk after the first build)."""
    return load_tone_dataset("fast")


@pytest.fixture(scope="session")
def toy_vae(fast_tones):
    """An untrained multi-view VAE on the fast tone set (seed 0; 3 private, 2 shared dimensions, one 32-wide layer)."""
    torch.manual_seed(0)
    return MultiViewVAE(input_shape=fast_tones.input_shape, private_dim=3, shared_dim=2, hidden=(32,))


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``): on a
    small shared machine more threads slow tiny training runs down many-fold."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
