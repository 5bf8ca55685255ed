"""Regenerate the shipped results: ``python -m mvtutorial.reproduce headline|ablation``.

Where results go (``assets/`` below): the package's own ``mvtutorial/assets/`` when it runs from a
source checkout (``pyproject.toml`` and ``.git`` beside it, e.g. ``pip install -e .``), where these
commands regenerate the shipped results; otherwise ``$MVTUTORIAL_CACHE/reproduce`` (default
``~/.cache/mvtutorial/reproduce``), so an installed package is never written into. ``--out DIR``
writes into ``DIR`` instead, ``--into-assets`` into the package's ``assets/`` in any case. Steps that
read an earlier step's output (``swap``, ``sweep2d``, ``separation``) take it from the output folder
when it is there, else from the shipped ``assets/``. The first line printed names the folder.

``headline``: trains the headline configuration (full preset) for seeds 0, 1, 2 (resumable
runs in the cache folder), evaluates each (MLP probes x 3 probe seeds, MI matrix, scores,
decomposition) and writes ``mvtutorial/assets/headline/seed{S}.pt`` (slim checkpoint) and
``seed{S}.json`` atomically. ``ablation``: the paper's one-term-at-a-time sweep
(10 distinct configs x 3 seeds) into ``mvtutorial/assets/ablation/<key>.json``; killed runs resume.
``sweep2d``: the gamma x beta grid of chapter 5 (:func:`~mvtutorial.studies.ablation.gamma_beta_grid`);
the runs the ablation already holds are reused, the others go to ``mvtutorial/assets/sweep2d/``.
``separation``: the separation study of chapter 6 (:mod:`mvtutorial.studies.separation`, every family x
seeds) into ``mvtutorial/assets/separation/<key>.json``, then slim checkpoints of the recommended
family into ``mvtutorial/assets/recommended/seed{S}.pt`` (with its result as ``seed{S}.json``).
``retest``: the paper's ablation (alpha, beta, gamma at 1, one at a time) on top of the recommended
configuration, into ``mvtutorial/assets/retest/<key>.json``. ``estimator``: the paper's key ablation cells
trained with the widely copied column-0 MSS estimator, into ``mvtutorial/assets/estimator/<key>.json``.
``baselines``: chapter 8's baselines x seeds into ``mvtutorial/assets/baselines/<key>.json`` (with swap scores).
``swap``: swap scores (chapter 7) of the shipped paper-faithful and recommended checkpoints into
``mvtutorial/assets/swap/``.
``judges``: the counterfactual judges (:mod:`mvtutorial.judges`) added to every swap record without
them (``swap/``, ``instruments/swap/``, then chapter 8's ``baselines/``, whose runs are retrained first:
about an hour on one core), and the pretrained pitch tracker's (:mod:`mvtutorial.trackers`) to the
``swap/`` and ``instruments/swap/`` records without it, keeping their other judges, and the swap score per
(frequency class, waveform) cell (:mod:`mvtutorial.studies.swap_classes`) to the tone ``swap/`` records and per
instrument pair (:mod:`mvtutorial.studies.instrument_swaps`) to the ``instruments/swap/`` records without them; resumable; prints the judges' table with their validation on real clips.
``instruments``: chapter 9's two configurations (paper-faithful, recommended) x seeds trained on the
sampled-instrument set (:mod:`mvtutorial.studies.transfer`), with the study's evaluation and swap scores, into
``mvtutorial/assets/instruments/`` (results, slim checkpoints), then the recommended one tested on a held-out
SoundFont bank into ``assets/instruments/heldout/`` (needs ``fluid-soundfont-gm``); 1 thread unless ``--threads``.
``banks``: chapter 10's leave-one-bank-out study (:mod:`mvtutorial.studies.banks`: each held-out SoundFont bank x
the paper-faithful, recommended and cross-bank-pair configurations x seeds, ``--n-jobs`` runs at once, 1 thread
each unless ``--threads``), resumable, into ``mvtutorial/assets/banks/``; needs the banks' Debian packages.
``comb``: chapter 7.6's pitch-blur ceiling (:func:`~mvtutorial.studies.alias_comb.reproduce_ceiling`: the swap score's
classifier on real test clips averaged over pitch noise) into ``mvtutorial/assets/alias_comb/ceiling.json``.

Each command is one line of :data:`COMMANDS` calling the study module (:mod:`mvtutorial.studies`) that owns it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cache import read_json
from .checkpoint import load_model
from .sweeps import check_scheduler, check_sweep_options
from .studies import (ablation, alias_comb, banks, baseline_judges, baselines, headline, instrument_swaps, listening, separation, swap_classes,
                      swaps, transfer, transfer_schedule)
from .studies.headline import headline_config
from .studies.store import output_root


def _judges(args, root: Path, backend: dict) -> None:
    for path in swaps.add_judges(swaps.swap_record_paths(root=root), threads=args.threads or 1):
        print(f"judged {path}", flush=True)
    tones = {p: swaps.checkpoint_of(p, read_json(p)["checkpoint"]) for p in swaps.swap_record_paths("tones", root)}
    for path in swap_classes.add_swap_cells(tones, None, load_model):  # the full tone set, loaded if a record needs it
        print(f"scored per class {path}", flush=True)
    notes = {p: swaps.checkpoint_of(p, read_json(p)["checkpoint"]) for p in swaps.swap_record_paths("instruments", root)}
    for path in instrument_swaps.add_pair_cells(notes, load_model):
        print(f"scored per instrument pair {path}", flush=True)
    baseline_judges.judge_baselines(args.seeds, threads=args.threads or 1, results_dir=root / "baselines")
    print(swaps.judges_markdown(root), flush=True)


def _instruments(args, root: Path, backend: dict) -> None:
    transfer.run_transfer_study(args.seeds, out=root / "instruments", threads=args.threads or 1)
    transfer.run_heldout_study(args.seeds, out=root / "instruments" / "heldout", threads=args.threads or 1)
    transfer_schedule.run_schedule_study(args.seeds, out=root / "instruments" / transfer_schedule.SCHEDULE_FOLDER,
                                         threads=args.threads or 1)


#: The README's results tables, in its order: name -> the study function that prints one from the shipped results.
README_TABLES = {
    "headline": headline.headline_markdown, "ablation": ablation.ablation_markdown, "study": separation.study_markdown,
    "re-test": ablation.retest_markdown, "estimator": ablation.estimator_markdown, "swap": listening.swap_markdown,
    "judges": swaps.judges_markdown, "baselines": baselines.baselines_markdown, "instruments": transfer.transfer_markdown, "banks": banks.banks_markdown,
}


def tables() -> str:
    """The README's results tables (:data:`README_TABLES`), as ``reproduce table`` prints them."""
    return "\n\n".join(table() for table in README_TABLES.values())


#: Subcommand -> (runner ``(args, root, backend)``, whether it is a sweep (takes ``--scheduler``)).
COMMANDS = {
    "headline": (lambda a, root, b: headline.reproduce_headline(a.seeds, a.threads, out=root), False),
    "ablation": (lambda a, root, b: ablation.reproduce_ablation(a.seeds, a.n_jobs, a.threads, **b), True),
    "sweep2d": (lambda a, root, b: ablation.reproduce_sweep2d(a.seeds, a.n_jobs, a.threads, **b), True),
    "separation": (lambda a, root, b: separation.reproduce_separation(a.seeds, a.n_jobs, a.threads, a.families, **b), True),
    "retest": (lambda a, root, b: ablation.reproduce_retest(a.seeds, a.n_jobs, a.threads, **b), True),
    "estimator": (lambda a, root, b: ablation.reproduce_estimator(a.seeds, a.n_jobs, a.threads, **b), True),
    "swap": (lambda a, root, b: listening.reproduce_swap(a.seeds, threads=a.threads, out=root), False),
    "judges": (_judges, False),
    "baselines": (lambda a, root, b: baselines.reproduce_baselines(a.seeds, a.n_jobs, a.threads, **b), True),
    "instruments": (_instruments, False),
    "banks": (lambda a, root, b: banks.reproduce_banks(a.seeds, a.n_jobs, a.threads, out=root), False),
    "comb": (lambda a, root, b: print(f"wrote {alias_comb.reproduce_ceiling(root)}"), False),
    "table": (lambda a, root, b: print(tables()), False),
}
#: The commands that run a sweep (and take ``--scheduler``).
SWEEPS = tuple(name for name, (_, sweep) in COMMANDS.items() if sweep)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mvtutorial.reproduce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=list(COMMANDS), help="table: print the README results tables")
    p.add_argument("--seeds", type=_seeds, default=(0, 1, 2), help="comma-separated seeds")
    p.add_argument("--n-jobs", type=int, default=2, help="parallel runs of the sweep commands (>= 1, or -1: one per core)")
    p.add_argument("--threads", type=int, default=None, help="torch/BLAS threads per run, >= 1 (default: cores / n-jobs)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="write results into DIR/<command>/ (default: the package's assets/ when run from a source "
                            "checkout, else $MVTUTORIAL_CACHE/reproduce, i.e. ~/.cache/mvtutorial/reproduce)")
    where.add_argument("--into-assets", action="store_true",
                       help="write into the package's own assets/ folder (the shipped results) even when it is installed")
    p.add_argument("--families", type=lambda s: tuple(s.split(",")), default=None,
                   help="separation: comma-separated study family identifiers, e.g. paper,recommended (default: all, "
                        "see mvtutorial.studies.separation.FAMILIES)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="sweep commands: run on the Dask cluster of this scheduler (tcp://host:8786), or 'local' for "
                        "a LocalCluster of --n-jobs workers (default: joblib on this machine)")
    p.add_argument("--write-on", choices=["client", "workers"], default="client",
                   help="with --scheduler: results written here as they come back (client, default) or by the "
                        "workers into this checkout's assets folder, which they must share (workers)")
    args = p.parse_args(argv)
    try:
        _run(args)
    except (ValueError, FileNotFoundError, ConnectionError) as err:  # bad input: one line, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 0,1,2, got {text!r}") from None


def _run(args) -> None:
    if args.scheduler is not None and args.what not in SWEEPS:
        raise ValueError(f"--scheduler applies to the sweep commands {SWEEPS}, not {args.what!r}")
    # every option checked before anything trains (a bad --threads would fail inside a worker)
    check_sweep_options((), args.n_jobs, args.threads)
    if args.scheduler not in (None, "local"):
        check_scheduler(args.scheduler)
    for seed in args.seeds:
        headline_config("full", seed=seed)  # a bad seed: TrainConfig's one line, before anything is written
    root = output_root(args.out, args.into_assets)
    backend = {"scheduler": args.scheduler, "write_on": args.write_on, "out": root}
    if args.what != "table":
        print(f"writing results into {root}", flush=True)
    COMMANDS[args.what][0](args, root, backend)


if __name__ == "__main__":
    sys.exit(main())
