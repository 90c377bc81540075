"""`python -m toygan.bench`: one Algorithm-1 iteration, toygan against its peers.

Workload: the default mixture8 model and optimiser of `python -m toygan.run mixture8` --
G: z (2-D N(0, I)) -> 128 -> 128 -> 2, D: 2 -> 128 -> 128 -> 1, ReLU, He/Glorot init;
non-saturating G loss; Adam lr 2e-4, betas (0.5, 0.999) for both; k = 1 -- at batch sizes
64, 512 and 4096, float32. One iteration = one D step on m real and m generated samples
(fresh draws) and one G step on m fresh noise samples.

Contestants, where available (every peer has the same architecture, the initial parameters
copied from toygan, the same optimiser and loss, and its own random draws):
- CPU: toygan `numpy`; `toygan-population`, 64 GANs in lockstep (toygan.gan.populations; its
  rate counts GAN iterations, 64 per lockstep iteration; on a GPU `toygan-cuda-population`,
  1024 members); `numpy-plain`, the step written
  plainly in NumPy (toygan.peers.array_peer); PyTorch eager and torch.compile (`pip install
  torch==2.13.0`); JAX (`pip install jax`, toygan.peers.jax_peer): `jax-cpu-jit`, the whole
  iteration one jit-compiled function, and `jax-cpu-vmap`, 64 GANs vmapped in one jitted
  function (its rate counts GAN iterations, as the population's does).
- GPU: toygan `cuda` with the fused steps (`toygan-cuda-fused`), the same captured once in
  a CUDA graph by CuPy stream capture and replayed (`toygan-cuda-graph`: timing only, the
  replay reuses the captured scalars -- Philox counters, Adam's bias corrections), the
  per-op kernels (`toygan-cuda-per-op`); `cupy-cublas` (the plain step on CuPy: cuBLAS
  matrix products); PyTorch CUDA eager, CUDA graphs and torch.compile.
Each contestant and batch size runs in its own process (a clean peak RSS, thread pools that
do not meet): warm-up iterations first (excluded), then `repeats` timed blocks of
`iterations` each, timed by the host clock on a CPU and by device events on a GPU.

Printed and written to bench/results/<device>-<date>-bench.json and .md: iterations/s (min,
median, max over blocks), each contestant's ratio to toygan's best in the same run, the
FLOPs of one iteration (matrix products; `flops_per_iteration`), the fraction of the
machine's float32 matmul ceiling, measured in the same run, and the peak memory.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .cli import (
    EXIT_INTERRUPTED,
    CommandParser,
    UsageError,
    fail,
    int_in,
    int_list,
    os_error_text,
    output_dir_problem,
)
from .config import Config
from .device import launch
from .peers.contestants import (  # noqa: F401 (the bench's contestants, from here too)
    CONTESTANTS,
    POPULATION_MEMBERS,
    TOYGAN_VARIANTS,
    available,
    contestant_config,
    measure,
    workload,
)
from .peers.torch_peer import torch_network  # noqa: F401
from .runfiles import atomic_write_text, safe_name

BATCHES = (64, 512, 4096)
# Command-line bounds: far past the published sizes, short of what would need gigabytes per
# contestant (a batch of 65536 is already ~0.5 GB of activations per GAN) or run for days.
MAX_BATCH = 65536
MAX_BATCHES = 16
MAX_REPEATS = 100
MAX_WARMUP = 10_000
MAX_ITERATIONS = 100_000


def flops_per_iteration(config: Config, dim: int = 2) -> int:
    """Multiply-adds x 2 of the matrix products of one iteration (k D steps + 1 G step).

    D step: G forward (m), D forward and backward on 2m (weight gradients of every layer,
    input gradients of every layer but the first). G step: G forward (m), D forward (m),
    D's input gradients of every layer (no weight gradients), G's weight gradients and its
    input gradients but the first layer's. A gradient penalty adds to each D step, on its m
    penalised points: D forward and its input gradient (every layer), the tangent forward
    and the tangent backward (two weight gradients per layer, two input adjoints for every
    layer but the first). Elementwise work is not counted.
    """
    m = config.batch
    g = [config.noise_dim, *config.hidden, dim]
    d = [dim, *(config.d_hidden or config.hidden), 1]
    g_mm = sum(a * b for a, b in zip(g[:-1], g[1:], strict=True))
    d_mm = sum(a * b for a, b in zip(d[:-1], d[1:], strict=True))
    g_first, d_first = g[0] * g[1], d[0] * d[1]
    d_step = m * g_mm + 2 * m * d_mm * 2 + 2 * m * (d_mm - d_first)
    g_step = m * g_mm + m * d_mm + m * d_mm + m * g_mm + m * (g_mm - g_first)
    if config.penalty != "none":
        d_step += m * (7 * d_mm - 2 * d_first)
    return 2 * (config.k * d_step + g_step)


def matmul_ceiling(size: int = 2048, repeats: int = 5) -> float:
    """The float32 matrix-product rate of this machine (FLOP/s), best of `repeats`."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t)
    return 2.0 * size**3 / best
# ------------------------------------------------------------------ the table
def device_name() -> str:
    if launch.cuda_available():
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        return name.replace(" ", "-").lower()
    return f"cpu-{os.cpu_count()}core"


def run_bench(batches=BATCHES, contestants=CONTESTANTS, warmup: int = 20, repeats: int = 5,
              iterations: int | None = None, progress=None) -> dict:
    """Every available contestant at every batch size, with the FLOP figures. The ceiling
    is measured before and after the contestants and the higher one is used (a shared
    machine can be slow at one of the two moments; both are reported)."""
    ceilings = [matmul_ceiling()]
    rows, skipped = [], {}
    for contestant in contestants:
        why = available(contestant)
        if why:
            skipped[contestant] = why
            continue
        for batch in batches:
            if progress:
                progress(f"{contestant} at batch {batch}")
            result = measure(contestant, batch, warmup, repeats, iterations)
            row = {"contestant": contestant, "batch": batch, **result}
            if "rates" in result:
                rates = sorted(result["rates"])
                median = float(np.median(rates))
                row.update(min=rates[0], median=median, max=rates[-1],
                           ms_per_iteration=1e3 / median,
                           flops=flops_per_iteration(contestant_config(
                               TOYGAN_VARIANTS.get(contestant, ""), batch)))
            rows.append(row)
    ceilings.append(matmul_ceiling())
    ceiling = max(ceilings)
    for row in rows:
        if "median" in row:
            row.update(ceiling_fraction=row["flops"] * row["median"] / ceiling,
                       floor_ms=1e3 * row["flops"] / ceiling)
    for batch in batches:
        ours = [r["median"] for r in rows if r["batch"] == batch and "median" in r
                and r["contestant"].startswith("toygan")]
        for r in rows:
            if r["batch"] == batch and "median" in r and ours:
                r["ratio_to_toygan_best"] = r["median"] / max(ours)
    return {"device": device_name(), "date": datetime.date.today().isoformat(),
            "command": "python -m toygan.bench " + " ".join(sys.argv[1:]),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "matmul_ceiling_gflops": ceiling / 1e9,
            "matmul_ceiling_before_after_gflops": [c / 1e9 for c in ceilings],
            "rows": rows, "skipped": skipped,
            "workload": "mixture8 default: G 2-128-128-2, D 2-128-128-1, ReLU, Adam 2e-4 "
                        "(0.5, 0.999), non-saturating, k=1, float32"}


def format_markdown(result: dict) -> str:
    lines = [
        f"# toygan.bench on {result['device']}, {result['date']}",
        "",
        f"Command: `{result['command']}`. Machine: {result['machine']}. Workload: "
        f"{result['workload']}. float32 matmul ceiling measured in this run: "
        f"{result['matmul_ceiling_gflops']:.1f} GFLOP/s (before / after the contestants: "
        + " / ".join(f"{c:.1f}" for c in result.get("matmul_ceiling_before_after_gflops", []))
        + ").",
        "",
        "| contestant | batch | it/s (min / median / max) | ms/it | vs toygan best | "
        "MFLOP/it | FLOP floor (ms) | of ceiling | peak memory (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['contestant']} | {r['batch']} | failed: {r['error']} |"
                         " | | | | | |")
            continue
        ratio = r.get("ratio_to_toygan_best")
        lines.append(
            f"| {r['contestant']} | {r['batch']} | {r['min']:.0f} / {r['median']:.0f} / "
            f"{r['max']:.0f} | {r['ms_per_iteration']:.3f} | "
            f"{'n/a' if ratio is None else f'{ratio:.2f}x'} | {r['flops'] / 1e6:.1f} | "
            f"{r['floor_ms']:.3f} | {100 * r['ceiling_fraction']:.1f} % | "
            f"{r['peak_memory_mb']:.0f} |")
    for name, why in result["skipped"].items():
        lines.append(f"| {name} | | not run: {why} | | | | | | |")
    return "\n".join(lines) + "\n"


def _contestants(text: str) -> list[str]:
    """An argparse type: distinct known contestant names, comma-separated."""
    names = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise argparse.ArgumentTypeError(f"give contestant names separated by commas, got "
                                         f"{text[:40]!r}; choose from {', '.join(CONTESTANTS)}")
    unknown = [n for n in names if n not in CONTESTANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown contestant {unknown[0][:40]!r}; choose from "
                                         f"{', '.join(CONTESTANTS)}")
    twice = [n for i, n in enumerate(names) if n in names[:i]]
    if twice:
        raise argparse.ArgumentTypeError(f"lists {twice[0]} twice")
    return names


def build_parser() -> CommandParser:
    parser = CommandParser(prog="python -m toygan.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int_list(1, MAX_BATCH, MAX_BATCHES, "64,512"),
                        default=list(BATCHES), help=f"batch sizes from 1 to {MAX_BATCH} "
                        f"(default {','.join(map(str, BATCHES))})")
    parser.add_argument("--contestants", type=_contestants, default=list(CONTESTANTS),
                        help="comma-separated, from: " + ", ".join(CONTESTANTS)
                        + " (default: all; those this machine cannot run are reported)")
    parser.add_argument("--repeats", type=int_in(1, MAX_REPEATS), default=5,
                        help="timed blocks per contestant and batch size (default 5)")
    parser.add_argument("--warmup", type=int_in(0, MAX_WARMUP), default=20,
                        help="untimed iterations first (default 20)")
    parser.add_argument("--iterations", type=int_in(1, MAX_ITERATIONS), default=None,
                        help="iterations per timed block (default: about 0.3 s worth)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"),
                        help="where <device>-<date>-bench.json and .md go (default "
                        "bench/results)")
    return parser


def result_paths(out: Path, device: str, date: str) -> tuple[Path, Path]:
    """Where a result goes: OUT/DEVICE-DATE-bench.json and .md; the device's name is made a
    plain file name (a GPU's name is the driver's text)."""
    stem = f"{safe_name(device, 'device')}-{safe_name(date, 'date')}-bench"
    return out / f"{stem}.json", out / f"{stem}.md"


def main(argv: list[str] | None = None) -> int:
    """Bad input: one line on stderr, exit 2, nothing written; the files are written
    only when every measurement is done."""
    try:
        args = build_parser().parse_args(argv)
        problem = output_dir_problem(args.out)
        if problem:
            raise UsageError(problem)
        for path in result_paths(args.out, device_name(), datetime.date.today().isoformat()):
            if path.exists() and not path.is_file():
                raise UsageError(f"{path} is not a file; the result cannot be written there")
    except UsageError as err:
        return fail("bench", str(err))
    try:
        result = run_bench(args.batches, args.contestants, args.warmup, args.repeats,
                           args.iterations, progress=lambda text: print(
                               f"bench: {text}", file=sys.stderr, flush=True))
        text = format_markdown(result)
        print(text)
        json_path, md_path = result_paths(args.out, result["device"], result["date"])
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
        atomic_write_text(md_path, text)
    except MemoryError:
        return fail("bench", "out of memory in the benchmark's own process (measuring the "
                    "matmul ceiling or writing the table)")
    except OSError as err:
        return fail("bench", os_error_text(err))
    except KeyboardInterrupt:
        print("\ntoygan.bench: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"written: {json_path}, {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
