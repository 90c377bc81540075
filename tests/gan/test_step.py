"""Every GAN step implements the one interface the trainers see (gan.step): GANStep for a
single run on each backend, PopulationStep for members in lockstep."""

from __future__ import annotations

import pytest

from toygan.config import Config
from toygan.gan.device_gan import DeviceGAN
from toygan.gan.device_populations import DevicePopulationGAN
from toygan.gan.kernel_steps import FusedSteps, PerOpSteps
from toygan.gan.numpy_gan import GAN
from toygan.gan.populations import PopulationGAN
from toygan.gan.step import EvaluatedGAN, GANStep, PopulationStep
from toygan.training.grid import member_configs


def small(**options) -> Config:
    return Config(hidden=[8], batch=8, steps=2, eval_samples=50, **options)


def members(backend: str) -> list[Config]:
    return member_configs(small(backend=backend), 2, {"lr_d": [1e-4, 3e-4]})


def protocol_members(protocol) -> set[str]:
    names: set[str] = set()
    for cls in protocol.__mro__:
        if cls in (object,) or cls.__name__ in ("Protocol", "Generic"):
            continue
        names |= {n for n in vars(cls) if not n.startswith("_")}
        names |= set(getattr(cls, "__annotations__", {}))
    return names


@pytest.mark.parametrize("build", [
    lambda c: GAN(c, c.validate()),
    lambda c: DeviceGAN(c, c.validate(), "reference"),
    lambda c: DeviceGAN(c, c.validate(), "emu"),
], ids=["numpy", "device-reference", "device-emu"])
def test_each_backend_is_a_gan_step(build):
    gan = build(small())
    assert isinstance(gan, GANStep)
    missing = {n for n in protocol_members(GANStep) if not hasattr(gan, n)}
    assert missing == set()
    loss_d, loss_g = gan.iteration()
    assert isinstance(loss_d, float) and isinstance(loss_g, float)


@pytest.mark.parametrize("backend", ["numpy", "emu"])
def test_each_population_is_a_population_step(backend):
    configs = members(backend)
    mixture = configs[0].validate()
    pop = (PopulationGAN(configs, mixture) if backend == "numpy"
           else DevicePopulationGAN(configs, mixture, backend))
    assert isinstance(pop, PopulationStep)
    assert {n for n in protocol_members(PopulationStep) if not hasattr(pop, n)} == set()
    loss_d, loss_g = pop.iteration()
    assert loss_d.shape == loss_g.shape == (4,)
    member = pop.member(1)
    assert isinstance(member, EvaluatedGAN)
    assert {n for n in protocol_members(EvaluatedGAN) if not hasattr(member, n)} == set()
    assert member.config.lr_d == configs[1].lr_d


def test_the_kernel_steps_are_two_classes_behind_one_interface():
    fused = DeviceGAN(small(backend="emu", kernels="fused"), small().validate(), "emu")
    per_op = DeviceGAN(small(backend="emu", kernels="per-op"), small().validate(), "emu")
    assert isinstance(fused.steps, FusedSteps) and fused.kernel_path == "fused"
    assert isinstance(per_op.steps, PerOpSteps) and per_op.kernel_path == "per-op"
    for steps in (fused.steps, per_op.steps):
        assert callable(steps.discriminator) and callable(steps.generator)


def test_a_population_is_built_by_its_own_constructor():
    """No __new__ and attributes set by hand: members are views made by MemberGAN's and
    PopulationGAN's constructors (super().__init__ runs)."""
    import ast
    from pathlib import Path

    import toygan.gan.populations as populations

    tree = ast.parse(Path(populations.__file__).read_text())
    assert not [n for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and n.attr == "__new__"]
    pop = PopulationGAN(members("numpy"), small().validate())
    assert pop.P == 4 and pop.G.params.shape[0] == 4
