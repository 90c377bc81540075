"""The Ops protocol: the NumPy references and the kernel launchers have every op, with the
same parameters in the same order (so a GAN step written against one runs on the other)."""

from __future__ import annotations

import inspect

import pytest

from toygan.device import reference
from toygan.device.ops import KernelOps
from toygan.device.protocol import Ops

OPS = sorted(name for name, value in vars(Ops).items()
             if callable(value) and not name.startswith("_"))


def parameters(function, drop_self: bool) -> list[str]:
    names = list(inspect.signature(function).parameters)
    return names[1:] if drop_self else names


def test_the_protocol_lists_the_ops_a_gan_step_uses():
    assert {"linear_forward", "loss_discriminator", "adam_update", "mixture_sample",
            "fused_discriminator_step", "fused_update"} <= set(OPS)
    assert len(OPS) >= 20


@pytest.mark.parametrize("name", OPS)
def test_reference_and_kernels_implement_each_op_alike(name):
    want = parameters(getattr(Ops, name), drop_self=True)
    assert callable(getattr(reference, name, None)), f"reference.{name} is missing"
    assert callable(getattr(KernelOps, name, None)), f"KernelOps.{name} is missing"
    assert parameters(getattr(reference, name), drop_self=False) == want
    assert parameters(getattr(KernelOps, name), drop_self=True) == want


def test_kernel_ops_has_no_public_op_outside_the_protocol():
    public = {n for n, v in vars(KernelOps).items() if callable(v) and not n.startswith("_")}
    assert public - set(OPS) == set()
