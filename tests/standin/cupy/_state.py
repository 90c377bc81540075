"""The stand-in's device: streams with CUDA's ordering, stream capture, the memory pool and
the count of host synchronisations. Everything here is global, as a CUDA context is;
`reset()` starts a fresh one (the tests call it before each test that uses the stand-in).

Ordering is tracked with vector clocks. Every stream and the host carry a clock (stream id
-> the last operation of that stream known to have finished before this point). An
operation issued on stream S first learns what S must wait for: everything the host has
waited for (work issued after a synchronisation starts after it), and, on the legacy
default stream, all blocking streams' work (and the other way round). Each device buffer
remembers its last write and the reads since, each as (stream, tick); an access whose
conflicting predecessor on another stream is not in S's clock is a race, reported at once.
Events carry a copy of a clock; waiting on one joins it.
"""

from __future__ import annotations

import collections
import os
import sys
import weakref

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class StandinError(RuntimeError):
    """toygan broke a rule of CUDA or CuPy that a real GPU would punish (often silently)."""


def call_site() -> str:
    """file:line of the first frame outside the stand-in: where toygan asked for this."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno}"


def _join(into: dict[int, int], other: dict[int, int]) -> None:
    for sid, tick in other.items():
        if into.get(sid, 0) < tick:
            into[sid] = tick


class StreamState:
    """One CUDA stream: kind is 'legacy' (the default stream), 'blocking' or
    'non_blocking'; `captured` is the list of operations recorded while capturing."""

    def __init__(self, sid: int, kind: str) -> None:
        self.sid, self.kind = sid, kind
        self.clock: dict[int, int] = {sid: 0}
        self.captured: list | None = None


class Buffer:
    """A device allocation: its bytes (a NumPy array) and who touched it last."""

    def __init__(self, nbytes: int) -> None:
        self.storage = np.empty(max(nbytes, 1), dtype=np.uint8)
        self.last_write: tuple[int, int, str] | None = None
        self.reads: dict[int, tuple[int, str]] = {}
        self.nbytes = nbytes
        device.pool.malloc(self)


class MemoryPool:
    """CuPy's default pool, reduced to what toygan reads: bytes in use, bytes held, and the
    MemoryHook callbacks (malloc/free as seen by a hook registered with `with hook:`)."""

    def __init__(self) -> None:
        self.used = 0
        self.held = 0  # a real pool keeps freed blocks; so does this count

    def malloc(self, buffer: Buffer) -> None:
        size = buffer.nbytes
        rounded = (size + 511) // 512 * 512
        self.used += rounded
        self.held = max(self.held, self.used)
        for hook in list(device.hooks):
            hook.malloc_postprocess(device_id=0, size=size, mem_size=rounded,
                                    mem_ptr=id(buffer), pmem_id=id(buffer))
        weakref.finalize(buffer, self._free, rounded, id(buffer))

    def _free(self, rounded: int, ptr: int) -> None:
        self.used -= rounded
        for hook in list(device.hooks):
            hook.free_postprocess(device_id=0, mem_size=rounded, mem_ptr=ptr, pmem_id=ptr)

    def used_bytes(self) -> int:
        return self.used

    def total_bytes(self) -> int:
        return self.held

    def free_all_blocks(self) -> None:
        self.held = self.used


class Device:
    """The one emulated GPU: its streams, the host's clock, the pool and the counters."""

    def __init__(self) -> None:
        self.streams: list[StreamState] = []
        self.legacy = self.new_stream("legacy")
        self.host_clock: dict[int, int] = {}
        self.current: list = []  # the stack of `with stream:` blocks (Stream objects)
        self.pool = MemoryPool()
        self.hooks: list = []
        self.syncs: collections.Counter[str] = collections.Counter()
        self.races: list[str] = []
        self.flagged: collections.Counter[str] = collections.Counter()  # strided views
        self.launches = 0

    def new_stream(self, kind: str) -> StreamState:
        state = StreamState(len(self.streams), kind)
        self.streams.append(state)
        return state

    def capturing(self) -> StreamState | None:
        return next((s for s in self.streams if s.captured is not None), None)

    # ---------------------------------------------------------------- host waits
    def synchronize(self, what: str, clock: dict[int, int]) -> None:
        """The host waits for `clock` (a stream's, an event's, or the whole device's)."""
        capturing = self.capturing()
        if capturing is not None:
            raise StandinError(
                f"{what} at {call_site()} while stream {capturing.sid} is capturing: "
                "synchronisation is not allowed during stream capture "
                "(cudaErrorStreamCaptureUnsupported)")
        _join(self.host_clock, clock)
        self.syncs[call_site()] += 1

    def synchronize_device(self, what: str) -> None:
        everything: dict[int, int] = {}
        for stream in self.streams:
            _join(everything, stream.clock)
        self.synchronize(what, everything)

    # ---------------------------------------------------------------- operations
    def issue(self, stream: StreamState, name: str, run, reads=(), writes=(),
              capturable: bool = True, host_copy: bool = False) -> None:
        """Issue `run` (a callable doing the work on the host) on `stream`, reading and
        writing the given Buffers; recorded instead when the stream is capturing."""
        capturing = self.capturing()
        if capturing is not None and (stream is self.legacy or host_copy):
            what = "a host copy" if host_copy else "work on the legacy default stream"
            raise StandinError(
                f"{name} at {call_site()}: {what} while stream {capturing.sid} is "
                "capturing (cudaErrorStreamCaptureImplicit / Unsupported)")
        if stream.captured is not None:
            if not capturable:
                raise StandinError(f"{name} at {call_site()}: the stand-in captures raw "
                                   "kernels, fills and device copies only")
            stream.captured.append((name, run, tuple(reads), tuple(writes)))
            return
        self._order(stream)
        site = call_site()
        clock = stream.clock
        for buffer in (*reads, *writes):
            self._check_after_write(buffer, stream, name, site)
        for buffer in writes:
            for sid, (tick, where) in buffer.reads.items():
                if sid != stream.sid and clock.get(sid, 0) < tick:
                    self._race(f"{name} at {site} on stream {stream.sid} writes memory that "
                               f"stream {sid} reads at {where} with no event or "
                               "synchronisation between them")
        clock[stream.sid] += 1
        tick = clock[stream.sid]
        for buffer in reads:
            buffer.reads[stream.sid] = (tick, site)
        for buffer in writes:
            buffer.last_write = (stream.sid, tick, site)
            buffer.reads = {}
        run()

    def _order(self, stream: StreamState) -> None:
        _join(stream.clock, self.host_clock)
        if stream.kind == "legacy":
            for other in self.streams:
                if other.kind == "blocking":
                    _join(stream.clock, other.clock)
        elif stream.kind == "blocking":
            _join(stream.clock, self.legacy.clock)

    def _check_after_write(self, buffer: Buffer, stream: StreamState, name: str,
                           site: str) -> None:
        if buffer.last_write is None:
            return
        sid, tick, where = buffer.last_write
        if sid != stream.sid and stream.clock.get(sid, 0) < tick:
            self._race(f"{name} at {site} on stream {stream.sid} uses memory that stream "
                       f"{sid} writes at {where} with no event or synchronisation between "
                       "them")

    def _race(self, message: str) -> None:
        self.races.append(message)
        raise StandinError("cross-stream race: " + message)

    def check_allocation(self, what: str) -> None:
        capturing = self.capturing()
        if capturing is not None:
            raise StandinError(f"{what} at {call_site()}: allocation while stream "
                               f"{capturing.sid} is capturing")


device = Device()


def reset() -> None:
    """Counters cleared, any capture abandoned, the current-stream stack emptied: the state
    a test starts from. Streams, clocks and buffers stay (arrays outlive tests)."""
    device.syncs.clear()
    device.races.clear()
    device.flagged.clear()
    device.launches = 0
    device.current.clear()
    device.hooks.clear()
    for stream in device.streams:
        stream.captured = None


def garbage(dtype: np.dtype) -> object:
    """What fresh device memory holds here: NaN for floats, a recognisable pattern else."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return np.array(0x5A5A5A5A5A5A5A5A, dtype=np.uint64).astype(dtype)
    if dtype.kind == "b":
        return True
    raise StandinError(f"the stand-in has no device arrays of dtype {dtype}")


def current_stream() -> StreamState:
    """The stream work goes to: the innermost `with stream:`, else the legacy stream."""
    return device.current[-1].state if device.current else device.legacy
