"""Where the tests' `cupy` comes from: the real CuPy on a machine with a GPU, else the
strict stand-in in tests/standin/cupy (see its docstring), so the `cuda`
parametrisations run everywhere.

TOYGAN_CUPY=real insists on the real CuPy (the device check sets it: a missing GPU then
fails the cuda tests instead of running them on the stand-in), TOYGAN_CUPY=standin uses
the stand-in even where a GPU is present, TOYGAN_CUPY=off generates no cuda tests.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from pathlib import Path

STANDIN_DIR = Path(__file__).resolve().parent / "standin"
MODES = ("auto", "real", "standin", "off")


@functools.cache
def real_gpu() -> bool:
    """True when the real CuPy imports and sees a GPU."""
    if os.environ.get("TOYGAN_CUPY") == "standin":
        return False
    try:
        import cupy

        return not getattr(cupy, "STANDIN", False) and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, or CuPy without a driver or device
        return False


def mode() -> str:
    """'real', 'standin' or 'off': what the cuda parametrisations run against."""
    chosen = os.environ.get("TOYGAN_CUPY", "auto")
    if chosen not in MODES:
        raise RuntimeError(f"TOYGAN_CUPY={chosen!r}; choose from {', '.join(MODES)}")
    if chosen == "auto":
        return "real" if real_gpu() else "standin"
    return chosen


def _is_cupy(name: str) -> bool:
    return name == "cupy" or name.startswith("cupy.")


@functools.cache
def _standin_modules() -> dict:
    """The stand-in imported once under the name `cupy`, kept aside from sys.modules."""
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _is_cupy(name)}
    sys.path.insert(0, str(STANDIN_DIR))
    try:
        importlib.import_module("cupy")
        modules = {name: sys.modules.pop(name) for name in list(sys.modules) if _is_cupy(name)}
    finally:
        sys.path.remove(str(STANDIN_DIR))
        sys.modules.update(saved)
    if not getattr(modules["cupy"], "STANDIN", False):
        raise RuntimeError(f"{STANDIN_DIR} did not provide the stand-in cupy")
    return modules


@contextlib.contextmanager
def installed():
    """`import cupy` gives the stand-in inside this block (its counters reset)."""
    modules = _standin_modules()
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if _is_cupy(name)}
    sys.modules.update(modules)
    modules["cupy"]._standin.reset()
    try:
        yield modules["cupy"]
    finally:
        for name in list(sys.modules):
            if _is_cupy(name):
                del sys.modules[name]
        sys.modules.update(saved)


def subprocess_env(env: dict | None = None) -> dict:
    """An environment in which a child Python imports the stand-in as `cupy`."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(STANDIN_DIR), env.get("PYTHONPATH", "")) if p)
    return env
