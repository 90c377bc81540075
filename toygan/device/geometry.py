"""Launch geometry and the kernels' constants, computed in one Python place.

The block sizes (TILE, BLOCK_1D, FUSED_THREADS, ...), MAX_MODES and the switch codes of
activations (ACT_*), losses (LOSS_*) and update rules (RULE_*) are read from the kernels'
headers (kernels/common.cuh, loss_terms.cuh, update_rules.cuh), so the Python side and the
CUDA side cannot disagree. Every launcher takes its grid and block from the functions here.
"""

from __future__ import annotations

import functools
import math
import re

from .launch import KERNEL_DIR

HEADERS = ("common.cuh", "loss_terms.cuh", "update_rules.cuh")


def header_constants() -> dict[str, int]:
    """Every `#define NAME <integer>` of the kernels' shared headers."""
    constants: dict[str, int] = {}
    for header in HEADERS:
        text = (KERNEL_DIR / header).read_text()
        for name, value in re.findall(r"^#define (\w+) (\d+)\s*$", text, flags=re.M):
            if name in constants and constants[name] != int(value):
                raise RuntimeError(f"kernels/{header} redefines {name}")
            constants[name] = int(value)
    return constants


def _codes(constants: dict[str, int], prefix: str) -> dict[str, int]:
    """{'leaky_relu': 2, ...} from ACT_LEAKY_RELU 2, ...: the kernels' switch codes."""
    return {name[len(prefix):].lower(): value for name, value in constants.items()
            if name.startswith(prefix)}


_CONSTANTS = header_constants()
ACTIVATION_CODES = _codes(_CONSTANTS, "ACT_")
LOSS_CODES = _codes(_CONSTANTS, "LOSS_")
RULE_CODES = _codes(_CONSTANTS, "RULE_")
TILE = _CONSTANTS["TILE"]
BLOCK_1D = _CONSTANTS["BLOCK_1D"]
MAX_MODES = _CONSTANTS["MAX_MODES"]
FUSED_THREADS = _CONSTANTS["FUSED_THREADS"]
FUSED_ROWS = _CONSTANTS["FUSED_ROWS"]
FUSED_MAX_LAYERS = _CONSTANTS["FUSED_MAX_LAYERS"]
FUSED_POOL_BYTES = _CONSTANTS["FUSED_POOL_BYTES"]
MAX_BLOCKS_1D = 1024  # grid-stride kernels: enough blocks to fill a GPU, no more
# Fused steps: at most this many blocks per member, each looping over its chunks. More
# blocks fill more SMs, but every block writes a partial gradient that fused_update reads.
FUSED_MAX_BLOCKS = 128

# CUDA caps gridDim.y and gridDim.z at 65535: the tiled kernels put members on z and the
# fused steps on y, so that is the most members one launch of a population can hold.
MAX_MEMBERS = 65535

Geometry = tuple[tuple[int, int, int], tuple[int, int, int]]


def check_members(members: int) -> None:
    if not 1 <= members <= MAX_MEMBERS:
        raise ValueError(f"{members} members: the kernels launch at most {MAX_MEMBERS} "
                         "(CUDA's limit on gridDim.y and gridDim.z)")


# ------------------------------------------------------------------ geometry
def tiled_geometry(columns: int, rows: int, members: int) -> Geometry:
    """One thread per output element of a (rows x columns) matrix per member."""
    check_members(members)
    return (math.ceil(columns / TILE), math.ceil(rows / TILE), members), (TILE, TILE, 1)


def column_geometry(columns: int, members: int) -> Geometry:
    """Reductions down the rows of a (rows x columns) matrix per member (batchnorm.cu):
    one block per TILE columns, its TILE lanes of TILE threads striding over the rows."""
    check_members(members)
    return (math.ceil(columns / TILE), 1, members), (TILE, TILE, 1)


def elementwise_geometry(n: int) -> Geometry:
    return (max(1, min(MAX_BLOCKS_1D, math.ceil(n / BLOCK_1D))), 1, 1), (BLOCK_1D, 1, 1)


def per_member_geometry(members: int) -> Geometry:
    return (members, 1, 1), (BLOCK_1D, 1, 1)


def single_block_geometry() -> Geometry:
    return (1, 1, 1), (BLOCK_1D, 1, 1)


# ------------------------------------------------------------ fused steps
def _ld(width: int) -> int:
    return width | 1  # fused.cu's odd row stride


def fused_pool_elements(g_dims: tuple[int, ...], d_dims: tuple[int, ...], rows: int) -> int:
    """Shared-memory elements of one chunk of `rows` rows, as fused.cu's fused_place lays
    them out: G's a_0..a_{L-1}, D's a_0..a_L, two gradient buffers of the widest layer."""
    widest = max((*g_dims[:-1], *d_dims))
    per_row = (sum(_ld(d) for d in g_dims[:-1]) + sum(_ld(d) for d in d_dims)
               + 2 * _ld(widest))
    return rows * per_row


@functools.cache  # called on every fused step: computed once per pair of networks
def fused_rows(g_dims: tuple[int, ...], d_dims: tuple[int, ...], itemsize: int) -> int:
    """Rows per chunk: the most (up to FUSED_ROWS) whose activations fit the pool; 0 when
    not even one row fits."""
    one = fused_pool_elements(g_dims, d_dims, 1)
    return min(FUSED_ROWS, (FUSED_POOL_BYTES // itemsize) // one)


@functools.cache
def fused_unsupported(g_dims: tuple[int, ...], d_dims: tuple[int, ...],
                      itemsize: int) -> str | None:
    """Why these layer widths cannot run fused, or None when they can."""
    layers = max(len(g_dims), len(d_dims)) - 1
    if layers > FUSED_MAX_LAYERS:
        return f"{layers} Linear layers (the fused kernels hold at most {FUSED_MAX_LAYERS})"
    if d_dims[-1] != 1 or g_dims[-1] != d_dims[0]:
        return f"G {g_dims} does not feed D {d_dims} with one logit out"
    if fused_rows(g_dims, d_dims, itemsize) < 1:
        return (f"one row of activations ({fused_pool_elements(g_dims, d_dims, 1)} elements) "
                f"does not fit the {FUSED_POOL_BYTES}-byte shared pool")
    return None


def fused_chunks(m: int, rows: int, discriminator: bool) -> int:
    chunks = math.ceil(m / rows)
    return 2 * chunks if discriminator else chunks


def fused_blocks(chunks: int) -> int:
    """Blocks per member of a fused step (each loops over chunks b, b + blocks, ...)."""
    return min(chunks, FUSED_MAX_BLOCKS)


def fused_geometry(blocks: int, members: int) -> Geometry:
    check_members(members)
    return (blocks, members, 1), (FUSED_THREADS, 1, 1)
