"""`python -m toygan.run` against bad input, concurrent writers and failures midway: every
bad input exits 2 with one line and changes nothing on disk; a run directory has one
writer at a time; --overwrite never loses the old run; nothing escapes runs/.

(The other commands have their own tables: tests/test_cli_reliability_tools.py for
reproduce, verify and bench, tests/test_sweep_reliability.py and
tests/test_plot_reliability.py; interrupts are in tests/test_interrupts.py.)"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import toygan.core.metrics
import toygan.training.trainer
from toygan.run import main

TINY = ["--steps", "6", "--eval-every", "3", "--batch", "8", "--hidden", "4",
        "--eval-samples", "50", "--quiet", "--no-plots"]


def snapshot(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _config(data) -> list[str]:
    return ["--config", json.dumps(data)]  # written to a file by the test


CLI_CASES = {
    "batch 0": (["mixture8", "--batch", "0"], "--batch must be an integer >= 1"),
    "batch above the limit": (["mixture8", "--batch", str(2**25)], "--batch must be"),
    "k 0": (["mixture8", "--k", "0"], "--k must be an integer >= 1"),
    "k fractional": (["mixture8", "--k", "1.5"], "invalid int value"),
    "steps negative": (["mixture8", "--steps", "-1"], "--steps must be an integer >= 0"),
    "seed negative": (["mixture8", "--seed", "-1"], "--seed must be"),
    "seed beyond 2^63": (["mixture8", "--seed", str(2**63)], "--seed must be"),
    "clip inf": (["mixture8", "--clip", "inf"], "--clip must be a finite number"),
    "clip nan": (["mixture8", "--clip", "nan"], "--clip must be a finite number"),
    "clip 0": (["mixture8", "--clip", "0"], "--clip must be"),
    "dropout 1": (["mixture8", "--dropout", "1"], "--dropout must be"),
    "dropout negative": (["mixture8", "--dropout", "-0.1"], "--dropout must be"),
    "lr inf": (["mixture8", "--lr-d", "inf"], "--lr-d must be a positive number"),
    "lr nan": (["mixture8", "--lr-g", "nan"], "--lr-g must be a positive number"),
    "hidden empty": (["mixture8", "--hidden", ""], "give at least one hidden width"),
    "hidden zero": (["mixture8", "--hidden", "0"], "--hidden must be"),
    "hidden negative": (["mixture8", "--hidden", "8,-1"], "--hidden must be"),
    "hidden huge": (["mixture8", "--hidden", "100000,100000"], "would need about"),
    "eval samples 5": (["mixture8", "--eval-samples", "5"], "--eval-samples must be"),
    "eval every 0": (["mixture8", "--eval-every", "0"], "--eval-every must be"),
    "noise dim 0": (["mixture8", "--noise-dim", "0"], "--noise-dim must be"),
    "pack 0": (["mixture8", "--pack", "0"], "--pack must be"),
    "expensive every -1": (["mixture8", "--expensive-every", "-1"], "--expensive-every"),
    "snapshot samples -1": (["mixture8", "--snapshot-samples", "-1"], "--snapshot-samples"),
    "batch not a number": (["mixture8", "--batch", "abc"], "invalid int value"),
    "dtype float16": (["mixture8", "--dtype", "float16"], "invalid choice"),
    "backend tpu": (["mixture8", "--backend", "tpu"], "invalid choice"),
    "fused on numpy": (["mixture8", "--kernels", "fused", "--backend", "numpy"],
                       "--kernels fused runs on the kernel backends"),
    "unknown flag": (["mixture8", "--bogus"], "unrecognized arguments"),
    "population 0": (["mixture8", "--population", "0"], "--population must be"),
    "population too large": (["mixture8", "--population", "70000"], "at most 65535"),
    "grid value twice": (["mixture8", "--population", "2", "--grid", "k=1,1"], "twice"),
    "grid bad value": (["mixture8", "--population", "2", "--grid", "lr_d=x"], "needs float"),
    "grid bad JSON": (["mixture8", "--population", "2", "--grid", "{bad"], "invalid JSON"),
    "grid key": (["mixture8", "--population", "2", "--grid", "hidden=4"], "cannot vary"),
    "resume with a preset": (["mixture8", "--resume", "x"], "give no preset"),
    "resume nothing": (["--resume", "nowhere"], "nothing to resume"),
    "nothing at all": ([], "give a preset"),
    "an empty --out": (["mixture8", "--out", ""], "argument --out: an empty path"),
    "unknown preset": (["ring99"], "unknown preset"),
    "means 1e308": (['{"means": [[1e308, 0], [1, 1]], "stds": 0.1}'],
                    "mixture means must lie within"),
    "stds tiny": (['{"means": [[0, 0], [1, 1]], "stds": 1e-9}'], "mixture stds must lie in"),
    "stds zero": (['{"means": [[0, 0]], "stds": 0}'], "stds must be positive"),
    "means NaN": (['{"means": [[NaN, 0]], "stds": 0.1}'], "must be finite"),
    "weights negative": (['{"means": [[0], [1]], "stds": 0.1, "weights": [1, -1]}'],
                         "weights must be non-negative"),
    "mixture of 2000 dimensions": (['{"means": [[' + ",".join(["0"] * 2000) + ']], '
                                    '"stds": 0.1}'], "1024 dimensions"),
    "mixture not an object": (["[1, 2]"], "mixture"),
}

CONFIG_CASES = {
    "clip a string": ({"clip": "abc"}, '--clip must be a finite number > 0 and <= 1000000, '
                                       'got "abc"'),
    "dropout null": ({"dropout": None}, "--dropout must be a finite number"),
    "adam beta1 a string": ({"adam_beta1": "x"}, "adam_beta1 must be"),
    "preset a number": ({"preset": 123}, "preset must be a string, got 123"),
    "steps true": ({"steps": True}, "--steps must be an integer >= 0 and <= 1000000000, "
                                    "got true"),
    "batch true": ({"batch": True}, "--batch must be an integer"),
    "steps 1.0": ({"steps": 1.0}, "--steps must be an integer"),
    "batchnorm yes": ({"g_batchnorm": "yes"}, 'g_batchnorm must be true or false, got "yes"'),
    "hidden with a string": ({"hidden": [8, "8"]}, "--hidden must be a list"),
    "hidden empty": ({"hidden": []}, "--hidden must be a list"),
    "hidden a number": ({"hidden": 8}, "--hidden must be a list"),
    "d_hidden zero": ({"d_hidden": [0]}, "d_hidden must be a list"),
    "maxout pieces huge": ({"maxout_pieces": 100000, "d_activation": "maxout"},
                           "maxout_pieces must be an integer >= 1 and <= 1024"),
    "maxout memory": ({"maxout_pieces": 1024, "d_activation": "maxout",
                       "hidden": [4096, 4096]}, "would need about"),
    "unknown key": ({"learning_rate": 1}, "unknown config keys: learning_rate"),
    "lr a string": ({"lr_d": "1e-4"}, "--lr-d must be a positive number"),
    "seed 2^64": ({"seed": 2**64}, "--seed must be"),
    "mixture a string": ({"mixture": "mixture8"}, "mixture must be a mixture spec object"),
    "loss unknown": ({"loss": "hinge"}, "unknown loss 'hinge'"),
    "population true": ({"population": True}, "population must be an integer"),
    "grid a string": ({"grid": "k=1"}, "grid must be an object of lists"),
    "not an object": ([1, 2], "should hold a configuration"),
}


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """An empty current directory (runs/ would appear here) with a good run beside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _bad_input(workdir: Path, argv: list[str], message: str, capsys,
               options: list[str] = TINY) -> None:
    out = workdir / "out"
    before = snapshot(workdir)
    code = main([*options, *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("toygan.run: error: "), err
    assert "Traceback" not in err
    assert snapshot(workdir) == before
    assert not out.exists() and not (workdir / "runs").exists()


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_bad_command_lines(workdir, capsys, case):
    argv, message = CLI_CASES[case]
    _bad_input(workdir, argv, message, capsys)


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_files(workdir, capsys, case):
    data, message = CONFIG_CASES[case]
    path = workdir / "config.json"
    if isinstance(data, dict):  # tiny, where the case does not set it
        data = {"steps": 6, "eval_every": 3, "batch": 8, "hidden": [4], "eval_samples": 50,
                **data}
    path.write_text(json.dumps(data))
    argv = ["--config", str(path)]
    if isinstance(data, dict) and not ({"population", "grid", "preset", "mixture"} & set(data)):
        argv = ["mixture8", *argv]
    _bad_input(workdir, argv, message, capsys, options=["--quiet", "--no-plots"])


def test_garbage_config_file(workdir, capsys):
    path = workdir / "config.json"
    path.write_text('{"steps": 3,')
    _bad_input(workdir, ["--config", str(path)], "is not valid JSON", capsys)
    _bad_input(workdir, ["--config", str(workdir / "none.json")], "is missing", capsys)


def test_a_mixture_name_never_leaves_runs(workdir, capsys):
    for name in ("../../escaped", "/tmp/escaped-abs", "..", "a/b"):
        spec = json.dumps({"means": [[0, 0], [1, 1]], "stds": 0.1, "name": name})
        assert main([spec, *TINY]) == 0
    made = sorted(p.name for p in (workdir / "runs").iterdir())
    assert len(made) >= 1 and all(".." not in m and "/" not in m for m in made), made
    assert sorted(p.name for p in workdir.iterdir()) == ["runs"]
    assert not Path("/tmp/escaped-abs").exists()


@pytest.fixture
def good_run(tmp_path) -> Path:
    out = tmp_path / "good"
    assert main(["mixture8", *TINY, "--out", str(out)]) == 0
    return out


def _fail_with(exc):
    def raiser(*args, **kwargs):
        raise exc
    return raiser


@pytest.mark.parametrize("where, exc", [
    ("building the networks", MemoryError()),
    ("the first evaluation", OSError(28, "No space left on device")),
    ("the first evaluation", MemoryError()),
])
def test_a_failed_overwrite_keeps_the_old_run(good_run, capsys, monkeypatch, where, exc):
    before = snapshot(good_run)
    target = ((toygan.training.trainer, "make_gan") if where == "building the networks"
              else (toygan.core.metrics, "sample_metrics"))
    monkeypatch.setattr(*target, _fail_with(exc))
    code = main(["mixture8", *TINY, "--batch", "16", "--out", str(good_run), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert snapshot(good_run) == before
    assert not [p for p in good_run.iterdir() if p.name.startswith(".")]


def test_an_overwrite_replaces_the_run_once_it_has_a_checkpoint(good_run):
    assert main(["mixture8", *TINY, "--batch", "16", "--out", str(good_run),
                 "--overwrite"]) == 0
    assert json.loads((good_run / "config.json").read_text())["batch"] == 16
    assert not [p for p in good_run.iterdir() if p.name.startswith(".")]


def test_a_failed_new_run_leaves_no_directory(tmp_path, capsys, monkeypatch):
    out = tmp_path / "a" / "b" / "new"
    monkeypatch.setattr(toygan.training.trainer, "make_gan", _fail_with(MemoryError()))
    assert main(["mixture8", *TINY, "--out", str(out)]) == 2
    assert "out of memory" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_the_memory_estimate_refuses_before_anything_is_written(workdir, capsys, monkeypatch):
    monkeypatch.setenv("TOYGAN_MEMORY_BYTES", "1e6")
    _bad_input(workdir, ["mixture8"], "more than the 1 MiB available", capsys)
    monkeypatch.setenv("TOYGAN_MEMORY_BYTES", "lots")
    _bad_input(workdir, ["mixture8"], "TOYGAN_MEMORY_BYTES='lots' is not a number", capsys)


def _corrupt(run_dir: Path, case: str) -> None:
    if case == "NaN parameters":
        with np.load(run_dir / "checkpoint.npz") as data:
            state = {k: data[k] for k in data.files}
        state["g_params"][0, 0] = np.nan
        np.savez(run_dir / "checkpoint.npz", **state)
    elif case == "a partial metrics line":
        text = (run_dir / "metrics.jsonl").read_text()
        (run_dir / "metrics.jsonl").write_text(text[:-40])
    elif case == "garbage metrics":
        (run_dir / "metrics.jsonl").write_text("not json\n")
    elif case == "a metrics line without a step":
        (run_dir / "metrics.jsonl").write_text('{"loss_d": 1}\n')
    elif case == "garbage snapshots":
        (run_dir / "snapshots.npz").write_bytes(b"\x00" * 100)
    elif case == "snapshots of another dimension":
        np.savez(run_dir / "snapshots.npz", steps=np.array([0]), fake=np.zeros((1, 5, 3)))
    elif case == "garbage config":
        (run_dir / "config.json").write_text("{]")
    elif case == "a config of wrong types":
        data = json.loads((run_dir / "config.json").read_text())
        data["batch"] = "8"
        (run_dir / "config.json").write_text(json.dumps(data))
    elif case == "a truncated checkpoint":
        data = (run_dir / "checkpoint.npz").read_bytes()
        (run_dir / "checkpoint.npz").write_bytes(data[: len(data) // 2])


CORRUPT = {"NaN parameters": "holds NaN/Inf in g_params",
           "a partial metrics line": "metrics.jsonl",
           "garbage metrics": "metrics.jsonl line 1 is not valid JSON",
           "a metrics line without a step": "lacks 'step'",
           "garbage snapshots": "snapshots.npz is not an .npz archive",
           "snapshots of another dimension": "snapshots.npz holds arrays of the wrong shapes",
           "garbage config": "config.json is unreadable",
           "a config of wrong types": "--batch must be an integer",
           "a truncated checkpoint": "checkpoint.npz is unreadable"}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_resume_of_a_corrupt_run_names_the_file(tmp_path, good_run, capsys, case):
    run_dir = tmp_path / "copy"
    shutil.copytree(good_run, run_dir)
    _corrupt(run_dir, case)
    before = snapshot(run_dir)
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "--steps", "9", "--quiet", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert CORRUPT[case] in err and err.count("\n") == 1, err
    assert snapshot(run_dir) == before


def test_run_files_follow_the_umask_and_record_versions(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert main(["mixture8", *TINY, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    versions = json.loads((out / "summary.json").read_text())["versions"]
    assert versions["numpy"] == np.__version__ and "blas" in versions


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.poll()
        time.sleep(0.02)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "busy"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-m", "toygan.run", "mixture8", "--steps", "100000", "--batch", "8",
         "--hidden", "4", "--eval-samples", "50", "--eval-every", "1000", "--quiet",
         "--no-plots", "--out", str(out)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / "checkpoint.npz", holder)
        before = (out / "config.json").read_bytes()
        for argv in (["mixture8", *TINY, "--out", str(out), "--overwrite"],
                     ["--resume", str(out), "--steps", "200000", "--quiet"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"is in use by pid {holder.pid}" in err and err.count("\n") == 1, err
        assert (out / "config.json").read_bytes() == before
    finally:
        holder.terminate()
        _, err = holder.communicate(timeout=60)
    assert holder.returncode == 143 and "state saved" in err, err
    # The lock went with its holder: the run resumes (and leaves no lock file behind).
    assert main(["--resume", str(out), "--steps", str(int(np.load(
        out / "checkpoint.npz")["step"]) + 3), "--quiet", "--no-plots"]) == 0
    assert not (out / ".lock").exists()


@pytest.mark.parametrize("case", ["a device", "deep JSON", "a directory"])
def test_config_and_mixture_files_that_are_no_files(workdir, capsys, case):
    path = workdir / "spec.json"
    if case == "a device":
        path.symlink_to("/dev/zero")  # a plain read would fill memory
    elif case == "deep JSON":
        path.write_text("[" * 100_000 + "]" * 100_000)
    else:
        path.mkdir()
    _bad_input(workdir, ["--config", str(path)], str(path), capsys)
    _bad_input(workdir, [str(path)], "cannot read mixture file", capsys)


def test_more_bad_values(workdir, capsys, monkeypatch, good_run):
    _bad_input(workdir, ["mixture8", "--population", "2", "--grid", '{"lr_d": [true]}'],
               "needs float values", capsys)
    _bad_input(workdir, ["--resume", str(good_run), "--backend", "emu"],
               "written by the numpy backend", capsys)
    monkeypatch.setenv("TOYGAN_MEMORY_BYTES", "-5")
    _bad_input(workdir, ["mixture8"], "is not a number of bytes", capsys)


def test_default_run_directories_of_the_same_second_differ(workdir, monkeypatch):
    monkeypatch.setattr("time.strftime", lambda fmt: "20261202-000000")
    assert main(["mixture8", *TINY]) == 0 and main(["mixture8", *TINY]) == 0
    assert sorted(p.name for p in (workdir / "runs").iterdir()) == [
        "mixture8-20261202-000000", "mixture8-20261202-000000-2"]
