"""The kernels from Python: where arrays live (`Device`), how each kernel is launched
(`launch`: the emulator or CuPy; `geometry`: launch shapes and the constants and codes read
from kernels/*.cuh), the `Ops` protocol that the NumPy references (`reference`) and the
kernel launchers (`ops.KernelOps`) both satisfy, and the MLP and optimisers built on them.
"""

from .arrays import KINDS, Device
from .mlp import DeviceMLP
from .optim import DeviceOptimizer

__all__ = ["KINDS", "Device", "DeviceMLP", "DeviceOptimizer"]
