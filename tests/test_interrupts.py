"""Ctrl-C and SIGTERM at chosen points of training: the run saves the state after the last
complete iteration or evaluation, and `--resume` then ends bit-identical to a run that
never stopped (parameters, optimiser states, random streams and every metric but wall
times). A second signal stops at once; SIGKILL loses nothing either."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import toygan.core.metrics
import toygan.gan.numpy_gan
import toygan.training.trainer
from toygan.run import main

TINY = ["--steps", "24", "--eval-every", "8", "--batch", "16", "--hidden", "8,8",
        "--eval-samples", "200", "--quiet", "--no-plots", "--dropout", "0.1"]


def checkpoint(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "checkpoint.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "wall_seconds"}
            for line in lines]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    assert main(["mixture8", *TINY, "--out", str(out)]) == 0
    return out


def assert_same_run(a: Path, b: Path) -> None:
    x, y = checkpoint(a), checkpoint(b)
    assert x.keys() == y.keys()
    for key in x:
        assert np.array_equal(x[key], y[key]), key
    assert records(a) == records(b)
    with np.load(a / "snapshots.npz") as s, np.load(b / "snapshots.npz") as t:
        assert np.array_equal(s["steps"], t["steps"]) and np.array_equal(s["fake"], t["fake"])


def signal_on_call(monkeypatch, owner, name: str, call: int, signum=signal.SIGINT,
                   before: bool = True, times: int = 1) -> list[int]:
    """Deliver `signum` to this process during the `call`-th call of owner.name (before
    or after the real work), `times` times."""
    real, calls = getattr(owner, name), []

    def wrapped(*args, **kwargs):
        calls.append(1)
        hit = len(calls) == call
        if hit and before:
            for _ in range(times):
                os.kill(os.getpid(), signum)
        out = real(*args, **kwargs)
        if hit and not before:
            for _ in range(times):
                os.kill(os.getpid(), signum)
        return out

    monkeypatch.setattr(owner, name, wrapped)
    return calls


POINTS = {
    # (what is patched, which call): a D step midway through the second interval
    "inside a D step": (toygan.gan.numpy_gan.GAN, "discriminator_step", 11, True),
    "between D and G": (toygan.gan.numpy_gan.GAN, "generator_step", 5, True),
    "inside an evaluation": (toygan.core.metrics, "sample_metrics", 2, True),
    "during a checkpoint write": (toygan.training.trainer, "atomic_save_npz", 3, True),
    "after the last D step of an interval": (toygan.gan.numpy_gan.GAN, "discriminator_step", 8,
                                             False),
}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", list(POINTS))
def test_signal_at_a_chosen_point_then_resume_is_bit_identical(tmp_path, capsys, monkeypatch,
                                                               straight, point, signum):
    owner, name, call, before = POINTS[point]
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        signal_on_call(patch, owner, name, call, signum, before)
        assert main(["mixture8", *TINY, "--out", str(out)]) == 128 + signum
    err = capsys.readouterr().err
    assert "state saved" in err and "--resume" in err and "Traceback" not in err
    saved = int(checkpoint(out)["step"])
    assert 0 < saved < 24
    # The saved state is that after a whole iteration: resuming gives the straight run.
    assert main(["--resume", str(out), "--quiet", "--no-plots"]) == 0
    assert_same_run(straight, out)


def test_a_second_signal_stops_at_once_and_the_last_checkpoint_resumes(tmp_path, capsys,
                                                                      monkeypatch, straight):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        signal_on_call(patch, toygan.gan.numpy_gan.GAN, "discriminator_step", 13, times=2)
        assert main(["mixture8", *TINY, "--out", str(out)]) == 130
    assert "stopped at once" in capsys.readouterr().err
    assert int(checkpoint(out)["step"]) == 8  # the last evaluation's checkpoint
    assert main(["--resume", str(out), "--quiet", "--no-plots"]) == 0
    assert_same_run(straight, out)


def test_an_interrupt_before_training_writes_nothing(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(toygan.training.trainer.Trainer, "__init__", interrupted)
    assert main(["mixture8", *TINY, "--out", str(out)]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()


def _child(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen([sys.executable, "-m", "toygan.run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_evaluations(run_dir: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        path = run_dir / "metrics.jsonl"
        if path.is_file() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"the child ended or stalled: {proc.poll()}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_a_real_signal_at_a_random_time_resumes_bit_identical(tmp_path, signum):
    args = ["gauss1d", "--steps", "600", "--eval-every", "100", "--batch", "32", "--hidden",
            "16,16", "--eval-samples", "200", "--quiet", "--no-plots"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main([*args, "--out", str(straight)]) == 0
    proc = _child([*args, "--out", str(stopped)])
    _wait_for_evaluations(stopped, 2, proc)
    time.sleep(0.05)  # somewhere inside the following interval
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if signum == signal.SIGINT else -signal.SIGKILL), err
    assert "Traceback" not in err
    assert main(["--resume", str(stopped), "--quiet", "--no-plots"]) == 0
    assert_same_run(straight, stopped)
