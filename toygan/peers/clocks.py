"""The clocks the benchmark times a block of iterations with: the host's wall clock on a
CPU, CUDA events on a GPU (CuPy's or PyTorch's)."""

from __future__ import annotations

import time


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
