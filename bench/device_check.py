"""One call on a lent GPU: everything toygan's CUDA path should show there, in one folder.

    bash bench/device_check.sh [OUT]             # on the device machine, OUT default device-check
    python bench/device_check.py --out OUT [--budget 440] [--only a,b] [--smoke] [--dry-run]

Runs, in this order (the budget goes to the most telling first), each step under its own
time cap and all of them under one budget (a step that would start past the budget is
skipped, one that overruns its cap is stopped and reported as such, with its log):

  gpu-tests      the `gpu` tests (kernels, fused steps, batch norm, engine, populations)
                 against the real CuPy (TOYGAN_CUPY=real: no stand-in)
  memcheck, racecheck
                 compute-sanitizer over the kernel and fused tests at small sizes (a few
                 examples each, CuPy's memory pool off so every buffer is its own allocation);
                 skipped on gVisor, where compute-sanitizer refuses the device
  run-fused      the default `python -m toygan.run mixture8 --backend cuda` (fused kernels)
  run-per-op     the same with --kernels per-op
  bench-64, bench-512, bench-4096
                 every GPU contestant but torch.compile's (python -m toygan.bench), one
                 step per batch size so that a stopped step loses only its own numbers
  population     1024 members of mixture8 in lockstep on cuda (500 steps; evaluations
                 run per member on the host)
  bench-compile  torch.compile's contestant at batch 512 (its compiles take tens of seconds)
  initcheck, synccheck
                 the same sanitizer runs, with what the budget leaves

Whatever the machine cannot do is skipped with the reason (gVisor, no compute-sanitizer;
a GPU that CuPy cannot see fails the steps, with their logs, rather than skipping them).
Every step's output is unbuffered and a step stopped at its cap gets SIGINT, then SIGKILL 5
s later, so its log keeps what it printed. The report is rewritten after every step (and on
SIGINT/SIGTERM). Writes OUT/device_check.json (the machine: nvidia-smi, kernel and runtime, package
versions; every step: command, status, seconds, return code, summary line, reason) and
OUT/device_check.md, a log per step under OUT/logs/, the bench's JSON and Markdown under
OUT/bench/ and OUT/bench-compile/, and each run's summary, metrics and figures under
OUT/runs/ (checkpoints stay in the scratch folder); everything but the report is also packed into
OUT/device_check.tar.gz, since the device tool brings back at most 8 files. The report is
printed last. Exit status: 0 when no step failed or overran its cap.

--smoke shrinks every size (a few steps, tiny batches) and --standin runs the steps through
the strict CuPy stand-in (tests/standin/cupy) on the emulator: together they let CI check
this script itself on a machine without a GPU. --dry-run prints the plan and writes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SANITIZER_TOOLS = ("memcheck", "racecheck", "initcheck", "synccheck")
GPU_CONTESTANTS = ("toygan-cuda-fused,toygan-cuda-graph,toygan-cuda-per-op,"
                   "toygan-cuda-population,cupy-cublas,torch-cuda-eager,torch-cuda-graphs")
# torch.compile spends tens of seconds compiling per batch size: a step of its own, later,
# so that it cannot cost the other contestants their numbers.
COMPILED_CONTESTANT = "torch-cuda-compile"
# The modules with `gpu` tests, named so that a module whose imports fail on the device
# machine (an optional package) cannot stop the collection of the others.
GPU_TEST_MODULES = ("tests/device/test_kernels.py", "tests/device/test_fused.py",
                    "tests/device/test_batchnorm_kernels.py", "tests/gan/test_device_gan.py",
                    "tests/gan/test_device_batchnorm_pack.py")
# The kernel and fused tests under the sanitizer: a few examples each, in thread order only
# (the fiber order is the emulator's; on a GPU the hardware picks).
SANITIZED_TESTS = ("tests/device/test_kernels.py", "tests/device/test_fused.py")
PYTEST_OPTIONS = ("-q", "-m", "gpu", "-p", "no:cacheprovider", "-o", "faulthandler_timeout=40")
MIN_STEP_S = 20  # a step is not started with less of the budget left than this
GRACE_S = 5  # between SIGINT and SIGKILL at a cap
# Run files small enough to bring back (a population's checkpoint is hundreds of MB).
KEPT_RUN_FILES = ("summary.json", "config.json", "population.json", "members.json",
                  "metrics.jsonl", "members.jsonl", "*.png")


@dataclass
class Step:
    name: str
    what: str
    command: list[str]
    cap_s: float
    needs: tuple[str, ...] = ()  # "gpu", "sanitizer"
    env: dict[str, str] = field(default_factory=dict)
    run_dir: str | None = None  # a run directory to bring back into OUT/runs


@dataclass
class Outcome:
    name: str
    what: str
    command: str
    status: str  # pass, fail, timeout (stopped at its cap), skip
    seconds: float = 0.0
    returncode: int | None = None
    summary: str = ""
    reason: str = ""
    log: str | None = None


def sanitizer_path() -> str | None:
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    for candidate in ("/usr/local/cuda/bin/compute-sanitizer",
                      "/usr/local/cuda/compute-sanitizer/compute-sanitizer"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def runtime_of(release: str) -> str:
    """gVisor reports kernel 4.4.0; the lent Firecracker machines name themselves '-fc-'."""
    if release.startswith("4.4.0"):
        return "gvisor"
    return "firecracker" if "-fc-" in release else "unknown"


def gpu_present(standin: bool) -> tuple[bool, str]:
    if standin:
        return True, "the CuPy stand-in (emulator)"
    probe = ("import cupy; n = cupy.cuda.runtime.getDeviceCount(); "
             "print(n, cupy.cuda.runtime.getDeviceProperties(0)['name'].decode() if n else '')")
    try:
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             timeout=60)
    except subprocess.TimeoutExpired:
        return False, "CuPy did not answer within 60 s"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return False, f"CuPy cannot reach a GPU: {last[:200]}"
    count, _, name = out.stdout.strip().partition(" ")
    return (int(count) > 0, name or "CuPy sees no GPU")


def gpu_fallback_name() -> str:
    """nvidia-smi's name for the GPU, when CuPy cannot see it."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "none"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "none (no nvidia-smi)"


def plan(out: Path, work: Path, smoke: bool) -> list[Step]:
    py = sys.executable
    tests_env = {"TOYGAN_CUPY": "real", "TOYGAN_FIBER_ORDERS": "forward", "MPLBACKEND": "Agg"}
    small = (["--steps", "4", "--eval-every", "2", "--batch", "16", "--eval-samples", "200"]
             if smoke else [])
    runs = ["--no-plots"] if smoke else []
    gpu_tests = Step("gpu-tests", "the gpu-marked tests against the real CuPy",
                     [py, "-m", "pytest", *PYTEST_OPTIONS, *GPU_TEST_MODULES], 100, ("gpu",),
                     {**tests_env, "HYPOTHESIS_PROFILE": "dev"})
    run_steps = [
        Step(f"run-{kernels}", f"python -m toygan.run mixture8 --backend cuda --kernels "
             f"{kernels}", [py, "-m", "toygan.run", "mixture8", "--backend", "cuda",
                            "--kernels", kernels, *small, *runs, "--out",
                            str(work / f"run-{kernels}")], cap, ("gpu",),
             {"MPLBACKEND": "Agg"}, f"run-{kernels}")
        for kernels, cap in (("fused", 40), ("per-op", 50))]

    def bench(name: str, what: str, contestants: str, batch: str, cap: float) -> Step:
        return Step(name, what, [py, "-m", "toygan.bench", "--contestants", contestants,
                                 "--batches", "8" if smoke else batch,
                                 "--repeats", "1" if smoke else "3",
                                 *(["--warmup", "1", "--iterations", "2"] if smoke else []),
                                 "--out", str(out / name)], cap, ("gpu",))

    benches = [bench(f"bench-{b}", f"the GPU contestants at batch {b}", GPU_CONTESTANTS,
                     str(b), 35) for b in (64, 512, 4096)]
    population = Step(
        "population", "1024 members of mixture8 in lockstep on cuda",
        [py, "-m", "toygan.run", "mixture8", "--backend", "cuda", "--population",
         "4" if smoke else "1024",
         # Evaluation is per member on the host: two evaluations at 200 samples.
         *(small if smoke else ["--steps", "500", "--eval-every", "500", "--eval-samples",
                                "200", "--expensive-every", "0"]),
         "--no-plots", "--out", str(work / "population")], 120, ("gpu",),
        {"MPLBACKEND": "Agg"}, "population")
    compiled = bench("bench-compile", "torch.compile's contestant at batch 512",
                     COMPILED_CONTESTANT, "512", 50)
    sanitized = []
    for tool in SANITIZER_TOOLS:
        # pytest inside the sanitizer with CuPy's pool off: an overrun past a buffer's end
        # lands outside its allocation, where memcheck sees it.
        inner = ("import cupy, sys, pytest; cupy.cuda.set_allocator(None); "
                 f"sys.exit(pytest.main([*{list(PYTEST_OPTIONS)!r}, '-x', "
                 f"*{list(SANITIZED_TESTS)!r}]))")
        sanitized.append(Step(
            tool, f"compute-sanitizer --tool {tool} over the kernel and fused tests",
            ["compute-sanitizer", "--tool", tool, "--error-exitcode", "99",
             "--print-limit", "20", "--launch-timeout", "120", py, "-c", inner],
            60 if tool == "racecheck" else 45, ("gpu", "sanitizer"),
            {**tests_env, "HYPOTHESIS_PROFILE": "device"}))
    # Most telling first: the tests, memory errors and races, the runs, the timings; what
    # the budget leaves over goes to torch.compile, initcheck and synccheck.
    return [gpu_tests, *sanitized[:2], *run_steps, *benches, population, compiled,
            *sanitized[2:]]


def skip_reason(step: Step, facts: dict) -> str:
    if "gpu" in step.needs and not facts["gpu"] and facts.get("skip_without_gpu", True):
        return f"no GPU: {facts['gpu_detail']}"
    if "sanitizer" in step.needs:
        if facts["standin"]:
            return "the stand-in runs kernels on the emulator, not under compute-sanitizer"
        if facts["runtime"] == "gvisor":
            return "gVisor: compute-sanitizer refuses the device there (needs Firecracker)"
        if not facts["sanitizer"]:
            return "compute-sanitizer is not installed"
    return ""


def summary_line(log: str) -> str:
    """pytest's counts line and compute-sanitizer's ERROR SUMMARY where there are, else
    the last non-empty line of the log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    found = []
    for line in reversed(lines):
        if re.search(r"\d+ (passed|failed|errors? in|skipped|deselected)", line) and \
                "ERROR SUMMARY" not in line:
            found.append(line.strip("= ")[:200])
            break
    found += [line[:200] for line in reversed(lines) if "ERROR SUMMARY" in line][:1]
    if found:
        return "; ".join(found)
    return lines[-1][:300] if lines else ""


def bench_summary(folder: Path) -> tuple[str, bool]:
    """Every contestant's median it/s per batch from the bench's JSON, and whether the step
    passes: no contestant failed, and toygan's and CuPy's all ran."""
    try:
        result = json.loads(next(Path(folder).glob("*.json")).read_text())
    except (StopIteration, OSError, ValueError):
        return "no bench JSON written", False
    parts, ok = [], True
    for row in result.get("rows", []):
        if "error" in row:
            ok = False
            parts.append(f"{row['contestant']}@{row['batch']} FAILED: {str(row['error'])[:80]}")
        else:
            parts.append(f"{row['contestant']}@{row['batch']} {row['median']:.0f} it/s")
    for name, why in result.get("skipped", {}).items():
        # toygan's and CuPy's contestants must run on a GPU; a peer whose framework is
        # missing is the machine's fact, reported.
        ok = ok and not name.startswith(("toygan-", "cupy-"))
        parts.append(f"{name} not run: {str(why)[:80]}")
    return "; ".join(parts), ok


class Current:
    """The step running now, so that a signal to the check stops it too."""

    proc: subprocess.Popen | None = None


def stop(proc: subprocess.Popen) -> int:
    """SIGINT to the step's process group (pytest and toygan print what they have), then
    SIGKILL after GRACE_S."""
    for sig, wait in ((signal.SIGINT, GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def run_step(step: Step, cap: float, logs: Path, facts: dict, env_base: dict) -> Outcome:
    command = list(step.command)
    if command[0] == "compute-sanitizer":
        command[0] = facts["sanitizer"] or command[0]
    env = {**env_base, **step.env, "PYTHONUNBUFFERED": "1"}
    log_path = logs / f"{step.name}.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        # A process group of its own (same session), so that a cap stops its children too.
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, process_group=0)
        Current.proc = proc
        try:
            code = proc.wait(timeout=cap)
            status = "pass" if code == 0 else "fail"
        except subprocess.TimeoutExpired:
            code, status = stop(proc), "timeout"
        finally:
            Current.proc = None
    text = log_path.read_text(errors="replace")
    reason = f"stopped at its cap of {cap:.0f} s" if status == "timeout" else ""
    return Outcome(step.name, step.what, " ".join(step.command), status,
                   round(time.monotonic() - started, 1), code, summary_line(text), reason,
                   str(log_path.relative_to(logs.parent)))


def run_summary(run_dir: Path) -> str:
    """One line from a finished run's or population's own summary file."""
    try:
        if (run_dir / "population.json").is_file():
            pop = json.loads((run_dir / "population.json").read_text())
            cells = pop.get("cells") or [{}]
            return (f"{pop['members']} members, {pop['steps']} steps, "
                    f"{pop['gan_iterations_per_second']} GAN-it/s, "
                    f"collapse rate {cells[0].get('collapse_rate')}, "
                    f"diverged {cells[0].get('diverged')}")
        run = json.loads((run_dir / "summary.json").read_text())
        return (f"{run['steps']} steps at {run['steps_per_second']} it/s, modes "
                f"{run['modes_covered']}/{run['modes_total']}, hq "
                f"{run['high_quality_fraction']:.3f}, diverged {run['diverged']}")
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"no readable summary ({type(error).__name__})"


def bring_back(run_dir: Path, dest: Path) -> None:
    if not run_dir.is_dir():
        return
    dest.mkdir(parents=True, exist_ok=True)
    for pattern in KEPT_RUN_FILES:
        for path in run_dir.glob(pattern):
            if path.stat().st_size <= 20 * 2**20:
                shutil.copy2(path, dest / path.name)


def environment() -> dict:
    """What the machine is: the GPU, the kernel and runtime, Python and package versions."""
    def run(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"unavailable ({error})"

    packages = {}
    for name in ("numpy", "scipy", "cupy-cuda13x", "cupy-cuda12x", "torch", "jax",
                 "hypothesis", "matplotlib", "pytest"):
        try:  # read from the metadata: importing torch or jax costs seconds of the budget
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "absent"
    sanitizer = sanitizer_path()
    return {
        "nvidia_smi": run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,"
                           "clocks.sm,clocks.max.sm", "--format=csv,noheader"]),
        "kernel": platform.release(), "runtime": runtime_of(platform.release()),
        "python": sys.version.split()[0], "packages": packages,
        "compute_sanitizer": run([sanitizer, "--version"]).splitlines()[-1:] if sanitizer
        else None,
        "cpus": os.cpu_count(),
    }


def write_report(out: Path, header: dict, outcomes: list[Outcome], done: bool) -> str:
    """device_check.json and .md (rewritten after every step); the Markdown is returned."""
    report = {**header, "finished": done, "steps": [asdict(o) for o in outcomes]}
    (out / "device_check.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# Device check, {header['date']}" + ("" if done else " (unfinished)"), "",
             f"- device: {header['device']}", f"- runtime: {header['runtime']}",
             f"- commit: {header['commit']}", f"- command: `{header['command']}`",
             f"- wall: {header['wall_s']} s of a {header['budget_s']:.0f} s budget", "",
             "| step | status | seconds | summary or reason |", "|---|---|---|---|"]
    for o in outcomes:
        detail = (o.reason + "; " if o.reason else "") + o.summary
        lines.append(f"| {o.name} | {o.status} | {o.seconds} | {detail.replace('|', '/')} |")
    text = "\n".join(lines) + "\n"
    (out / "device_check.md").write_text(text)
    return text


def pack(out: Path) -> Path:
    """Everything in OUT but the report and the archive, as OUT/device_check.tar.gz."""
    archive = out / "device_check.tar.gz"
    partial = out / "device_check.tar.gz.partial"
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(out.iterdir()):
            if path.name not in ("device_check.tar.gz", partial.name):
                tar.add(path, arcname=path.name)
    partial.replace(archive)
    return archive


def run_all(steps: list[Step], facts: dict, env_base: dict, out: Path, work: Path,
            header: dict, budget: float, started: float, outcomes: list[Outcome]) -> None:
    """Runs the steps in order, appending to `outcomes` and rewriting the report after each."""
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for step in steps:
        left = budget - (time.monotonic() - started)
        why = skip_reason(step, facts)
        if not why and left < min(MIN_STEP_S, step.cap_s):
            why = f"out of budget: {left:.0f} s of {budget:.0f} s left"
        if why:
            outcome = Outcome(step.name, step.what, " ".join(step.command), "skip", reason=why)
        else:
            try:
                outcome = run_step(step, min(step.cap_s, left), logs, facts, env_base)
            except OSError as error:  # a command that cannot start is this step's failure
                outcome = Outcome(step.name, step.what, " ".join(step.command), "fail",
                                  reason=f"could not start: {error}")
            if step.run_dir:
                bring_back(work / step.run_dir, out / "runs" / step.run_dir)
                if outcome.status == "pass":
                    outcome.summary = run_summary(work / step.run_dir)
            if step.name.startswith("bench") and outcome.status == "pass":
                outcome.summary, complete = bench_summary(out / step.name)
                if not complete:
                    outcome.status = "fail"
                    outcome.reason = "a GPU contestant failed or was not run"
        outcomes.append(outcome)
        header["wall_s"] = round(time.monotonic() - started, 1)
        write_report(out, header, outcomes, done=False)
        print(f"{outcome.name:13s} {outcome.status:8s} {outcome.seconds:6.1f} s  "
              f"{outcome.reason or outcome.summary}", flush=True)


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="device-check", help="output folder")
    parser.add_argument("--budget", type=float, default=440.0,
                        help="seconds for everything, from the start (default 440: under 8 "
                        "minutes with the set-up)")
    parser.add_argument("--only", default="", help="comma-separated step names")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes everywhere")
    parser.add_argument("--standin", action="store_true",
                        help="run through the CuPy stand-in on the emulator (no GPU needed)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error(f"--budget must be positive, got {args.budget}")
    out = Path(args.out).resolve()
    work = (Path(tempfile.gettempdir()) / "toygan-device-check-XXXX" if args.dry_run
            else Path(tempfile.mkdtemp(prefix="toygan-device-check-")))
    steps = plan(out, work, args.smoke)
    names = [s.name for s in steps]
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in names]
    if unknown:
        parser.error(f"unknown step {unknown[0]!r}; choose from {', '.join(names)}")
    if only:
        steps = [s for s in steps if s.name in only]

    env_base = dict(os.environ)
    if args.standin:
        sys.path.insert(0, str(ROOT))
        from tests.cupy_standin import subprocess_env
        env_base = {**subprocess_env(env_base), "TOYGAN_CUPY": "standin"}
        for step in steps:
            step.env = {k: v for k, v in step.env.items() if k != "TOYGAN_CUPY"}
    release = platform.release()
    needs_gpu = any("gpu" in s.needs for s in steps)
    has_gpu, detail = gpu_present(args.standin) if needs_gpu else (False, "not asked")
    facts = {"gpu": has_gpu, "gpu_detail": detail, "runtime": runtime_of(release),
             "sanitizer": sanitizer_path(), "standin": args.standin,
             # A dry run says what a machine without a GPU would skip; a real run on a
             # machine whose GPU CuPy cannot see runs the steps, so their logs say why.
             "skip_without_gpu": args.dry_run}

    if args.dry_run:
        print(f"device: {detail}; runtime {facts['runtime']} ({release}); "
              f"compute-sanitizer: {facts['sanitizer'] or 'absent'}; budget {args.budget:.0f} s")
        for step in steps:
            why = skip_reason(step, facts)
            print(f"{step.name:13s} cap {step.cap_s:4.0f} s  "
                  f"{'SKIP: ' + why if why else ' '.join(step.command)}")
        return 0

    out.mkdir(parents=True, exist_ok=True)
    header = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": detail if has_gpu or not needs_gpu else
              f"CuPy sees no GPU ({detail}); nvidia-smi: {gpu_fallback_name()}",
              "runtime": f"{facts['runtime']} ({release})", "commit": git_commit(),
              "command": " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
              "budget_s": args.budget, "wall_s": 0.0, "environment": environment()}
    print(json.dumps(header, indent=1), flush=True)

    def interrupted(signum, frame):
        if Current.proc is not None:
            stop(Current.proc)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    outcomes: list[Outcome] = []
    try:
        run_all(steps, facts, env_base, out, work, header, args.budget, started, outcomes)
    except KeyboardInterrupt:
        print("device check: interrupted; the report keeps the steps done", flush=True)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(work, ignore_errors=True)
        header["wall_s"] = round(time.monotonic() - started, 1)
        text = write_report(out, header, outcomes, done=len(outcomes) == len(steps))
        pack(out)
        print(text, flush=True)
    failed = [o.name for o in outcomes if o.status in ("fail", "timeout")]
    return 1 if failed or (needs_gpu and not has_gpu) else 0


def git_commit() -> str:
    """HEAD's short hash; TOYGAN_COMMIT where the tree travelled without .git."""
    if os.environ.get("TOYGAN_COMMIT"):
        return os.environ["TOYGAN_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
