"""Seed-by-seed comparison of two decoder stages' swap records (mvtutorial.studies.paired_swaps), on made-up records."""
from __future__ import annotations

import pytest

from mvtutorial.studies.paired_swaps import PAIRED_COLUMNS, paired_frame, paired_reading, paired_wins


def record(config: str, seed: int, timbre: float, leak: float = 0.02, lsd: float = 10.0) -> dict:
    return {"config": config, "train_seed": seed, "swap_timbre": timbre, "swap_frequency": 0.97, "swap_both": timbre - 0.03,
            "leak_timbre": leak, "recon_timbre": 0.97, "judges": {"overall": {"within_50_cents_swap": 0.95, "lsd_swap": lsd}}}


RECORDS = [record("new", 0, 0.96, leak=0.01, lsd=10.2), record("new", 1, 0.97, leak=0.01, lsd=10.3), record("new", 2, 0.93, leak=0.03),
           record("old", 2, 0.94, leak=0.02), record("old", 0, 0.95, leak=0.02, lsd=10.1), record("old", 1, 0.95, leak=0.02, lsd=10.0),
           record("other", 0, 0.5), record("new", 3, 0.99)]  # seed 3 has no partner: left out


def test_paired_frame_lines_up_the_two_rows_by_training_seed():
    frame = paired_frame(RECORDS, "new", "old")
    assert list(frame.index) == [0, 1, 2] and frame.index.name == "training seed"
    assert list(frame[("swap timbre", "new")]) == [0.96, 0.97, 0.93]
    assert list(frame[("swap timbre", "old")]) == [0.95, 0.95, 0.94]  # seed order, not record order
    assert list(frame[("LSD to the counterfactual (dB)", "old")]) == [10.1, 10.0, 10.0]
    assert [c for c, _ in frame.columns[::2]] == list(PAIRED_COLUMNS)


def test_paired_wins_count_seeds_and_lower_is_better_where_it_should_be():
    wins = paired_wins(paired_frame(RECORDS, "new", "old"), "new", "old")
    assert wins["swap timbre"] == "2/3" and wins["leak"] == "2/3"  # 0.01 < 0.02 twice, 0.03 > 0.02 once
    assert wins["LSD to the counterfactual (dB)"] == "0/3"  # 10.2 > 10.1, 10.3 > 10.0, a tie is no win
    assert wins["swap pitch"] == "0/3"


def test_paired_reading_quotes_both_rows_per_seed():
    frame = paired_frame(RECORDS, "new", "old")
    text = paired_reading(frame, "new", "old")
    assert "0.960, 0.970, 0.930 against 0.950, 0.950, 0.940 (better in 2/3 seeds)" in text
    assert "10.20, 10.30, 10.00 against 10.10, 10.00, 10.00 (better in 0/3 seeds)" in text


def test_a_row_without_records_or_with_two_trainings_of_one_seed_is_refused():
    with pytest.raises(ValueError, match="row 'missing' needs one swap record per training seed"):
        paired_frame(RECORDS, "missing", "old")
    with pytest.raises(ValueError, match=r"row 'old' needs one swap record per training seed, got seeds \[0, 0, 1, 2\]"):
        paired_frame(RECORDS + [record("old", 0, 0.9)], "new", "old")
