"""`cupy.linalg`: norm only."""

from __future__ import annotations

import numpy as np

from ._array import _compute, _device_data


def norm(x, ord=None, axis=None):  # noqa: A002 - NumPy's name
    return _compute("linalg.norm", lambda: np.asarray(
        np.linalg.norm(_device_data(x, "norm"), ord=ord, axis=axis)), [x])
