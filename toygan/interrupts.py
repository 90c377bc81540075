"""Ctrl-C and SIGTERM during training, deferred to the next point where the state is whole.

A KeyboardInterrupt raised wherever the signal lands would leave a GAN mid-iteration (D
stepped and its draws taken, the step counter not advanced), and the state saved then
would not continue the run bit for bit. Instead, while training, SIGINT and SIGTERM only
set a flag; the training loop reads it after every complete iteration and every complete
evaluation, saves a checkpoint there and stops (raising Interrupted). A second signal stops
at once without saving: the run directory then holds the last checkpoint, as after SIGKILL,
which also resumes bit for bit.
"""

from __future__ import annotations

import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Training stopped on a signal. `saved_step`: the step of the checkpoint on disk (the
    state the run resumes from), None when nothing was saved."""

    def __init__(self, signum: int, saved_step: int | None = None,
                 at_once: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum, self.saved_step, self.at_once = signum, saved_step, at_once

    def __reduce__(self):  # picklable, so that it can cross a process pool
        return type(self), (self.signum, self.saved_step, self.at_once)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class DeferredSignals:
    """`with DeferredSignals() as stop:` ... `if stop.requested: ...` (see the module doc).

    Outside the main thread (a Dask worker's task) signals cannot be caught: the context
    installs nothing and `requested` stays None."""

    def __init__(self, quiet: bool = True) -> None:
        self.requested: int | None = None
        self.quiet = quiet
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.requested is not None:
            raise Interrupted(signum, None, at_once=True)
        self.requested = signum
        if not self.quiet:
            print(f"\n{signal.Signals(signum).name}: stopping after the current step "
                  "(again to stop at once, without saving)", file=sys.stderr, flush=True)

    def __enter__(self) -> DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
