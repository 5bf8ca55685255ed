"""The training loop: resumable, deterministic, with early stopping.

Randomness is derived from ``(seed, epoch)`` (pairs, batch order, reparameterisation
noise), so a run resumed from the checkpoint of epoch ``e`` replays epoch ``e + 1``
exactly as an uninterrupted run would (bit-identical on CPU). The loss of a batch comes
from the objective the config names (:mod:`mvtutorial.objectives`); configs live in
:mod:`mvtutorial.config`, checkpoint files in :mod:`mvtutorial.checkpoint`.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ._progress import tqdm
from ._version import __version__
from .checkpoint import CHECKPOINT, resume_state, save_checkpoint
from .config import TrainConfig, config_to_dict, run_key
from .data import FactorDataset, load_tone_dataset
from .model import MultiViewVAE
from .objectives import OBJECTIVES, clip_octaves

__all__ = ["TrainResult", "NonFiniteLossError", "train", "epoch_generators", "run_epoch", "pair_octaves", "first_stage", "decoder_parameters",
           "freeze_encoder"]


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN/inf (the run diverged); its message says which checkpoint, if any, is kept."""


@dataclass
class TrainResult:
    model: MultiViewVAE
    config: TrainConfig
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


def epoch_generators(seed: int, epoch: int, device: torch.device) -> tuple[np.random.Generator, torch.Generator]:
    """The random streams of one epoch, derived from ``(seed, epoch)`` only: a numpy generator (pairs,
    batch order) and a torch generator (reparameterisation noise). A resumed run replays them."""
    rng = np.random.default_rng([seed, epoch])
    gen = torch.Generator(device=device)
    gen.manual_seed(int(rng.integers(2**62)))
    return rng, gen


def pair_octaves(config, factors, device="cpu") -> torch.Tensor | None:
    """Each clip's pitch in octaves ``(N,)`` (:func:`~mvtutorial.objectives.transposition.clip_octaves`) when
    ``config.transposition > 0``, for :func:`run_epoch` to take each pair's interval from; else ``None``."""
    if config.transposition <= 0:
        return None
    return torch.as_tensor(clip_octaves(factors), dtype=torch.float32, device=device)


def run_epoch(model, opt, features, pairs, config, dataset_size, gen, rng=None, progress=None, octaves=None) -> dict:
    """One pass over ``pairs`` (``(n, 2)`` row indices into ``features``) in batches of ``config.batch_size``.

    ``octaves`` ``(N,)`` (each clip's pitch in octaves, :func:`~mvtutorial.objectives.transposition.clip_octaves`):
    when given, the objective also gets each pair's ``interval`` (``config.transposition``).

    Trains when ``opt`` is an optimiser (in the order ``rng`` permutes, if given), else evaluates
    without gradients. Returns the mean of every logged loss term over the pass.
    """
    train = opt is not None
    model.train(train)
    order = rng.permutation(len(pairs)) if rng is not None else np.arange(len(pairs))
    sums: dict[str, float] = {}
    seen = 0
    B = config.batch_size
    for start in range(0, len(order) - 1, B):
        batch = pairs[order[start : start + B]]
        if len(batch) < 2:
            break
        x1, x2 = features[batch[:, 0]], features[batch[:, 1]]
        extra = {} if octaves is None else {"interval": octaves[batch[:, 1]] - octaves[batch[:, 0]]}
        with torch.set_grad_enabled(train):
            terms = OBJECTIVES[config.objective](model, x1, x2, config, dataset_size, gen, **extra)
        if not torch.isfinite(terms.total):
            bad = [k for k, v in {"reconstruction": terms.reconstruction, **terms.terms}.items() if not torch.isfinite(v)]
            raise NonFiniteLossError(f"non-finite loss in {'training' if train else 'validation'}: term(s) {bad or ['total']}")
        if train:
            opt.zero_grad(set_to_none=True)
            terms.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
        for k, v in terms.as_floats().items():
            sums[k] = sums.get(k, 0.0) + v * len(batch)
        seen += len(batch)
        if progress is not None:
            progress.update(len(batch))
            progress.set_postfix(loss=f"{terms.total.item():.1f}", refresh=False)
    return {k: v / seen for k, v in sums.items()}


def train(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    dataset: FactorDataset | None = None,
    resume: bool | str = "auto",
    progress: bool = True,
    stop_after: int | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train a :class:`MultiViewVAE` with the objective the config names (the paper's by default).

    Parameters
    ----------
    config : TrainConfig
    out_dir : run folder; gets ``checkpoint.pt`` (atomic, every epoch) and ``history.json``.
    dataset : defaults to ``load_tone_dataset(config.data_mode, seed=config.data_seed)``.
    resume : ``"auto"`` (default): continue from ``out_dir/checkpoint.pt`` when it is a checkpoint of
        this config, version and dataset, else start afresh (with a warning if one of another
        config, version or dataset is there); ``True``: must continue (error otherwise);
        ``False``: start afresh. See :func:`mvtutorial.checkpoint.resume_state`.
    stop_after : end this call after that many epochs (simulates an interrupted run); with a decoder stage, after
        that many epochs of the stage the call is in.
    threads : torch CPU threads for this call (restored afterwards). With 2 cores, 1 thread is
        ~25% slower than 2 on an idle machine but ~5x faster when anything else runs beside it.

    Raises
    ------
    ValueError
        Before the first epoch, for a device this machine lacks, a run folder that cannot be
        created, ``threads`` < 1, and a ``batch_size`` larger than the training split (each epoch
        would be one full-batch step; we refuse rather than quietly change the config).
    NonFiniteLossError
        When the loss diverges, saying which checkpoint (if any) is kept.

    Notes
    -----
    Each epoch re-draws the training pairs, shuffles them, takes Adam steps with gradient
    clipping, then computes the validation loss on fixed validation pairs; early stopping
    keeps the best-validation weights (``patience`` epochs without improvement).

    With ``config.decoder_epochs > 0`` the run has two stages. The first is the run of
    :func:`first_stage` ``(config)``, trained (or, when finished already, just loaded) in the sibling
    folder named by its own run key, so a study that trained that configuration reuses it. The second
    freezes the encoder and trains the decoder alone for ``decoder_epochs`` more epochs (numbered on
    from ``config.epochs``) on the same objective, in ``out_dir``; it keeps the best-validation
    weights, the first stage's included.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1):
        raise ValueError(f"threads must be an integer >= 1 (torch CPU threads), or None to keep the current setting, got {threads!r}")
    if threads is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return train(config, out_dir, dataset, resume, progress, stop_after, None)
        finally:
            torch.set_num_threads(previous)
    device = config.resolved_device()
    out = _run_folder(out_dir)
    ds = _checked_dataset(config, dataset)
    if config.decoder_epochs > 0:
        return _decoder_stage(config, out, ds, resume, progress, stop_after, device)
    features = ds.features.to(device)
    octaves = pair_octaves(config, ds.factors, device)
    torch.manual_seed(config.seed)  # parameter init only; everything else uses explicit generators
    model = MultiViewVAE(config.model_config(ds.input_shape)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[dict] = []
    best = {"loss": math.inf, "epoch": 0, "state": None, "bad_epochs": 0}
    start_epoch = 1
    ckpt = resume_state(out, config, resume, map_location=device, data=ds.spec())
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        history = ckpt["history"]
        best = {**ckpt["best"], "state": ckpt["best_model"]}
        start_epoch = ckpt["epoch"] + 1
        if ckpt.get("finished"):
            model.load_state_dict(best["state"])
            return TrainResult(model.eval(), config, history, best["epoch"], ckpt.get("stopped_early", False))

    val_pairs = _validation_pairs(config, ds)
    stopped_early = False
    for epochs_run, epoch in enumerate(range(start_epoch, config.epochs + 1), start=1):
        record = _epoch(model, opt, features, ds, val_pairs, config, epoch, device, progress, out, octaves)
        history.append(record)
        best = _tracked_best(best, record["val_total"], epoch, model)
        stopped_early = config.patience > 0 and best["bad_epochs"] >= config.patience
        finished = stopped_early or epoch == config.epochs
        _save(out, config, ds, epoch, model, opt, best, history, finished, stopped_early)
        if finished or (stop_after is not None and epochs_run >= stop_after):
            break
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return TrainResult(model.eval(), config, history, best["epoch"], stopped_early)


def first_stage(config: TrainConfig) -> TrainConfig:
    """The run a config with ``decoder_epochs`` continues: the same config without them (and without
    ``decoder_codes`` and the swap read-back weights, settings of the stage only)."""
    return dataclasses.replace(config, decoder_epochs=0, decoder_codes="sample", swap_consistency=0.0, swap_pitch_consistency=0.0)


def decoder_parameters(model) -> list:
    """The parameters a decoder stage trains: the decoder's (``decoder_body``), in module order."""
    return list(model.decoder_body.parameters())


def freeze_encoder(model) -> None:
    """Stop gradients to every parameter but :func:`decoder_parameters` (the encoder, its heads, any adversary)."""
    trained = {id(p) for p in decoder_parameters(model)}
    for p in model.parameters():
        p.requires_grad_(id(p) in trained)


def _save(out: Path | None, config, ds, epoch: int, model, opt, best: dict, history: list, finished: bool, stopped_early: bool) -> None:
    """The run's checkpoint after ``epoch`` (atomic; nothing without a run folder)."""
    if out is not None:
        save_checkpoint(out, {
            "version": __version__, "config": config_to_dict(config), "input_shape": list(ds.input_shape),
            "epoch": epoch, "model": model.state_dict(), "best_model": best["state"],
            "best": {k: v for k, v in best.items() if k != "state"}, "optimizer": opt.state_dict(),
            "torch_rng": torch.get_rng_state(), "history": history, "data": ds.spec(), "finished": finished, "stopped_early": stopped_early,
        })


def _decoder_stage(config: TrainConfig, out: Path | None, ds, resume, progress: bool, stop_after: int | None, device) -> TrainResult:
    """:func:`train`'s second stage: the first stage's model, its encoder frozen, the decoder trained on."""
    model = MultiViewVAE(config.model_config(ds.input_shape)).to(device)
    model.decode_means = config.decoder_codes == "mean"  # for the stage's training and validation alike
    opt = torch.optim.Adam(decoder_parameters(model), lr=config.lr)
    features, octaves = ds.features.to(device), pair_octaves(config, ds.factors, device)
    val_pairs = _validation_pairs(config, ds)
    # resume=True before the second stage has a checkpoint: the first stage is the run that must continue
    in_first = resume is True and (out is None or not (out / CHECKPOINT).exists())
    ckpt = None if in_first else resume_state(out, config, resume, map_location=device, data=ds.spec())
    if ckpt is None:
        first = first_stage(config)
        stage = train(first, None if out is None else out.parent / run_key(first), ds, True if in_first else "auto", progress, stop_after)
        if not (stage.stopped_early or stage.history[-1]["epoch"] == first.epochs):
            return stage  # interrupted (stop_after) in the first stage: a later call resumes it there
        model.load_state_dict(stage.model.state_dict())
        first_val = _validate(model, features, val_pairs, config, config.epochs, device, octaves)["total"]
        history, start = stage.history, config.epochs + 1
        best = _tracked_best({"loss": math.inf, "bad_epochs": 0}, first_val, stage.best_epoch, model)
        _save(out, config, ds, config.epochs, model, opt, best, history, False, False)  # the stage's start, resumable
    else:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        history, start = ckpt["history"], ckpt["epoch"] + 1
        best = {**ckpt["best"], "state": ckpt["best_model"]}
    freeze_encoder(model)
    last = config.epochs + config.decoder_epochs
    for epochs_run, epoch in enumerate(range(start, last + 1), start=1):
        record = {**_epoch(model, opt, features, ds, val_pairs, config, epoch, device, progress, out, octaves), "stage": "decoder"}
        history.append(record)
        best = _tracked_best(best, record["val_total"], epoch, model)
        _save(out, config, ds, epoch, model, opt, best, history, epoch == last, False)
        if stop_after is not None and epochs_run >= stop_after:
            break
    model.load_state_dict(best["state"])
    model.decode_means = False  # the returned model samples in forward as a loaded one does
    return TrainResult(model.eval(), config, history, best["epoch"], False)


def _run_folder(out_dir: str | Path | None) -> Path | None:
    """``out_dir`` as a created folder (now, not when the first epoch's checkpoint is written), or None."""
    if out_dir is None:
        return None
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create the run folder {str(out)!r} ({err.strerror or err}); pass a folder you can write to") from None
    return out


def _checked_dataset(config: TrainConfig, dataset):
    """The data to train on (default: the config's tone set), refused when one batch exceeds its training split."""
    ds = dataset if dataset is not None else load_tone_dataset(config.data_mode, seed=config.data_seed)
    n_train = len(ds.split_indices("train"))
    if config.batch_size > n_train:
        raise ValueError(f"batch_size {config.batch_size} is larger than the training split ({n_train} clips, so {n_train} "
                         f"pairs an epoch): every epoch would be a single step; use batch_size <= {n_train}")
    return ds


def _epoch(model, opt, features, ds, val_pairs, config: TrainConfig, epoch: int, device, progress: bool, out: Path | None,
           octaves=None) -> dict:
    """One epoch: re-drawn, shuffled training pairs, then the fixed validation pairs; its history record."""
    t0 = time.perf_counter()
    n_train = len(ds.split_indices("train"))
    rng, gen = epoch_generators(config.seed, epoch, device)
    pairs = ds.pairs("train", rng=rng)
    bar = tqdm(total=len(pairs), desc=f"epoch {epoch}/{config.epochs + config.decoder_epochs}", unit="pair", disable=not progress, leave=False)
    try:
        train_terms = run_epoch(model, opt, features, pairs, config, n_train, gen, rng, bar, octaves)
        val_terms = _validate(model, features, val_pairs, config, epoch, device, octaves)
    except NonFiniteLossError as err:
        if out is None:
            kept = "no checkpoint is kept (train was called without out_dir)"
        elif epoch == 1:
            kept = f"nothing was saved in {out} (no epoch finished)"
        else:
            kept = f"{out / CHECKPOINT} keeps epoch {epoch - 1}, the last that finished"
        raise NonFiniteLossError(f"epoch {epoch}: the run diverged, {err} (try a lower lr than {config.lr:g}); {kept}") from None
    finally:
        bar.close()
    record = {"epoch": epoch, "seconds": time.perf_counter() - t0}
    record.update({f"train_{k}": v for k, v in train_terms.items()})
    record.update({f"val_{k}": v for k, v in val_terms.items()})
    if progress:
        tqdm.write(f"epoch {epoch:3d}  train {train_terms['total']:.2f}  val {val_terms['total']:.2f}  "
                   f"rec {val_terms['reconstruction']:.2f}  ({record['seconds']:.1f} s)")
    return record


def _validation_pairs(config: TrainConfig, ds) -> np.ndarray:
    """The run's fixed validation pairs (both stages of a run validate on the same ones)."""
    return ds.pairs("val", rng=np.random.default_rng([config.seed, 2**33]))


def _validate(model, features, val_pairs, config: TrainConfig, epoch: int, device, octaves=None) -> dict:
    """The validation pass after ``epoch``: the fixed validation pairs, no gradients, the epoch's own noise stream."""
    _, val_gen = epoch_generators(config.seed, 2**32 + epoch, device)  # separate stream for validation noise
    with torch.no_grad():
        return run_epoch(model, None, features, val_pairs, config, len(val_pairs), val_gen, octaves=octaves)


def _tracked_best(best: dict, val_loss: float, epoch: int, model) -> dict:
    """Early stopping's state after an epoch: the best weights so far and the epochs since they improved."""
    if val_loss < best["loss"]:
        return {"loss": val_loss, "epoch": epoch, "state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "bad_epochs": 0}
    return {**best, "bad_epochs": best["bad_epochs"] + 1}
