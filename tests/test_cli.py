"""End to end: `python -m toygan.run` writes every promised file; bad input exits 2 and
changes nothing on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from toygan.run import main

TINY = ["--steps", "12", "--eval-every", "6", "--batch", "16", "--hidden", "8,8",
        "--eval-samples", "200", "--quiet"]
SUMMARY_KEYS = {"preset", "backend", "seed", "steps", "wall_seconds", "steps_per_second",
                "modes_total", "modes_covered", "high_quality_fraction", "reverse_kl",
                "jsd_estimate", "diverged", "modes_covered_20"}
METRIC_KEYS = {"step", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g",
               "modes_covered", "modes_total", "high_quality_fraction", "reverse_kl",
               "jsd_estimate", "jsd_stderr", "kde_bandwidth", "mode_histogram", "d_dstar_gap"}
RUN_FILES = ["config.json", "metrics.jsonl", "summary.json", "checkpoint.npz", "samples.npz",
             "samples.png", "discriminator.png", "curves.png"]


def snapshot(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "ring"
    assert main(["mixture8", *TINY, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("preset", ["mixture8", "gauss1d"])
def test_run_writes_every_promised_file(tmp_path, preset):
    out = tmp_path / "run"
    assert main([preset, *TINY, "--out", str(out)]) == 0
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["preset"] == preset and summary["backend"] == "numpy"
    assert summary["steps"] == 12 and summary["diverged"] is False
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 6, 12]
    for line in lines[1:]:
        assert METRIC_KEYS <= json.loads(line).keys()
    with np.load(out / "checkpoint.npz", allow_pickle=False) as data:
        assert int(data["step"]) == 12
    for name in ("samples.png", "discriminator.png", "curves.png"):
        image = matplotlib.image.imread(out / name)
        assert image.shape[0] > 300 and image.shape[1] > 400, name
        assert image[..., :3].std() > 0.05, f"{name} looks blank"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary files left"


def test_summary_is_printed(tmp_path, capsys):
    assert main(["gauss1d", *TINY[:-1], "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    assert "modes covered" in captured.out and "JSD estimate" in captured.out
    assert "step 12/12" in captured.err  # progress lines when not on a terminal


def test_config_json_reproduces_the_run(tmp_path, finished_run):
    again = tmp_path / "again"
    assert main(["--config", str(finished_run / "config.json"), "--out", str(again),
                 "--quiet"]) == 0
    with np.load(finished_run / "checkpoint.npz") as a, np.load(again / "checkpoint.npz") as b:
        assert np.array_equal(a["g_params"], b["g_params"])
        assert np.array_equal(a["d_params"], b["d_params"])
    assert (json.loads((finished_run / "config.json").read_text())
            == json.loads((again / "config.json").read_text()))


def test_options_override_the_config_file(tmp_path, finished_run):
    out = tmp_path / "r"
    assert main(["--config", str(finished_run / "config.json"), "--seed", "9",
                 "--out", str(out), "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 9 and config["hidden"] == [8, 8]


def test_custom_mixture_inline_and_from_a_file(tmp_path):
    spec = {"means": [[0, 0], [3, 3]], "stds": 0.1, "weights": [1, 3]}
    assert main([json.dumps(spec), *TINY, "--out", str(tmp_path / "inline")]) == 0
    path = tmp_path / "two.json"
    path.write_text(json.dumps(spec))
    assert main([str(path), *TINY, "--out", str(tmp_path / "file")]) == 0
    summary = json.loads((tmp_path / "file" / "summary.json").read_text())
    assert summary["preset"] == "two" and summary["modes_total"] == 2
    config = json.loads((tmp_path / "inline" / "config.json").read_text())
    assert config["mixture"]["weights"] == [0.25, 0.75]


def test_resume_continues_and_overwrite_replaces(tmp_path):
    out = tmp_path / "r"
    assert main(["gauss1d", *TINY, "--out", str(out)]) == 0
    assert main(["--resume", str(out), "--steps", "18", "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 18
    assert main(["--resume", str(out), "--quiet"]) == 0  # already at its last step
    assert json.loads((out / "summary.json").read_text())["steps"] == 18
    assert main(["gauss1d", *TINY, "--out", str(out), "--overwrite", "--seed", "5"]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 12
    assert json.loads((out / "config.json").read_text())["seed"] == 5


def _broken_checkpoints(tmp_path: Path, finished_run: Path) -> dict[str, Path]:
    cases = {}
    missing = tmp_path / "missing_ckpt"
    shutil.copytree(finished_run, missing)
    (missing / "checkpoint.npz").unlink()
    cases["no checkpoint"] = missing
    truncated = tmp_path / "truncated"
    shutil.copytree(finished_run, truncated)
    data = (truncated / "checkpoint.npz").read_bytes()
    (truncated / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    cases["unreadable"] = truncated
    other = tmp_path / "other"
    assert main(["mixture8", *TINY, "--hidden", "8,9", "--out", str(other)]) == 0
    foreign = tmp_path / "foreign"
    shutil.copytree(finished_run, foreign)
    shutil.copy(other / "checkpoint.npz", foreign / "checkpoint.npz")
    cases["another configuration"] = foreign
    return cases


BAD_INPUT = [
    (["nosuchpreset"], "unknown preset 'nosuchpreset'"),
    (["mixture8", "--lr-d", "0"], "--lr-d must be a positive number"),
    (["mixture8", "--lr-g", "-1e-3"], "--lr-g must be a positive number"),
    (["mixture8", "--batch", "0"], "--batch must be an integer >= 1"),
    (["mixture8", "--k", "0"], "--k must be an integer >= 1"),
    (["mixture8", "--steps", "-5"], "--steps must be an integer >= 0"),
    (["mixture8", "--hidden", "a,b"], "widths must be integers"),
    (["mixture8", "--loss", "hinge"], "invalid choice: 'hinge'"),
    (['{"means": [[0, 0]], "stds": -1}'], "stds must be positive"),
    (['{"means": [[0, 0], [1, 1]], "stds": 0.1, "weights": [0, 0]}'],
     "weights must sum to a positive number"),
    (['{"means": [[0, 0]], "stds": [0.1, 0.2, 0.3]}'], "stds must be"),
    (["missing.json"], "mixture file not found"),
    ([], "give a preset"),
    (["mixture8", "--penalty", "wgan-gp"], "wgan-gp is the penalty of the wasserstein critic"),
    (["mixture8", "--penalty", "r1", "--gamma", "-1"], "--gamma must be a finite number > 0"),
    (["mixture8", "--penalty", "r1", "--backend", "emu"], "numpy backend only"),
    (["mixture8", "--update", "simultaneous", "--k", "2"], "give --k 1"),
    (["mixture8", "--gamma", "5"], "--gamma weights a gradient penalty"),
    (["mixture8", "--loss", "wasserstein", "--penalty", "wgan-gp", "--clip", "0.5"],
     "--clip is weight clipping"),
    (["mixture8", "--population", "2", "--grid", "gamma=0.1,1"], "varies gamma"),
    (["mixture8", "--update", "simultaneous", "--population", "1", "--grid", "k=1,2"],
     "alternating updates only"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, err
    assert not out.exists()


def test_existing_run_is_refused_and_left_untouched(tmp_path, capsys, finished_run):
    before = snapshot(finished_run)
    assert main(["mixture8", *TINY, "--out", str(finished_run)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert snapshot(finished_run) == before


@pytest.mark.parametrize("case", ["no checkpoint", "unreadable", "another configuration"])
def test_bad_checkpoints_exit_2_and_change_nothing(tmp_path, capsys, finished_run, case):
    run_dir = _broken_checkpoints(tmp_path, finished_run)[case]
    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "--steps", "30", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert case in err and err.count("\n") == 1, err
    assert snapshot(run_dir) == before


def test_resume_refuses_a_changed_configuration(tmp_path, capsys, finished_run):
    run_dir = tmp_path / "copy"
    shutil.copytree(finished_run, run_dir)
    before = snapshot(run_dir)
    assert main(["--resume", str(run_dir), "--lr-d", "0.5", "--quiet"]) == 2
    assert "differs from the run's" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert snapshot(run_dir) == before


def test_divergence_exits_3_through_the_real_command(tmp_path):
    out = tmp_path / "blowup"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        [sys.executable, "-m", "toygan.run", "gauss1d", "--optimizer", "sgd", "--lr-d", "1e30",
         "--lr-g", "1e30", *TINY, "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    assert "diverged at step" in proc.stderr and "last good checkpoint" in proc.stderr
    assert json.loads((out / "summary.json").read_text())["diverged"] is True
    with np.load(out / "checkpoint.npz", allow_pickle=False) as data:
        assert np.isfinite(data["g_params"]).all() and np.isfinite(data["d_params"]).all()


def test_resume_refuses_an_out_directory(tmp_path, capsys, finished_run):
    assert main(["--resume", str(finished_run), "--out", str(tmp_path / "zz")]) == 2
    assert "--resume continues RUN_DIR in place" in capsys.readouterr().err
    assert not (tmp_path / "zz").exists()


def test_an_emulator_that_cannot_be_built_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("TOYGAN_CACHE", str(tmp_path / "cache"))
    from toygan.device import launch

    launch.load_module.cache_clear()
    try:
        out = tmp_path / "run"
        assert main(["mixture8", *TINY, "--backend", "emu", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "needs a C++ compiler" in err and err.count("\n") == 1, err
        assert not out.exists()
    finally:
        launch.load_module.cache_clear()


def test_a_resume_without_the_runs_metrics_is_refused(tmp_path, capsys, finished_run):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "metrics.jsonl").unlink()
    assert main(["--resume", str(run), "--steps", "24", "--quiet"]) == 2
    assert "metrics.jsonl is missing" in capsys.readouterr().err
    (run / "metrics.jsonl").write_text("")
    assert main(["--resume", str(run), "--steps", "24", "--quiet"]) == 2
    assert "holds no evaluation" in capsys.readouterr().err


def test_a_population_whose_members_all_diverge_exits_3(tmp_path, capsys):
    out = tmp_path / "pop"
    code = main(["gauss1d", "--optimizer", "sgd", "--lr-d", "1e30", "--lr-g", "1e30", *TINY,
                 "--population", "2", "--out", str(out), "--quiet", "--no-plots"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "every member diverged" in err and err.count("\n") == 1
    assert (out / "population.json").is_file()


def test_an_empty_grid_is_refused(tmp_path, capsys):
    assert main(["mixture8", *TINY, "--grid", "", "--out", str(tmp_path / "g")]) == 2
    assert "--grid: an empty spec" in capsys.readouterr().err
