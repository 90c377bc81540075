"""The fiber orders the kernel, fused and batch-norm tests run in on the emulator (and on
the CuPy stand-in, which launches through it): thread order, reverse and a seeded shuffle
(kernels/emu.h), so a race between barriers shows whichever thread writes first.
TOYGAN_FIBER_ORDERS=forward (comma-separated) narrows them: on a GPU, where the hardware
orders the threads, the device check runs each test once."""

from __future__ import annotations

import os

import pytest

FIBER_ORDERS = tuple(
    os.environ.get("TOYGAN_FIBER_ORDERS", "forward,reverse,shuffle:1").split(","))


@pytest.fixture(scope="module", params=FIBER_ORDERS)
def fiber_order(request):
    """TOYGAN_EMU_ORDER for a module's tests (module scope: hypothesis's tests may use it,
    and each order builds nothing new: the order is read at every launch)."""
    before = os.environ.get("TOYGAN_EMU_ORDER")
    os.environ["TOYGAN_EMU_ORDER"] = request.param
    yield request.param
    if before is None:
        del os.environ["TOYGAN_EMU_ORDER"]
    else:
        os.environ["TOYGAN_EMU_ORDER"] = before
