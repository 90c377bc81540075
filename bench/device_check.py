"""One call on a lent GPU: everything toygan's CUDA path should show there, in one folder.

    bash bench/device_check.sh [OUT]             # on the device machine, OUT default device-check
    python bench/device_check.py --out OUT [--budget 470] [--only a,b] [--smoke] [--dry-run]

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
  bench          every GPU contestant at batches 64, 512 and 4096 (python -m toygan.bench)
                 but torch.compile's
  population     1024 members of mixture8 in lockstep on cuda (2000 steps)
  bench-compile  torch.compile's contestant (its compiles take tens of seconds)
  initcheck, synccheck
                 the same sanitizer runs, with what the budget leaves

Whatever the machine cannot do is skipped with the reason (no GPU, no compute-sanitizer,
gVisor). Writes OUT/device_check.json (the machine: nvidia-smi, kernel and runtime, package
versions; every step: command, status, seconds, return code, summary line, reason) and
OUT/device_check.md, a log per step under OUT/logs/, the bench's JSON and Markdown under
OUT/bench/ and OUT/bench-compile/, and each run's summary, metrics and figures under
OUT/runs/ (checkpoints stay in the scratch folder). Exit status: 0 when no step failed or
overran its cap.

--smoke shrinks every size (a few steps, tiny batches) and --standin runs the steps through
the strict CuPy stand-in (tests/standin/cupy) on the emulator: together they let CI check
this script itself on a machine without a GPU. --dry-run prints the plan and writes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
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
# The kernel and fused tests under the sanitizer: a few examples each, in thread order only
# (the fiber order is the emulator's; on a GPU the hardware picks).
SANITIZED_TESTS = ("tests/device/test_kernels.py", "tests/device/test_fused.py")
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
    status: str  # pass, fail, timeout, skip
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


def plan(out: Path, work: Path, smoke: bool) -> list[Step]:
    py = sys.executable
    tests_env = {"TOYGAN_CUPY": "real", "TOYGAN_FIBER_ORDERS": "forward", "MPLBACKEND": "Agg"}
    run_common = ["--no-plots", "--quiet"] if smoke else ["--quiet"]
    small = (["--steps", "4", "--eval-every", "2", "--batch", "16", "--eval-samples", "200"]
             if smoke else [])
    steps = [
        Step("gpu-tests", "the gpu-marked tests against the real CuPy",
             [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"],
             100, ("gpu",), {**tests_env, "HYPOTHESIS_PROFILE": "dev"}),
        Step("run-fused", "python -m toygan.run mixture8 --backend cuda (fused)",
             [py, "-m", "toygan.run", "mixture8", "--backend", "cuda", "--kernels", "fused",
              *small, *run_common, "--out", str(work / "run-fused")], 40, ("gpu",),
             {"MPLBACKEND": "Agg"}, "run-fused"),
        Step("run-per-op", "the same with --kernels per-op",
             [py, "-m", "toygan.run", "mixture8", "--backend", "cuda", "--kernels", "per-op",
              *small, *run_common, "--out", str(work / "run-per-op")], 50, ("gpu",),
             {"MPLBACKEND": "Agg"}, "run-per-op"),
        *[Step(name, what, [py, "-m", "toygan.bench", "--contestants", contestants,
                            "--batches", "8" if smoke else "64,512,4096",
                            "--repeats", "1" if smoke else "3",
                            *(["--warmup", "1", "--iterations", "2"] if smoke else []),
                            "--out", str(out / name)], cap, ("gpu",))
          for name, what, contestants, cap in (
              ("bench", "the GPU contestants at batches 64, 512, 4096", GPU_CONTESTANTS, 80),
              ("bench-compile", "torch.compile's contestant at the same batches",
               COMPILED_CONTESTANT, 60))],
        Step("population", "1024 members of mixture8 in lockstep on cuda",
             [py, "-m", "toygan.run", "mixture8", "--backend", "cuda", "--population",
              "4" if smoke else "1024",
              # Evaluation is per member on the host: two evaluations at 200 samples.
              *(small if smoke else ["--steps", "2000", "--eval-every", "2000",
                                     "--eval-samples", "200", "--expensive-every", "0"]),
              "--no-plots", "--quiet", "--out", str(work / "population")], 70, ("gpu",),
             {"MPLBACKEND": "Agg"}, "population"),
    ]
    sanitized = []
    for tool in SANITIZER_TOOLS:
        # pytest inside the sanitizer with CuPy's pool off: an overrun past a buffer's end
        # lands outside its allocation, where memcheck sees it.
        inner = ("import cupy, sys, pytest; cupy.cuda.set_allocator(None); "
                 f"sys.exit(pytest.main(['-q', '-x', '-m', 'gpu', '-p', 'no:cacheprovider', "
                 f"*{list(SANITIZED_TESTS)!r}]))")
        sanitized.append(Step(
            tool, f"compute-sanitizer --tool {tool} over the kernel and fused tests",
            ["compute-sanitizer", "--tool", tool, "--error-exitcode", "99",
             "--print-limit", "20", py, "-c", inner], 45, ("gpu", "sanitizer"),
            {**tests_env, "HYPOTHESIS_PROFILE": "device"}))
    # Most telling first: the tests, memory errors and races, the runs, the timings; what
    # the budget leaves over goes to initcheck and synccheck.
    gpu_tests, run_fused, run_per_op, bench, bench_compile, population = steps
    return [gpu_tests, *sanitized[:2], run_fused, run_per_op, bench, population, bench_compile,
            *sanitized[2:]]


def skip_reason(step: Step, facts: dict) -> str:
    if "gpu" in step.needs and not facts["gpu"]:
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
    """pytest's counts line, else the last non-empty line of the log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"\d+ (passed|failed|error)", line):
            return line.strip("= ")[:300]
    for line in reversed(lines):
        if "ERROR SUMMARY" in line:
            return line[:300]
    return lines[-1][:300] if lines else ""


def run_step(step: Step, cap: float, logs: Path, facts: dict, env_base: dict) -> Outcome:
    command = list(step.command)
    if command[0] == "compute-sanitizer":
        command[0] = facts["sanitizer"] or command[0]
    env = {**env_base, **step.env}
    log_path = logs / f"{step.name}.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        # A process group of its own, so that a cap stops the step's children too.
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=cap)
            status = "pass" if code == 0 else "fail"
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code, status = proc.wait(), "timeout"
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
    for name in ("numpy", "scipy", "cupy", "torch", "jax", "hypothesis", "matplotlib"):
        try:
            packages[name] = __import__(name).__version__
        except Exception as error:  # a missing or broken package is a fact to report
            packages[name] = f"unavailable ({type(error).__name__})"
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


def write_report(out: Path, header: dict, outcomes: list[Outcome]) -> None:
    report = {**header, "steps": [asdict(o) for o in outcomes]}
    (out / "device_check.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# Device check, {header['date']}", "",
             f"- device: {header['device']}", f"- runtime: {header['runtime']}",
             f"- commit: {header['commit']}", f"- command: `{header['command']}`",
             f"- wall: {header['wall_s']} s of a {header['budget_s']} s budget", "",
             "| step | status | seconds | summary or reason |", "|---|---|---|---|"]
    for o in outcomes:
        detail = (o.reason + "; " if o.reason else "") + o.summary
        lines.append(f"| {o.name} | {o.status} | {o.seconds} | {detail.replace('|', '/')} |")
    (out / "device_check.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="device-check", help="output folder")
    parser.add_argument("--budget", type=float, default=470.0,
                        help="seconds for all steps together (default 470: under 8 minutes)")
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
    sanitizer = sanitizer_path()
    release = platform.release()
    needs_gpu = any("gpu" in s.needs for s in steps)
    has_gpu, detail = gpu_present(args.standin) if needs_gpu else (False, "not asked")
    facts = {"gpu": has_gpu, "gpu_detail": detail, "runtime": runtime_of(release),
             "sanitizer": sanitizer, "standin": args.standin}
    if args.standin:
        for step in steps:
            step.env = {k: v for k, v in step.env.items() if k != "TOYGAN_CUPY"}

    if args.dry_run:
        print(f"device: {detail}; runtime {facts['runtime']} ({release}); "
              f"compute-sanitizer: {sanitizer or 'absent'}; budget {args.budget:.0f} s")
        for step in steps:
            why = skip_reason(step, facts)
            print(f"{step.name:13s} cap {step.cap_s:4.0f} s  "
                  f"{'SKIP: ' + why if why else ' '.join(step.command)}")
        return 0

    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    started = time.monotonic()
    machine = environment()
    print(json.dumps(machine, indent=1), flush=True)
    outcomes: list[Outcome] = []
    for step in steps:
        left = args.budget - (time.monotonic() - started)
        why = skip_reason(step, facts)
        if not why and left < 5:
            why = f"out of time: {left:.0f} s of the {args.budget:.0f} s budget left"
        if why:
            outcomes.append(Outcome(step.name, step.what, " ".join(step.command), "skip",
                                    reason=why))
        else:
            outcome = run_step(step, min(step.cap_s, left), logs, facts, env_base)
            outcomes.append(outcome)
            if step.run_dir:
                bring_back(work / step.run_dir, out / "runs" / step.run_dir)
                if outcome.status == "pass":
                    outcome.summary = run_summary(work / step.run_dir)
        last = outcomes[-1]
        print(f"{last.name:13s} {last.status:8s} {last.seconds:6.1f} s  "
              f"{last.reason or last.summary}", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    header = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "device": detail, "runtime": f"{facts['runtime']} ({release})",
              "commit": git_commit(), "command": " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
              "budget_s": args.budget, "wall_s": round(time.monotonic() - started, 1),
              "environment": machine}
    write_report(out, header, outcomes)
    print(f"wrote {out / 'device_check.md'}")
    return 1 if any(o.status in ("fail", "timeout") for o in outcomes) else 0


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
