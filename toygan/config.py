"""A run's configuration: every option, its default and its validation, in one place."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from .core.distributions import GaussianMixture, MixtureSpecError, resolve
from .core.losses import KERNEL_LOSSES, LOSSES
from .core.nn import ACTIVATIONS
from .core.optim import OPTIMIZERS
from .core.penalties import PENALTIES

BACKENDS = ("auto", "numpy", "emu", "cuda")
KERNELS = ("auto", "fused", "per-op")
NOISE = ("normal", "uniform")
UPDATES = ("alternating", "simultaneous", "extragradient", "optimistic")


class ConfigError(ValueError):
    """An option value that cannot make a run."""


# Hard limits that keep every option's arithmetic sane; what a configuration may allocate is
# checked against the machine separately (toygan.resources).
MAX_WIDTH = 1 << 20
MAX_LAYERS = 64
MAX_BATCH = 1 << 24


def option(default, kind: str, help: str, *, lo=None, hi=None, lo_open: bool = False,
           hi_open: bool = False, choices: tuple | None = None, cli: bool = True):
    """A Config field with its one declaration: kind (int, float, str, bool, widths,
    widths-or-none, mixture), help, range or choices, and whether the command line has it
    (as --name-with-dashes). The parser, validation and the README's table read these."""
    meta = {"kind": kind, "help": help, "lo": lo, "hi": hi, "lo_open": lo_open,
            "hi_open": hi_open, "choices": choices, "cli": cli}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Config:
    """Defaults are those of `python -m toygan.run mixture8` (see README, 'Defaults')."""

    preset: str = option("mixture8", "str", "preset name, a mixture JSON file or inline "
                         "JSON (the positional argument)", cli=False)
    mixture: dict | None = option(None, "mixture", "the full mixture spec, filled in from "
                                  "preset when null", cli=False)
    loss: str = option("nonsaturating", "str", "the GAN criterion: minimax (Algorithm "
                     "1: G minimises log(1 - D(G(z)))), nonsaturating (G maximises log "
                     "D(G(z))), wasserstein (a critic with weight clipping --clip), "
                     "least_squares (LSGAN), fgan_* (the f-GAN saddle point of Nowozin et "
                     "al. 2016 for that f-divergence; numpy backend)", choices=tuple(LOSSES))
    k: int = option(1, "int", "discriminator steps per iteration", lo=1, hi=10_000)
    steps: int = option(6000, "int", "training iterations", lo=0, hi=10**9)
    batch: int = option(256, "int", "minibatch size m", lo=1, hi=MAX_BATCH)
    # Adam 2e-4 with beta1 = 0.5: the DCGAN recipe most GAN work starts from
    lr_d: float = option(2e-4, "float", "discriminator learning rate", lo=0, lo_open=True)
    lr_g: float = option(2e-4, "float", "generator learning rate", lo=0, lo_open=True)
    optimizer: str = option("adam", "str", "optimiser of G and D: adam (beta1 0.5, beta2 "
                            "0.999), sgd (momentum 0.9), rmsprop", choices=tuple(OPTIMIZERS))
    hidden: list[int] = option([128, 128], "widths", "hidden widths of G and D, e.g. 128,128")
    g_activation: str = option("relu", "str", "G's hidden activation (leaky_relu: slope "
                               "0.2; maxout: 2 pieces, maxout_pieces in a --config file)",
                               choices=tuple(a for a in ACTIVATIONS if a != "identity"))
    d_activation: str = option("relu", "str", "D's hidden activation (as G's)",
                               choices=tuple(a for a in ACTIVATIONS if a != "identity"))
    noise_dim: int = option(2, "int", "dimension of z", lo=1, hi=1 << 16)
    noise: str = option("normal", "str", "prior of z (uniform: U[-1, 1))", choices=NOISE)
    seed: int = option(0, "int", "the run's seed (every random stream derives from it)", lo=0,
                       hi=2**63 - 1)
    eval_every: int = option(250, "int", "iterations between evaluations", lo=1, hi=10**9)
    eval_samples: int = option(2500, "int", "G samples per evaluation", lo=10, hi=10**7)
    clip: float = option(0.01, "float", "critic weight clip, wasserstein", lo=0, lo_open=True,
                         hi=1e6)
    dropout: float = option(0.0, "float", "D dropout probability", lo=0, hi=1, hi_open=True)
    dtype: str = option("float32", "str", "floating-point type of training",
                        choices=("float32", "float64"))
    backend: str = option("auto", "str", "auto picks the best available: cuda when CuPy sees a "
                          "GPU, else numpy; emu runs the CUDA kernels on the CPU",
                          choices=BACKENDS)
    # Kernel backends: the fused steps (fused.cu) where the networks allow them (auto), or
    # the per-op kernels (the reference path), or fused only (an error where not allowed).
    kernels: str = option("auto", "str", "emu/cuda backends: fused runs each training step as "
                          "one kernel per network pass, per-op one kernel per layer; auto: "
                          "fused where the networks allow (no maxout, dropout, batch norm or "
                          "packing)",
                          choices=KERNELS)
    expensive_every: int = option(4, "int", "evaluations between the expensive metrics "
                                  "(Parzen, precision/recall, density/coverage); 0: final "
                                  "only", lo=0, hi=10**9)
    snapshot_samples: int = option(500, "int", "G samples kept per evaluation for the "
                                   "snapshot grid and GIF; 0: none", lo=0, hi=10**7)
    # Convergence (Mescheder et al. 2018): a gradient penalty on D and the update scheme.
    penalty: str = option("none", "str", "gradient penalty on D: r1 (gamma/2 E_data "
                          "|grad_x D|^2, Mescheder et al. 2018), r2 (the same on G's "
                          "samples), wgan-gp (gamma E(|grad_x D| - 1)^2 at interpolates; "
                          "wasserstein loss, no weight clipping); numpy backend",
                          choices=PENALTIES)
    gamma: float = option(1.0, "float", "the penalty's weight (gamma of R1/R2; lambda of "
                          "WGAN-GP, 10 in Gulrajani et al. 2017)", lo=0, lo_open=True,
                          hi=1e6)
    update: str = option("alternating", "str", "how G and D update: alternating "
                         "(Algorithm 1: k D steps, then G against the new D), simultaneous "
                         "(both from the same point), extragradient (a simultaneous "
                         "look-ahead step, then both update from the start with the "
                         "look-ahead's gradients), optimistic (simultaneous, the optimiser "
                         "fed 2 g_t - g_(t-1)); all but alternating need k = 1; numpy "
                         "backend", choices=UPDATES)
    # Architecture options for published protocols (toygan.reproduce). On the kernel
    # backends batch norm and packing run per-op (the fused kernels have neither).
    d_hidden: list[int] | None = option(None, "widths-or-none", "D's hidden widths when they "
                                        "differ from G's", cli=False)
    g_batchnorm: bool = option(False, "bool", "batch norm after each hidden Linear of G",
                               cli=False)
    maxout_pieces: int = option(2, "int", "pieces per maxout unit", lo=1, hi=1024, cli=False)
    pack: int = option(1, "int", "PacGAN packing: D judges packs of this many samples "
                       "(kernel backends: per-op)", lo=1, hi=1024)
    adam_beta1: float = option(0.5, "float", "Adam's beta1", lo=0, hi=1, hi_open=True,
                               cli=False)

    # Options that do not change the trajectory: a resumed run may change them.
    NON_TRAJECTORY = ("steps", "eval_every", "backend", "kernels", "expensive_every",
                      "snapshot_samples")

    def check_types(self) -> None:
        """Each field against its declaration: kinds strictly (a bool is not an integer, a
        string is not a number), ranges and choices; ConfigError names the field and the
        value as given. Tuples of widths become lists."""
        for f in dataclasses.fields(self):
            value = check_field(f, getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    def validate(self) -> GaussianMixture:
        """Raise ConfigError naming the first bad option; return the data distribution.
        Checks only: no field changes and nothing probed. `toygan.gan.factory.resolve`
        picks the backend that 'auto' means on this machine and fills in the mixture."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        self.check_types()
        try:
            mixture = resolve(self.mixture if self.mixture is not None else self.preset)
        except MixtureSpecError as err:
            raise ConfigError(str(err)) from None
        check_trainable(mixture)
        kernels = self.backend in ("emu", "cuda")
        need(not kernels or (self.penalty == "none" and self.update == "alternating"),
             "gradient penalties and update schemes other than alternating run on the "
             "numpy backend only (the kernels have no second-order passes yet); use "
             "--backend numpy")
        need(not kernels or self.loss in KERNEL_LOSSES,
             f"--loss {self.loss} runs on the numpy backend only (the kernels implement "
             f"{', '.join(KERNEL_LOSSES)}); use --backend numpy")
        need(self.penalty != "wgan-gp" or self.loss == "wasserstein",
             f"--penalty wgan-gp is the penalty of the wasserstein critic (it replaces "
             f"weight clipping), not of --loss {self.loss}; use r1 or r2")
        need(self.penalty not in ("r1", "r2") or self.loss != "wasserstein",
             f"--penalty {self.penalty} penalises a discriminator (every loss but "
             "wasserstein); the wasserstein critic takes wgan-gp")
        need(self.update == "alternating" or self.k == 1,
             f"--update {self.update} updates G and D once each per iteration: give --k 1")
        need(self.kernels != "fused" or self.backend in ("emu", "cuda"),
             "--kernels fused runs on the kernel backends: use --backend cuda (a GPU) or "
             "emu (the kernels emulated on the CPU)")
        # Batch norm needs the whole batch and a pack spans rows; the fused kernels take a
        # chunk of rows, one sample each, at a time. Per-op runs both.
        need(self.kernels != "fused" or not (self.g_batchnorm or self.pack > 1),
             "--kernels fused has no batch norm in G or packing (pack > 1); use --kernels "
             "auto or per-op")
        return mixture

    @property
    def host_only(self) -> bool:
        """Whether the run needs the numpy backend (layers or steps the kernels lack)."""
        return (self.penalty != "none" or self.update != "alternating"
                or self.loss not in KERNEL_LOSSES)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def trajectory_dict(self) -> dict:
        """What fixes the trajectory: a checkpoint is only valid for the same values."""
        return {k: v for k, v in self.to_dict().items() if k not in self.NON_TRAJECTORY}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        """A Config from JSON-like data, every value checked (check_types)."""
        if not isinstance(data, dict):
            raise ConfigError("a config must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        config = cls(**data)
        config.check_types()
        return config

    @classmethod
    def field(cls, name: str) -> dataclasses.Field:
        return {f.name: f for f in dataclasses.fields(cls)}[name]

    @classmethod
    def options(cls) -> list[dataclasses.Field]:
        """The fields the command line sets (--name-with-dashes), in declaration order."""
        return [f for f in dataclasses.fields(cls) if f.metadata.get("cli")]


def cli_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _label(f: dataclasses.Field) -> str:
    return cli_name(f.name) if f.metadata.get("cli") else f.name


def _given(value) -> str:
    """A value as the user gave it (JSON spelling where it has one)."""
    try:
        return json.dumps(value)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _range_text(meta: dict) -> str:
    lo, hi = meta["lo"], meta["hi"]
    if meta["kind"] == "float" and lo == 0 and meta["lo_open"] and hi is None:
        return "a positive number"
    parts = []
    if lo is not None:
        parts.append(f"> {_num(lo)}" if meta["lo_open"] else f">= {_num(lo)}")
    if hi is not None:
        parts.append(f"< {_num(hi)}" if meta["hi_open"] else f"<= {_num(hi)}")
    noun = "an integer" if meta["kind"] == "int" else "a finite number"
    return f"{noun} {' and '.join(parts)}" if parts else noun


def _num(x) -> str:
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e16):
        return str(int(x))
    return f"{x:g}"


def _in_range(value, meta: dict) -> bool:
    lo, hi = meta["lo"], meta["hi"]
    if lo is not None and (value <= lo if meta["lo_open"] else value < lo):
        return False
    return hi is None or (value < hi if meta["hi_open"] else value <= hi)


def _widths(value, label: str) -> list[int]:
    if (not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_LAYERS
            or not all(_is_int(w) and 1 <= w <= MAX_WIDTH for w in value)):
        raise ConfigError(f"{label} must be a list of 1 to {MAX_LAYERS} integer widths from 1 "
                          f"to {MAX_WIDTH}, got {_given(value)}")
    return list(value)


def check_field(f: dataclasses.Field, value):
    """`value` for field `f` if it is of the declared kind and range (see check_types)."""
    meta, label = f.metadata, _label(f)
    kind = meta["kind"]
    if kind == "int":
        if not _is_int(value) or not _in_range(value, meta):
            raise ConfigError(f"{label} must be {_range_text(meta)}, got {_given(value)}")
    elif kind == "float":
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not _in_range(value, meta):
            raise ConfigError(f"{label} must be {_range_text(meta)}, got {_given(value)}")
    elif kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{label} must be a string, got {_given(value)}")
        choices = meta["choices"]
        if choices and value not in choices:
            raise ConfigError(f"unknown {label.lstrip('-')} {value!r}; choose from "
                              f"{', '.join(choices)}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{label} must be true or false, got {_given(value)}")
    elif kind == "widths":
        value = _widths(value, label)
    elif kind == "widths-or-none":
        value = None if value is None else _widths(value, label)
    elif kind == "mixture":
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{label} must be a mixture spec object or null, got "
                              f"{_given(value)}")
    return value


# What a mixture may hold and still be trained meaningfully in float32: positions within
# +-1e6 and widths from 1e-6 to 1e6 (a float32 grid at 1e6 is 0.06 wide).
MIXTURE_LIMITS = {"max_abs_mean": 1e6, "min_std": 1e-6, "max_std": 1e6, "max_dim": 1024,
                  "max_components": 100_000}


def check_trainable(mixture: GaussianMixture) -> None:
    """Refuse mixtures whose numbers no run could use (ConfigError, naming the field)."""
    lim = MIXTURE_LIMITS
    if mixture.dim > lim["max_dim"] or mixture.n_components > lim["max_components"]:
        raise ConfigError(f"mixture {mixture.name!r} has {mixture.n_components} components in "
                          f"{mixture.dim}-D; at most {lim['max_components']} components and "
                          f"{lim['max_dim']} dimensions")
    largest = float(abs(mixture.means).max())
    if largest > lim["max_abs_mean"]:
        raise ConfigError(f"mixture means must lie within +-{lim['max_abs_mean']:g}, got "
                          f"{largest:g}")
    lo, hi = float(mixture.stds.min()), float(mixture.stds.max())
    if lo < lim["min_std"] or hi > lim["max_std"]:
        raise ConfigError(f"mixture stds must lie in [{lim['min_std']:g}, {lim['max_std']:g}], "
                          f"got {lo:g} to {hi:g}")
