"""The one place that picks a backend: `resolve` turns a Config into a runnable one (the
backend 'auto' means on this machine, the mixture filled in), and `make_gan` /
`make_population_gan` build the GAN step of that backend."""

from __future__ import annotations

from ..config import Config, ConfigError
from ..core.distributions import GaussianMixture
from ..device import launch


def resolve(config: Config) -> GaussianMixture:
    """Validate `config` (ConfigError on the first bad option) and resolve it in place:
    'auto' becomes cuda where CuPy sees a GPU and the networks run on the kernels, else
    numpy; `mixture` and `preset` become the full spec and its name. Returns p_data."""
    mixture = config.validate()
    if config.backend == "auto":
        # CuPy is imported only to answer this.
        config.backend = "cuda" if launch.cuda_available() and not config.host_only else "numpy"
    if config.backend == "cuda" and not launch.cuda_available():
        raise ConfigError("--backend cuda needs CuPy (pip install -e '.[gpu]') and a visible "
                          "GPU; use --backend numpy, or emu to run the kernels on the CPU")
    config.mixture = mixture.to_dict()
    config.preset = mixture.name
    return mixture


def make_gan(config: Config, mixture: GaussianMixture):
    """The GAN step of `config.backend` (a resolved config: see `resolve`)."""
    if config.backend in ("emu", "cuda"):
        from .device_gan import DeviceGAN

        return DeviceGAN(config, mixture, config.backend)
    from .numpy_gan import GAN

    return GAN(config, mixture)


def make_population_gan(configs: list[Config], mixture: GaussianMixture):
    """P GANs in lockstep on the backend of `configs[0]` (all share it)."""
    if configs[0].backend in ("emu", "cuda"):
        from .device_populations import DevicePopulationGAN

        return DevicePopulationGAN(configs, mixture, configs[0].backend)
    from .populations import PopulationGAN

    return PopulationGAN(configs, mixture)
