"""gan.factory: the only place that picks a backend. Config.validate() checks and nothing
more; resolve() probes CuPy (only for auto/cuda) and fills in the backend and mixture."""

from __future__ import annotations

import pytest

from toygan.config import Config, ConfigError
from toygan.device import launch
from toygan.gan import factory
from toygan.gan.device_gan import DeviceGAN
from toygan.gan.numpy_gan import GAN


def no_probe():
    raise AssertionError("validate() must not probe CuPy")


def test_validate_checks_without_probing_or_changing_a_field(monkeypatch):
    monkeypatch.setattr(launch, "cuda_available", no_probe)
    config = Config(backend="auto")
    before = config.to_dict()
    mixture = config.validate()
    assert mixture.name == "mixture8" and mixture.n_components == 8
    assert config.to_dict() == before  # backend still auto, mixture still null
    with pytest.raises(ConfigError, match="numpy backend only"):
        Config(backend="emu", penalty="r1").validate()


def test_resolve_picks_numpy_without_a_gpu_and_fills_the_mixture(monkeypatch):
    monkeypatch.setattr(launch, "cuda_available", lambda: False)
    config = Config(backend="auto")
    mixture = factory.resolve(config)
    assert config.backend == "numpy"
    assert config.mixture == mixture.to_dict() and config.preset == "mixture8"


def test_resolve_picks_cuda_where_a_gpu_is_seen_unless_the_networks_need_numpy(monkeypatch):
    monkeypatch.setattr(launch, "cuda_available", lambda: True)
    config = Config(backend="auto")
    factory.resolve(config)
    assert config.backend == "cuda"
    penalised = Config(backend="auto", penalty="r1")
    factory.resolve(penalised)
    assert penalised.backend == "numpy"


def test_resolve_refuses_cuda_without_a_gpu(monkeypatch):
    monkeypatch.setattr(launch, "cuda_available", lambda: False)
    with pytest.raises(ConfigError, match="needs CuPy"):
        factory.resolve(Config(backend="cuda"))


def test_emu_and_numpy_never_probe(monkeypatch):
    monkeypatch.setattr(launch, "cuda_available", no_probe)
    for backend in ("numpy", "emu"):
        factory.resolve(Config(backend=backend))


def test_make_gan_builds_the_step_of_the_backend():
    for backend, kind in (("numpy", GAN), ("emu", DeviceGAN)):
        config = Config(backend=backend, hidden=[8], batch=8)
        gan = factory.make_gan(config, factory.resolve(config))
        assert type(gan) is kind
