"""Tests' fixtures: the `cuda` parametrisations run against the CuPy stand-in where no GPU
is present (tests/cupy_standin.py)."""

from __future__ import annotations

import pytest

from tests import cupy_standin


def _wants_cuda(request) -> bool:
    callspec = getattr(request.node, "callspec", None)
    return callspec is not None and any(
        isinstance(value, str) and value == "cuda" for value in callspec.params.values())


@pytest.fixture(autouse=True)
def _cupy_for_cuda_parametrisations(request):
    if _wants_cuda(request) and cupy_standin.mode() == "standin":
        with cupy_standin.installed():
            yield
    else:
        yield


@pytest.fixture
def standin_cupy():
    """The stand-in as `cupy` for this test (whatever the machine has)."""
    with cupy_standin.installed() as cupy:
        yield cupy
