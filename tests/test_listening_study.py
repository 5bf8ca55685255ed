"""Chapter 7's examples and readings come from the package: the example grid's clips have the asked
factors, and each reading's verdict follows its numbers (known answers on planted tables)."""
from __future__ import annotations

import pandas as pd
import pytest

from mvtutorial.data import load_tone_dataset
from mvtutorial.studies import listening as study


@pytest.fixture(scope="module")
def ds():
    return load_tone_dataset("fast")


def test_example_grid_holds_test_clips_of_each_waveform_and_class(ds):
    grid, labels = study.example_grid(ds, n_pitches=4, seed=0)
    pitches = study.example_pitches(ds, 4)
    assert grid.shape == (len(ds.config.waveforms), 4) and len(labels) == 4 and pitches == sorted(pitches)
    rows = ds.factors.loc[grid.ravel()]
    assert (rows.split == "test").all()
    assert rows.waveform.tolist() == [w for w in range(len(ds.config.waveforms)) for _ in pitches]
    assert rows.freq_class.tolist() == pitches * len(ds.config.waveforms)
    assert study.test_clip(ds, 1, pitches[0], seed=3) == study.test_clip(ds, 1, pitches[0], seed=3)  # seeded


def _swap_table(swap_timbre, leak, swap_f, recon_f):
    cols = {"swap_timbre": swap_timbre, "leak_timbre": leak, "chance_timbre": 0.25, "swap_frequency": swap_f,
            "recon_frequency": recon_f, "swap_both": 0.5, "chance_both": 0.012}
    return pd.DataFrame({(k, "mean"): v for k, v in cols.items()}, index=[study.PAPER_FAMILY, study.RECOMMENDED_FAMILY])


def test_swap_readings_verdicts_follow_the_numbers():
    table = _swap_table([0.04, 0.90], [0.95, 0.05], [0.76, 0.60], [0.77, 0.79])
    paper, recommended, both = study.swap_readings(table)
    assert paper.startswith("* **paper-faithful: the swaps fail for timbre.** 4 % of swaps")
    assert recommended.startswith("* **recommended: the split holds for timbre.** 90 %")
    assert recommended.endswith("swaps lose pitch that reconstructions keep.") and paper.endswith("reconstructions.")
    assert both.startswith("* **both at once: 50 %**")


def test_judge_readings_say_whether_the_paper_model_copies_its_pitch_donor():
    keys = {"lsd_swap": [18.5, 12.7], "lsd_copy_private_donor": [18.5, 18.5], "lsd_copy_shared_donor": [20.0, 20.0],
            "lsd_reconstruction": [8.3, 8.2], "within_50_cents_swap": [0.76, 0.60],
            "within_50_cents_reconstruction": [0.77, 0.79], "pitch_judge_ceiling": [1.0, 1.0]}
    judges = pd.DataFrame({(k, "mean"): v for k, v in keys.items()}, index=[study.PAPER_FAMILY, study.RECOMMENDED_FAMILY])
    per_class = pd.DataFrame([[0.9] * 6, [0.8, 0.8, 0.5, 0.5, 0.3, 0.3], [1.0] * 6],
                             index=[study.PAPER_FAMILY, study.RECOMMENDED_FAMILY, "real clips (judge ceiling)"])
    paper, recommended, pitch = study.judge_readings(judges, per_class)
    assert paper.endswith("the swap *is* the pitch donor, as the classifier found.")
    assert "it closes 56% of the way" in recommended  # (18.5 - 12.7) / (18.5 - 8.2)
    assert "keeps 80% in the lowest third of the classes and 30% in the top third" in pitch
    assert pitch.endswith("so the loss is the model's.")
