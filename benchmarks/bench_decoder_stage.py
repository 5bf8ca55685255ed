"""Benchmark: what an epoch of the decoder stage (``TrainConfig.decoder_epochs``) costs against a full epoch.

Chapter 6.8's decoder stage freezes the encoder and trains the decoder alone: the encoder still runs
forward on every batch (the objective needs the codes), but no parameter of it is trained. With swap consistency
(``TrainConfig.swap_consistency``, and ``swap_pitch_consistency`` on the same re-encoded swaps) each batch's swaps
are also decoded and re-encoded, and gradients flow back through the frozen encoder to the decoder. Compared in the
same run, on one torch thread, with the recommended configuration (``recommended_config()``: freq-conv encoder,
transposition term, 60 + 60 decoder epochs with swap consistency with pitch) on the full tone set: the training pass
of one epoch (``run_epoch``, ~25,600 pairs, no validation),

* full: every parameter trained (a first-stage epoch, ``first_stage(config)``);
* decoder: only ``decoder_body`` trained, the rest frozen, without swap consistency (``DECODER_STAGE``'s epochs);
* decoder + swap read-back: the same with both read-back terms (the recommended configuration's decoder epochs).

Each is timed ``--repeats`` times, alternating, and the best time is kept. Prints each and its ratio to the full
epoch, then the cost of both staged schedules against the preset's 30 full epochs (``RECOMMENDED_STANDARD``).

Run: ``python benchmarks/bench_decoder_stage.py [--repeats 2]``. Timings on a shared machine inflate
with its load (printed at the start and the end).
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from mvtutorial.data import load_tone_dataset
from mvtutorial.model import MultiViewVAE
from mvtutorial.studies.separation import DECODER_STAGE, RECOMMENDED_STANDARD, family_config, recommended_config
from mvtutorial.training import epoch_generators, first_stage, freeze_encoder, pair_octaves, run_epoch


def epoch_seconds(config, ds, stage: str) -> float:
    """Seconds of one training pass over the full set's pairs, training everything or the decoder alone."""
    torch.manual_seed(0)
    model = MultiViewVAE(config.model_config(ds.input_shape))
    if stage != "full":
        freeze_encoder(model)  # what a decoder-stage epoch of mvtutorial.training.train trains
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    rng, gen = epoch_generators(config.seed, 1, "cpu")
    pairs = ds.pairs("train", rng=rng)
    start = time.perf_counter()
    run_epoch(model, opt, ds.features, pairs, config, len(ds.split_indices("train")), gen, rng, None, pair_octaves(config, ds.factors))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    config, standard = recommended_config(seed=0), family_config(RECOMMENDED_STANDARD, seed=0)
    configs = {"full": first_stage(config), "decoder": family_config(DECODER_STAGE, seed=0), "decoder + swap read-back": config}
    ds = load_tone_dataset(config.data_mode, seed=config.data_seed)
    best = dict.fromkeys(configs, float("inf"))
    for _ in range(args.repeats):
        for stage, stage_config in configs.items():
            best[stage] = min(best[stage], epoch_seconds(stage_config, ds, stage))
    full = best["full"]
    print("; ".join(f"{stage} epoch {seconds:.1f} s (ratio {seconds / full:.2f})" for stage, seconds in best.items()))
    preset = standard.epochs * full
    for stage in ("decoder", "decoder + swap read-back"):
        staged = config.epochs * full + config.decoder_epochs * best[stage]
        print(f"{config.epochs} full + {config.decoder_epochs} {stage} epochs {staged / 60:.1f} min against {standard.epochs} full "
              f"epochs {preset / 60:.1f} min: {staged / preset:.1f}x (training passes only)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
