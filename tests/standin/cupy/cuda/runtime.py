"""`cupy.cuda.runtime`: one device, with an H100's limits."""

from __future__ import annotations


class CUDARuntimeError(RuntimeError):
    pass


def getDeviceCount() -> int:  # noqa: N802 - CUDA's name
    return 1


def getDeviceProperties(device: int) -> dict:  # noqa: N802 - CUDA's name
    if device != 0:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return {"name": b"toygan CuPy stand-in (kernels on the CPU emulator)",
            "maxThreadsPerBlock": 1024, "maxThreadsDim": (1024, 1024, 64),
            "maxGridSize": (2**31 - 1, 65535, 65535), "sharedMemPerBlock": 48 * 1024,
            "multiProcessorCount": 132, "totalGlobalMem": 80 * 2**30, "major": 9,
            "minor": 0, "warpSize": 32}


def runtimeGetVersion() -> int:  # noqa: N802 - CUDA's name
    return 13000


def driverGetVersion() -> int:  # noqa: N802 - CUDA's name
    return 13000
