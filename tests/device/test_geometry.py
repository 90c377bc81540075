"""The kernels' constants and switch codes are read from the headers, never retyped: the
names match what Python passes (activations, losses, update rules), and nothing in the
device package spells a code number itself."""

from __future__ import annotations

import ast
from pathlib import Path

from toygan.core.losses import KERNEL_LOSSES
from toygan.core.nn import ACTIVATIONS
from toygan.core.optim import OPTIMIZERS
from toygan.device import geometry
from toygan.device.launch import KERNEL_DIR


def test_codes_cover_the_names_python_passes():
    kernel_activations = set(ACTIVATIONS) - {"maxout"}  # maxout: its own kernels
    assert set(geometry.ACTIVATION_CODES) == kernel_activations
    assert set(geometry.LOSS_CODES) == set(KERNEL_LOSSES)
    assert set(geometry.RULE_CODES) == set(OPTIMIZERS)
    for codes in (geometry.ACTIVATION_CODES, geometry.LOSS_CODES, geometry.RULE_CODES):
        assert len(set(codes.values())) == len(codes)  # a switch needs distinct codes


def test_constants_are_the_headers_defines():
    text = (KERNEL_DIR / "common.cuh").read_text()
    assert f"#define TILE {geometry.TILE}\n" in text
    assert f"#define ACT_TANH {geometry.ACTIVATION_CODES['tanh']}\n" in text
    assert geometry.header_constants()["MAX_MODES"] == geometry.MAX_MODES


def test_no_device_module_writes_a_code_table_of_its_own():
    """A dict literal mapping these names to integers would be a retyped copy."""
    names = set(geometry.ACTIVATION_CODES) | set(geometry.LOSS_CODES) | set(geometry.RULE_CODES)
    for path in Path(geometry.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict) and node.keys:
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                ints = [v for v in node.values
                        if isinstance(v, ast.Constant) and type(v.value) is int]
                assert not (keys & names and ints), f"{path.name}: a retyped code table"
