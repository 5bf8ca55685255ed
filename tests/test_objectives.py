"""Known-answer tests of the separation study's terms (mvtutorial.objectives, the private adversary included), the strided-MSS
replica, posterior-sample codes, and the study's scoring helpers (mvtutorial.studies.separation)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from mvtutorial.evaluate import SplitCodes
from mvtutorial.losses import decompose_kl, gaussian_kl, log_importance_weights, reconstruction_error
from mvtutorial.model import ModelConfig, MultiViewVAE
from mvtutorial.objectives import (OBJECTIVES, GradientReversal, cross_reconstruction_error, multiview_objective, private_adversary_loss,
                                   private_cycle_penalty, register_objective, reverse_gradient, swap_consistency_error,
                                   swap_read_back)
from mvtutorial.studies.separation import FAMILIES, check_targets, family_config, family_of, separation_score, study_table
from mvtutorial.config import TrainConfig, config_to_dict

from test_losses import rtqichen_mss_matrix

SHAPE = (12, 4)


def deterministic_model(seed: int = 0, shared_to_decoder: float = 1.0) -> MultiViewVAE:
    """A small random model whose posteriors have sigma ~ 1e-9 (samples = means), and whose decoder
    reads the shared code scaled by ``shared_to_decoder`` (0: the decoder ignores it)."""
    torch.manual_seed(seed)
    model = MultiViewVAE(ModelConfig(input_shape=SHAPE, private_dim=3, shared_dim=2, hidden=(16,), init_logvar=-40.0))
    with torch.no_grad():
        for head, dim in ((model.private_head, 3), (model.shared_head, 2)):
            head.weight[dim:] = 0.0  # log-variance = its bias, -40
        first = model.decoder_body[0]
        first.weight[:, 3:] *= shared_to_decoder
    return model.eval()


def batch(n: int = 6, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- #
# Cross-view reconstruction
def test_cross_reconstruction_equals_usual_term_when_shared_codes_coincide():
    model, x = deterministic_model(), batch()
    out = model(x, x.clone())  # identical views: identical shared experts
    cross = cross_reconstruction_error(model, out, x, x)
    p, e = model.encode(x)
    single = model.fuse([e])
    by_hand = 2 * reconstruction_error(model.decode(p.mu, single.mu), x).mean()
    assert torch.allclose(cross, by_hand, rtol=1e-6)


def test_cross_reconstruction_differs_when_views_differ():
    model, x1, x2 = deterministic_model(), batch(seed=1), batch(seed=2)
    out = model(x1, x2)
    (p1, e1), (p2, e2) = model.encode(x1), model.encode(x2)
    s1, s2 = model.fuse([e1]), model.fuse([e2])
    by_hand = reconstruction_error(model.decode(p1.mu, s2.mu), x1).mean() + reconstruction_error(model.decode(p2.mu, s1.mu), x2).mean()
    assert torch.allclose(cross_reconstruction_error(model, out, x1, x2), by_hand, rtol=1e-6)
    same = reconstruction_error(model.decode(p1.mu, s1.mu), x1).mean() + reconstruction_error(model.decode(p2.mu, s2.mu), x2).mean()
    assert not torch.allclose(by_hand, same)  # the other view's shared code is used, not its own


# --------------------------------------------------------------------------- #
# Reverse cycle
def test_private_cycle_is_zero_when_decoder_ignores_the_shared_code():
    model = deterministic_model(shared_to_decoder=0.0)
    p, e = model.encode(batch(8))
    assert private_cycle_penalty(model, p.mu, e.mu).item() == pytest.approx(0.0, abs=1e-10)


def test_private_cycle_grows_with_planted_dependence():
    x = batch(32, seed=3)
    values = []
    for strength in (0.0, 0.3, 3.0):
        model = deterministic_model(shared_to_decoder=strength)
        p, e = model.encode(x)
        values.append(private_cycle_penalty(model, p.mu, e.mu).item())
    assert values[0] < 1e-8 < values[1] < values[2]
    assert values[2] < 2 * 3 + 1e-6  # bounded by ~2 x private_dim for unrelated a and b


def test_private_cycle_trains_the_encoder_only():
    model = deterministic_model(shared_to_decoder=3.0).train()
    p, e = model.encode(batch(16))
    private_cycle_penalty(model, p.mu.detach(), e.mu.detach()).backward()
    assert all(param.grad is None for param in model.decoder_body.parameters())
    assert model.private_head.weight.grad is not None and model.private_head.weight.grad.abs().sum() > 0


def test_private_cycle_rejects_bad_shapes():
    model = deterministic_model()
    with pytest.raises(ValueError, match="z_private and z_shared"):
        private_cycle_penalty(model, torch.zeros(4, 3), torch.zeros(5, 2))


# --------------------------------------------------------------------------- #
# Swap consistency (a decoder-stage term)
class ReadBack(torch.nn.Module):
    """A stand-in model whose decoder writes ``[z_private + pitch_offset, z_shared + offset]`` side by side into its
    output and whose encoder reads the two parts back as the private posterior and the shared expert, both with
    standard deviation ``sd``; fuse passes the expert through."""

    def __init__(self, offset: float = 0.0, sd: float = 0.5, pitch_offset: float = 0.0, private_dim: int = 3):
        super().__init__()
        self.offset, self.sd, self.pitch_offset, self.private_dim = offset, sd, pitch_offset, private_dim

    def decode(self, z_private, z_shared):
        return torch.cat([z_private + self.pitch_offset, z_shared + self.offset], dim=1)

    def encode(self, x):
        from mvtutorial.model import Posterior

        logvar = torch.full_like(x, 2 * math.log(self.sd))
        k = self.private_dim
        return Posterior(x[:, :k], logvar[:, :k]), Posterior(x[:, k:], logvar[:, k:])

    def fuse(self, experts):
        return experts[0]


@pytest.mark.parametrize("offset", [0.0, 0.3])
def test_swap_consistency_known_answer_is_the_gaussian_nll_of_the_donor(offset):
    """Read back exactly, the term is the entropy-like constant D/2 log(2 pi sd^2); an offset d adds D d^2 / (2 sd^2)."""
    z_shared = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    value = swap_consistency_error(ReadBack(offset, sd=0.5), torch.zeros(5, 3), z_shared)
    by_hand = -Normal(z_shared + offset, 0.5).log_prob(z_shared).sum(1).mean()
    assert value.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert value.item() == pytest.approx(2 * (0.5 * math.log(2 * math.pi * 0.25) + offset**2 / (2 * 0.25)), rel=1e-6)


@pytest.mark.parametrize("pitch_offset", [0.0, 0.1])
def test_swap_read_back_scores_the_shared_code_and_the_pitch_coordinate_alone(pitch_offset):
    """The pitch part is the NLL of the first private coordinate only: 1/2 log(2 pi sd^2) + d^2 / (2 sd^2), whatever the
    other private coordinates (offset by the same d here, and not counted); the shared part ignores the private offset."""
    z_private, z_shared = (torch.randn(5, n, generator=torch.Generator().manual_seed(n)) for n in (3, 2))
    reads = swap_read_back(ReadBack(0.3, sd=0.5, pitch_offset=pitch_offset), z_private, z_shared)
    assert reads["pitch"].item() == pytest.approx(0.5 * math.log(2 * math.pi * 0.25) + pitch_offset**2 / 0.5, rel=1e-6)
    assert reads["shared"].item() == pytest.approx(2 * (0.5 * math.log(2 * math.pi * 0.25) + 0.09 / 0.5), rel=1e-6)
    assert reads["shared"].item() == swap_consistency_error(ReadBack(0.3, sd=0.5, pitch_offset=pitch_offset), z_private, z_shared).item()


def test_swap_consistency_decodes_each_private_code_with_the_previous_rows_shared_code():
    model, x = deterministic_model(shared_to_decoder=2.0), batch(6)
    p, e = model.encode(x)
    zs = model.fuse([e]).mu
    read = model.fuse([model.encode(model.decode(p.mu, zs.roll(1, dims=0)))[1]])
    by_hand = -Normal(read.mu, (0.5 * read.logvar).exp()).log_prob(zs.roll(1, dims=0)).sum(1).mean()
    assert swap_consistency_error(model, p.mu, zs).item() == pytest.approx(by_hand.item(), rel=1e-5)
    unrolled = -Normal(read.mu, (0.5 * read.logvar).exp()).log_prob(zs).sum(1).mean()
    assert by_hand.item() != pytest.approx(unrolled.item(), rel=1e-3)  # the target is the donor's code, not the row's own
    with pytest.raises(ValueError, match="z_private and z_shared"):
        swap_consistency_error(model, torch.zeros(4, 3), torch.zeros(5, 2))


def test_swap_consistency_trains_the_decoder_through_a_frozen_encoder():
    from mvtutorial.training import freeze_encoder

    model = MultiViewVAE(ModelConfig(input_shape=SHAPE, private_dim=3, shared_dim=2, hidden=(16,)))
    freeze_encoder(model)
    p, e = model.encode(batch(8))
    swap_consistency_error(model, p.mu, model.fuse([e]).mu).backward()
    grads = {n: q.grad for n, q in model.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("decoder_body.") and n.endswith("weight"))
    assert all(g is None for n, g in grads.items() if not n.startswith("decoder_body."))


def test_swap_consistency_is_a_decoder_stage_setting():
    from mvtutorial.training import first_stage

    staged = TrainConfig(decoder_epochs=2, swap_consistency=1)
    assert config_to_dict(staged)["swap_consistency"] == 1.0 and "swap_consistency" not in config_to_dict(TrainConfig())
    assert first_stage(staged) == first_stage(dataclasses.replace(staged, swap_consistency=0.0))  # one first stage for both
    with pytest.raises(ValueError, match="swap_consistency=1 is a term of the decoder stage.*decoder_epochs > 0"):
        TrainConfig(swap_consistency=1.0)
    with pytest.raises(ValueError, match="swap_consistency=1 is a term of the 'multiview' objective"):
        TrainConfig(swap_consistency=1.0, decoder_epochs=1, objective="single_view")
    pitch = TrainConfig(decoder_epochs=2, transposition=5000, swap_pitch_consistency=0.5)
    assert config_to_dict(pitch)["swap_pitch_consistency"] == 0.5 and "swap_pitch_consistency" not in config_to_dict(staged)
    assert first_stage(pitch) == first_stage(dataclasses.replace(pitch, swap_pitch_consistency=0.0))
    with pytest.raises(ValueError, match="swap_pitch_consistency=0.5 is a term of the decoder stage"):
        TrainConfig(transposition=5000, swap_pitch_consistency=0.5)
    with pytest.raises(ValueError, match="swap_pitch_consistency=0.5 reads the first private coordinate as pitch.*transposition > 0"):
        TrainConfig(decoder_epochs=2, swap_pitch_consistency=0.5)


# --------------------------------------------------------------------------- #
# The objective as a whole
def test_objective_adds_each_enabled_term_with_its_weight():
    model, x1, x2 = deterministic_model(shared_to_decoder=2.0), batch(seed=4), batch(seed=5)
    base_cfg = TrainConfig(gamma=0.3, batch_size=6)
    cfg = TrainConfig(gamma=0.3, batch_size=6, cross_reconstruction=0.5, rate_shared=0.2, rate_private=3.0, private_cycle=0.7,
                      swap_consistency=0.4, decoder_epochs=1)
    base = multiview_objective(model, x1, x2, base_cfg, 100, torch.Generator().manual_seed(0))
    full = multiview_objective(model, x1, x2, cfg, 100, torch.Generator().manual_seed(0))
    assert set(base.terms) < set(full.terms)
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    kl_shared = kl_divergence(Normal(out.shared.mu, (0.5 * out.shared.logvar).exp()), Normal(0.0, 1.0)).sum(1).mean()
    kl_private = sum(kl_divergence(Normal(p.mu, (0.5 * p.logvar).exp()), Normal(0.0, 1.0)).sum(1).mean() for p in out.private)
    assert torch.allclose(full.terms["rate_shared"], kl_shared, rtol=1e-5)
    assert torch.allclose(full.terms["rate_private"], kl_private, rtol=1e-5)
    expected = (base.total + 0.5 * full.terms["cross_reconstruction"] + 0.2 * kl_shared + 3.0 * kl_private
                + 0.7 * full.terms["private_cycle"] + 0.4 * full.terms["swap_consistency"])
    assert torch.allclose(full.total, expected, rtol=1e-5)
    zs = [model.fuse([e]).mu for e in out.shared_experts]  # sigma ~ 1e-9: samples = means
    by_hand = sum(swap_consistency_error(model, p.mu, z) for p, z in zip(out.private, zs))
    assert torch.allclose(full.terms["swap_consistency"], by_hand, rtol=1e-4)


def test_objective_adds_the_pitch_read_back_with_its_weight_and_only_then():
    model, x1, x2 = deterministic_model(shared_to_decoder=2.0), batch(seed=4), batch(seed=5)
    interval = torch.linspace(-0.5, 0.5, 6)
    base_cfg = TrainConfig(gamma=0.0, batch_size=6, transposition=10.0, decoder_epochs=1, swap_consistency=0.4)
    cfg = dataclasses.replace(base_cfg, swap_pitch_consistency=0.25)
    base = multiview_objective(model, x1, x2, base_cfg, 100, torch.Generator().manual_seed(0), interval=interval)
    full = multiview_objective(model, x1, x2, cfg, 100, torch.Generator().manual_seed(0), interval=interval)
    assert "swap_pitch_consistency" not in base.terms and torch.equal(base.terms["swap_consistency"], full.terms["swap_consistency"])
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    zs = [model.fuse([e]).mu for e in out.shared_experts]  # sigma ~ 1e-9: samples = means
    by_hand = sum(swap_read_back(model, p.mu, z)["pitch"] for p, z in zip(out.private, zs))
    assert torch.allclose(full.terms["swap_pitch_consistency"], by_hand, rtol=1e-4)
    assert torch.allclose(full.total, base.total + 0.25 * full.terms["swap_pitch_consistency"], rtol=1e-5)


def test_shared_rate_is_charged_once_per_pair():
    """Breaking the tie: one nat in the fused shared posterior costs rate_shared once, one nat in
    each private posterior costs rate_private twice (once per view)."""
    mu, logvar = torch.full((1, 1), 2.0), torch.zeros(1, 1)
    assert gaussian_kl(mu, logvar).item() == pytest.approx(2.0)
    model, x = deterministic_model(), batch()
    terms = multiview_objective(model, x, x.clone(), TrainConfig(rate_shared=1.0, rate_private=1.0, batch_size=6), 100)
    out = model(x, x.clone())
    def total(**rates):  # gamma = 0: only reconstruction and the rates, same noise for every call
        cfg = TrainConfig(gamma=0.0, batch_size=6, **rates)
        return multiview_objective(model, x, x.clone(), cfg, 100, torch.Generator().manual_seed(0)).total

    base, shared_only, private_only = total(), total(rate_shared=1.0), total(rate_private=1.0)
    kl_fused = gaussian_kl(out.shared.mu, out.shared.logvar).sum(1).mean()
    kl_view = gaussian_kl(out.private[0].mu, out.private[0].logvar).sum(1).mean()  # the views are identical
    assert torch.allclose(shared_only - base, kl_fused, rtol=1e-4)  # the pair's shared KL once, not once per view
    assert torch.allclose(private_only - base, 2 * kl_view, rtol=1e-4)  # each view's private KL
    assert torch.allclose(terms.terms["rate_shared"], gaussian_kl(out.shared.mu, out.shared.logvar).sum(1).mean())
    assert torch.allclose(terms.terms["rate_private"], 2 * gaussian_kl(out.private[0].mu, out.private[0].logvar).sum(1).mean())


@pytest.mark.parametrize("name", ["cross_reconstruction", "rate_shared", "rate_private", "private_cycle", "private_adversary",
                                  "swap_consistency", "swap_pitch_consistency"])
@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "1", True])
def test_study_options_reject_bad_values(name, value):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**{name: value})


def test_unknown_objective_is_named():
    with pytest.raises(ValueError, match="unknown objective 'nope'"):
        TrainConfig(objective="nope")
    with pytest.raises(ValueError, match="already registered"):
        register_objective("multiview")(lambda *a: None)
    assert "multiview" in OBJECTIVES


def test_calibrated_decoder_option_and_the_shipped_run_keys():
    """reconstruction="gaussian" is accepted, an unknown value is named; the recommended configuration's
    run keys are still those of its shipped results (the option changes nothing at its default)."""
    from mvtutorial.experiments import run_key
    from mvtutorial.studies.separation import study_results
    from mvtutorial.studies.separation import PREVIOUS, RECOMMENDED_STANDARD, family_config, recommended_config

    assert TrainConfig(reconstruction="gaussian").reconstruction == "gaussian"
    with pytest.raises(ValueError, match="unknown reconstruction 'l2'.*'gaussian'"):
        TrainConfig(reconstruction="l2")
    shipped = {r["key"]: r["config"] for r in study_results()}
    for seed in (0, 1, 2):
        for config in (recommended_config("full", seed=seed), family_config(RECOMMENDED_STANDARD, seed), family_config(PREVIOUS, seed)):
            assert config.reconstruction == "mse" and shipped[run_key(config)] == config_to_dict(config)
    assert run_key(recommended_config("full", seed=0)) != run_key(recommended_config("full", seed=0, reconstruction="gaussian"))
    assert run_key(recommended_config("full", seed=0)) != run_key(recommended_config("full", seed=0, private_adversary=10.0))


def test_calibrated_decoder_prices_both_reconstructions():
    """With reconstruction="gaussian" the reconstruction and the cross-view reconstruction are both the
    Gaussian NLL at their own batch MSE (same noise, so the same samples as the squared-error run)."""
    model, x1, x2 = deterministic_model(shared_to_decoder=2.0), batch(seed=4), batch(seed=5)
    cfg = TrainConfig(gamma=0.0, batch_size=6, cross_reconstruction=1.0, reconstruction="gaussian")
    terms = multiview_objective(model, x1, x2, cfg, 100, torch.Generator().manual_seed(0))
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    nll = lambda r, x: -Normal(r, ((r - x) ** 2).mean().sqrt()).log_prob(x).flatten(1).sum(1).mean()
    assert torch.allclose(terms.reconstruction, nll(out.recon[0], x1) + nll(out.recon[1], x2), rtol=1e-5)
    (p1, e1), (p2, e2) = model.encode(x1), model.encode(x2)
    s1, s2 = model.fuse([e1]), model.fuse([e2])  # sigma ~ 1e-9: samples = means
    cross = nll(model.decode(p1.mu, s2.mu), x1) + nll(model.decode(p2.mu, s1.mu), x2)
    assert torch.allclose(terms.terms["cross_reconstruction"], cross, rtol=1e-5)
    assert torch.allclose(terms.total, terms.reconstruction + cross, rtol=1e-5)


def test_new_options_leave_old_run_keys_alone():
    """Shipped results are keyed by the config dict: fields at their defaults are left out of it."""
    d = config_to_dict(TrainConfig())
    assert not {"objective", "cross_reconstruction", "rate_shared", "rate_private", "private_cycle", "private_adversary"} & set(d)
    d2 = config_to_dict(TrainConfig(rate_private=4))
    assert d2["rate_private"] == 4.0 and isinstance(d2["rate_private"], float)


# --------------------------------------------------------------------------- #
# The private adversary (gradient reversal)
def adversary_model(seed: int = 0) -> MultiViewVAE:
    """:func:`deterministic_model` plus an adversary head (built last: every other weight is the same)."""
    torch.manual_seed(seed)
    model = MultiViewVAE(ModelConfig(input_shape=SHAPE, private_dim=3, shared_dim=2, hidden=(16,), init_logvar=-40.0,
                                     adversary_hidden=(8,)))
    with torch.no_grad():
        for head, dim in ((model.private_head, 3), (model.shared_head, 2)):
            head.weight[dim:] = 0.0
    return model.eval()


def test_gradient_reversal_known_answer():
    """Identity forward; backward: d/dx sum(w * reverse(x)^2) = -2 w x (the plain gradient, negated)."""
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = torch.tensor([0.5, 1.0, 2.0])
    y = reverse_gradient(x)
    assert torch.equal(y, x)
    (w * y**2).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-1.0, 4.0, -12.0]))
    assert GradientReversal.apply(torch.ones(2)).tolist() == [1.0, 1.0]


def test_adversary_term_is_the_heads_squared_error_and_zero_weight_is_todays_loss():
    model, x1, x2 = adversary_model(), batch(seed=4), batch(seed=5)
    plain = deterministic_model()  # the same weights without the head
    base_cfg = TrainConfig(gamma=0.3, batch_size=6, rate_private=1.5)
    for a, b in zip(plain.state_dict().items(), model.state_dict().items()):
        assert a[0] == b[0] and torch.equal(a[1], b[1])
    today = multiview_objective(plain, x1, x2, base_cfg, 100, torch.Generator().manual_seed(0))
    zero = multiview_objective(model, x1, x2, base_cfg, 100, torch.Generator().manual_seed(0))
    assert torch.equal(zero.total, today.total) and set(zero.terms) == set(today.terms)
    cfg = TrainConfig(gamma=0.3, batch_size=6, rate_private=1.5, private_adversary=10.0)
    full = multiview_objective(model, x1, x2, cfg, 100, torch.Generator().manual_seed(0))
    (p1, e1), (p2, e2) = model.encode(x1), model.encode(x2)  # sigma ~ 1e-9: samples = means
    by_hand = sum(((model.adversary(p.mu) - model.fuse([e]).mu) ** 2).mean() for p, e in ((p1, e1), (p2, e2)))
    assert torch.allclose(full.terms["private_adversary"], by_hand, rtol=1e-5)
    assert torch.allclose(full.total, today.total + 10.0 * by_hand, rtol=1e-6)


def test_adversary_trains_its_head_and_reverses_into_the_encoder():
    """The head gets the gradient of its squared error; the encoder and private head the same gradient
    negated; the shared head none (its mean is the detached target)."""
    model, x1, x2 = adversary_model(), batch(seed=4), batch(seed=5)
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    private_adversary_loss(model, out).backward()
    reversed_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    out = model(x1, x2, generator=torch.Generator().manual_seed(0))
    plain = sum(((model.adversary(z) - model.fuse([e]).mu.detach()) ** 2).mean() for z, e in zip(out.z_private, out.shared_experts))
    plain.backward()
    plain_grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(reversed_grads) == set(plain_grads)
    assert not any(n.startswith(("shared_head", "decoder")) for n in plain_grads)
    for name, grad in plain_grads.items():
        sign = 1.0 if name.startswith("adversary.") else -1.0
        assert grad.abs().sum() > 0, name
        assert torch.allclose(reversed_grads[name], sign * grad, rtol=1e-5, atol=1e-8), name
    assert any(n.startswith("encoder") for n in plain_grads) and any(n.startswith("adversary") for n in plain_grads)


def test_adversary_needs_the_head_the_config_builds():
    cfg = TrainConfig(batch_size=6, private_adversary=1.0)
    with pytest.raises(ValueError, match="adversary head"):
        multiview_objective(deterministic_model(), batch(), batch(seed=2), cfg, 100)
    assert cfg.model_config(SHAPE).adversary_hidden and not TrainConfig().model_config(SHAPE).adversary_hidden
    assert hasattr(MultiViewVAE(cfg.model_config((128, 32))), "adversary")


# --------------------------------------------------------------------------- #
# The strided (column-0) MSS replica
@pytest.mark.parametrize("B, N", [(3, 7), (16, 100), (64, 25_600)])
def test_mss_strided_replicates_the_copied_reference_code(B, N):
    assert torch.allclose(log_importance_weights(B, N, "mss_strided").double(), rtqichen_mss_matrix(B, N), atol=1e-6)


def test_mss_strided_turns_mi_flat_for_sharp_posteriors():
    """With well-separated posteriors a sample's own density dominates q(z_i); the replica weighs it
    1/M instead of 1/N, so the estimated MI saturates at log M (4.1 nats for B = 64) instead of log N."""
    B, N = 64, 25_600
    mu = torch.arange(B, dtype=torch.float64)[:, None] * 10.0
    logvar = torch.full_like(mu, -2.0)
    z = mu + 0.1 * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mi_loo = decompose_kl(z, mu, logvar, N, "loo").mi.mean().item()
    mi_strided = decompose_kl(z, mu, logvar, N, "mss_strided").mi[1:].mean().item()  # row 0 keeps 1/N on its diagonal
    assert mi_loo == pytest.approx(math.log(N), abs=0.01)
    assert mi_strided == pytest.approx(math.log(B - 1), abs=0.01)


# --------------------------------------------------------------------------- #
# Codes on posterior samples
def _codes(n=200, logvar=-2.0, seed=0):
    rng = np.random.default_rng(seed)
    mu = lambda d: rng.standard_normal((n, d)).astype(np.float32)  # noqa: E731
    lv = lambda d: np.full((n, d), logvar, np.float32)  # noqa: E731
    return SplitCodes(mu(3), mu(2), mu(2), lv(3), lv(2), pd.DataFrame({"waveform": np.zeros(n, int), "freq_class": np.zeros(n, int)}), lv(2))


def test_samples_are_seeded_and_spread_by_the_posterior_std():
    codes = _codes(n=20_000, logvar=math.log(0.25))
    a, b = codes.sample(3), codes.sample(3)
    np.testing.assert_array_equal(a.private, b.private)
    assert np.std(a.private - codes.private) == pytest.approx(0.5, rel=0.02)
    assert np.std(a.fused - codes.fused) == pytest.approx(0.5, rel=0.02)
    assert codes.median_std() == pytest.approx({"private": 0.5, "shared": 0.5, "shared_fused": 0.5})
    sharp = _codes(logvar=-40.0)
    np.testing.assert_allclose(sharp.sample(0).shared, sharp.shared, atol=1e-6)


# --------------------------------------------------------------------------- #
# Study helpers
def test_separation_score_known_values():
    perfect = {"shared/timbre": 1.0, "private/timbre": 0.25, "private/frequency": 1.0, "shared/frequency": 1 / 21}
    assert separation_score(perfect) == pytest.approx(0.75 + 20 / 21)
    same = {"shared/timbre": 0.8, "private/timbre": 0.8, "private/frequency": 0.7, "shared/frequency": 0.7}
    assert separation_score(same) == 0.0
    swapped = {"shared/timbre": 0.25, "private/timbre": 1.0, "private/frequency": 0.05, "shared/frequency": 1.0}
    assert separation_score(swapped) < -1.6
    with pytest.raises(ValueError, match="shared_fused/timbre"):
        separation_score(perfect, "shared_fused")


def test_check_targets_single_view_and_fused():
    values = {"shared/timbre": 0.99, "shared_fused/timbre": 0.96, "private/frequency": 0.95, "both/timbre": 0.99,
              "both_fused/timbre": 0.99, "both/frequency": 0.95, "both_fused/frequency": 0.95, "private/timbre": 0.3,
              "shared/frequency": 0.1, "shared_fused/frequency": 0.2, "mi_ratio_timbre": 20.0, "mi_ratio_frequency": 4.0}
    table = check_targets(values).set_index("target")
    assert table.loc["shared/timbre >= 0.97", "met"] and not table.loc["shared_fused/timbre >= 0.97", "met"]
    assert table.loc["shared/frequency <= 0.15", "met"] and not table.loc["shared_fused/frequency <= 0.15", "met"]
    assert table.loc["mi_ratio_timbre >= 15", "met"] and not table.loc["mi_ratio_frequency >= 5", "met"]
    assert len(table) == 12  # 6 probe targets x (single-view, fused), private ones once, 2 ratios
    assert not check_targets({}).met.any()


def test_family_configs_and_their_inverse():
    for name in FAMILIES:
        for mode in ("fast", "full"):
            assert family_of(family_config(name, seed=2, mode=mode)) == name
    assert family_of(TrainConfig(lr=1e-4)) is None
    with pytest.raises(ValueError, match="unknown study family 'x'"):
        family_config("x")


def test_families_have_identifiers_and_separate_display_labels():
    from mvtutorial.studies.separation import (DECODER_STAGE, PAPER, PREVIOUS, RECOMMENDED, RECOMMENDED_STANDARD, SWAP_CONSISTENCY,
                                               family_id, family_row, label)

    labels = [f.label for f in FAMILIES.values()]
    assert len(set(labels)) == len(labels) and [name for name in FAMILIES if label(name) == name] == ["autoencoder"]
    rows = ("paper (headline)", "+ cross-view + rate + transposition, freq-conv, 60 + 60 decoder epochs, swap consistency with pitch",
            "+ cross-view + rate", "+ cross-view + rate + transposition, freq-conv",
            "+ cross-view + rate + transposition, freq-conv, 60 + 60 decoder epochs",
            "+ cross-view + rate + transposition, freq-conv, 60 + 60 decoder epochs, swap consistency")
    assert (label(PAPER), label(RECOMMENDED), label(PREVIOUS), label(RECOMMENDED_STANDARD), label(DECODER_STAGE),
            label(SWAP_CONSISTENCY)) == rows  # the shipped tables' rows
    assert all(family_id(label(name)) == name for name in FAMILIES)
    assert family_row(family_config(RECOMMENDED, seed=1)) == rows[1] and family_row(family_config(PREVIOUS, seed=1)) == rows[2]
    assert family_row(family_config(RECOMMENDED_STANDARD, seed=1)) == rows[3] and family_row(family_config(DECODER_STAGE, seed=1)) == rows[4]
    # the schedule is the preset's: the full run's 60 + 60 epochs never reach the seconds-long fast preset
    fast = family_config(RECOMMENDED, seed=1, mode="fast")
    assert (fast.epochs, fast.decoder_epochs, fast.swap_consistency, fast.swap_pitch_consistency) == (2, 2, 1.0, 1.0)
    assert family_row(fast) == rows[1]
    full = family_config(RECOMMENDED, seed=1)
    assert (full.epochs, full.patience, full.decoder_epochs, full.swap_consistency, full.swap_pitch_consistency) == (60, 0, 60, 1.0, 1.0)
    # the four rows of one objective: the stage without the pitch read-back, without either term, and no stage at all
    assert family_config(SWAP_CONSISTENCY, seed=1) == dataclasses.replace(full, swap_pitch_consistency=0.0)
    assert family_config(DECODER_STAGE, seed=1) == dataclasses.replace(full, swap_consistency=0.0, swap_pitch_consistency=0.0)
    assert family_config(RECOMMENDED_STANDARD, seed=1) == dataclasses.replace(full, epochs=30, patience=TrainConfig().patience, decoder_epochs=0,
                                                                              swap_consistency=0.0, swap_pitch_consistency=0.0)
    with pytest.raises(ValueError, match="unknown study family '\\+ cross-view \\+ rate'"):
        family_config("+ cross-view + rate")  # a label is not an identifier
    with pytest.raises(ValueError, match="no study family is labelled 'recommended'"):
        family_id("recommended")


def test_study_table_means_over_seeds():
    def record(family, seed, shared_timbre):
        probes = {f"{lat}/{fac}": 0.5 for lat in ("private", "shared", "both", "shared_fused", "both_fused") for fac in ("timbre", "frequency")}
        probes["shared/timbre"] = shared_timbre
        ev = {"probes": probes, "mi_ratio_timbre": 2.0, "mi_ratio_frequency": 3.0}
        return {"config": config_to_dict(family_config(family, seed)), "seed": seed, **ev, "samples": ev,
                "median_std": {"private": 0.1, "shared": 0.2}}
    recs = [record("autoencoder", 0, 0.6), record("autoencoder", 1, 0.8), record("rate", 0, 0.9)]
    t = study_table(recs)
    assert list(t.index) == ["autoencoder", "+ rate"]
    assert t.loc["autoencoder", ("shared/timbre", "mean")] == pytest.approx(0.7)
    assert t.loc["autoencoder", ("shared/timbre", "n")] == 2
    assert t.loc["autoencoder", ("S", "mean")] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="codes"):
        study_table(recs, codes="median")


def test_study_grids():
    from mvtutorial.studies.ablation import ABLATION_EPOCHS
    from mvtutorial.studies.separation import RECOMMENDED, recommended_config, study_grid
    from mvtutorial.studies.ablation import estimator_grid, recommended_ablation_grid

    assert len(study_grid(seeds=(0, 1))) == 2 * len(FAMILIES)
    retest = recommended_ablation_grid(seeds=(0,))
    assert len(retest) == 4 and all(c.epochs == ABLATION_EPOCHS and c.cross_reconstruction == 1.0 for c in retest)
    assert {(c.alpha, c.beta, c.gamma) for c in retest} == {(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)}
    est = estimator_grid(seeds=(0, 1))
    assert len(est) == 8 and {c.weighting for c in est} == {"mss_strided"}
    assert {(c.alpha, c.beta, c.gamma) for c in est} == {(0, 0, 0.1), (0, 0, 1), (1, 0, 0), (0, 0.5, 0)}
    assert family_of(recommended_config(seed=4)) == RECOMMENDED
