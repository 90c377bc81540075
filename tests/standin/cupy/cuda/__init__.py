"""`cupy.cuda`: streams, events, the device, graphs and memory hooks of the stand-in."""

from __future__ import annotations

import time

from .. import _state
from .._state import StandinError
from . import runtime


class Stream:
    """A CUDA stream: Stream() is blocking (ordered with the legacy default stream),
    Stream(non_blocking=True) is not; Stream.null is the legacy default stream."""

    null: Stream

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False):
        if ptds:
            raise StandinError("the stand-in has no per-thread default stream")
        self._null = null
        if not null:
            self._state = _state.device.new_stream("non_blocking" if non_blocking
                                                   else "blocking")

    @property
    def state(self) -> _state.StreamState:
        return _state.device.legacy if self._null else self._state

    def __enter__(self) -> Stream:
        _state.device.current.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _state.device.current.pop()

    def use(self) -> Stream:
        _state.device.current[:] = [self]
        return self

    def synchronize(self) -> None:
        _state.device.synchronize("Stream.synchronize()", self.state.clock)

    def record(self, event: Event | None = None) -> Event:
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event: Event) -> None:
        state = self.state
        if state.captured is not None:
            raise StandinError("the stand-in does not capture event waits")
        _state._join(state.clock, event.clock)

    def begin_capture(self, mode=None) -> None:
        state = self.state
        if state is _state.device.legacy:
            raise StandinError("the legacy default stream cannot be captured "
                               "(cudaErrorStreamCaptureUnsupported)")
        if _state.device.capturing() is not None:
            raise StandinError("a capture is already in progress")
        state.captured = []

    def end_capture(self) -> Graph:
        state = self.state
        if state.captured is None:
            raise StandinError("end_capture without begin_capture")
        recorded, state.captured = state.captured, None
        return Graph(recorded)

    def is_capturing(self) -> bool:
        return self.state.captured is not None

    @property
    def ptr(self) -> int:
        return 0 if self._null else self._state.sid


Stream.null = Stream(null=True)


def get_current_stream() -> Stream:
    return _state.device.current[-1] if _state.device.current else Stream.null


class Graph:
    """What a capture recorded, replayed on a stream: the same kernels with the same
    arguments (pointers and values as they were at capture)."""

    def __init__(self, recorded: list) -> None:
        self.recorded = recorded

    def launch(self, stream: Stream | None = None) -> None:
        state = (stream or get_current_stream()).state
        for name, run, reads, writes in self.recorded:
            _state.device.issue(state, f"graph replay of {name}", run, reads, writes)


class Event:
    """A point in a stream: record(stream) copies its clock, synchronize() waits for it."""

    def __init__(self, block: bool = False, disable_timing: bool = False,
                 interprocess: bool = False) -> None:
        self.clock: dict[int, int] = {}
        self.time: float | None = None
        self.disable_timing = disable_timing

    def record(self, stream: Stream | None = None) -> None:
        state = (stream or get_current_stream()).state
        if state.captured is not None:
            raise StandinError("the stand-in does not capture event records")
        _state.device._order(state)
        self.clock = dict(state.clock)
        self.time = time.perf_counter()  # work runs when issued, so this is its time

    def synchronize(self) -> None:
        _state.device.synchronize("Event.synchronize()", self.clock)

    @property
    def done(self) -> bool:
        return True


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded events."""
    if start.time is None or end.time is None:
        raise StandinError("get_elapsed_time of an event never recorded")
    if start.disable_timing or end.disable_timing:
        raise StandinError("get_elapsed_time of an event made with disable_timing")
    return (end.time - start.time) * 1e3


class Device:
    def __init__(self, device: int = 0) -> None:
        if device != 0:
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.id = device

    def synchronize(self) -> None:
        _state.device.synchronize_device("Device.synchronize()")

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        pass


class MemoryHook:
    """CuPy's memory hook interface: `with hook:` registers it; the pool calls
    malloc_postprocess and free_postprocess with keyword arguments as CuPy does."""

    name = "MemoryHook"

    def __enter__(self) -> MemoryHook:
        if any(h.name == self.name for h in _state.device.hooks):
            raise KeyError(f"hook {self.name} already exists")
        _state.device.hooks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _state.device.hooks.remove(self)

    def malloc_preprocess(self, **kwargs) -> None:
        pass

    def malloc_postprocess(self, **kwargs) -> None:
        pass

    def free_preprocess(self, **kwargs) -> None:
        pass

    def free_postprocess(self, **kwargs) -> None:
        pass


def get_device_id() -> int:
    return 0


def is_available() -> bool:
    return True
