"""A run's configuration: every option, its default and its validation, in one place."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from .distributions import GaussianMixture, MixtureSpecError, resolve
from .losses import LOSSES
from .nn import ACTIVATIONS
from .optim import OPTIMIZERS

BACKENDS = ("auto", "numpy", "emu", "cuda")
KERNELS = ("auto", "fused", "per-op")
NOISE = ("normal", "uniform")


class ConfigError(ValueError):
    """An option value that cannot make a run."""


@dataclass
class Config:
    """Defaults are those of `python -m toygan.run mixture8` (see README, 'Defaults')."""

    preset: str = "mixture8"
    mixture: dict | None = None  # the full spec, filled in from `preset` when None
    loss: str = "nonsaturating"
    k: int = 1
    steps: int = 6000
    batch: int = 256
    lr_d: float = 2e-4  # Adam 2e-4 with beta1 = 0.5: the DCGAN recipe most GAN work starts from
    lr_g: float = 2e-4
    optimizer: str = "adam"
    hidden: list[int] = field(default_factory=lambda: [128, 128])
    g_activation: str = "relu"
    d_activation: str = "relu"
    noise_dim: int = 2
    noise: str = "normal"
    seed: int = 0
    eval_every: int = 250
    eval_samples: int = 2500
    clip: float = 0.01  # critic weight clipping, wasserstein only
    dropout: float = 0.0  # discriminator dropout
    dtype: str = "float32"
    backend: str = "auto"
    # Kernel backends: the fused steps (fused.cu) where the networks allow them (auto), or
    # the per-op kernels (the reference path), or fused only (an error where not allowed).
    kernels: str = "auto"
    expensive_every: int = 4  # evaluations between expensive metrics (0: final only)
    snapshot_samples: int = 500  # G samples kept per evaluation for snapshot plots
    # Architecture options for published protocols (toygan.reproduce); numpy backend only
    # where the kernels lack the layer (batch norm, packing).
    d_hidden: list[int] | None = None  # D's hidden widths when they differ from G's
    g_batchnorm: bool = False  # batch norm after each hidden Linear of G
    maxout_pieces: int = 2  # pieces per maxout unit
    pack: int = 1  # PacGAN packing: D sees `pack` samples concatenated as one input
    adam_beta1: float = 0.5

    # Options that do not change the trajectory: a resumed run may change them.
    NON_TRAJECTORY = ("steps", "eval_every", "backend", "kernels", "expensive_every",
                      "snapshot_samples")

    def validate(self) -> GaussianMixture:
        """Raise ConfigError naming the first bad option; return the data distribution."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        try:
            mixture = resolve(self.mixture if self.mixture is not None else self.preset)
        except MixtureSpecError as err:
            raise ConfigError(str(err)) from None
        need(self.loss in LOSSES, f"unknown loss {self.loss!r}; choose from {', '.join(LOSSES)}")
        need(
            self.optimizer in OPTIMIZERS,
            f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}",
        )
        for name in ("g_activation", "d_activation"):
            value = getattr(self, name)
            need(value in ACTIVATIONS and value != "identity",
                 f"unknown {name.replace('_', '-')} {value!r}")
        need(self.noise in NOISE, f"unknown noise {self.noise!r}; choose from {', '.join(NOISE)}")
        need(self.backend in BACKENDS,
             f"unknown backend {self.backend!r}; available: {', '.join(BACKENDS)}")
        need(self.kernels in KERNELS,
             f"unknown kernels {self.kernels!r}; choose from {', '.join(KERNELS)}")
        need(self.dtype in ("float32", "float64"), "dtype must be float32 or float64")
        for name in ("lr_d", "lr_g"):
            value = getattr(self, name)
            need(isinstance(value, (int, float)) and value > 0 and value == value
                 and value != float("inf"),
                 f"--{name.replace('_', '-')} must be a positive number, got {value}")
        need(isinstance(self.k, int) and self.k >= 1, f"--k must be an integer >= 1, got {self.k}")
        need(isinstance(self.batch, int) and self.batch >= 1,
             f"--batch must be an integer >= 1, got {self.batch}")
        need(isinstance(self.steps, int) and self.steps >= 0,
             f"--steps must be an integer >= 0, got {self.steps}")
        need(isinstance(self.eval_every, int) and self.eval_every >= 1,
             f"--eval-every must be an integer >= 1, got {self.eval_every}")
        need(isinstance(self.eval_samples, int) and self.eval_samples >= 10,
             f"--eval-samples must be an integer >= 10, got {self.eval_samples}")
        need(isinstance(self.noise_dim, int) and self.noise_dim >= 1,
             f"--noise-dim must be an integer >= 1, got {self.noise_dim}")
        need(isinstance(self.hidden, list) and len(self.hidden) >= 1
             and all(isinstance(h, int) and h >= 1 for h in self.hidden),
             f"--hidden must be one or more positive widths, got {self.hidden}")
        need(isinstance(self.seed, int) and 0 <= self.seed < 2**63,
             f"--seed must be a non-negative integer, got {self.seed}")
        need(self.clip > 0, f"--clip must be positive, got {self.clip}")
        need(0.0 <= self.dropout < 1.0, f"--dropout must be in [0, 1), got {self.dropout}")
        need(isinstance(self.expensive_every, int) and self.expensive_every >= 0,
             f"--expensive-every must be an integer >= 0, got {self.expensive_every}")
        need(isinstance(self.snapshot_samples, int) and self.snapshot_samples >= 0,
             f"--snapshot-samples must be an integer >= 0, got {self.snapshot_samples}")
        need(self.d_hidden is None or (isinstance(self.d_hidden, list) and len(self.d_hidden) >= 1
             and all(isinstance(h, int) and h >= 1 for h in self.d_hidden)),
             f"d_hidden must be one or more positive widths, got {self.d_hidden}")
        need(isinstance(self.maxout_pieces, int) and self.maxout_pieces >= 1,
             f"maxout_pieces must be an integer >= 1, got {self.maxout_pieces}")
        need(isinstance(self.pack, int) and self.pack >= 1,
             f"--pack must be an integer >= 1, got {self.pack}")
        need(0.0 <= self.adam_beta1 < 1.0, f"adam_beta1 must be in [0, 1), got {self.adam_beta1}")
        host_only = self.g_batchnorm or self.pack > 1
        if self.backend == "auto":
            from .launch import cuda_available  # CuPy is imported only to answer this

            self.backend = "cuda" if cuda_available() and not host_only else "numpy"
        need(self.backend == "numpy" or not host_only,
             "batch norm in G and packing (pack > 1) run on the numpy backend only; "
             "use --backend numpy")
        need(self.kernels != "fused" or self.backend in ("emu", "cuda"),
             "--kernels fused runs on the kernel backends: use --backend cuda (a GPU) or "
             "emu (the kernels emulated on the CPU)")
        if self.backend == "cuda":
            from .launch import cuda_available

            need(cuda_available(), "--backend cuda needs CuPy (pip install -e '.[gpu]') and "
                 "a visible GPU; use --backend numpy, or emu to run the kernels on the CPU")
        self.mixture = mixture.to_dict()
        self.preset = mixture.name
        return mixture

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def trajectory_dict(self) -> dict:
        """What fixes the trajectory: a checkpoint is only valid for the same values."""
        return {k: v for k, v in self.to_dict().items() if k not in self.NON_TRAJECTORY}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        if not isinstance(data, dict):
            raise ConfigError("a config must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**data)
