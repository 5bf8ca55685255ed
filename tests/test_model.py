"""Tests of the multi-view VAE: fusion rules (closed forms), shapes, gradients, validation, seeding."""
from __future__ import annotations

import math
import re

import pytest
import torch

from mvtutorial.losses import LossWeights, multiview_loss
from mvtutorial.model import (
    ModelConfig,
    MultiViewOutput,
    MultiViewVAE,
    Posterior,
    fuse_mean,
    fuse_product_of_experts,
    pitch_fourier_features,
    reparameterize,
)

B = 4


def rand_posterior(shape=(5, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64), torch.empty(*shape, dtype=torch.float64).uniform_(-2, 2, generator=g)


# --------------------------------------------------------------------------- #
# Fusion
# --------------------------------------------------------------------------- #
def test_poe_two_identical_experts_without_prior():
    mu, logvar = rand_posterior()
    m, lv = fuse_product_of_experts([mu, mu], [logvar, logvar], prior=False)
    torch.testing.assert_close(m, mu)
    torch.testing.assert_close(lv.exp(), logvar.exp() / 2)


def test_poe_two_identical_experts_with_prior_closed_form():
    mu, logvar = rand_posterior(seed=1)
    s2 = logvar.exp()
    precision = 1 + 2 / s2
    m, lv = fuse_product_of_experts([mu, mu], [logvar, logvar], prior=True)
    torch.testing.assert_close(lv, -torch.log(precision))
    torch.testing.assert_close(m, (2 * mu / s2) / precision)


def test_poe_general_closed_form_and_symmetry():
    (mu1, lv1), (mu2, lv2) = rand_posterior(seed=2), rand_posterior(seed=3)
    p1, p2 = (-lv1).exp(), (-lv2).exp()
    m, lv = fuse_product_of_experts([mu1, mu2], [lv1, lv2])
    torch.testing.assert_close(lv, -torch.log(1 + p1 + p2))
    torch.testing.assert_close(m, (mu1 * p1 + mu2 * p2) / (1 + p1 + p2))
    m_swapped, lv_swapped = fuse_product_of_experts([mu2, mu1], [lv2, lv1])
    torch.testing.assert_close(m_swapped, m)
    torch.testing.assert_close(lv_swapped, lv)


def test_poe_one_unit_variance_expert_and_prior_halves_the_mean():
    mu = torch.tensor([[2.0, -4.0, 0.5]])
    m, lv = fuse_product_of_experts([mu], [torch.zeros_like(mu)], prior=True)
    torch.testing.assert_close(m, mu / 2)
    torch.testing.assert_close(lv, torch.full_like(mu, -math.log(2)))
    # without the prior a single expert is returned unchanged
    m, lv = fuse_product_of_experts([mu], [torch.zeros_like(mu)], prior=False)
    torch.testing.assert_close(m, mu)
    torch.testing.assert_close(lv, torch.zeros_like(mu))


def test_poe_confident_expert_dominates():
    confident, vague = torch.tensor([[3.0]]), torch.tensor([[-3.0]])
    m, _ = fuse_product_of_experts([confident, vague], [torch.tensor([[-8.0]]), torch.tensor([[8.0]])])
    assert m.item() == pytest.approx(3.0, abs=1e-2)


def test_fuse_mean():
    (mu1, lv1), (mu2, lv2) = rand_posterior(seed=4), rand_posterior(seed=5)
    m, lv = fuse_mean([mu1, mu2], [lv1, lv2])
    torch.testing.assert_close(m, (mu1 + mu2) / 2)
    torch.testing.assert_close(lv.exp(), (lv1.exp() + lv2.exp()) / 2)
    m, lv = fuse_mean([mu1, mu1], [lv1, lv1])
    torch.testing.assert_close(m, mu1)
    torch.testing.assert_close(lv, lv1)


def test_reparameterize_uses_the_generator():
    mu, logvar = torch.zeros(1000, 2), torch.full((1000, 2), math.log(4.0))
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)
    assert a.std().item() == pytest.approx(2.0, rel=0.1)


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #
CONFIGS = {
    "default": ModelConfig(),
    "mlp": ModelConfig(arch="mlp", hidden=(64, 32)),
    "conv": ModelConfig(arch="conv"),
    "freqconv": ModelConfig(arch="freqconv", hidden=(64, 32)),
    "mean-fusion": ModelConfig(fusion="mean", private_dim=3, shared_dim=5),
    "pitch-features": ModelConfig(arch="freqconv", hidden=(64, 32), pitch_features=4),
}


def make_model(config: ModelConfig, seed: int = 0) -> MultiViewVAE:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MultiViewVAE(config)


def views(config: ModelConfig, batch: int = B, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, *config.input_shape, generator=g), torch.rand(batch, *config.input_shape, generator=g)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_forward_shapes_and_loss(name):
    c = CONFIGS[name]
    model = make_model(c)
    x1, x2 = views(c)
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    assert isinstance(out, MultiViewOutput)
    for r in out.recon:
        assert r.shape == x1.shape and torch.isfinite(r).all()
        assert (r >= 0).all() and (r <= 1).all()  # sigmoid output
    for p in (*out.private, *out.shared_experts, out.shared):
        assert isinstance(p, Posterior)
    for p, z in zip(out.private, out.z_private):
        assert p.mu.shape == p.logvar.shape == z.shape == (B, c.private_dim)
    for p in (*out.shared_experts, out.shared):
        assert p.mu.shape == p.logvar.shape == (B, c.shared_dim)
    assert out.z_shared.shape == (B, c.shared_dim)
    # the fused posterior is the configured fusion of the two experts
    torch.testing.assert_close(out.shared.mu, model.fuse(list(out.shared_experts)).mu)
    loss = multiview_loss(out, x1, x2, LossWeights(1, 1, 1), dataset_size=100)
    assert torch.isfinite(loss.total)


@pytest.mark.parametrize("name", ["default", "conv"])
def test_gradients_reach_every_part_and_adam_step_changes_parameters(name):
    c = CONFIGS[name]
    model = make_model(c)
    x1, x2 = views(c)
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    loss = multiview_loss(out, x1, x2, LossWeights(1, 1, 1), dataset_size=100).total
    loss.backward()
    first_encoder_layer = next(m for m in model.encoder if hasattr(m, "weight"))
    for layer in (model.private_head, model.shared_head, first_encoder_layer):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0, layer
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    before = [p.detach().clone() for p in model.parameters()]
    torch.optim.Adam(model.parameters(), lr=1e-3).step()
    changed = [not torch.equal(a, p) for a, p in zip(before, model.parameters())]
    assert all(changed), f"{changed.count(False)} parameter tensors did not move"


@pytest.mark.parametrize("name", ["default", "conv", "mean-fusion"])
def test_codes(name):
    c = CONFIGS[name]
    model = make_model(c)
    x1, x2 = views(c)
    private, shared, fused = model.private_code(x1), model.shared_code(x1), model.fused_shared_code(x1, x2)
    assert private.shape == (B, c.private_dim)
    assert shared.shape == fused.shape == (B, c.shared_dim)
    assert not (private.requires_grad or shared.requires_grad or fused.requires_grad)
    p, s = model.encode(x1)
    torch.testing.assert_close(private, p.mu)
    if c.fusion == "poe":  # single-view shared code: PoE(prior, this clip's expert)
        torch.testing.assert_close(shared, fuse_product_of_experts([s.mu], [s.logvar], prior=True)[0])
    else:
        torch.testing.assert_close(shared, s.mu)
    out = model(x1, x2)
    torch.testing.assert_close(fused, out.shared.mu)


def test_pooled_decoder_is_constant_over_time():
    model = make_model(CONFIGS["default"])
    r = model.decode(torch.randn(3, 8), torch.randn(3, 8))
    assert r.shape == (3, 128, 32)
    torch.testing.assert_close(r, r[:, :, :1].expand_as(r))


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def test_wrong_input_shape_raises():
    model = make_model(CONFIGS["default"])
    good = torch.rand(B, 128, 32)
    with pytest.raises(ValueError, match=re.escape("(4, 64, 32)")) as err:
        model(torch.rand(B, 64, 32), good)
    assert "128, 32" in str(err.value) and "x1" in str(err.value)
    with pytest.raises(ValueError, match=re.escape("(4, 4096)")):
        model(good, torch.rand(B, 128 * 32))
    with pytest.raises(ValueError, match=re.escape("(4, 128, 32)") + ".*" + re.escape("(3, 128, 32)")):
        model(good, torch.rand(3, 128, 32))
    with pytest.raises(ValueError, match=re.escape("(4, 64, 32)")):
        model.shared_code(torch.rand(B, 64, 32))


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"private_dim": 0}, "private_dim"),
        ({"shared_dim": -1}, "shared_dim"),
        ({"arch": "transformer"}, "transformer"),
        ({"fusion": "sum"}, "sum"),
        ({"input_shape": (128,)}, "input_shape"),
        ({"hidden": ()}, "hidden"),
        ({"arch": "conv", "input_shape": (100, 30)}, "divisible"),
        ({"adversary_hidden": (8, 0)}, "adversary_hidden"),
    ],
)
def test_bad_config_raises(kwargs, word):
    with pytest.raises(ValueError, match=word):
        ModelConfig(**kwargs)


def test_config_and_overrides_are_exclusive():
    assert MultiViewVAE(private_dim=2).config.private_dim == 2
    with pytest.raises(TypeError):
        MultiViewVAE(ModelConfig(), private_dim=2)


# --------------------------------------------------------------------------- #
# Reproducibility
# --------------------------------------------------------------------------- #
def test_same_seed_same_output():
    c = CONFIGS["default"]
    a, b = make_model(c, seed=7), make_model(c, seed=7)
    x1, x2 = views(c)
    out_a = a(x1, x2, generator=torch.Generator().manual_seed(3))
    out_b = b(x1, x2, generator=torch.Generator().manual_seed(3))
    for ta, tb in [(out_a.z_shared, out_b.z_shared), *zip(out_a.z_private, out_b.z_private), *zip(out_a.recon, out_b.recon)]:
        assert torch.equal(ta, tb)
    out_c = a(x1, x2, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(out_a.z_shared, out_c.z_shared)
    # a different initialisation seed gives a different network
    assert not torch.equal(make_model(c, seed=8)(x1, x2).shared.mu, out_a.shared.mu)


def test_posteriors_start_narrow():
    """The heads' log-variance biases start at ``init_logvar`` (narrow posteriors at init)."""
    for init in (-5.0, 0.0):
        model = make_model(ModelConfig(init_logvar=init, private_dim=3, shared_dim=4))
        for head, dim in ((model.private_head, 3), (model.shared_head, 4)):
            torch.testing.assert_close(head.bias[dim:].detach(), torch.full((dim,), init))
    out = make_model(CONFIGS["default"])(*views(CONFIGS["default"]))
    assert out.private[0].logvar.mean().item() == pytest.approx(-5.0, abs=1.0)


def test_freqconv_encoder_convolves_along_frequency_of_the_time_average():
    """``freqconv`` reads the time-averaged spectrum (frames in any order give the same code) through
    convolutions along frequency: before its MLP, a spectrum shifted by k bands gives feature maps
    shifted by k bands (away from the edges)."""
    model = make_model(ModelConfig(arch="freqconv", hidden=(64, 32)))
    x = torch.rand(2, 128, 32, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model.encode(x)[0].mu, model.encode(x.flip(-1))[0].mu)
    conv = model.encoder[:5]  # unflatten, conv, SiLU, conv, SiLU
    spectrum = torch.zeros(1, 128)
    spectrum[0, 40] = 1.0
    shifted = torch.roll(spectrum, 7, dims=1)
    torch.testing.assert_close(conv(shifted)[..., 30:100], torch.roll(conv(spectrum), 7, dims=-1)[..., 30:100])


def test_adversary_head_is_built_only_when_asked_and_changes_nothing_else():
    """Without ``adversary_hidden`` a model has exactly the parameters it always had; with it, the same
    parameters (same values, same seed) plus ``adversary.*``, and the same forward pass."""
    plain, c = make_model(CONFIGS["freqconv"]), ModelConfig(arch="freqconv", hidden=(64, 32), adversary_hidden=(16, 8))
    with_head = make_model(c)
    assert not any(n.startswith("adversary") for n, _ in plain.named_parameters())
    extra = {n: p for n, p in with_head.state_dict().items() if n not in plain.state_dict()}
    assert extra and all(n.startswith("adversary.") for n in extra)
    for name, value in plain.state_dict().items():
        assert torch.equal(value, with_head.state_dict()[name]), name
    x1, x2 = views(c)
    a = plain(x1, x2, generator=torch.Generator().manual_seed(3))
    b = with_head(x1, x2, generator=torch.Generator().manual_seed(3))
    for ta, tb in [(a.z_shared, b.z_shared), *zip(a.z_private, b.z_private), *zip(a.recon, b.recon)]:
        assert torch.equal(ta, tb)
    assert with_head.adversary(a.z_private[0]).shape == (B, c.shared_dim)


# --------------------------------------------------------------------------- #
# Fourier features of the pitch coordinate (the decoder's, chapter 6.8)
# --------------------------------------------------------------------------- #
def test_pitch_fourier_features_known_answers():
    pitch = torch.tensor([0.0, 0.25, 0.5], dtype=torch.float64)
    f = pitch_fourier_features(pitch, n=3, max_cycles=4.0)  # 1, 2 and 4 cycles per octave
    assert f.shape == (3, 6)
    sin, cos = f[:, :3], f[:, 3:]
    torch.testing.assert_close(sin[0], torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(cos[0], torch.ones(3, dtype=torch.float64))
    # a quarter octave: a quarter turn at 1 cycle per octave, half a turn at 2, a full turn at 4
    torch.testing.assert_close(sin[1], torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(cos[1], torch.tensor([0.0, -1.0, 1.0], dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(cos[2], torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64), atol=1e-12, rtol=0)
    # (B, 1) reads like (B,); one frequency is 1 cycle per octave
    torch.testing.assert_close(pitch_fourier_features(pitch[:, None], 3, 4.0), f)
    torch.testing.assert_close(pitch_fourier_features(pitch, 1, 4.0)[:, 0], torch.sin(2 * math.pi * pitch))
    with pytest.raises(ValueError, match="n must be >= 1"):
        pitch_fourier_features(pitch, 0)


def test_decoder_reads_the_pitch_features_of_the_first_private_coordinate_only():
    c = CONFIGS["pitch-features"]
    model = make_model(c)
    assert model.decoder_body[0].in_features == c.private_dim + c.shared_dim + 2 * c.pitch_features
    z_p, z_s = torch.zeros(2, c.private_dim), torch.zeros(2, c.shared_dim)
    z_p[1, 0] = 0.3  # the pitch coordinate moves: the decoder's input and so its output move
    out = model.decode(z_p, z_s)
    assert not torch.allclose(out[0], out[1])
    # the features are what reaches the decoder: its first layer sees them after the codes
    seen = {}
    model.decoder_body[0].register_forward_hook(lambda m, i, o: seen.update(x=i[0]))  # returns None: output kept
    model.decode(z_p, z_s)
    torch.testing.assert_close(seen["x"][:, c.private_dim + c.shared_dim:], pitch_fourier_features(z_p[:, 0], c.pitch_features))
    with pytest.raises(ValueError, match="pitch_features must be an integer >= 0"):
        ModelConfig(pitch_features=-1)
