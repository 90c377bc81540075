"""The benchmark's contestants: which exist (CONTESTANTS), whether each can run here
(`available`), and `measure`, which times one at one batch size in a fresh process."""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import signal
import time

import numpy as np

from ..config import Config
from ..device import launch
from ..gan.factory import make_gan, make_population_gan, resolve
from ..training.grid import member_configs
from . import jax_peer
from .array_peer import ArrayGAN
from .clocks import CupyClock, HostClock
from .torch_peer import torch_step
from .workload import workload

CONTESTANTS = ("toygan-numpy", "toygan-numpy-r1", "toygan-population", "numpy-plain",
               "torch-cpu-eager", "torch-cpu-compile", "jax-cpu-jit", "jax-cpu-vmap",
               "toygan-cuda-fused", "toygan-cuda-graph",
               "toygan-cuda-per-op", "toygan-cuda-population", "cupy-cublas",
               "torch-cuda-eager", "torch-cuda-graphs", "torch-cuda-compile")

# toygan-numpy-r1: the same step with the R1 penalty (gamma 1): what a penalised D step
# costs through the second-order passes, against toygan-numpy in the same run.
TOYGAN_VARIANTS = {"toygan-numpy": "numpy", "toygan-numpy-r1": "numpy-r1",
                   "toygan-cuda-fused": "fused",
                   "toygan-cuda-graph": "graph", "toygan-cuda-per-op": "per-op"}
ARRAY_PEERS = {"numpy-plain": "numpy", "cupy-cublas": "cupy"}
# GANs trained in lockstep: toygan-population (CPU) and toygan-cuda-population (GPU, the
# issue's 1024 members of the default model).
# jax-cpu-vmap: toygan-population's 64 members as one vmapped, jitted JAX function.
POPULATION_MEMBERS = {"toygan-population": 64, "toygan-cuda-population": 1024,
                      "jax-cpu-vmap": 64}
MEASURE_TIMEOUT_S = 600  # one contestant at one batch size


def contestant_config(variant: str, batch: int) -> Config:
    """The workload as a toygan variant runs it (numpy-r1: with the R1 penalty)."""
    config = workload(batch)
    if variant == "numpy-r1":
        config.penalty = "r1"
    return config


def _toygan_step(variant: str, batch: int):
    """toygan's iteration: `numpy` (`numpy-r1`: with the R1 penalty), or on the GPU
    `fused`, `per-op` or `graph` (the fused iteration captured once on a side stream and
    replayed)."""
    config = contestant_config(variant, batch)
    if variant in ("numpy", "numpy-r1"):
        return make_gan(config, resolve(config)).iteration, HostClock()
    config.backend = "cuda"
    config.kernels = "per-op" if variant == "per-op" else "fused"
    gan = make_gan(config, resolve(config))
    if variant != "graph":
        return gan.launch_iteration, CupyClock()
    import cupy

    stream = cupy.cuda.Stream(non_blocking=True)
    # The GAN's uploads and zero-fills ran on the legacy stream, which a non-blocking
    # stream does not wait for: order the warm-up after them.
    stream.wait_event(cupy.cuda.Stream.null.record())
    with stream:
        for _ in range(3):  # every buffer allocated and layout uploaded before capture
            gan.launch_iteration()
        stream.synchronize()
        stream.begin_capture()
        gan.launch_iteration()
        graph = stream.end_capture()
    return lambda: graph.launch(stream), CupyClock(stream)


def _array_step(xp_name: str, batch: int):
    """The plain step of toygan.peers.array_peer on NumPy or CuPy."""
    config = workload(batch)
    if xp_name == "numpy":
        return ArrayGAN(config, resolve(config), np).iteration, HostClock()
    import cupy

    return ArrayGAN(config, resolve(config), cupy).iteration, CupyClock()


def available(contestant: str) -> str | None:
    """None when the contestant can run here, else why not."""
    if contestant.startswith("torch"):
        try:
            import torch
        except ImportError:
            return "PyTorch is not installed (pip install torch==2.13.0)"
        if "cuda" in contestant and not torch.cuda.is_available():
            return "no GPU visible to PyTorch"
    if contestant.startswith("jax"):
        return jax_peer.available()
    if _on_cupy(contestant):
        if not launch.cuda_available():
            return "no CuPy or no GPU"
    return None


def _measure(contestant: str, batch: int, warmup: int, repeats: int, iterations: int,
             queue) -> None:
    """Child process: time one contestant at one batch size, report through `queue`."""
    # Ctrl-C reaches the whole process group: the parent stops this child (no traceback
    # of its own on the terminal).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with cupy_peak_memory() if _on_cupy(contestant) else contextlib.nullcontext() as hook:
            queue.put(_timed(contestant, batch, warmup, repeats, iterations, hook))
    except Exception as err:  # reported in the table, not fatal to the other contestants
        queue.put({"error": f"{type(err).__name__}: {err}"})


def _on_cupy(contestant: str) -> bool:
    return contestant.startswith("toygan-cuda") or contestant.startswith("cupy")


def cupy_peak_memory():
    """A CuPy memory hook keeping the high-water mark of the pool's bytes in use (the
    pool's total_bytes() is what it holds now, not the most it lent out at once)."""
    import cupy

    class PeakMemory(cupy.cuda.MemoryHook):
        name = "toygan_peak_memory"

        def __init__(self) -> None:
            super().__init__()
            self.used = self.peak = cupy.get_default_memory_pool().used_bytes()

        def malloc_postprocess(self, **kwargs) -> None:
            self.used += kwargs["mem_size"]
            self.peak = max(self.peak, self.used)

        def free_postprocess(self, **kwargs) -> None:
            self.used -= kwargs["mem_size"]

    return PeakMemory()


def _timed(contestant: str, batch: int, warmup: int, repeats: int, iterations: int,
           hook) -> dict:
    """Build one contestant's step, warm it up and time `repeats` blocks of it."""
    if contestant in TOYGAN_VARIANTS:
        step, clock = _toygan_step(TOYGAN_VARIANTS[contestant], batch)
    elif contestant.startswith("jax"):
        step, clock = jax_peer.jax_step(batch, POPULATION_MEMBERS.get(contestant, 1))
    elif contestant in POPULATION_MEMBERS:
        config = workload(batch)
        if contestant != "toygan-population":
            config.backend = "cuda"
        mixture = resolve(config)
        members = member_configs(config, POPULATION_MEMBERS[contestant], {})
        gan = make_population_gan(members, mixture)
        clock = HostClock() if contestant == "toygan-population" else CupyClock()
        step = gan.iteration
    elif contestant in ARRAY_PEERS:
        step, clock = _array_step(ARRAY_PEERS[contestant], batch)
    else:  # torch-{cpu,cuda}-{eager,compile,graphs}
        _, device, variant = contestant.split("-")
        step, clock = torch_step(batch, device, variant)
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
    return {"rates": rates, "peak_memory_mb": _peak_memory(contestant, hook),
            "iterations_per_block": iterations, "members": members}


def _peak_memory(contestant: str, hook) -> float:
    if hook is not None:
        return hook.peak / 2**20
    if "cuda" in contestant:  # PyTorch on the GPU
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
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
