"""`python -m toygan.bench`: one Algorithm-1 iteration, toygan against its peers.

Workload: the default mixture8 model and optimiser of `python -m toygan.run mixture8` --
G: z (2-D N(0, I)) -> 128 -> 128 -> 2, D: 2 -> 128 -> 128 -> 1, ReLU, He/Glorot init;
non-saturating G loss; Adam lr 2e-4, betas (0.5, 0.999) for both; k = 1 -- at batch sizes
64, 512 and 4096, float32. One iteration = one D step on m real and m generated samples
(fresh draws) and one G step on m fresh noise samples.

Contestants, where available (every peer has the same architecture, the initial parameters
copied from toygan, the same optimiser and loss, and its own random draws):
- CPU: toygan `numpy`; `toygan-population`, 64 GANs in lockstep (toygan.population; its
  rate counts GAN iterations, 64 per lockstep iteration; on a GPU `toygan-cuda-population`,
  1024 members); `numpy-plain`, the step written
  plainly in NumPy (toygan.array_peer); PyTorch eager and torch.compile (`pip install
  torch==2.13.0`).
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
import multiprocessing
import os
import platform
import resource
import signal
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
from .runfiles import atomic_write_text, safe_name

BATCHES = (64, 512, 4096)
CONTESTANTS = ("toygan-numpy", "toygan-population", "numpy-plain", "torch-cpu-eager",
               "torch-cpu-compile", "toygan-cuda-fused", "toygan-cuda-graph",
               "toygan-cuda-per-op", "toygan-cuda-population", "cupy-cublas",
               "torch-cuda-eager", "torch-cuda-graphs", "torch-cuda-compile")

TOYGAN_VARIANTS = {"toygan-numpy": "numpy", "toygan-cuda-fused": "fused",
                   "toygan-cuda-graph": "graph", "toygan-cuda-per-op": "per-op"}
ARRAY_PEERS = {"numpy-plain": "numpy", "cupy-cublas": "cupy"}
# GANs trained in lockstep: toygan-population (CPU) and toygan-cuda-population (GPU, the
# issue's 1024 members of the default model).
POPULATION_MEMBERS = {"toygan-population": 64, "toygan-cuda-population": 1024}
# Command-line bounds: far past the published sizes, short of what would need gigabytes per
# contestant (a batch of 65536 is already ~0.5 GB of activations per GAN) or run for days.
MAX_BATCH = 65536
MAX_BATCHES = 16
MAX_REPEATS = 100
MAX_WARMUP = 10_000
MAX_ITERATIONS = 100_000
MEASURE_TIMEOUT_S = 600  # one contestant at one batch size


def workload(batch: int) -> Config:
    """The default run's model and optimiser at minibatch size `batch`."""
    return Config(preset="mixture8", batch=batch, backend="numpy", dtype="float32")


def flops_per_iteration(config: Config, dim: int = 2) -> int:
    """Multiply-adds x 2 of the matrix products of one iteration (k D steps + 1 G step).

    D step: G forward (m), D forward and backward on 2m (weight gradients of every layer,
    input gradients of every layer but the first). G step: G forward (m), D forward (m),
    D's input gradients of every layer (no weight gradients), G's weight gradients and its
    input gradients but the first layer's. Elementwise work is not counted.
    """
    m = config.batch
    g = [config.noise_dim, *config.hidden, dim]
    d = [dim, *(config.d_hidden or config.hidden), 1]
    g_mm = sum(a * b for a, b in zip(g[:-1], g[1:], strict=True))
    d_mm = sum(a * b for a, b in zip(d[:-1], d[1:], strict=True))
    g_first, d_first = g[0] * g[1], d[0] * d[1]
    d_step = m * g_mm + 2 * m * d_mm * 2 + 2 * m * (d_mm - d_first)
    g_step = m * g_mm + m * d_mm + m * d_mm + m * g_mm + m * (g_mm - g_first)
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


# ------------------------------------------------------------------ contestants
class HostClock:
    """Wall time of a block of iterations on the CPU."""

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def stop(self) -> float:
        return time.perf_counter() - self.t0


class CupyClock:
    """Device time between two CUDA events recorded on `stream` (None: the current one)."""

    def __init__(self, stream=None) -> None:
        import cupy

        self.cupy, self.stream = cupy, stream
        self.begin, self.end = cupy.cuda.Event(), cupy.cuda.Event()

    def start(self) -> None:
        self.begin.record(self.stream)

    def stop(self) -> float:
        self.end.record(self.stream)
        self.end.synchronize()
        return self.cupy.cuda.get_elapsed_time(self.begin, self.end) / 1e3


class TorchClock:
    def __init__(self) -> None:
        import torch

        self.begin = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self.begin.record()

    def stop(self) -> float:
        self.end.record()
        self.end.synchronize()
        return self.begin.elapsed_time(self.end) / 1e3


def _toygan_step(variant: str, batch: int):
    """toygan's iteration: `numpy`, or on the GPU `fused`, `per-op` or `graph` (the fused
    iteration captured once on a side stream and replayed)."""
    from .train import make_gan

    config = workload(batch)
    if variant == "numpy":
        return make_gan(config, config.validate()).iteration, HostClock()
    config.backend = "cuda"
    config.kernels = "per-op" if variant == "per-op" else "fused"
    gan = make_gan(config, config.validate())
    if variant != "graph":
        return gan.launch_iteration, CupyClock()
    import cupy

    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        for _ in range(3):  # every buffer allocated and layout uploaded before capture
            gan.launch_iteration()
        stream.synchronize()
        stream.begin_capture()
        gan.launch_iteration()
        graph = stream.end_capture()
    return lambda: graph.launch(stream), CupyClock(stream)


def _array_step(xp_name: str, batch: int):
    """The plain step of toygan.array_peer on NumPy or CuPy."""
    from .array_peer import ArrayGAN

    config = workload(batch)
    if xp_name == "numpy":
        return ArrayGAN(config, config.validate(), np).iteration, HostClock()
    import cupy

    return ArrayGAN(config, config.validate(), cupy).iteration, CupyClock()


def torch_network(mlp, device: str = "cpu"):
    """A toygan ReLU MLP as torch.nn.Sequential with the same parameters (W transposed:
    torch keeps (out, in))."""
    import torch

    layers = []
    for layer, where in mlp.slices():
        lin = torch.nn.Linear(layer.n_in, layer.n_out)
        flat = mlp.params[0, where]
        nw = layer.n_in * layer.n_out
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(flat[:nw].reshape(layer.n_in, layer.n_out).T))
            lin.bias.copy_(torch.from_numpy(flat[nw:]))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1]).to(device)


def _torch_step(batch: int, device: str, variant: str = "eager"):
    """PyTorch's iteration: `eager`; `compile` (torch.compile of G and D, compiled during
    the warm-up); `graphs` (the whole iteration, both optimiser steps included, captured
    once in a CUDA graph and replayed; Adam with capturable=True, as graph capture needs)."""
    import torch

    from .train import build_networks, random_streams

    config = workload(batch)
    mixture = config.validate()
    # toygan's initial parameters (the same streams as its own run), copied below
    host_g, host_d = build_networks(config, mixture, random_streams(config.seed)[1])
    G, D = torch_network(host_g, device), torch_network(host_d, device)
    graphs = variant == "graphs"
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr_g, betas=(0.5, 0.999),
                             capturable=graphs)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr_d, betas=(0.5, 0.999),
                             capturable=graphs)
    if variant == "compile":
        G, D = torch.compile(G), torch.compile(D)
    means = torch.tensor(mixture.means, dtype=torch.float32, device=device)
    std = float(mixture.stds[0, 0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ones = torch.ones(batch, 1, device=device)
    zeros = torch.zeros(batch, 1, device=device)
    target_d = torch.cat([ones, zeros])

    def step() -> None:
        component = torch.randint(0, len(means), (batch,), device=device)
        real = means[component] + std * torch.randn(batch, 2, device=device)
        fake = G(torch.randn(batch, config.noise_dim, device=device))
        loss_d = bce(D(torch.cat([real, fake.detach()])), target_d) * 2.0  # sum of two means
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        fake = G(torch.randn(batch, config.noise_dim, device=device))
        loss_g = bce(D(fake), ones)  # non-saturating: -log D(G(z))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    clock = TorchClock() if device == "cuda" else HostClock()
    if not graphs:
        return step, clock
    side = torch.cuda.Stream()  # warm up on a side stream, as capture requires
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay, clock


def available(contestant: str) -> str | None:
    """None when the contestant can run here, else why not."""
    if contestant.startswith("torch"):
        try:
            import torch
        except ImportError:
            return "PyTorch is not installed (pip install torch==2.13.0)"
        if "cuda" in contestant and not torch.cuda.is_available():
            return "no GPU visible to PyTorch"
    if contestant.startswith("toygan-cuda") or contestant.startswith("cupy"):
        from .launch import cuda_available

        if not cuda_available():
            return "no CuPy or no GPU"
    return None


def _measure(contestant: str, batch: int, warmup: int, repeats: int, iterations: int,
             queue) -> None:
    """Child process: time one contestant at one batch size, report through `queue`."""
    # Ctrl-C reaches the whole process group: the parent stops this child (no traceback
    # of its own on the terminal).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if contestant in TOYGAN_VARIANTS:
            step, clock = _toygan_step(TOYGAN_VARIANTS[contestant], batch)
        elif contestant in POPULATION_MEMBERS:
            from .population import PopulationGAN, member_configs

            config = workload(batch)
            members = member_configs(config, POPULATION_MEMBERS[contestant], {})
            if contestant == "toygan-population":
                gan, clock = PopulationGAN(members, config.validate()), HostClock()
            else:
                from .device_population import DevicePopulationGAN

                for member in members:
                    member.backend = "cuda"
                gan, clock = DevicePopulationGAN(members, config.validate(), "cuda"), CupyClock()
            step = gan.iteration
        elif contestant in ARRAY_PEERS:
            step, clock = _array_step(ARRAY_PEERS[contestant], batch)
        else:  # torch-{cpu,cuda}-{eager,compile,graphs}
            _, device, variant = contestant.split("-")
            step, clock = _torch_step(batch, device, variant)
        for _ in range(warmup):
            step()
        rates = []
        # A population iteration is POPULATION_MEMBERS GAN iterations: rates count those.
        members = POPULATION_MEMBERS.get(contestant, 1)
        if members > 1:
            iterations = max(3, iterations // members)
        for _ in range(repeats):
            clock.start()
            for _ in range(iterations):
                step()
            rates.append(members * iterations / clock.stop())
        peak = _peak_memory(contestant)
        queue.put({"rates": rates, "peak_memory_mb": peak, "iterations_per_block": iterations,
                   "members": members})
    except Exception as err:  # reported in the table, not fatal to the other contestants
        queue.put({"error": f"{type(err).__name__}: {err}"})


def _peak_memory(contestant: str) -> float:
    if "cuda" in contestant:
        if contestant.startswith("torch"):
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        import cupy

        return cupy.get_default_memory_pool().total_bytes() / 2**20
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(contestant: str, batch: int, warmup: int = 20, repeats: int = 5,
            iterations: int | None = None) -> dict:
    """Time `contestant` at `batch` in a fresh process; {"rates": [...], ...} or {"error"}."""
    if iterations is None:  # about 0.2-0.5 s per block on this kind of machine
        iterations = max(5, min(400, 40000 // batch))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_measure,
                            args=(contestant, batch, warmup, repeats, iterations, queue))
    child.start()
    deadline = time.monotonic() + MEASURE_TIMEOUT_S
    result = None
    try:
        # A child killed by the OS (out of memory, a crash in a driver) never reports: its
        # death is noticed within a second, not at the deadline.
        while result is None:
            try:
                result = queue.get(timeout=1.0)
            except Exception:  # queue.Empty
                if not child.is_alive():
                    try:  # what it sent just before it exited
                        result = queue.get(timeout=1.0)
                    except Exception:
                        result = {"error": "the measuring process died (exit code "
                                           f"{child.exitcode})"}
                elif time.monotonic() > deadline:
                    child.kill()
                    result = {"error": f"no result within {MEASURE_TIMEOUT_S} s (stopped)"}
    except BaseException:  # Ctrl-C: the child goes too
        child.kill()
        child.join()
        raise
    child.join()
    result.setdefault("iterations_per_block", iterations)
    return result


# ------------------------------------------------------------------ the table
def device_name() -> str:
    from .launch import cuda_available

    if cuda_available():
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
                           flops=flops_per_iteration(workload(batch)))
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
    parser.add_argument("--contestants", type=_contestants, default=list(CONTESTANTS))
    parser.add_argument("--repeats", type=int_in(1, MAX_REPEATS), default=5)
    parser.add_argument("--warmup", type=int_in(0, MAX_WARMUP), default=20)
    parser.add_argument("--iterations", type=int_in(1, MAX_ITERATIONS), default=None,
                        help="iterations per timed block (default: about 0.3 s worth)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
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
