"""`python -m toygan.reproduce`: the PacGAN protocol's settings, the table's arithmetic and
text, one real end-to-end call (2 iterations per run) and its reuse of finished runs."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from toygan import reproduce
from toygan.config import Config
from toygan.training import mode_tables

E2E_ARGS = ["pacgan-ring", "--steps", "2", "--seeds", "2", "--packs", "1,2", "--quiet"]
RUN_DIRS = ("pack1-seed0", "pack1-seed1", "pack2-seed0", "pack2-seed1")


def summary(modes, hq, kl, diverged=False, veegan=None) -> dict:
    """A hand-made summary.json; the `_veegan` keys differ unless given."""
    v_modes, v_hq, v_kl = veegan or (modes - 1, hq / 2, None if kl is None else kl + 1.0)
    return {"modes_covered": modes, "high_quality_fraction": hq, "reverse_kl": kl,
            "modes_covered_veegan": v_modes, "high_quality_fraction_veegan": v_hq,
            "reverse_kl_veegan": v_kl, "diverged": diverged}


HAND_MADE = {  # packs out of order on purpose
    2: [summary(8, 0.97, 0.05), summary(8, 0.99, 0.07)],
    1: [summary(6, 0.90, 0.5), summary(7, 0.95, None, diverged=True), summary(8, 1.0, 0.1)],
}


def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------- protocol
def test_protocol_config_has_the_published_settings_and_validates():
    config = reproduce.protocol_config("ring8_pacgan", 2, 3, 10)
    assert config.hidden == [400, 400, 400, 400] and config.g_batchnorm is True
    assert config.g_activation == "relu"
    assert config.d_hidden == [200, 200, 200] and config.d_activation == "maxout"
    assert config.maxout_pieces == 5
    assert config.optimizer == "adam" and config.adam_beta1 == 0.8
    assert config.lr_d == 1e-4 and config.lr_g == 1e-4
    assert config.batch == 100 and config.eval_samples == 2500
    assert config.pack == 2 and config.seed == 3 and config.steps == 10
    assert config.noise_dim == 2 and config.noise == "normal" and config.k == 1
    assert config.loss == "nonsaturating" and config.backend == "numpy"
    assert config.eval_every == 1 and config.expensive_every == 0
    mixture = config.validate()
    assert mixture.n_components == 8 and mixture.dim == 2
    assert np.allclose(np.linalg.norm(mixture.means, axis=1), 1.0)
    assert np.allclose(mixture.stds, 0.01)
    # The config survives its JSON round trip (what a run directory stores).
    again = Config.from_dict(json.loads(config.to_json()))
    assert again.to_dict() == config.to_dict()
    assert reproduce.protocol_config("grid25", 1, 0, 2000).eval_every == 200


# ---------------------------------------------------------------- numbers
def test_mean_se():
    mean, se = mode_tables.mean_se([1, 2, 3])
    assert mean == pytest.approx(2.0) and se == pytest.approx(1 / math.sqrt(3))
    assert mode_tables.mean_se([1.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert mode_tables.mean_se([4.5]) == (4.5, 0.0)
    mean, se = mode_tables.mean_se([])
    assert math.isnan(mean) and math.isnan(se)


def test_table_rows_mean_se_undefined_and_diverged_counts():
    rows = mode_tables.table_rows(HAND_MADE, "")
    assert [r["name"] for r in rows] == ["GAN", "PacGAN2"]
    assert [r["pack"] for r in rows] == [1, 2]
    gan, pac = rows
    assert gan["seeds"] == 3 and gan["diverged"] == 1 and gan["reverse_kl_undefined"] == 1
    assert gan["modes"] == pytest.approx((7.0, 1 / math.sqrt(3)))
    assert gan["high_quality_percent"] == pytest.approx((95.0, 5 / math.sqrt(3)))
    assert gan["reverse_kl"] == pytest.approx((0.3, 0.2))  # the undefined run left out
    assert pac["seeds"] == 2 and pac["diverged"] == 0 and pac["reverse_kl_undefined"] == 0
    assert pac["modes"] == pytest.approx((8.0, 0.0))
    assert pac["high_quality_percent"] == pytest.approx((98.0, 1.0))
    assert pac["reverse_kl"] == pytest.approx((0.06, 0.01))
    assert mode_tables.table_rows({3: [summary(5, 0.5, 0.2)]}, "")[0]["name"] == "PacGAN3"


def test_table_rows_with_the_veegan_suffix_read_the_veegan_keys():
    runs = {1: [summary(6, 0.9, 0.5, veegan=(4, 0.5, 1.5)),
                summary(8, 1.0, 0.1, veegan=(2, 0.3, None))]}
    (row,) = mode_tables.table_rows(runs, "_veegan")
    assert row["modes"] == pytest.approx((3.0, 1.0))
    assert row["high_quality_percent"] == pytest.approx((40.0, 10.0))
    assert row["reverse_kl"][0] == pytest.approx(1.5) and row["reverse_kl"][1] == 0.0
    assert row["reverse_kl_undefined"] == 1


def test_format_markdown_has_our_rows_the_published_rows_and_the_iterations():
    rows = mode_tables.table_rows(HAND_MADE, "")
    text = mode_tables.format_markdown("pacgan-ring", "ring8_pacgan", {1234: rows}, 5.0)
    assert "1234 iterations per run" in text and "1234-iteration runs" in text
    assert "trained for 400000 iterations" in text
    assert "Counting rule: PacGAN" in text and "modes (max 8)" in text
    assert ("| toygan GAN | 1234 | 3 (1 diverged) | 7.0 +- 0.6 | 95.0 +- 2.9 | "
            "0.30 +- 0.20 (1 undefined) |") in text
    assert "| toygan PacGAN2 | 1234 | 2 | 8.0 +- 0.0 | 98.0 +- 1.0 | 0.06 +- 0.01 |" in text
    assert ("| published GAN (PacGAN Table 1) | 400000 | 10 | 6.3 +- 0.5 | 98.2 +- 0.2 | "
            "0.45 +- 0.09 |") in text
    assert ("| published PacGAN2 (PacGAN Table 1) | 400000 | 10 | 7.9 +- 0.1 | 95.6 +- 2.0 | "
            "0.07 +- 0.03 |") in text
    lines = text.splitlines()
    assert lines.index(next(x for x in lines if x.startswith("| toygan GAN"))) < lines.index(
        next(x for x in lines if x.startswith("| published GAN")))
    assert "Wall time of the command that wrote this table: 5 s." in text


def test_format_markdown_without_any_defined_reverse_kl_and_for_the_grid():
    rows = mode_tables.table_rows({1: [summary(0, 0.0, None), summary(1, 0.01, None)]}, "")
    text = mode_tables.format_markdown("veegan-grid", "grid25", {7: rows}, 0.0)
    assert "Counting rule: VEEGAN" in text and "modes (max 25)" in text
    assert "| n/a (2 undefined) |" in text
    assert "| published GAN (PacGAN Table 1) | 400000 | 10 | 17.3 +- 0.8 | 94.8 +- 0.7 |" in text
    assert "PacGAN2" not in text


def test_summary_at_is_the_run_as_if_it_had_stopped_there():
    records = [{"step": 1, "modes_covered": 3, "high_quality_fraction": 0.1},
               {"step": 2, "modes_covered": 5, "high_quality_fraction": 0.2},
               {"step": 3, "diverged": True, "reason": "non-finite loss"}]
    first = mode_tables.summary_at(records, 1)
    assert first["modes_covered"] == 3 and first["high_quality_fraction"] == 0.1
    assert first["diverged"] is False and first["steps"] == 1
    assert mode_tables.summary_at(records, 2)["modes_covered"] == 5
    last = mode_tables.summary_at(records, 3)  # the last good evaluation, flagged diverged
    assert last["modes_covered"] == 5 and last["diverged"] is True
    assert mode_tables.summary_at(records, 0)["modes_covered"] is None


def test_format_markdown_at_several_lengths_orders_each_packs_rows_by_length():
    short = mode_tables.table_rows({1: [summary(5, 0.2, 1.0)], 2: [summary(6, 0.3, 0.9)]}, "")
    long = mode_tables.table_rows({1: [summary(7, 0.8, 0.2)], 2: [summary(8, 0.9, 0.1)]}, "")
    text = mode_tables.format_markdown("pacgan-ring", "ring8_pacgan", {3000: long, 1000: short},
                                       1.0)
    assert "3000 iterations per run" in text and "after 1000, 3000 iterations" in text
    ours = [line.split(" | ")[:2] for line in text.splitlines() if line.startswith("| toygan")]
    assert ours == [["| toygan GAN", "1000"], ["| toygan GAN", "3000"],
                    ["| toygan PacGAN2", "1000"], ["| toygan PacGAN2", "3000"]]
    assert "| toygan GAN | 1000 | 1 | 5.0 +- 0.0 | 20.0 +- 0.0 | 1.00 +- 0.00 |" in text


# ------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def e2e(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reproduce") / "ring"
    t0 = time.perf_counter()
    assert reproduce.main([*E2E_ARGS, "--out", str(out)]) == 0
    return {"out": out, "seconds": time.perf_counter() - t0}


def test_end_to_end_writes_both_tables_and_four_runs(e2e, capsys):
    out = e2e["out"]
    # 2 iterations of the real protocol networks: ~25 s on a busy 2-core machine (most of it
    # the 2500-sample evaluations); the bound leaves room for a loaded CI runner.
    assert e2e["seconds"] < 45, e2e["seconds"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == list(RUN_DIRS)
    table = json.loads((out / "table-pacgan-ring.json").read_text())
    assert table["name"] == "pacgan-ring" and table["preset"] == "ring8_pacgan"
    assert table["steps"] == 2 and table["seeds"] == 2
    assert [r["name"] for r in table["rows"]] == ["GAN", "PacGAN2"]
    assert all(r["seeds"] == 2 for r in table["rows"])
    assert table["published"]["GAN"] == [6.3, 0.5, 98.2, 0.2, 0.45, 0.09]
    for row in table["rows"]:  # the table's numbers are those of the runs' summaries
        runs = [json.loads((out / f"pack{row['pack']}-seed{s}" / "summary.json").read_text())
                for s in range(2)]
        assert all(r["steps"] == 2 and r["diverged"] is False for r in runs)
        assert row["modes"] == pytest.approx(
            mode_tables.mean_se([r["modes_covered"] for r in runs]))
        assert row["high_quality_percent"] == pytest.approx(
            mode_tables.mean_se([100 * r["high_quality_fraction"] for r in runs]))
    text = (out / "table-pacgan-ring.md").read_text()
    assert "2 iterations per run" in text and "| toygan PacGAN2 | 2 |" in text
    assert "| published GAN (PacGAN Table 1) | 400000 | 10 | 6.3 +- 0.5 |" in text
    for name in RUN_DIRS:
        config = json.loads((out / name / "config.json").read_text())
        pack, seed = (int(x) for x in name.replace("pack", "").split("-seed"))
        assert config["pack"] == pack and config["seed"] == seed
        assert config["hidden"] == [400] * 4 and config["d_hidden"] == [200] * 3
        for file in ("metrics.jsonl", "summary.json", "checkpoint.npz", "samples.npz"):
            assert (out / name / file).is_file(), (name, file)


def test_a_second_call_reuses_the_finished_runs(e2e, capsys):
    out = e2e["out"]
    stamps = {name: ((out / name / "summary.json").stat().st_mtime_ns,
                     (out / name / "checkpoint.npz").stat().st_mtime_ns) for name in RUN_DIRS}
    rows = json.loads((out / "table-pacgan-ring.json").read_text())["rows"]
    t0 = time.perf_counter()
    assert reproduce.main([*E2E_ARGS, "--out", str(out)]) == 0
    assert time.perf_counter() - t0 < 10
    assert {name: ((out / name / "summary.json").stat().st_mtime_ns,
                   (out / name / "checkpoint.npz").stat().st_mtime_ns)
            for name in RUN_DIRS} == stamps
    assert json.loads((out / "table-pacgan-ring.json").read_text())["rows"] == rows
    assert "| toygan GAN | 2 |" in capsys.readouterr().out  # the table is printed


def test_table_at_an_earlier_length_reads_the_same_runs_metrics(e2e, tmp_path, capsys):
    out = tmp_path / "ring"
    shutil.copytree(e2e["out"], out)
    assert reproduce.main([*E2E_ARGS, "--out", str(out), "--table-at", "1,2"]) == 0
    table = json.loads((out / "table-pacgan-ring.json").read_text())
    assert [t["iterations"] for t in table["by_length"]] == [1, 2]
    assert table["by_length"][1]["rows"] == table["rows"]
    for row in table["by_length"][0]["rows"]:  # the evaluation at step 1 of each run
        firsts = [next(r for r in map(json.loads, (out / f"pack{row['pack']}-seed{s}" /
                                                     "metrics.jsonl").read_text().splitlines())
                       if r["step"] == 1) for s in range(2)]
        assert row["modes"] == pytest.approx(
            mode_tables.mean_se([r["modes_covered"] for r in firsts]))
    assert "| toygan GAN | 1 | 2 |" in capsys.readouterr().out


def test_fewer_steps_into_a_directory_of_longer_runs_is_not_a_traceback(e2e, tmp_path, capsys):
    out = tmp_path / "ring"
    shutil.copytree(e2e["out"] / "pack1-seed0", out / "pack1-seed0")
    code = reproduce.main(["pacgan-ring", "--steps", "1", "--seeds", "1", "--packs", "1",
                           "--out", str(out), "--quiet"])
    assert code == 2
    assert "more than --steps 1; use another --out" in capsys.readouterr().err


def test_table_json_is_strict_json_when_reverse_kl_is_undefined(tmp_path, monkeypatch):
    def no_training(config, run_dir, quiet):
        return summary(0, 0.0, None)

    monkeypatch.setattr(reproduce, "run_one", no_training)
    assert reproduce.main(["pacgan-ring", "--steps", "2", "--seeds", "2", "--packs", "1",
                           "--out", str(tmp_path), "--quiet"]) == 0
    assert "n/a (2 undefined)" in (tmp_path / "table-pacgan-ring.md").read_text()
    table = strict_json((tmp_path / "table-pacgan-ring.json").read_text())
    assert table["rows"][0]["reverse_kl_undefined"] == 2


# ------------------------------------------------------------ bad arguments
# (the full table of hostile input is tests/test_cli_reliability_tools.py)
BAD = [
    (["--packs", "a"], "--packs: must be integers"),
    (["--steps", "0"], "--steps: must be an integer from 1 to"),
    (["--seeds", "0"], "--seeds: must be an integer from 1 to"),
    (["--packs", "1,0"], "--packs: each must be from 1 to"),
    (["--steps", "2", "--table-at", "3"], "--table-at 3: runs of 2 iterations are evaluated"),
    (["--steps", "100", "--table-at", "15"], "give multiples of 10 up to 100"),
    (["--table-at", "1,1"], "--table-at: lists 1 twice"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_arguments_exit_2_and_create_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert reproduce.main(["pacgan-ring", *argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_unknown_protocol_name_exits_2(tmp_path, capsys):
    assert reproduce.main(["pacgan-cube", "--out", str(tmp_path / "out")]) == 2
    assert "invalid choice: 'pacgan-cube'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_default_packs_are_one_to_four_for_pacgan_and_one_for_veegan(tmp_path, monkeypatch):
    calls = []

    def record(config, run_dir, quiet):
        calls.append((config.preset, config.pack, config.seed, Path(run_dir).name))
        return summary(8, 1.0, 0.0)

    monkeypatch.setattr(reproduce, "run_one", record)
    assert reproduce.main(["pacgan-grid", "--seeds", "1", "--out", str(tmp_path / "a"),
                           "--quiet"]) == 0
    assert calls == [("grid25", p, 0, f"pack{p}-seed0") for p in (1, 2, 3, 4)]
    calls.clear()
    assert reproduce.main(["veegan-ring", "--seeds", "2", "--out", str(tmp_path / "b"),
                           "--quiet"]) == 0
    assert calls == [("ring8_pacgan", 1, s, f"pack1-seed{s}") for s in (0, 1)]
    table = json.loads((tmp_path / "b" / "table-veegan-ring.json").read_text())
    assert table["steps"] == reproduce.DEFAULT_STEPS
    assert table["rows"][0]["modes"] == [7.0, 0.0]  # the _veegan keys: 8 - 1 each
