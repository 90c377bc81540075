"""Bad input to `python -m toygan.reproduce`, `toygan.verify` and `toygan.bench`: exit 2,
exactly one line on stderr (`toygan.COMMAND: error: ...`), no traceback, and the watched
directory byte for byte as it was. Each case fails during validation (nothing trains); the
few that reach training replace Trainer.run with a stub that fails at once."""

from __future__ import annotations

import datetime
import errno
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from toygan import bench, reproduce, verify
from toygan.interrupts import Interrupted
from toygan.runfiles import RunLock

RUN = "pack1-seed0"
TINY = ["--steps", "2", "--seeds", "1", "--packs", "1", "--quiet"]
TINY4 = ["--steps", "4", "--seeds", "1", "--packs", "1", "--quiet"]  # resumes the template


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under root: a directory's marker, or the bytes of a file."""
    return {str(p.relative_to(root)): ("dir" if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*"))}


def check_refused(capsys, command: str, main, argv: list[str], watched: Path,
                  code: int = 2) -> str:
    """main(argv) returns `code` (never raises), prints one stderr line, changes nothing."""
    before = snapshot(watched)
    got = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert got == code, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    prefix = f"toygan.{command}: error: " if code == 2 else f"toygan.{command}: "
    assert lines[0].startswith(prefix), lines[0]
    assert snapshot(watched) == before
    return lines[0]


# ---------------------------------------------------------------- reproduce
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A finished 2-iteration protocol run (pack 1, seed 0) and its table."""
    out = tmp_path_factory.mktemp("template") / "out"
    assert reproduce.main(["pacgan-ring", *TINY, "--out", str(out)]) == 0
    return out


def _write(relative: str, data: bytes):
    def setup(w: Path) -> None:
        path = w / "out" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return setup


def _as_dir(relative: str):
    def setup(w: Path) -> None:
        path = w / "out" / relative
        path.unlink(missing_ok=True)
        path.mkdir(parents=True)
    return setup


def _edit_config(**changes):
    def setup(w: Path) -> None:
        path = w / "out" / RUN / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return setup


def _checkpoint_without_arrays(w: Path) -> None:
    with open(w / "out" / RUN / "checkpoint.npz", "wb") as f:
        np.savez(f, x=np.zeros(3))


def _file(w: Path) -> None:
    (w / "f").write_text("a file\n")


# (id, argv, setup of the watched directory w, needs the finished template copied to w/out,
#  expected words in the message)
REPRODUCE = [
    ("no-name", [], None, False, "required: name"),
    ("unknown-flag", ["pacgan-ring", "--bogus"], None, False, "unrecognized arguments"),
    ("unknown-protocol", ["pacgan-cube"], None, False, "invalid choice"),
    ("seeds-abc", ["pacgan-ring", "--seeds", "abc"], None, False, "from 1 to 100"),
    ("seeds-negative", ["pacgan-ring", "--seeds", "-1"], None, False, "from 1 to 100"),
    ("seeds-huge", ["pacgan-ring", "--seeds", "100000000"], None, False, "from 1 to 100"),
    ("steps-exponent", ["pacgan-ring", "--steps", "1e9"], None, False, "from 1 to 1000000"),
    ("steps-zero", ["pacgan-ring", "--steps", "0"], None, False, "from 1 to 1000000"),
    ("steps-huge", ["pacgan-ring", "--steps", "1000000000"], None, False, "from 1 to 1000000"),
    ("steps-5000-digits", ["pacgan-ring", "--steps", "9" * 5000], None, False, "integer"),
    ("packs-empty", ["pacgan-ring", "--packs", ""], None, False, "separated by commas"),
    ("packs-hole", ["pacgan-ring", "--packs", "1,,2"], None, False, "separated by commas"),
    ("packs-letters", ["pacgan-ring", "--packs", "a"], None, False, "must be integers"),
    ("packs-zero", ["pacgan-ring", "--packs", "1,0"], None, False, "from 1 to 64"),
    ("packs-huge", ["pacgan-ring", "--packs", "1000000"], None, False, "from 1 to 64"),
    ("packs-twice", ["pacgan-ring", "--packs", "1,1"], None, False, "lists 1 twice"),
    ("flag-with-value", ["pacgan-ring", "--quiet=1"], None, False, "--quiet"),
    ("out-is-a-file", ["pacgan-ring", *TINY, "--out", "{w}/f"], _file, False,
     "is a file, not a directory"),
    ("out-under-a-file", ["pacgan-ring", *TINY, "--out", "{w}/f/sub"], _file, False,
     "is a file, not a directory"),
    ("run-dir-is-a-file", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _write(RUN, b"x\n"), False, "is a file, not a run directory"),
    ("summary-garbage", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _write(f"{RUN}/summary.json", b"garbage{"), True, "summary.json is not valid JSON"),
    ("summary-a-list", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _write(f"{RUN}/summary.json", b"[1, 2]\n"), True, "summary.json should hold"),
    ("summary-lacks-keys", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _write(f"{RUN}/summary.json", b'{"steps": 2, "diverged": false}'), True,
     "summary.json lacks 'modes_covered'"),
    ("summary-steps-string", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _write(f"{RUN}/summary.json", b'{"steps": "2", "diverged": false}'), True,
     "summary.json: 'steps'"),
    ("summary-is-a-dir", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _as_dir(f"{RUN}/summary.json"), True, "summary.json is a directory"),
    ("finished-config-garbage", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _write(f"{RUN}/config.json", b"\x00\xff garbage"), True, "config.json"),
    ("finished-config-other-run", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _edit_config(lr_d=0.5), True, "another configuration (differs in: lr_d)"),
    ("resume-config-garbage", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _write(f"{RUN}/config.json", b"garbage{"), True, "config.json is not valid JSON"),
    ("resume-config-bad-values", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _edit_config(hidden="x"), True, "config.json holds no valid run configuration"),
    ("resume-config-other-run", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _edit_config(seed=7), True, "differs in: seed"),
    ("checkpoint-garbage", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _write(f"{RUN}/checkpoint.npz", b"garbage"), True, "checkpoint.npz"),
    ("checkpoint-empty", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _write(f"{RUN}/checkpoint.npz", b""), True, "checkpoint.npz"),
    ("checkpoint-lacks-arrays", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _checkpoint_without_arrays, True, "checkpoint.npz lacks the array"),
    ("metrics-garbage", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _write(f"{RUN}/metrics.jsonl", b"garbage\n"), True, "metrics.jsonl line 1"),
    ("metrics-partial-line", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _write(f"{RUN}/metrics.jsonl", b'{"step": 0}\n{"ste'), True, "metrics.jsonl line 2"),
    ("snapshots-garbage", ["pacgan-ring", *TINY4, "--out", "{w}/out"],
     _write(f"{RUN}/snapshots.npz", b"garbage"), True, "snapshots.npz"),
    ("table-json-is-a-dir", ["pacgan-ring", *TINY, "--out", "{w}/out"],
     _as_dir("table-pacgan-ring.json"), True, "table-pacgan-ring.json is not a file"),
    ("fewer-steps-than-stored", ["pacgan-ring", "--steps", "1", "--seeds", "1", "--packs",
                                 "1", "--quiet", "--out", "{w}/out"], None, True,
     "more than --steps 1"),
    # seed 0 is new, seed 1 corrupt: refused before seed 0 trains
    ("second-run-corrupt", ["pacgan-ring", "--steps", "2", "--seeds", "2", "--packs", "1",
                            "--quiet", "--out", "{w}/out"],
     _write("pack1-seed1/summary.json", b"{"), False, "pack1-seed1/summary.json"),
]


@pytest.mark.parametrize(("argv", "setup", "copy", "words"),
                         [c[1:] for c in REPRODUCE], ids=[c[0] for c in REPRODUCE])
def test_reproduce_refuses_bad_input_in_one_line(tmp_path, monkeypatch, capsys, template,
                                                 argv, setup, copy, words):
    monkeypatch.chdir(tmp_path)  # the default --out (runs/...) would land here
    if copy:
        shutil.copytree(template, tmp_path / "out")
    if setup:
        setup(tmp_path)
    argv = [a.replace("{w}", str(tmp_path)) for a in argv]
    line = check_refused(capsys, "reproduce", reproduce.main, argv, tmp_path)
    assert words in line


def test_reproduce_refuses_an_out_in_use(tmp_path, capsys, template):
    shutil.copytree(template, tmp_path / "out")
    with RunLock(tmp_path / "out"):
        line = check_refused(capsys, "reproduce", reproduce.main,
                             ["pacgan-ring", *TINY, "--out", str(tmp_path / "out")], tmp_path)
    assert "is in use by pid" in line


def test_reproduce_refuses_what_the_machine_cannot_hold(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOYGAN_MEMORY_BYTES", "1000000")
    line = check_refused(capsys, "reproduce", reproduce.main,
                         ["pacgan-ring", *TINY, "--out", str(tmp_path / "out")], tmp_path)
    assert "memory" in line


def _failing_run(exc: BaseException):
    def run(self, progress=None):
        self.write_config()  # a new run's first file, written before the failure
        raise exc
    return run


TRAINING_FAILURES = [
    ("memory", MemoryError(), 2, "out of memory training pack 1, seed 0"),
    ("disk-full", OSError(errno.ENOSPC, "No space left on device", "somewhere/file"), 2,
     "somewhere/file: No space left on device"),
    ("interrupted-at-once", Interrupted(signal.SIGINT, None, at_once=True), 130,
     "interrupted (SIGINT) at pack 1, seed 0"),
]


@pytest.mark.parametrize(("exc", "code", "words"), [c[1:] for c in TRAINING_FAILURES],
                         ids=[c[0] for c in TRAINING_FAILURES])
def test_a_new_run_failing_before_its_first_checkpoint_leaves_nothing(
        tmp_path, monkeypatch, capsys, exc, code, words):
    monkeypatch.setattr(reproduce.Trainer, "run", _failing_run(exc))
    line = check_refused(capsys, "reproduce", reproduce.main,
                         ["pacgan-ring", *TINY, "--out", str(tmp_path / "out")], tmp_path,
                         code=code)
    assert words in line
    assert not (tmp_path / "out").exists()


def test_reproduce_reports_an_interrupt_outside_training(tmp_path, monkeypatch, capsys):
    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduce, "run_one", interrupted)
    line = check_refused(capsys, "reproduce", reproduce.main,
                         ["pacgan-ring", *TINY, "--out", str(tmp_path / "out")], tmp_path,
                         code=130)
    assert "interrupted" in line


def test_a_garbage_table_is_simply_rewritten(tmp_path, capsys, template):
    """The table is an output: a corrupt one from an earlier call is replaced, not read."""
    out = tmp_path / "out"
    shutil.copytree(template, out)
    (out / "table-pacgan-ring.json").write_text("{garbage")
    assert reproduce.main(["pacgan-ring", *TINY, "--out", str(out)]) == 0
    assert json.loads((out / "table-pacgan-ring.json").read_text())["steps"] == 2
    assert not (out / ".lock").exists()


# ---------------------------------------------------------------- verify
VERIFY = [
    ("unknown-flag", ["--bogus"], None, "unrecognized arguments"),
    ("flag-with-value", ["--quick=1"], None, "--quick"),
    ("unknown-claim", ["--only", "nope"], None, "unknown claim(s) nope"),
    ("only-commas", ["--only", ","], None, "names no claim"),
    ("out-is-a-file", ["--only", "thm1_identity", "--out", "{w}/f"], _file,
     "is a file, not a directory"),
    ("out-under-a-file", ["--only", "thm1_identity", "--out", "{w}/f/sub"], _file,
     "is a file, not a directory"),
    ("report-is-a-dir", ["--only", "thm1_identity", "--out", "{w}/out"],
     _as_dir("report.md"), "report.md is a directory"),
]


@pytest.mark.parametrize(("argv", "setup", "words"), [c[1:] for c in VERIFY],
                         ids=[c[0] for c in VERIFY])
def test_verify_refuses_bad_input_in_one_line(tmp_path, monkeypatch, capsys, argv, setup,
                                              words):
    monkeypatch.chdir(tmp_path)  # the default --out (verify-report/) would land here
    if setup:
        setup(tmp_path)
    argv = [a.replace("{w}", str(tmp_path)) for a in argv]
    assert words in check_refused(capsys, "verify", verify.main, argv, tmp_path)


def test_verify_refuses_an_out_in_use(tmp_path, capsys):
    with RunLock(tmp_path / "out"):
        line = check_refused(capsys, "verify", verify.main,
                             ["--only", "thm1_identity", "--out", str(tmp_path / "out")],
                             tmp_path)
    assert "is in use by pid" in line


def test_verify_interrupted_writes_nothing(tmp_path, monkeypatch, capsys):
    from toygan.claims import Claim

    def interrupted(quick, out_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify, "all_claims", lambda: [Claim("c", "-", "-", interrupted)])
    line = check_refused(capsys, "verify", verify.main, ["--out", str(tmp_path / "out")],
                         tmp_path, code=130)
    assert "interrupted" in line and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- bench
def _result_is_a_dir(w: Path) -> None:
    json_path, _ = bench.result_paths(w / "out", bench.device_name(),
                                      datetime.date.today().isoformat())
    json_path.mkdir(parents=True)


BENCH = [
    ("unknown-flag", ["--bogus"], None, "unrecognized arguments"),
    ("batches-letters", ["--batches", "a"], None, "must be integers"),
    ("batches-empty", ["--batches", ""], None, "separated by commas"),
    ("batches-trailing-comma", ["--batches", "64,"], None, "separated by commas"),
    ("batches-zero", ["--batches", "0"], None, "from 1 to 65536"),
    ("batches-negative", ["--batches", "-5"], None, "from 1 to 65536"),
    ("batches-huge", ["--batches", "1000000000"], None, "from 1 to 65536"),
    ("batches-twice", ["--batches", "8,8"], None, "lists 8 twice"),
    ("batches-too-many", ["--batches", ",".join(map(str, range(1, 18)))], None, "at most 16"),
    ("contestant-unknown", ["--contestants", "jax"], None, "unknown contestant 'jax'"),
    ("contestant-path", ["--contestants", "../../etc/passwd"], None, "unknown contestant"),
    ("contestants-empty", ["--contestants", ""], None, "give contestant names"),
    ("contestant-twice", ["--contestants", "toygan-numpy,toygan-numpy"], None, "twice"),
    ("repeats-zero", ["--repeats", "0"], None, "from 1 to 100"),
    ("repeats-abc", ["--repeats", "abc"], None, "from 1 to 100"),
    ("repeats-huge", ["--repeats", "100000000000"], None, "from 1 to 100"),
    ("warmup-negative", ["--warmup", "-1"], None, "from 0 to 10000"),
    ("iterations-zero", ["--iterations", "0"], None, "from 1 to 100000"),
    ("iterations-negative", ["--iterations", "-3"], None, "from 1 to 100000"),
    ("iterations-huge", ["--iterations", "1000000000000"], None, "from 1 to 100000"),
    ("out-is-a-file", ["--out", "{w}/f"], _file, "is a file, not a directory"),
    ("out-under-a-file", ["--out", "{w}/f/sub"], _file, "is a file, not a directory"),
    ("result-is-a-dir", ["--out", "{w}/out"], _result_is_a_dir, "is not a file"),
]


@pytest.mark.parametrize(("argv", "setup", "words"), [c[1:] for c in BENCH],
                         ids=[c[0] for c in BENCH])
def test_bench_refuses_bad_input_in_one_line(tmp_path, monkeypatch, capsys, argv, setup,
                                             words):
    def no_bench(*args, **kwargs):
        raise AssertionError("bad input must be refused before anything is measured")

    monkeypatch.setattr(bench, "run_bench", no_bench)
    monkeypatch.chdir(tmp_path)  # the default --out (bench/results) would land here
    if setup:
        setup(tmp_path)
    argv = [a.replace("{w}", str(tmp_path)) for a in argv]
    assert words in check_refused(capsys, "bench", bench.main, argv, tmp_path)


CANNED = {"device": "../../evil/gpu name", "date": "2026-01-01", "command": "c",
          "machine": "m", "workload": "w", "matmul_ceiling_gflops": 1.0, "skipped": {},
          "rows": []}


def test_bench_result_names_stay_inside_out(tmp_path, monkeypatch, capsys):
    """The device's name is the driver's text: it becomes a plain file name under --out."""
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: dict(CANNED))
    out = tmp_path / "a" / "out"
    assert bench.main(["--out", str(out)]) == 0
    files = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [f.parent for f in files] == [Path("a/out")] * 2
    assert [f.name for f in files] == ["evil_gpu_name-2026-01-01-bench.json",
                                       "evil_gpu_name-2026-01-01-bench.md"]
    for device in ("../x", "/etc/passwd", "a/../../b", "..", ""):
        for path in bench.result_paths(out, device, "2026-01-01"):
            assert path.parent == out and not path.name.startswith(".")


@pytest.mark.parametrize(("exc", "code", "words"), [
    (OSError(errno.ENOSPC, "No space left on device", "x.json"), 2, "x.json: No space left"),
    (MemoryError(), 2, "out of memory"),
    (KeyboardInterrupt(), 130, "interrupted; nothing was written"),
], ids=["disk-full", "memory", "interrupted"])
def test_bench_failures_outside_the_measuring_processes(tmp_path, monkeypatch, capsys, exc,
                                                        code, words):
    def failing(*args, **kwargs):
        raise exc

    monkeypatch.setattr(bench, "run_bench", failing)
    line = check_refused(capsys, "bench", bench.main, ["--out", str(tmp_path / "out")],
                         tmp_path, code=code)
    assert words in line


# ------------------------------------------------------- as the shell sees it
SHELL = [
    ("toygan.reproduce", ["pacgan-ring", "--steps", "1e9"]),
    ("toygan.reproduce", ["pacgan-ring", "--out", "{w}/f"]),
    ("toygan.verify", ["--only", "nope"]),
    ("toygan.bench", ["--batches", "0"]),
]


@pytest.mark.parametrize(("module", "argv"), SHELL, ids=[f"{m} {' '.join(a)}" for m, a in SHELL])
def test_python_dash_m_exits_2_with_one_line(tmp_path, module, argv):
    _file(tmp_path)
    before = snapshot(tmp_path)
    argv = [a.replace("{w}", str(tmp_path)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", module, *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{module}: error: ")
    assert snapshot(tmp_path) == before
