"""Chapter 6's readings are computed from the study's tables: known answers on planted tables, and
the shipped study's readings agree with its table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mvtutorial.studies import separation_report as report
from mvtutorial.studies.separation import (DECODER_STAGE, PREVIOUS, RECOMMENDED, RECOMMENDED_STANDARD, SWAP_CONSISTENCY, label, study_results,
                                           study_table)


def _stats(rows: dict[str, dict[str, tuple[float, float]]]) -> pd.DataFrame:
    """A study-table-shaped frame: rows families, columns (quantity, mean | sd | n)."""
    data = {f: {(k, "mean"): m for k, (m, s) in q.items()} | {(k, "sd"): s for k, (m, s) in q.items()}
            | {(k, "n"): 3 for k in q} for f, q in rows.items()}
    return pd.DataFrame(data).T


def test_mechanism_reading_marks_changes_within_seed_noise():
    table = _stats({"autoencoder": {"shared/timbre": (0.80, 0.01), "private/timbre": (0.88, 0.02)},
                    "+ cross-view": {"shared/timbre": (0.98, 0.01), "private/timbre": (0.87, 0.02)}})
    (line,) = report.mechanism_readings(table)
    assert line.startswith("* **+ cross-view** (against *autoencoder*")
    assert "shared → timbre 0.80 → 0.98;" in line  # 0.18 > 2 x 0.01: a real change, unmarked
    assert "private → timbre 0.88 → 0.87 (within seed noise)" in line  # 0.01 < 2 x 0.02


def test_pitch_targets_reading_names_the_families_that_meet_both():
    table = _stats({"autoencoder": {"private/frequency": (0.83, 0), "both/frequency": (0.85, 0)},
                    "x": {"private/frequency": (0.95, 0), "both/frequency": (0.91, 0)},
                    "y": {"private/frequency": (0.95, 0), "both/frequency": (0.89, 0)}})
    assert report.pitch_targets_reading(table).startswith("Families that meet both pitch targets on samples: x.")
    none = report.pitch_targets_reading(table.drop(index="x"))
    assert none.startswith("No family meets both pitch targets") and "reads both → frequency 0.85" in none


def test_paper_comparison_sorts_probes_into_beaten_and_missed():
    table = _stats({label(RECOMMENDED): {"shared/frequency": (0.12, 0), "private/timbre": (0.90, 0), "private/frequency": (0.80, 0)}})
    text = report.paper_comparison(table)  # paper: shared freq .30, private timbre .74, private freq .766
    assert "Better than the paper: shared → frequency, private → frequency." in text
    assert "Not reached: private → timbre." in text


def test_input_ceiling_reads_a_planted_factor_perfectly():
    class Planted:  # the factor is written into one mel band, the other factor is noise
        factor_columns = {"timbre": "a", "frequency": "b"}
        rng = np.random.default_rng(0)
        factors = pd.DataFrame({"a": rng.integers(0, 3, 300), "b": rng.integers(0, 2, 300)})
        import torch
        features = torch.from_numpy(rng.normal(0, 1, (300, 4, 2)).astype("float32"))
        features[:, 0, :] = torch.from_numpy(factors["a"].to_numpy()[:, None] * 5.0).float()

        def split_indices(self, split):
            return {"train": np.arange(200), "test": np.arange(200, 300)}[split]

    ceiling = report.input_ceiling(Planted(), probe="logistic")
    assert ceiling["timbre"] == 1.0 and ceiling["frequency"] < 0.75


@pytest.mark.parametrize("codes", ["sample", "mean"])
def test_shipped_readings_agree_with_the_table(codes):
    table = study_table(study_results(), codes)
    targets = report.target_table(table, table, RECOMMENDED)
    assert set(targets.columns.get_level_values(0)) == {"samples", "means"}
    rec = table.loc[label(RECOMMENDED)]
    assert targets.loc["private/frequency >= 0.9", ("samples", "value")] == pytest.approx(rec[("private/frequency", "mean")], abs=5e-4)
    lines = report.mechanism_readings(table)
    assert len(lines) == len(report.BUILDS_ON)
    prev = table.loc[label(PREVIOUS)]
    line = next(l for l in lines if l.startswith(f"* **{label(PREVIOUS)}**"))
    assert f"private → frequency {table.loc['+ cross-view', ('private/frequency', 'mean')]:.2f} → {prev[('private/frequency', 'mean')]:.2f}" in line
    # the 30-epoch objective builds on PREVIOUS, its decoder stage on that, and the recommendation (swap consistency) on the stage
    standard, staged = table.loc[label(RECOMMENDED_STANDARD)], table.loc[label(DECODER_STAGE)]
    line = next(l for l in lines if l.startswith(f"* **{label(RECOMMENDED_STANDARD)}**"))
    assert f"private → frequency {prev[('private/frequency', 'mean')]:.2f} → {standard[('private/frequency', 'mean')]:.2f}" in line
    line = next(l for l in lines if l.startswith(f"* **{label(DECODER_STAGE)}**"))
    assert f"(against *{label(RECOMMENDED_STANDARD)}*;" in line
    assert f"private → frequency {standard[('private/frequency', 'mean')]:.2f} → {staged[('private/frequency', 'mean')]:.2f}" in line
    line = next(l for l in lines if l.startswith(f"* **{label(SWAP_CONSISTENCY)}**"))
    assert f"(against *{label(DECODER_STAGE)}*;" in line
    line = next(l for l in lines if l.startswith(f"* **{label(RECOMMENDED)}**"))
    assert f"(against *{label(SWAP_CONSISTENCY)}*;" in line
    # a decoder stage leaves the encoder as it was: the stages' probes are the same numbers
    consistent = table.loc[label(SWAP_CONSISTENCY)]
    assert rec[("private/frequency", "mean")] == staged[("private/frequency", "mean")] == consistent[("private/frequency", "mean")]
    assert f"private → frequency {staged[('private/frequency', 'mean')]:.2f} → {rec[('private/frequency', 'mean')]:.2f}" in line


def test_pitch_readings_of_the_shipped_study_name_every_family_and_the_best():
    from mvtutorial.studies import pitch, pitch_report

    table = pitch.pitch_table("sample")
    by_class = pitch.per_class_summary("private -> frequency")
    lines = pitch_report.pitch_readings(table, by_class)
    for family in (f.label for f in pitch.PITCH_FAMILIES.values()):
        assert any(l.startswith(f"* **{family}**: private → frequency {table.loc[family, ('private/frequency', 'mean')]:.2f}")
                   for l in lines)
    so_far = next(l for l in lines if l.startswith("* **So far**"))
    # the pitch family the separation study recommends, found by its config
    assert f"now recommends *{pitch.row_label('transposition-freqconv-60-epochs-all-decoder-60-swap-consistency-pitch')}*, row *{label(RECOMMENDED)}*" in so_far
    reached = [f.label for f in pitch.PITCH_FAMILIES.values() if table.loc[f.label, ("private/frequency", "mean")] >= 0.90]
    if reached:  # each named, and the one meeting the most targets
        assert all(f"*{f}*" in so_far for f in reached) and "reach private → frequency ≥ 0.90" in so_far
        best = max(reached, key=lambda f: table.loc[f, ("targets met", "of 12")])
        assert f"{table.loc[best, ('targets met', 'of 12')]} of 12, *{best}*" in so_far
    else:
        most = max((f.label for f in pitch.PITCH_FAMILIES.values()), key=lambda f: table.loc[f, ("private/frequency", "mean")])
        assert f"the most pitch, {most}" in so_far
    families = pitch_report.families_table()
    assert list(families.index[: len(pitch.PITCH_FAMILIES)]) == [f.label for f in pitch.PITCH_FAMILIES.values()]
    assert list(families["identifier"][: len(pitch.PITCH_FAMILIES)]) == list(pitch.PITCH_FAMILIES)


def test_calibrated_sigma2_inverts_the_gaussian_reconstruction_term():
    from mvtutorial.studies.pitch_report import calibrated_sigma2

    bins, sigma2 = 640, 0.0142  # validation term of both views: D (log(2 pi sigma^2) + 1)
    run = {"losses": {"val_reconstruction": bins * (np.log(2 * np.pi * sigma2) + 1)}}
    assert calibrated_sigma2([run, run], bins) == pytest.approx(sigma2)


def test_estimator_cell_score_is_the_separation_score_of_the_cell_means():
    from mvtutorial.studies.separation_report import cell_separation_score, estimator_table

    rows = [{"alpha": 0.0, "beta": 0.0, "gamma": 0.1, "latent": l, "factor": f, "accuracy": a, "seed": s}
            for s in (0, 1) for (l, f, a) in (("shared", "timbre", 0.9), ("private", "timbre", 0.5),
                                              ("private", "frequency", 0.8), ("shared", "frequency", 0.2))]
    table = pd.DataFrame(rows)
    assert cell_separation_score(table, "gamma", 0.1) == pytest.approx((0.9 - 0.5) + (0.8 - 0.2))
    assert cell_separation_score(table, "gamma", 1.0) is None
    shown = estimator_table(table, table.iloc[:0])
    assert shown.loc["gamma = 0.1", ("timbre shared", "loo")] == "0.90" and shown.loc["gamma = 0.1", ("timbre shared", "column-0")] == "-"


def test_combination_reading_names_the_parts_and_the_leak():
    from mvtutorial.studies import pitch, pitch_report

    def row(freq, timbre, shared_freq):
        return {"private/frequency": (freq, 0.01), "private/timbre": (timbre, 0.02), "shared/frequency": (shared_freq, 0.01),
                "shared/timbre": (0.99, 0.0)}
    rows = {pitch.row_label("adversary-calibrated"): row(0.90, 0.60, 0.10), pitch.row_label("calibrated"): row(0.84, 0.83, 0.27),
            pitch.row_label("adversary"): row(0.78, 0.35, 0.10), pitch_report.BASE_ROW: row(0.70, 0.43, 0.12)}
    table = _stats(rows)
    by_class = pd.DataFrame({c: [0.9, 0.5, 0.5, 0.4] for c in range(21)}, index=list(rows))
    text = pitch_report.combination_reading(table, by_class)
    assert "private → frequency 0.90 (+ calibrated decoder 0.84, + adversary, freq-conv, private rate 1.5 0.78" in text
    assert "in classes 14-20 0.90 (base 0.40)" in text and "moves +0.20, more than twice the spread" in text
    assert "The pitch comes with a leak" in text  # private -> timbre 0.60 > 0.50
    table.loc[pitch.row_label("adversary-calibrated"), ("private/timbre", "mean")] = 0.45
    assert "Neither leak passes its target" in pitch_report.combination_reading(table, by_class)
