"""Chapter 6.8's readings of the pitch study: the families' table as the chapter shows it and the
sentences that say what it shows, computed from the study's results so that none can go stale.

Inputs are the study's own tables: :func:`mvtutorial.studies.pitch.pitch_table` (mean, sd, n over
seeds and targets met, per family), :func:`~mvtutorial.studies.pitch.per_class_summary` (private ->
frequency per frequency class) and, for swaps, :func:`mvtutorial.studies.swaps.judges_table` and the swap
records' per-class cells (:mod:`mvtutorial.studies.swap_classes`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..data import ToneConfig
from . import pitch
from .separation import PREVIOUS, RECOMMENDED, label, recommended_config
from .per_class import TOP_CLASSES  # where the naive tones alias most
from .separation_report import PAPER_FAMILY  # the paper family's row, spelled once
from .swap_classes import RECONSTRUCTION_TIMBRE, SWAP_LEAK, SWAP_TIMBRE, swap_class_bands, swap_class_table

__all__ = ["PAPER_FAMILY", "BASE_ROW", "TOP_CLASSES", "families_table", "pitch_display", "family_reading", "pitch_readings",
           "calibrated_sigma2", "calibrated_reading", "adversary_reading", "combination_reading", "axis_reading",
           "SWAP_TARGETS", "swap_targets_reading", "swap_timbre_bands", "decoder_reading", "decoder_stage_reading"]

#: The study's base row in the tables (display label): :data:`~mvtutorial.studies.separation.PREVIOUS`, the
#: recommendation before this study, which every family adds to.
BASE_ROW = label(PREVIOUS)


def families_table() -> pd.DataFrame:
    """The pitch families and data controls: change (config overrides) and hypothesis, one row each."""
    rows = [{"family": f.label, "identifier": name, "change": ", ".join(f"{k}={v!r}" for k, v in f.overrides.items()),
             "hypothesis": f.hypothesis} for name, f in pitch.PITCH_FAMILIES.items()]
    rows += [{"family": pitch.control_row(name), "identifier": name,
              "change": "data: " + ", ".join(f"{k}={v!r}" for k, v in f.overrides.items()), "hypothesis": f.hypothesis}
             for name, f in pitch.DATA_CONTROLS.items()]
    return pd.DataFrame(rows).set_index("family")


def pitch_display(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`~mvtutorial.studies.pitch.pitch_table` as text, "mean ± sd" per quantity, targets met
    and training seeds: one column per family."""
    return pd.DataFrame({family: {key: f"{row[(key, 'mean')]:.2f} ± {row[(key, 'sd')]:.2f}" for key in pitch.TABLE_KEYS
                                  if (key, "mean") in row.index}
                         | {"targets met (of 12)": str(int(row[("targets met", "of 12")])),
                            "training seeds": str(int(row[("private/frequency", "n")]))}
                         for family, row in table.iterrows()})


def _top(by_class: pd.DataFrame, row: str) -> float:
    return float(by_class.loc[row, [c for c in by_class.columns if c in TOP_CLASSES]].mean())


def family_reading(table: pd.DataFrame, family: str, judges: pd.DataFrame | None = None) -> str:
    """One markdown bullet: pitch family ``family`` (an identifier) against the base configuration
    (private -> frequency and its change in sd over seeds, private -> timbre, shared -> timbre, targets
    met; swaps from ``judges`` when it has the family)."""
    family = pitch.row_label(family)
    v = lambda f, k: float(table.loc[f, (k, "mean")])  # noqa: E731
    gain = v(family, "private/frequency") - v(BASE_ROW, "private/frequency")
    text = (f"* **{family}**: private → frequency {v(family, 'private/frequency'):.2f} on samples against "
            f"{v(BASE_ROW, 'private/frequency'):.2f} for the base configuration ({gain:+.2f}, sd over seeds "
            f"{table.loc[family, ('private/frequency', 'sd')]:.2f}); private → timbre {v(family, 'private/timbre'):.2f} "
            f"(was {v(BASE_ROW, 'private/timbre'):.2f}), shared → timbre {v(family, 'shared/timbre'):.2f}; targets met "
            f"{table.loc[family, ('targets met', 'of 12')]} of 12 (base {table.loc[BASE_ROW, ('targets met', 'of 12')]}).")
    if judges is not None and family in judges.index and BASE_ROW in judges.index:
        text += (f" Swaps: timbre follows the shared donor in {judges.loc[family, ('swap_timbre', 'mean')]:.1%}, pitch within "
                 f"50 cents in {judges.loc[family, ('within_50_cents_swap', 'mean')]:.1%} (base "
                 f"{judges.loc[BASE_ROW, ('within_50_cents_swap', 'mean')]:.1%}).")
    return text


def pitch_readings(table: pd.DataFrame, by_class: pd.DataFrame, judges: pd.DataFrame | None = None,
                   target: float = 0.90, diverged: Sequence[dict] = ()) -> list[str]:
    """Markdown lines: one per pitch family (:func:`family_reading`), one per run that diverged
    (``diverged``: :func:`~mvtutorial.studies.pitch.diverged_runs`), where pitch is lost (the top
    classes), the best family so far against ``target``, and the data controls."""
    shown = [f for f in pitch.PITCH_FAMILIES if pitch.row_label(f) in table.index]
    lines, candidates = [family_reading(table, f, judges) for f in shown], [pitch.row_label(f) for f in shown]
    lines += [f"* **{pitch.row_label(r['family'])}**, training seed {r['seed']}: diverged, so it has no result "
              f"({r['error'].split(' (try')[0].split(';')[0]})." for r in diverged]
    if len(by_class) and {PAPER_FAMILY, BASE_ROW, pitch.CEILING} <= set(by_class.index):
        lines.append(f"* **Where it is lost**: in classes {TOP_CLASSES[0]}-{TOP_CLASSES[-1]} (3.3-7 kHz) the input's probe "
                     f"reads {_top(by_class, pitch.CEILING):.2f} and the base model's private code "
                     f"{_top(by_class, BASE_ROW):.2f}; the paper-faithful model, whose posteriors are nearly deterministic, "
                     f"keeps {_top(by_class, PAPER_FAMILY):.2f} there.")
    if candidates:
        v = lambda f, k: float(table.loc[f, (k, "mean")])  # noqa: E731
        most = max(candidates, key=lambda f: v(f, "private/frequency"))
        split = max(candidates, key=lambda f: table.loc[f, ("targets met", "of 12")])
        reached = [f for f in candidates if v(f, "private/frequency") >= target]
        best = max(reached, key=lambda f: table.loc[f, ("targets met", "of 12")]) if reached else None
        lines.append("* **So far**: " + (f"{' and '.join(f'*{f}*' for f in reached)} reach private → frequency ≥ {target:.2f}; "
                     f"the most targets among them, {table.loc[best, ('targets met', 'of 12')]} of 12, *{best}*." if reached else
                     f"no candidate reaches private → frequency ≥ {target:.2f}; the most pitch, {most}, gains "
                     f"{v(most, 'private/frequency') - v(BASE_ROW, 'private/frequency'):+.2f} with "
                     f"{table.loc[most, ('targets met', 'of 12')]} of 12 targets met; the most targets, "
                     f"{table.loc[split, ('targets met', 'of 12')]} of 12, {split}.")
                     + _recommendation_words())
    for name in pitch.DATA_CONTROLS:
        control = pitch.control_row(name)
        if control in table.index and len(by_class) and control in by_class.index:
            lines.append(f"* **{pitch.row_label(name)}** (the control): the same configuration reads the frequency class at least "
                         f"{by_class.loc[control].min():.2f} in every class, top classes included, while shared → timbre "
                         f"falls to {table.loc[control, ('shared/timbre', 'mean')]:.2f}: without aliasing pitch is easy and "
                         "timbre fades, so on the naive set the aliased spectra of the top classes are where pitch is lost.")
    return lines


def calibrated_sigma2(runs: Sequence[dict], bins: int) -> float:
    """The calibrated decoder's variance per bin at the end of training, mean over ``runs``: its
    validation reconstruction term (both views) is ``D (log(2 pi sigma^2) + 1)`` nats, ``D = bins``."""
    return float(np.mean([np.exp(r["losses"]["val_reconstruction"] / bins - 1) / (2 * np.pi) for r in runs]))


def calibrated_reading(table: pd.DataFrame, by_class: pd.DataFrame, sigma2: float, mse: float,
                       family: str = "calibrated") -> str:
    """The calibrated decoder's paragraph: what its variance ``sigma2`` (per bin) does to the price of
    squared error and to the rates (the base model's squared error per bin: ``mse``), its pitch
    gain overall and in the top classes, and whether timbre comes back into the private code. ``family``: an
    identifier of :data:`~mvtutorial.studies.pitch.PITCH_FAMILIES`."""
    rate, family = pitch.pitch_config(family).rate_private, pitch.row_label(family)
    v = lambda f, k: float(table.loc[f, (k, "mean")])  # noqa: E731
    gain = v(family, "private/frequency") - v(BASE_ROW, "private/frequency")
    spread = np.nanmax([table.loc[family, ("private/frequency", "sd")], table.loc[BASE_ROW, ("private/frequency", "sd")]])
    leak = v(family, "private/timbre") - v(BASE_ROW, "private/timbre")
    verdict = ("It reaches the pitch target." if v(family, "private/frequency") >= 0.90 else
               "It keeps more pitch, by more than twice the spread over seeds, but stays below 0.90." if gain > 2 * spread else
               "Its change in pitch is within twice the spread over seeds: no gain." if gain > -2 * spread else
               "It keeps less pitch than the base configuration.")
    verdict += (f" But the cheaper private rate lets timbre back into the private code ({leak:+.2f}; the paper-faithful "
                f"configuration: {v(PAPER_FAMILY, 'private/timbre'):.2f})" if leak > 0.05 else
                " Timbre does not come back into the private code")
    verdict += (f": {table.loc[family, ('targets met', 'of 12')]} of 12 targets hold "
                f"(base {table.loc[BASE_ROW, ('targets met', 'of 12')]}).")
    return (f"**A calibrated decoder** (row *{family}*) asks whether the price of pitch detail is the problem. Its "
            "reconstruction term is the Gaussian negative log-likelihood of a decoder with one variance, set to the batch's "
            "mean squared error (the optimal σ-VAE of Rybkin et al., 2021; `TrainConfig(reconstruction=\"gaussian\")`), so "
            f"distortion is priced in nats like the rates. Its validation variance ends at σ² ≈ {sigma2:.4f} per bin (the "
            f"base model's squared error per bin: {mse:.4f}), so a unit of squared error costs 1/(2σ²) ≈ "
            f"{1 / (2 * sigma2):.0f} nats where the squared error charges 1: its gradient is proportional to the base "
            f"objective's with both rates multiplied by 2σ² ≈ {2 * sigma2:.3f}, the private one to {rate * 2 * sigma2:.2f} per "
            f"nat. Private → frequency {v(family, 'private/frequency'):.2f} ± {table.loc[family, ('private/frequency', 'sd')]:.2f} "
            f"over {int(table.loc[family, ('private/frequency', 'n')])} seeds against {v(BASE_ROW, 'private/frequency'):.2f} "
            f"({gain:+.2f}); in classes {TOP_CLASSES[0]}-{TOP_CLASSES[-1]} {_top(by_class, family):.2f} against "
            f"{_top(by_class, BASE_ROW):.2f}; private → timbre {v(family, 'private/timbre'):.2f} (base "
            f"{v(BASE_ROW, 'private/timbre'):.2f}), shared → frequency {v(family, 'shared/frequency'):.2f} "
            f"({v(BASE_ROW, 'shared/frequency'):.2f}). " + verdict)


def _gain_words(table: pd.DataFrame, family: str, other: str) -> str:
    """``"+0.08, more than twice the spread over seeds"`` (or ``within``): private -> frequency of ``family`` against ``other``."""
    gain = float(table.loc[family, ("private/frequency", "mean")] - table.loc[other, ("private/frequency", "mean")])
    spread = np.nanmax([table.loc[family, ("private/frequency", "sd")], table.loc[other, ("private/frequency", "sd")]])
    return f"{gain:+.2f}, " + ("more than" if abs(gain) > 2 * spread else "within") + " twice the spread over seeds"


def adversary_reading(table: pd.DataFrame, by_class: pd.DataFrame, family: str = "adversary", base: str = "freqconv",
                      calibrated: str = "calibrated") -> str:
    """The adversary family's paragraph: what the adversary is, its private pitch against the base
    configuration and against ``base`` (the encoder it builds on) in units of the spread over seeds, the
    top classes, and whether timbre stays out of the private code at its lower private rate. Families are
    identifiers of :data:`~mvtutorial.studies.pitch.PITCH_FAMILIES`."""
    v = lambda f, k: float(table.loc[f, (k, "mean")])  # noqa: E731
    config, base_rate = pitch.pitch_config(family), pitch.pitch_config(base).rate_private
    family, base, calibrated = (pitch.row_label(f) for f in (family, base, calibrated))
    n = int(table.loc[family, ("private/frequency", "n")])
    leak = v(family, "private/timbre") - v(BASE_ROW, "private/timbre")
    targets = lambda f: table.loc[f, ("targets met", "of 12")]  # noqa: E731
    verdict = ("It reaches the pitch target." if v(family, "private/frequency") >= 0.90 else "It stays below 0.90.") + (
        f" The adversary does the rate's job: at a private rate of {config.rate_private:g} instead of "
        f"{base_rate:g}, timbre stays out of the private code ({leak:+.2f} against the base "
        "configuration)" if leak <= 0.05 else
        f" The adversary does not do the rate's whole job: timbre comes back into the private code ({leak:+.2f})") + (
        f"; {targets(family)} of 12 targets hold (base {targets(BASE_ROW)}, frequency-conv encoder {targets(base)}).")
    cal = (f"; the calibrated decoder, whose rates got cheaper without an adversary, {v(calibrated, 'private/timbre'):.2f}"
           if calibrated in table.index else "")
    return (f"**An adversary instead of the rate** (row *{family}*) asks whether the private rate's job, keeping timbre out "
            "of the private code, can be done by something that does not also blur pitch. A small head (an MLP) predicts each "
            "view's single-view shared mean (detached) from that view's private sample; its squared error trains the head, "
            "and a gradient-reversal layer (identity forward, gradient times −1 backward; Ganin & Lempitsky, 2015) hands the "
            "encoder the same gradient negated, so the encoder moves the private code to make the prediction worse "
            f"(`TrainConfig(private_adversary={config.private_adversary:g})`, `mvtutorial.objectives.adversary`; in the "
            "spirit of the private/shared losses of domain separation networks, Bousmalis et al., 2016). With the adversary "
            f"on, the private rate drops to {config.rate_private:g}, on the frequency-conv encoder (row *{base}*). Private → "
            f"frequency {v(family, 'private/frequency'):.2f} ± {table.loc[family, ('private/frequency', 'sd')]:.2f} over {n} "
            f"seed{'s' if n != 1 else ''}: against the base configuration ({v(BASE_ROW, 'private/frequency'):.2f}) "
            f"{_gain_words(table, family, BASE_ROW)}, against the frequency-conv encoder alone "
            f"({v(base, 'private/frequency'):.2f}) {_gain_words(table, family, base)}; both → frequency "
            f"{v(family, 'both/frequency'):.2f}; in classes {TOP_CLASSES[0]}-{TOP_CLASSES[-1]} {_top(by_class, family):.2f} "
            f"(base {_top(by_class, BASE_ROW):.2f}, frequency-conv encoder {_top(by_class, base):.2f}). Private → "
            f"timbre {v(family, 'private/timbre'):.2f} (base {v(BASE_ROW, 'private/timbre'):.2f}, frequency-conv "
            f"encoder {v(base, 'private/timbre'):.2f}{cal}), shared → timbre {v(family, 'shared/timbre'):.2f}, shared → "
            f"frequency {v(family, 'shared/frequency'):.2f} (base {v(BASE_ROW, 'shared/frequency'):.2f}). " + verdict)


def combination_reading(table: pd.DataFrame, by_class: pd.DataFrame, judges: pd.DataFrame | None = None,
                        family: str = "adversary-calibrated", parts: Sequence[str] = ("calibrated", "adversary"),
                        title: str = "The combination") -> str:
    """The paragraph (headed ``title``) of a family built from others: ``family`` (an identifier) against each
    of its ``parts`` (the families it builds on) and the base configuration, on private pitch, the two
    leaks (private -> timbre, shared -> frequency), the top classes and, with ``judges``, the swaps; and
    whether a leak passes its target."""
    rows = [pitch.row_label(f) for f in (family, *parts)] + [BASE_ROW]
    v = lambda f, k: float(table.loc[f, (k, "mean")])  # noqa: E731
    keys = (("private/frequency", "private → frequency"), ("private/timbre", "private → timbre"),
            ("shared/frequency", "shared → frequency"), ("shared/timbre", "shared → timbre"))
    cells = "; ".join(f"{words} {v(rows[0], k):.2f} (" + ", ".join(f"{r} {v(r, k):.2f}" for r in rows[1:]) + ")"
                      for k, words in keys)
    n = int(table.loc[rows[0], ("private/frequency", "n")])
    text = (f"**{title}** (row *{rows[0]}*, {n} seed{'s' if n != 1 else ''}): {cells}; in classes "
            f"{TOP_CLASSES[0]}-{TOP_CLASSES[-1]} {_top(by_class, rows[0]):.2f} (base {_top(by_class, BASE_ROW):.2f}). "
            f"Against the base configuration its private pitch moves {_gain_words(table, rows[0], BASE_ROW)}.")
    if judges is not None and all(r in judges.index for r in (rows[0], BASE_ROW)):
        j = lambda r, k: judges.loc[r, (k, "mean")]  # noqa: E731
        text += (f" Swaps: pitch within 50 cents {j(rows[0], 'within_50_cents_swap'):.1%} (base "
                 f"{j(BASE_ROW, 'within_50_cents_swap'):.1%}), timbre follows the shared donor "
                 f"{j(rows[0], 'swap_timbre'):.1%} ({j(BASE_ROW, 'swap_timbre'):.1%}).")
    leak = v(rows[0], "private/timbre") > 0.50 or v(rows[0], "shared/frequency") > 0.15
    return text + (" The pitch comes with a leak: the private code keeps timbre or the shared code keeps pitch beyond "
                   "their targets (≤ 0.50, ≤ 0.15), so the split the base configuration makes is given up for it."
                   if leak else " Neither leak passes its target (private → timbre ≤ 0.50, shared → frequency ≤ 0.15).")


def axis_reading(axes: pd.DataFrame, family: str) -> str:
    """One markdown paragraph on where ``family`` (an identifier) puts pitch: the slope of its first private
    coordinate against log-frequency (the mean of the waveforms' own slopes; 1 is what the equivariance asks), each waveform's offset from
    the common line and its median error about its own offset, in octaves and classes (0.2 octave),
    mean over seeds (``axes``: :func:`~mvtutorial.studies.pitch.pitch_axes`)."""
    row = pitch.row_label(family)
    part = axes.loc[row]
    step = ToneConfig.preset("full").class_step_octaves  # octaves between class centres
    spread = float(part["offset"].max() - part["offset"].min())
    cells = ", ".join(f"{g} {o:+.2f}" for g, o in part["offset"].items())
    errors = ", ".join(f"{g} {e:.2f}" for g, e in part["median error"].items())
    return (f"**The pitch axis of *{row}*** ({int(part['seeds'].iloc[0])} seeds, posterior means of the test split): the "
            f"first private coordinate rises {part['slope'].mean():.2f} per octave (1 is what the term asks). Each waveform "
            f"sits at its own offset from the common line, in octaves: {cells}. The offsets span {spread:.2f} octave "
            f"({spread / step:.1f} classes); the wider the span, the more the pitch axis also says which waveform a clip "
            f"is. About its own offset, the median error is {errors} octave.")


#: The swap targets of the pitch study (classifier judge): pitch follows the private donor, timbre the shared donor.
SWAP_TARGETS = {"swap_frequency": 0.90, "swap_timbre": 0.95}


def _recommendation_words() -> str:
    """Which pitch family the separation study recommends now, found by config (not by name)."""
    family = pitch.family_of_config(recommended_config(seed=0))
    named = f"*{pitch.row_label(family)}*, " if family else ""
    return f" The separation study now recommends {named}row *{label(RECOMMENDED)}* of its table."


def swap_targets_reading(swaps: pd.DataFrame, families: Sequence[str]) -> list[str]:
    """Markdown bullets, one per family (identifiers; the base configuration first): the classifier
    judge's share of swaps whose pitch follows the private donor and whose timbre follows the shared donor,
    each against :data:`SWAP_TARGETS`, beside the same classifier on the model's plain reconstructions
    (what a swap can hardly beat). ``swaps``: :func:`mvtutorial.listening.swap_table` of the swap records,
    rows the display labels."""
    rows = [BASE_ROW] + [pitch.row_label(f) for f in families]
    lines = []
    for row in (r for r in rows if r in swaps.index):
        m = lambda k: float(swaps.loc[row, (k, "mean")])  # noqa: E731
        met = [k for k, t in SWAP_TARGETS.items() if m(k) >= t]
        lines.append(f"* **{row}** ({int(swaps.loc[row, ('n', '')])} seeds): pitch follows the private donor in "
                     f"{m('swap_frequency'):.1%} of swaps (target {SWAP_TARGETS['swap_frequency']:.0%}), timbre the shared "
                     f"donor in {m('swap_timbre'):.1%} (target {SWAP_TARGETS['swap_timbre']:.0%}); on plain reconstructions "
                     f"the same classifier reads pitch {m('recon_frequency'):.1%} and timbre {m('recon_timbre'):.1%}. "
                     f"Swap targets met: {len(met)} of {len(SWAP_TARGETS)}.")
    return lines


def swap_timbre_bands(records: Sequence[dict], rows: Sequence[str]) -> pd.DataFrame:
    """Where each family's swaps lose timbre: for ``rows`` (display labels, in that order; those with cells)
    the share of swaps keeping the shared donor's timbre, of swaps taking the private donor's, and of plain
    reconstructions keeping their own, at the classes below :data:`TOP_CLASSES` and at them
    (:func:`~mvtutorial.studies.swap_classes.swap_class_bands` of the swap records' cells, mean over seeds).
    Columns ``(measure, classes)``."""
    measures = [SWAP_TIMBRE, SWAP_LEAK, RECONSTRUCTION_TIMBRE]
    table = swap_class_table([r for r in records if r["config"] in rows and "per_class" in r], measures)
    bands = swap_class_bands(table, TOP_CLASSES).unstack("measure").swaplevel(axis=1)
    bands = bands[[(m, b) for m in measures for b in bands.columns.get_level_values(1).unique()]]
    return bands.reindex([r for r in dict.fromkeys(rows) if r in bands.index])  # a row asked for twice appears once


#: How much more timbre the shared code's probe must read than the reconstructions keep, at the top classes,
#: for :func:`decoder_reading` to blame the decoder (3 points: beyond the seeds' spread of either).
DECODER_GAP = 0.03


def decoder_reading(bands: pd.DataFrame, shared_timbre: pd.DataFrame, row: str) -> str:
    """One sentence on what limits ``row``'s swaps at :data:`TOP_CLASSES`: the shared code's timbre probe
    there (``shared_timbre``: :func:`~mvtutorial.studies.pitch.per_class_summary` of ``"shared -> timbre"``),
    beside its reconstructions and swaps (``bands``: :func:`swap_timbre_bands`); the decoder is blamed when
    the probe reads more than :data:`DECODER_GAP` above the reconstructions."""
    top = bands.columns.get_level_values(1).unique()[-1]
    probe, rec, swapped, leak = (_top(shared_timbre, row), bands.loc[row, (RECONSTRUCTION_TIMBRE, top)],
                                 bands.loc[row, (SWAP_TIMBRE, top)], bands.loc[row, (SWAP_LEAK, top)])
    verdict = ("the decoder loses what the code holds" if probe - rec > DECODER_GAP else
               "the reconstructions keep about what the code holds, so the code, not the decoder, sets the limit")
    return (f"At the aliased {top}, an MLP on *{row}*'s shared posterior samples reads the timbre in {probe:.1%}; its "
            f"reconstructions are read as their own timbre in {rec:.1%} and its swaps as the shared donor's in {swapped:.1%} "
            f"({leak:.1%} take the private donor's): {verdict}.")


def decoder_stage_reading(table: pd.DataFrame, swaps: pd.DataFrame, bands: pd.DataFrame, family: str, first: str) -> str:
    """One markdown paragraph on a family with a decoder stage (``family``) against the run it continues
    (``first``; identifiers): swaps and reconstructions (``swaps``: :func:`mvtutorial.listening.swap_table`), the
    swaps at :data:`TOP_CLASSES` (``bands``: :func:`swap_timbre_bands`), and the largest difference between the two
    rows' probe accuracies (``table``: :func:`~mvtutorial.studies.pitch.pitch_table`), which a frozen encoder keeps at 0."""
    row, base = pitch.row_label(family), pitch.row_label(first)
    m = lambda r, k: float(swaps.loc[r, (k, "mean")])  # noqa: E731
    top = bands.columns.get_level_values(1).unique()[-1]
    probes = [k for k in pitch.TABLE_KEYS if "/" in k and (k, "mean") in table.columns]
    drift = float((table.loc[row, [(k, "mean") for k in probes]] - table.loc[base, [(k, "mean") for k in probes]]).abs().max())
    return (f"**A decoder stage** (row *{row}*, {int(swaps.loc[row, ('n', '')])} seeds, against *{base}*): timbre follows the "
            f"shared donor in {m(row, 'swap_timbre'):.1%} of swaps ({m(base, 'swap_timbre'):.1%}) and pitch the private donor "
            f"in {m(row, 'swap_frequency'):.1%} ({m(base, 'swap_frequency'):.1%}); plain reconstructions are read as their "
            f"own timbre in {m(row, 'recon_timbre'):.1%} ({m(base, 'recon_timbre'):.1%}). At the aliased {top} the swaps "
            f"keep timbre in {bands.loc[row, (SWAP_TIMBRE, top)]:.1%} ({bands.loc[base, (SWAP_TIMBRE, top)]:.1%}). The "
            f"encoder is the first stage's, frozen: the largest difference between the two rows' probe accuracies "
            f"(mean over seeds) is {drift:.3f}.")
