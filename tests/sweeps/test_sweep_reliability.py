"""python -m toygan.sweep against hostile input and rough handling: a changed spec never
reuses old runs, every distinct grid value has its own runs, workers die with a killed
sweep, a live attempt's directory is never removed, bad input is exit 2 with one line and
nothing written, and a corrupt run file is named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toygan import sweep
from toygan.config import ConfigError
from toygan.runfiles import RunLock, is_locked
from toygan.sweeps import spec as sweep_spec

TINY = {"steps": 10, "eval_every": 5, "hidden": [8], "batch": 16, "eval_samples": 200,
        "expensive_every": 0, "snapshot_samples": 0}
REPO = Path(sweep.__file__).resolve().parents[1]


def spec(**overrides) -> dict:
    base = {"preset": "mixture8", "options": dict(TINY), "grid": {"lr_d": [1e-4, 3e-4]},
            "seeds": 1}
    base.update(overrides)
    return base


def in_process(tasks, out, on_done):
    for task in tasks:
        on_done(sweep.run_task(task, str(out)))
    return []


def completed(out: Path) -> dict[str, dict]:
    return {d.name: json.loads((d / "sweep_task.json").read_text())
            for d in (out / sweep.RUNS).iterdir() if (d / "summary.json").is_file()}


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its content (None for directories)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*")) if not p.is_symlink()}


def cli(argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = sweep.main([str(a) for a in argv])
    return code, capsys.readouterr().err.splitlines()


def refused(argv, capsys, root: Path, *needles: str) -> str:
    """Exit 2, one line `toygan.sweep: error: ...` holding the needles, nothing on disk
    under root changed."""
    before = tree(root)
    code, lines = cli(argv, capsys)
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("toygan.sweep: error: "), lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert tree(root) == before
    return lines[0]


def write_spec(path: Path, data) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def sweep_into(out: Path, the_spec: dict, **kwargs) -> tuple[int, list[str]]:
    messages: list[str] = []
    code = sweep.run_sweep(the_spec, out, plots=False, progress=messages.append,
                           execute=in_process, **kwargs)
    return code, messages


# ---------------------------------------------------------------- 1. a changed spec
def test_a_changed_spec_is_refused_naming_the_difference(tmp_path, capsys):
    out = tmp_path / "sw"
    assert sweep_into(out, spec())[0] == 0
    changed = spec(options={**TINY, "steps": 12})
    path = write_spec(tmp_path / "spec.json", changed)
    line = refused([path, "--out", out], capsys, tmp_path, "options.steps 10 -> 12",
                   "--overwrite")
    assert "another spec" in line
    # A grid value and the seeds are named too; the spec's out does not count.
    write_spec(path, spec(grid={"lr_d": [1e-4, 2e-4]}, seeds=2))
    line = refused([path, "--out", out], capsys, tmp_path, "grid.lr_d", "seeds [0] -> [0, 1]")
    write_spec(path, {**spec(), "out": str(out)})
    code, lines = cli([path, "--no-plots"], capsys)
    assert code == 0 and "2 runs, 2 already complete, 0 to do" in lines


def test_overwrite_keeps_the_runs_that_match_and_sets_the_others_aside(tmp_path):
    out = tmp_path / "sw"
    assert sweep_into(out, spec())[0] == 0
    first = completed(out)
    new = spec(grid={"lr_d": [1e-4, 2e-4]}, seeds=2)
    code, messages = sweep_into(out, new, overwrite=True)
    assert code == 0, messages
    assert "4 runs, 1 already complete, 3 to do" in messages
    now = completed(out)
    assert sorted(now) == ["lr_d=0.0001-seed0", "lr_d=0.0001-seed1", "lr_d=0.0002-seed0",
                           "lr_d=0.0002-seed1"]
    kept = "lr_d=0.0001-seed0"
    assert now[kept]["finished"] == first[kept]["finished"]  # not retrained
    aside = list((out / sweep.SET_ASIDE).glob(f"*/{sweep.RUNS}/lr_d=0.0003-seed0"))
    assert len(aside) == 1 and (aside[0] / "summary.json").is_file()  # moved, not deleted
    assert (aside[0].parents[1] / "population.json").is_file()  # with the old summary
    assert json.loads((out / "sweep.json").read_text())["spec"] == new
    table = json.loads((out / "population.json").read_text())
    assert table["members"] == 4
    for member in table["member_summaries"]:
        config = json.loads((out / member["run"] / "config.json").read_text())
        assert config["lr_d"] == table["cells"][member["cell"]]["values"]["lr_d"]
    # The same spec again: nothing to do, nothing set aside.
    code, messages = sweep_into(out, new, overwrite=True)
    assert code == 0 and "4 runs, 4 already complete, 0 to do" in messages
    assert len(list((out / sweep.SET_ASIDE).iterdir())) == 1


def test_a_run_of_another_configuration_is_never_reused(tmp_path, capsys):
    out = tmp_path / "sw"
    assert sweep_into(out, spec())[0] == 0
    run = out / "runs" / "lr_d=0.0003-seed0"
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "lr_d": 5e-4}))
    path = write_spec(tmp_path / "spec.json", spec())
    refused([path, "--out", out], capsys, tmp_path, str(run), "another configuration",
            "lr_d")
    code, messages = sweep_into(out, spec(), overwrite=True)
    assert code == 0 and "2 runs, 1 already complete, 1 to do" in messages
    assert json.loads((run / "config.json").read_text())["lr_d"] == 3e-4


@pytest.mark.parametrize("damage", ["garbage", "missing", "not a config"])
def test_a_corrupt_config_json_in_a_run_is_named(tmp_path, capsys, damage):
    out = tmp_path / "sw"
    assert sweep_into(out, spec())[0] == 0
    config = out / "runs" / "lr_d=0.0001-seed0" / "config.json"
    if damage == "missing":
        config.unlink()
    else:
        config.write_text("{not json" if damage == "garbage" else '{"colour": 1}')
    path = write_spec(tmp_path / "spec.json", spec())
    refused([path, "--out", out], capsys, tmp_path, str(config))
    code, messages = sweep_into(out, spec(), overwrite=True)  # set aside and retrained
    assert code == 0 and "2 runs, 1 already complete, 1 to do" in messages


def test_an_existing_directory_that_is_not_a_sweep_is_refused(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    path = write_spec(tmp_path / "spec.json", spec())
    refused([path, "--out", out], capsys, tmp_path, "not a sweep directory")
    refused([path, "--out", out, "--overwrite"], capsys, tmp_path, "not a sweep directory")


# ---------------------------------------------------------------- 2. names of cells
def test_floats_that_print_alike_get_their_own_runs(tmp_path):
    values = [1e-4, 1.0000001e-4]
    cells, tasks = sweep.expand(spec(grid={"lr_d": values}))
    assert len({t["name"] for t in tasks}) == 2
    assert [t["config"]["lr_d"] for t in tasks] == values
    out = tmp_path / "sw"
    code, messages = sweep_into(out, spec(grid={"lr_d": values}))
    assert code == 0 and "2 runs, 0 already complete, 2 to do" in messages
    assert len(completed(out)) == 2
    table = json.loads((out / "population.json").read_text())
    assert len({row["name"] for row in table["cells"]}) == 2
    for member in table["member_summaries"]:
        config = json.loads((out / member["run"] / "config.json").read_text())
        assert config["lr_d"] == values[member["cell"]]
    # Stable: the same names on every expansion.
    assert [t["name"] for t in sweep.expand(spec(grid={"lr_d": values}))[1]] == \
        [t["name"] for t in tasks]


@pytest.mark.parametrize("values", [[1e-4, 1e-4], [1e-4, 0.0001], [1, 1.0]])
def test_duplicate_grid_values_are_refused(values):
    with pytest.raises(ConfigError, match="appears twice"):
        sweep.expand(spec(grid={"lr_d": values}))


def test_cells_that_would_share_a_directory_are_refused(monkeypatch):
    long = [[100000] * 30 + [1], [100000] * 30 + [2]]  # past NAME_LIMIT, alike before it
    with pytest.raises(ConfigError, match="share the run directory"):
        sweep.expand(spec(grid={"hidden": long}, options={
            k: v for k, v in TINY.items() if k != "hidden"}))
    monkeypatch.setattr(sweep_spec, "cell_slug", lambda cell: "same")
    with pytest.raises(ConfigError, match="share the run directory"):
        sweep.expand(spec())


def test_a_grid_over_the_backend_is_not_overridden():
    _, tasks = sweep.expand(spec(grid={"backend": ["numpy", "emu"]}))
    assert [t["config"]["backend"] for t in tasks] == ["numpy", "emu"]


# ---------------------------------------------------------------- 3. a killed sweep
def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers in /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_the_workers_of_a_stopped_sweep_end_and_a_rerun_completes(tmp_path, signum):
    the_spec = spec(options={**TINY, "steps": 8000, "eval_every": 4000})
    path = write_spec(tmp_path / "spec.json", the_spec)
    out = tmp_path / "sw"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr_file:
        # SIGINT at its default in the sweep: a test process started in the background
        # by a non-interactive shell ignores it, and the sweep would inherit that.
        proc = subprocess.Popen([sys.executable, "-m", "toygan.sweep", str(path), "--out",
                                 str(out), "--workers", "2", "--no-plots"], cwd=tmp_path,
                                env=env, stdout=subprocess.DEVNULL, stderr=stderr_file,
                                preexec_fn=_default_sigint)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not list((out / "runs").glob(f"{sweep.PARTIAL}*/config.json")):
            assert proc.poll() is None and time.monotonic() < deadline, \
                f"no run started: {log.read_text()}"
            time.sleep(0.02)
        workers = _children(proc.pid)
        assert workers
        proc.send_signal(signum)  # SIGKILL: nothing can clean up; SIGINT: Ctrl-C
        proc.wait(timeout=30)
        stderr = log.read_text()
        if signum == signal.SIGINT:
            assert proc.returncode == sweep.EXIT_INTERRUPTED, stderr
            assert stderr.splitlines()[-1].startswith("toygan.sweep: interrupted")
            assert "Traceback" not in stderr
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if _alive(p)], f"workers outlived the sweep: {stderr}"
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    code, messages = sweep_into(out, the_spec)
    assert code == 0, messages
    done = completed(out)
    assert sorted(done) == ["lr_d=0.0001-seed0", "lr_d=0.0003-seed0"], messages
    assert not list((out / "runs").glob(".*")), (messages, os.listdir(out / "runs"))
    table = json.loads((out / "population.json").read_text())
    assert sorted(m["run"] for m in table["member_summaries"]) == \
        sorted(f"runs/{name}" for name in done)


def _parent_death_signal() -> int:
    import ctypes

    value = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)  # PR_GET_PDEATHSIG
    return value.value


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_local_workers_are_armed_with_the_parent_death_signal():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=sweep._worker_init,
                             initargs=(os.getpid(),)) as pool:
        assert pool.submit(_parent_death_signal).result(timeout=60) == signal.SIGTERM


def test_a_worker_ends_when_its_parent_changes(monkeypatch):
    exits = []

    def fake_exit(code):
        exits.append(code)
        raise SystemExit  # ends the watcher

    monkeypatch.setattr(sweep.os, "_exit", fake_exit)
    monkeypatch.setattr(sweep, "PARENT_POLL_SECONDS", 0.001)
    with pytest.raises(SystemExit):
        sweep._watch_parent(os.getppid() + 1_000_000)  # not our parent: exits at once
    assert exits == [sweep.EXIT_FAILED]


# ---------------------------------------------------------------- 4. live attempts
def test_remove_partials_keeps_a_directory_a_live_attempt_holds(tmp_path):
    runs = tmp_path / "sw" / "runs"
    live, dead = runs / f"{sweep.PARTIAL}a-1", runs / f"{sweep.PARTIAL}b-2"
    dead.mkdir(parents=True)
    (dead / "config.json").write_text("{}")
    with RunLock(live):
        (live / "config.json").write_text("{}")
        assert sweep.remove_partials(tmp_path / "sw") == 1
        assert live.is_dir() and (live / "config.json").is_file() and not dead.exists()
    assert sweep.remove_partials(tmp_path / "sw") == 1 and not live.exists()
    # A claim (an attempt about to take its lock) is left alone while it is young.
    young, old = runs / f"{sweep.CLAIM}young", runs / f"{sweep.CLAIM}old"
    young.mkdir()
    old.mkdir()
    os.utime(old, (time.time() - 2 * sweep.CLAIM_GRACE_SECONDS,) * 2)
    assert sweep.remove_partials(tmp_path / "sw") == 1
    assert young.is_dir() and not old.exists()


def test_run_task_holds_the_lock_before_the_trainer_writes(tmp_path, monkeypatch):
    seen = []
    real = sweep.Trainer

    class Watched(real):
        def __init__(self, config, run_dir):
            seen.append(("init", Path(run_dir).name, Path(run_dir).is_dir() and
                         is_locked(run_dir), list(Path(run_dir).glob("*.json"))))
            super().__init__(config, run_dir)

        def run(self, *args, **kwargs):
            seen.append(("run", self.run_dir.name, is_locked(self.run_dir), []))
            return super().run(*args, **kwargs)

    monkeypatch.setattr(sweep, "Trainer", Watched)
    _, tasks = sweep.expand(spec())
    assert sweep.run_task(tasks[0], str(tmp_path)) == {"name": tasks[0]["name"],
                                                       "skipped": False}
    assert [s[0] for s in seen] == ["init", "run"]
    for _, name, locked, written in seen:
        assert name.startswith(sweep.PARTIAL) and locked and not written
    final = tmp_path / "runs" / tasks[0]["name"]
    assert (final / "summary.json").is_file() and not is_locked(final)
    assert not list((tmp_path / "runs").glob(".*"))


# ---------------------------------------------------------------- 5. bad input
BAD_SPECS = {
    "options not an object": (spec(options="abc"), "options"),
    "grid value of the wrong type": (spec(grid={"clip": ["x"]}), "clip"),
    "grid not an object": (spec(grid=[1]), "grid"),
    "seeds true": (spec(seeds=True), "seeds"),
    "seeds 1.5": (spec(seeds=1.5), "seeds"),
    "seeds negative": (spec(seeds=-3), "seeds"),
    "seeds huge": (spec(seeds=10**9), "seeds"),
    "seeds list of bools": (spec(seeds=[True]), "seeds"),
    "seeds list negative": (spec(seeds=[-1]), "seeds"),
    "seeds list repeated": (spec(seeds=[0, 0]), "appears twice"),
    "seeds list huge": (spec(seeds=list(range(sweep.MAX_RUNS + 1))), "seeds"),
    "too many runs": (spec(grid={"lr_d": [i * 1e-5 + 1e-5 for i in range(400)]}, seeds=400),
                      "more than"),
    "out a number": ({**spec(), "out": 5}, "out"),
    "out empty": ({**spec(), "out": ""}, "out"),
    "out with NUL": ({**spec(), "out": "a\u0000b"}, "out"),
    "seed in options": (spec(options={**TINY, "seed": 3}), "seeds"),
    "key in options and grid": (spec(options={**TINY, "lr_d": 1e-3}), "lr_d"),
    "unknown option": (spec(options={**TINY, "colour": 1}), "colour"),
    "bad option value": (spec(options={**TINY, "k": True}), "k"),
    "not JSON": ("{preset: mixture8", "not valid JSON"),
    "not an object": ("[1, 2]", "JSON object"),
    "binary": (b"\xff\xfe\x00garbage", "not a text file"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, monkeypatch, case):
    data, needle = BAD_SPECS[case]
    monkeypatch.chdir(tmp_path)  # the default out would be under it
    path = tmp_path / "spec.json"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        write_spec(path, data)
    refused([path], capsys, tmp_path, needle)
    refused([path, "--out", tmp_path / "sw"], capsys, tmp_path, needle)


def test_a_spec_that_is_missing_a_directory_or_unreadable(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused([tmp_path / "nope.json"], capsys, tmp_path, "not found")
    (tmp_path / "dir.json").mkdir()
    refused([tmp_path / "dir.json"], capsys, tmp_path, "is a directory")
    if os.geteuid() != 0:  # root reads anything
        locked = write_spec(tmp_path / "locked.json", spec())
        locked.chmod(0)
        try:
            refused([locked], capsys, tmp_path, "cannot read")
        finally:
            locked.chmod(0o644)


def test_bad_outs_exit_2_naming_the_path(tmp_path, capsys):
    path = write_spec(tmp_path / "spec.json", spec())
    (tmp_path / "a_file").write_text("x")
    refused([path, "--out", tmp_path / "a_file"], capsys, tmp_path, "a_file",
            "not a directory")
    refused([path, "--out", tmp_path / "a_file" / "sub"], capsys, tmp_path, "a_file",
            "not a directory")
    write_spec(path, {**spec(), "out": str(tmp_path / "a_file" / "sub")})
    refused([path], capsys, tmp_path, "a_file")


def test_an_out_that_cannot_be_created_exits_2(tmp_path, capsys):
    path = write_spec(tmp_path / "spec.json", spec())
    if os.geteuid() != 0:
        readonly = tmp_path / "ro"
        readonly.mkdir()
        readonly.chmod(0o555)
        try:
            refused([path, "--out", readonly / "sw"], capsys, tmp_path, str(readonly))
        finally:
            readonly.chmod(0o755)
    if Path("/proc/self").is_dir():  # a file system nobody can create a directory in
        refused([path, "--out", "/proc/toygan-sweep-probe/sw"], capsys, tmp_path,
                "/proc/toygan-sweep-probe")


def test_an_os_error_midway_is_one_line(tmp_path, capsys, monkeypatch):
    path = write_spec(tmp_path / "spec.json", spec())

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "sw" / "sweep.json"))

    monkeypatch.setattr(sweep, "atomic_write_text", full)
    code, lines = cli([path, "--out", tmp_path / "sw"], capsys)
    assert code == 2 and lines == [
        f"toygan.sweep: error: {tmp_path / 'sw' / 'sweep.json'}: No space left on device"]


@pytest.mark.parametrize("flags,needle", [
    (["--workers", "0"], "--workers"), (["--workers", "-2"], "--workers"),
    (["--workers", "two"], "--workers"), (["--colour"], "--colour"), ([], "spec")])
def test_bad_command_lines_are_one_line(tmp_path, capsys, monkeypatch, flags, needle):
    monkeypatch.chdir(tmp_path)
    path = write_spec(tmp_path / "spec.json", spec())
    refused([path, *flags] if flags else [], capsys, tmp_path, needle)


def test_names_from_data_stay_inside_out(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mixture = {"name": "../../escape", "means": [[0, 0], [2, 2]], "stds": 0.1}
    the_spec = {"mixture": mixture, "options": TINY, "grid": {"lr_d": [1e-4]}}
    path = write_spec(tmp_path / "spec.json", the_spec)
    out = tmp_path / "deep" / "sw"
    before = set(tree(tmp_path))
    code, lines = cli([path, "--out", out], capsys)  # the figures too
    assert code in (0, 2), lines
    new = set(tree(tmp_path)) - before
    assert all(name.startswith(("deep/sw", "deep")) for name in new), sorted(new)
    assert not (tmp_path.parent / "escape").exists()
    for task in sweep.expand(the_spec)[1]:
        assert "/" not in task["name"] and not task["name"].startswith(".")


def test_a_second_sweep_into_a_busy_out_is_refused(tmp_path, capsys):
    out = tmp_path / "sw"
    assert sweep_into(out, spec())[0] == 0
    path = write_spec(tmp_path / "spec.json", spec())
    with RunLock(out):
        refused([path, "--out", out], capsys, out, "in use", str(os.getpid()))


# ---------------------------------------------------------------- 6. corrupt runs
@pytest.mark.parametrize("name,content", [
    ("summary.json", "garbage"), ("summary.json", "{}"), ("summary.json", "[1]"),
    ("samples.npz", "garbage"), ("samples.npz", None)])
def test_a_corrupt_run_met_while_summarising_is_named(tmp_path, capsys, name, content):
    out = tmp_path / "sw"
    assert sweep_into(out, spec())[0] == 0
    target = out / "runs" / "lr_d=0.0003-seed0" / name
    if content is None:
        target.unlink()
    else:
        target.write_text(content)
    path = write_spec(tmp_path / "spec.json", spec())
    code, lines = cli([path, "--out", out, "--no-plots"], capsys)
    assert code == 2
    errors = [line for line in lines if line.startswith("toygan.sweep: error: ")]
    assert len(errors) == 1 and str(target) in errors[0], lines
    assert not any("Traceback" in line for line in lines)


def test_a_scheduler_without_dask_is_refused_before_anything_is_written(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    path = write_spec(tmp_path / "spec.json", spec())
    out = tmp_path / "sw"
    assert sweep.main([str(path), "--out", str(out), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler needs Dask" in capsys.readouterr().err
    assert not out.exists()


def test_a_sweep_that_cannot_fit_in_memory_is_bad_input(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TOYGAN_MEMORY_BYTES", str(1 << 20))  # 1 MiB free
    path = write_spec(tmp_path / "spec.json", spec())
    out = tmp_path / "sw"
    assert sweep.main([str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "would need about" in err and "of memory" in err, err
    assert err.count("\n") == 1 and not out.exists()
