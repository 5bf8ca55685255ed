"""Command line: ``python -m mvtutorial train|evaluate ...`` (see ``--help``)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ._version import __version__
from .config import TrainConfig
from .evaluate import evaluate_run
from .training import NonFiniteLossError, train


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except where there is none to show (``None``) or the help already says it."""

    def _get_help_string(self, action):
        if action.default is None or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _train_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a multi-view VAE from a preset with overrides",
        description="Train the multi-view VAE. Writes OUT/checkpoint.pt (every epoch, atomically) and OUT/history.json. "
        "Example: python -m mvtutorial train --preset full --gamma 0.1 --seed 1 --out runs/g01",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--preset", choices=["fast", "full"], default="full", help="starting configuration (fast: seconds, for CI)")
    p.add_argument("--out", type=Path, required=True, help="run folder for the checkpoint and history")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in --out; an error if there is none of this config and version "
                       "(default: continue when there is one, else start afresh)")
    again.add_argument("--restart", action="store_true", help="start afresh even if --out holds a checkpoint of this config")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    helps = {
        "alpha": "weight of the index-code MI terms", "beta": "weight of the total-correlation terms",
        "gamma": "weight of the dimension-wise KL terms", "private_dim": "size of each view's private code",
        "shared_dim": "size of the shared code", "fusion": "fusion of the shared experts: poe or mean",
        "arch": "encoder/decoder family: pooled, mlp, conv or freqconv", "hidden": "hidden layer sizes, comma separated (e.g. 256,128)",
        "weighting": "minibatch estimator of q(z): loo, mss or mws", "reconstruction": "mse or bce",
        "batch_size": "pairs per step", "lr": "Adam learning rate", "epochs": "maximum epochs",
        "patience": "early-stopping patience in epochs (0: off)", "grad_clip": "gradient-norm clip",
        "seed": "training seed (init, pairs, noise)", "data_mode": "tone set size: fast or full",
        "data_seed": "seed of the tone set", "device": "auto, cpu, cuda, cuda:N or mps",
    }
    for f in dataclasses.fields(TrainConfig):
        kind = f.type if isinstance(f.type, type) else {"float": float, "int": int, "str": str}.get(str(f.type), str)
        if f.name == "hidden":
            kind = lambda s: tuple(int(v) for v in s.split(","))  # noqa: E731
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None,
                       help=f"{helps.get(f.name, f.name)} (default: from the preset)")


def _eval_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="probe accuracies and MI of a trained run",
        description="Evaluate a run folder: probe accuracies (private/shared/both x timbre/frequency), MI sums, "
        "and the full-dataset MI/TC/DWKL; writes RUN/metrics.json.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("run", type=Path, help="run folder written by `train`")
    p.add_argument("--probe", choices=["mlp", "logistic"], default="mlp", help="probe classifier")
    p.add_argument("--probe-seeds", type=int, default=3, help="number of probe seeds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mvtutorial", description=f"mvtutorial {__version__}")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _eval_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}
            config = TrainConfig.preset(args.preset, **overrides)
            config.resolved_device()  # a device this machine lacks: one error line now, not inside training
            try:
                args.out.mkdir(parents=True, exist_ok=True)
            except OSError as err:  # e.g. --out /dev/null/x: one line, not a NotADirectoryError traceback
                raise ValueError(f"--out {str(args.out)!r}: cannot create the run folder ({err.strerror or err}); "
                                 "pass a folder you can write to") from None
            result = train(config, args.out, resume=True if args.resume else False if args.restart else "auto", progress=not args.quiet)
            last = result.history[-1] if result.history else {}
            print(json.dumps({"out": str(args.out), "best_epoch": result.best_epoch, "epochs": len(result.history),
                              "val_total": last.get("val_total")}, indent=2))
        else:
            metrics = evaluate_run(args.run, probe=args.probe, probe_seeds=tuple(range(args.probe_seeds)))
            print(json.dumps(metrics["probes"], indent=2))
    except (ValueError, FileNotFoundError, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
