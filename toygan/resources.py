"""What a configuration will allocate, estimated before anything is allocated or written,
and refused with a clear message when the machine cannot give it.

The estimate counts the arrays a run holds (parameters with their gradients, optimiser
moments and checkpoint copies; activations of the training batch through G and D; the
evaluation sets and the largest temporaries of an evaluation), with a fixed allowance for
the interpreter and libraries. It is an order-of-magnitude guard against a typo such as
`--batch 10000000`, not an accounting: it errs high by design.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
from pathlib import Path

import numpy as np
import scipy

from .config import Config, ConfigError
from .core.distributions import GaussianMixture

MEMORY_ENV = "TOYGAN_MEMORY_BYTES"  # overrides what the machine is taken to have free
BASELINE_BYTES = 200 * 2**20  # Python, NumPy, SciPy, matplotlib
PARAMETER_COPIES = 8  # params, grads, two optimiser moments, last good, checkpoint, spares
ACTIVATION_COPIES = 6  # pre-activation, output, mask, backward buffers
SURFACE_POINTS = 160 * 160  # the discriminator plot's grid
METRIC_CHUNK = 1024  # rows of the chunked pairwise distances (toygan.core.metrics)
RECORD_BYTES = 8 * 2**10  # one evaluation's metrics record, as Python objects


def _layer_widths(config: Config, mixture: GaussianMixture) -> tuple[list[int], list[int]]:
    """Output widths of every Linear of G and D (maxout layers count every piece)."""
    pieces_g = config.maxout_pieces if config.g_activation == "maxout" else 1
    pieces_d = config.maxout_pieces if config.d_activation == "maxout" else 1
    g = [w * pieces_g for w in config.hidden] + [mixture.dim]
    d = [w * pieces_d for w in (config.d_hidden or config.hidden)] + [1]
    return g, d


def parameter_count(config: Config, mixture: GaussianMixture) -> int:
    g_out, d_out = _layer_widths(config, mixture)
    g_in = [config.noise_dim, *config.hidden]
    d_in = [mixture.dim * config.pack, *(config.d_hidden or config.hidden)]
    return sum((i + 1) * o for i, o in zip(g_in, g_out, strict=True)) + sum(
        (i + 1) * o for i, o in zip(d_in, d_out, strict=True))


def estimate_bytes(config: Config, mixture: GaussianMixture, members: int = 1) -> int:
    """An upper estimate of the peak memory of training `members` GANs of `config`."""
    item = 4 if config.dtype == "float32" else 8
    g_out, d_out = _layer_widths(config, mixture)
    params = parameter_count(config, mixture) * item * PARAMETER_COPIES
    rows_g, rows_d = config.batch * config.pack, 2 * config.batch
    width_g = config.noise_dim + sum(g_out)
    width_d = mixture.dim * config.pack + sum(d_out)
    activations = ACTIVATION_COPIES * item * (rows_g * width_g + rows_d * width_d)
    per_member = params + activations
    n, k, dim = config.eval_samples, mixture.n_components, mixture.dim
    # One member is evaluated at a time, in float64: its networks on the evaluation
    # samples and the plot's grid, the mixture's (n, K, dim) temporaries, the chunked
    # pairwise distances; every member keeps its own evaluation sets.
    evaluation = 8 * (3 * (n + SURFACE_POINTS) * (width_g + width_d)
                      + 3 * (n + SURFACE_POINTS) * k * dim + 4 * METRIC_CHUNK * n)
    # Every evaluation keeps its metrics record (a few KiB) and its snapshot of G.
    evaluations = config.steps // config.eval_every + 2
    history = evaluations * (RECORD_BYTES + 4 * min(config.snapshot_samples, n) * dim)
    sets = 8 * n * (config.noise_dim + 3 * dim) + history
    return int(BASELINE_BYTES + members * (per_member + sets) + evaluation)


def available_bytes() -> int | None:
    """Memory this process can still get: the smaller of MemAvailable and the cgroup's
    headroom (None when neither can be read). TOYGAN_MEMORY_BYTES overrides both."""
    override = os.environ.get(MEMORY_ENV)
    if override:
        try:
            value = float(override)
        except ValueError:
            value = -1.0
        if not 0 <= value < 2**63:
            raise ConfigError(f"{MEMORY_ENV}={override!r} is not a number of bytes")
        return int(value)
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(config: Config, mixture: GaussianMixture, members: int = 1) -> int:
    """Refuse (ConfigError) a configuration whose estimate exceeds what is available;
    returns the estimate."""
    need = estimate_bytes(config, mixture, members)
    have = available_bytes()
    if have is not None and need > have:
        who = f"{members} members" if members > 1 else "this run"
        raise ConfigError(
            f"{who} would need about {_gib(need)} of memory (batch {config.batch}, widths "
            f"{config.hidden}, {parameter_count(config, mixture):,} parameters, eval "
            f"{config.eval_samples} samples), more than the {_gib(have)} available; make "
            "it smaller")
    return need


def _blas() -> dict:
    """NumPy's BLAS (name and version from its build record) and the threads it runs."""
    info: dict = {"name": None, "version": None, "threads": None}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["name"], info["version"] = blas.get("name"), blas.get("version")
    except Exception:  # the build record's layout is NumPy's own; absence is not an error
        pass
    try:  # the loaded OpenBLAS says how many threads it uses
        maps = Path("/proc/self/maps").read_text().splitlines()
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower()
                 and line.split()[-1].startswith("/")}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                           "openblas_get_num_threads"):
                if hasattr(lib, symbol):
                    info["threads"] = int(getattr(lib, symbol)())
                    return info
    except OSError:
        pass
    return info


@functools.lru_cache(maxsize=1)
def versions() -> dict:
    """What shapes a run's numbers besides its configuration: Python, NumPy, SciPy, the
    BLAS and its thread count (recorded in every summary.json)."""
    return {"python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "blas": _blas(), "machine": platform.machine()}
