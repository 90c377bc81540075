"""claims.pg_population's machinery: a protocol cell is trained once, read back when
finished, resumed when interrupted, and never mixed with a population of other settings;
its statistics and the perfect sampler's floor."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from toygan.claims import pg_population as pg

TINY = (("hidden", [8]), ("noise_dim", 1), ("batch", 16), ("eval_samples", 200),
        ("expensive_every", 0))


def tiny_cell(steps: int = 4, penalty: str = "r1") -> pg.Cell:
    return pg.Cell("bimodal1d", penalty, 0.5, steps, 3, 2, TINY, "tiny")


def test_a_finished_cell_is_read_not_trained_again(tmp_path):
    cell = tiny_cell()
    first, how = pg.train_cell(cell, tmp_path)
    assert how == "trained"
    written = (tmp_path / cell.name / "population.json").stat().st_mtime_ns
    again, how = pg.train_cell(cell, tmp_path)
    assert how == "read"
    assert (tmp_path / cell.name / "population.json").stat().st_mtime_ns == written
    assert again["member_summaries"] == first["member_summaries"]
    assert cell.name == "bimodal1d-tiny-r1-0.5"


def test_an_unfinished_cell_resumes_to_the_same_result(tmp_path):
    cell = tiny_cell(steps=4)
    straight, _ = pg.train_cell(cell, tmp_path / "straight")
    # A population stopped at step 2 (its checkpoint and records), then asked for 4.
    pg.train_cell(tiny_cell(steps=2), tmp_path / "stopped")
    resumed, how = pg.train_cell(cell, tmp_path / "stopped")
    assert how == "resumed"
    assert resumed["steps"] == 4
    lines = [(tmp_path / d / cell.name / "members.jsonl").read_text().splitlines()
             for d in ("straight", "stopped")]
    # The final evaluations agree (step 2 was the stopped run's last, with its expensive
    # metrics; the straight run's step 2 has none).
    finals = [[r for r in map(json.loads, ls) if r["step"] == 4] for ls in lines]
    assert len(finals[0]) == 3 and finals[0] == finals[1]
    assert straight["member_summaries"] == resumed["member_summaries"]


def test_a_population_of_other_settings_is_refused_and_kept(tmp_path):
    cell = tiny_cell()
    pg.train_cell(cell, tmp_path)
    config_path = tmp_path / cell.name / "config.json"
    data = json.loads(config_path.read_text())
    data["lr_d"] = 0.5
    config_path.write_text(json.dumps(data))
    with pytest.raises(pg.ProtocolError, match="other settings \\(lr_d\\)"):
        pg.train_cell(cell, tmp_path)
    assert json.loads(config_path.read_text())["lr_d"] == 0.5
    stray = pg.Cell("bimodal1d", "none", 0.5, 4, 3, 2, TINY, "stray")
    (tmp_path / stray.name).mkdir()
    (tmp_path / stray.name / "notes.txt").write_text("mine")
    with pytest.raises(pg.ProtocolError, match="something other than"):
        pg.train_cell(stray, tmp_path)
    assert (tmp_path / stray.name / "notes.txt").read_text() == "mine"


def test_statistics_and_floor_of_a_trained_cell(tmp_path):
    cell = tiny_cell(steps=2)
    stats = pg.cell_statistics(pg.train_cell(cell, tmp_path)[0]["member_summaries"])
    assert stats["members"] == 3 and stats["steps"] == 2 and stats["modes_total"] == 2
    assert sum(stats["modes_covered_distribution"]) == 3 - stats["diverged"]
    assert stats["distance"]["n"] == 3  # W1 to p_data in 1-D
    floor = pg.perfect_sampler_floor(cell, draws=3)
    # A sampler of p_data is nearly perfect by every figure.
    assert floor["high_quality_fraction"]["min"] > 0.98  # 0.9973 within 3 binomial sd at n = 200
    assert floor["jsd_estimate"]["max"] < 0.02
    assert floor["distance"]["max"] < 0.5  # W1 of 200 samples: weights off by ~0.03 x 4 apart


def record(covered: int, total: int, hq: float, diverged: bool = False) -> dict:
    return {"member": 0, "steps": 10, "modes_total": total, "modes_covered": covered,
            "high_quality_fraction": hq, "reverse_kl": 0.1, "jsd_estimate": 0.2,
            "sliced_wasserstein1": 0.3, "wasserstein1": None, "diverged": diverged}


@given(st.lists(st.tuples(st.integers(0, 8), st.floats(0, 1), st.booleans()), min_size=1,
                max_size=40))
def test_collapse_counts_every_member_short_of_all_modes_or_diverged(members):
    records = [record(c, 8, hq, d) for c, hq, d in members]
    stats = pg.cell_statistics(records)
    want = sum(1 for c, _, d in members if d or c < 8)
    assert stats["collapsed"] == want
    lo, hi = stats["collapse_rate_ci95"]
    assert lo <= stats["collapse_rate"] <= hi
    alive = [hq for _, hq, d in members if not d]
    if alive:
        assert stats["high_quality_fraction"]["min"] == pytest.approx(min(alive))
        assert stats["high_quality_fraction"]["mean"] == pytest.approx(np.mean(alive))


def test_the_verdict_names_each_condition_and_fails_on_any():
    hold = pg.Hold("test", (*pg._r1_converges(0, 0.5, 0.3, 0.4),
                            pg.Bound("none", "collapsed", ">=", 1)))
    good = {"stats": pg.cell_statistics([record(8, 8, 0.9), record(8, 8, 0.8)])}
    bad = {"stats": pg.cell_statistics([record(7, 8, 0.9), record(8, 8, 0.8)])}
    passed, checks = pg.verdict(hold, bad, good)
    assert passed and not any("FAILED" in c for c in checks)
    assert checks[2] == "r1: hq_min 0.8 (>= 0.5)"
    passed, checks = pg.verdict(hold, good, good)  # the unpenalised cell did not collapse
    assert not passed and checks[-1] == "none: collapsed 0 (>= 1) FAILED"
    passed, checks = pg.verdict(hold, bad, bad)
    assert not passed and "r1: collapsed 1 (<= 0) FAILED" in checks
    assert pg.tolerance_text(hold).endswith("r1: distance_mean <= 0.4; none: collapsed >= 1")
