"""bench/device_check.py, the one-call device check, on a machine without a GPU: its plan,
its skips and their reasons, its caps and budget, and a small run through the CuPy stand-in
that writes the report a GPU run would."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests import cupy_standin

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "device_check.py"


@pytest.fixture(scope="module")
def device_check():
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["device_check"]


def check(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.skipif(cupy_standin.real_gpu(), reason="this machine has a GPU")
def test_without_a_gpu_every_gpu_step_is_skipped_with_the_reason_and_nothing_written(tmp_path):
    out = tmp_path / "out"
    result = check("--dry-run", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()[1:]
    assert [line.split()[0] for line in lines] == [
        "gpu-tests", "memcheck", "racecheck", "run-fused", "run-per-op", "bench-64",
        "bench-512", "bench-4096", "population", "bench-compile", "initcheck", "synccheck"]
    assert all("SKIP: no GPU" in line for line in lines)
    assert not out.exists()


def test_the_plan_through_the_standin_runs_what_it_can_and_says_why_not(tmp_path):
    result = check("--dry-run", "--standin", "--smoke", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    plan = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    for tool in ("memcheck", "racecheck", "initcheck", "synccheck"):
        assert "SKIP: the stand-in runs kernels on the emulator" in plan[tool]
    assert "--backend cuda --kernels per-op" in plan["run-per-op"]
    assert "--population 4" in plan["population"]


def test_a_smoke_run_through_the_standin_writes_the_report(tmp_path):
    out = tmp_path / "out"
    result = check("--standin", "--smoke", "--only", "run-fused,population,memcheck",
                   "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "device_check.json").read_text())
    steps = {step["name"]: step for step in report["steps"]}
    assert list(steps) == ["memcheck", "run-fused", "population"]
    assert steps["memcheck"]["status"] == "skip" and "stand-in" in steps["memcheck"]["reason"]
    assert steps["run-fused"]["status"] == "pass"
    assert steps["run-fused"]["summary"].startswith("4 steps at ")
    assert steps["population"]["summary"].startswith("4 members, 4 steps")
    assert report["device"] == "the CuPy stand-in (emulator)"
    assert report["environment"]["python"] == sys.version.split()[0]
    assert (out / steps["run-fused"]["log"]).is_file()
    # The runs' small files come back; their checkpoints stay behind.
    assert (out / "runs" / "run-fused" / "summary.json").is_file()
    assert not (out / "runs" / "run-fused" / "checkpoint.npz").exists()
    assert (out / "runs" / "population" / "population.json").is_file()
    table = (out / "device_check.md").read_text()
    assert "| run-fused | pass |" in table and "| memcheck | skip |" in table
    assert table in result.stdout  # printed last: the device tool keeps the output's end
    # Three files at the top (the device tool brings back eight at most), the rest packed.
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "device_check.json", "device_check.md", "device_check.tar.gz"]
    with tarfile.open(out / "device_check.tar.gz") as tar:
        names = tar.getnames()
    assert "runs/run-fused/summary.json" in names and "logs/run-fused.log" in names


def test_steps_past_the_budget_are_skipped_as_out_of_budget(tmp_path):
    out = tmp_path / "out"
    result = check("--standin", "--smoke", "--only", "run-fused", "--budget", "2",
                   "--out", str(out))
    assert result.returncode == 0, result.stderr
    step = json.loads((out / "device_check.json").read_text())["steps"][0]
    assert step["status"] == "skip" and step["reason"].startswith("out of budget")


def test_a_step_over_its_cap_is_stopped_with_its_children_and_its_output_kept(
        device_check, tmp_path):
    # No flush: the step's output reaches the log only because it runs unbuffered.
    grandchild = ("import subprocess, sys, time; "
                  "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                  "print('started'); time.sleep(60)")
    step = device_check.Step("slow", "sleeps", [sys.executable, "-c", grandchild], 60)
    facts = {"sanitizer": None}
    started = time.monotonic()
    outcome = device_check.run_step(step, 2.0, tmp_path, facts, {})
    assert time.monotonic() - started < 20
    assert outcome.status == "timeout" and outcome.reason == "stopped at its cap of 2 s"
    assert "started" in (tmp_path.parent / outcome.log).read_text()


def test_a_step_that_ignores_sigint_is_killed_after_the_grace(device_check, tmp_path):
    stubborn = ("import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                "print('holding'); time.sleep(60)")
    step = device_check.Step("stubborn", "ignores SIGINT", [sys.executable, "-c", stubborn], 60)
    started = time.monotonic()
    outcome = device_check.run_step(step, 1.0, tmp_path, {"sanitizer": None}, {})
    assert device_check.GRACE_S <= time.monotonic() - started < device_check.GRACE_S + 15
    assert outcome.status == "timeout" and outcome.returncode == -9


def test_the_sanitizer_steps_run_under_compute_sanitizer_and_report_both_summaries(
        device_check, tmp_path, monkeypatch):
    """A stand-in compute-sanitizer on PATH: the steps call it with the tool and the
    command, and the row keeps pytest's counts beside the sanitizer's ERROR SUMMARY."""
    fake = tmp_path / "bin" / "compute-sanitizer"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"$@\" > \"$FAKE_ARGS\"\n"
                    "echo '3 passed, 1 failed in 2.00s'\n"
                    "echo '========= ERROR SUMMARY: 2 errors'\nexit 99\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    assert device_check.sanitizer_path() == str(fake)
    step = next(s for s in device_check.plan(tmp_path, tmp_path, True) if s.name == "memcheck")
    env = {**os.environ, "FAKE_ARGS": str(tmp_path / "args")}
    outcome = device_check.run_step(step, 30.0, tmp_path, {"sanitizer": str(fake)}, env)
    assert outcome.status == "fail" and outcome.returncode == 99
    assert outcome.summary == "3 passed, 1 failed in 2.00s; ========= ERROR SUMMARY: 2 errors"
    args = (tmp_path / "args").read_text()
    assert args.startswith("--tool memcheck --error-exitcode 99")
    assert "set_allocator(None)" in args and "tests/device/test_fused.py" in args


def test_a_bench_with_a_failed_or_missing_toygan_contestant_fails(device_check, tmp_path):
    rows = [{"contestant": "toygan-cuda-fused", "batch": 64, "median": 1234.6},
            {"contestant": "cupy-cublas", "batch": 64, "error": "CUDA_ERROR_X"}]
    (tmp_path / "r.json").write_text(json.dumps({"rows": rows, "skipped": {}}))
    summary, ok = device_check.bench_summary(tmp_path)
    assert not ok and "toygan-cuda-fused@64 1235 it/s" in summary and "FAILED" in summary
    (tmp_path / "r.json").write_text(json.dumps(
        {"rows": rows[:1], "skipped": {"torch-cuda-eager": "no PyTorch"}}))
    assert device_check.bench_summary(tmp_path)[1]  # a missing peer framework is reported
    (tmp_path / "r.json").write_text(json.dumps(
        {"rows": rows[:1], "skipped": {"toygan-cuda-graph": "no GPU"}}))
    assert not device_check.bench_summary(tmp_path)[1]


def test_a_failing_step_fails_the_check_and_keeps_pytest_counts(device_check, tmp_path):
    step = device_check.Step("failing", "fails", [
        sys.executable, "-c", "print('= 3 passed, 1 failed in 2.0s ='); raise SystemExit(1)"],
        60)
    outcome = device_check.run_step(step, 30.0, tmp_path, {"sanitizer": None}, {})
    assert outcome.status == "fail" and outcome.returncode == 1
    assert outcome.summary == "3 passed, 1 failed in 2.0s"


@pytest.mark.parametrize("args, message", [
    (["--only", "nope"], "unknown step 'nope'"),
    (["--budget", "0"], "--budget must be positive"),
])
def test_bad_options_are_one_line_and_exit_2(args, message, tmp_path):
    result = check(*args, "--dry-run", "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and message in result.stderr


def test_the_shell_wrapper_takes_the_output_folder_first(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "bench" / "device_check.sh"),
                             str(tmp_path / "o"), "--dry-run", "--standin"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "gpu-tests" in result.stdout
