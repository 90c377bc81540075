"""Algorithm 1 of the paper, evaluation, checkpoint/resume and the divergence guard.

One iteration: k discriminator steps, each on a fresh minibatch of m real samples and m
generated ones; then one generator step on m fresh noise samples. D sees real and generated
samples in one concatenated batch of 2m (exact: no layer mixes samples), so each D step is
one forward and one backward pass.

Randomness: the run's seed spawns independent streams (numpy SeedSequence) for G's init,
D's init, data draws, noise draws, dropout and the fixed evaluation sets. The streams that
training consumes are checkpointed, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.special import expit

from . import metrics
from .config import Config
from .distributions import GaussianMixture
from .interrupts import DeferredSignals, Interrupted
from .losses import get_loss
from .nn import MLP
from .optim import make_optimizer
from .resources import check_memory, versions
from .runfiles import (  # noqa: F401 (atomic_write_bytes: imported from here by others)
    RunFileError,
    atomic_save_npz,
    atomic_write_bytes,
    atomic_write_text,
    load_npz,
    read_json,
    read_jsonl,
)

CHECKPOINT_VERSION = 1
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "checkpoint.npz", "snapshots.npz")
PARZEN_VALIDATION = 1000  # held-out real samples that choose the Parzen window's sigma
STREAMS = ("g_init", "d_init", "data", "noise", "dropout", "eval")
TRAINING_STREAMS = ("data", "noise", "dropout")


SUMMARY_KEYS = (
    "modes_total", "modes_covered", "modes_covered_20", "high_quality_fraction", "reverse_kl",
    "modes_covered_veegan", "high_quality_fraction_veegan", "reverse_kl_veegan",
    "mode_entropy", "mode_histogram", "mode_mass", "jsd_estimate", "jsd_stderr",
    "kl_data_g", "kl_data_g_stderr", "kl_g_data", "kl_g_data_stderr", "kde_bandwidth",
    "d_dstar_gap", "loglik_data_of_g", "loglik_data_of_g_stderr", "frechet", "wasserstein1",
    "sliced_wasserstein1")
EXPENSIVE_KEYS = (
    "parzen_loglik", "parzen_loglik_stderr", "parzen_sigma", "parzen_sigma_at_grid_edge",
    "loglik_test_exact", "parzen_bias", "precision", "recall", "density", "coverage")


class Diverged(RuntimeError):
    """A loss or parameter became NaN or Inf."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or from another configuration."""


# -------------------------------------------------------------------- model
def draw_noise(config: Config, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """G's prior: N(0, I), or uniform on [-1, 1) (the paper's Figure 1 prior)."""
    dtype = np.dtype(config.dtype)
    if config.noise == "normal":
        return rng.standard_normal(shape, dtype=dtype)
    z = rng.random(shape, dtype=dtype)
    z *= 2
    z -= 1
    return z


def random_streams(seed: int) -> tuple[list[np.random.SeedSequence],
                                      dict[str, np.random.Generator]]:
    """The run's independent streams (STREAMS), as seed sequences and NumPy generators."""
    seeds = np.random.SeedSequence(seed).spawn(len(STREAMS))
    rng = {name: np.random.Generator(np.random.PCG64(s))
           for name, s in zip(STREAMS, seeds, strict=True)}
    return seeds, rng


def restore_networks(state: dict[str, np.ndarray], gan, assign) -> None:
    """Load gan's parameters and optimiser states from a checkpoint, checking shapes;
    `assign(target, host_array)` copies into the backend's array."""
    for key, target in (("g_params", gan.G.params), ("d_params", gan.D.params)):
        shape, dtype = tuple(state[key].shape), state[key].dtype
        if shape != tuple(target.shape) or dtype != target.dtype:
            raise CheckpointError(f"{key} has shape {shape} {dtype}, "
                                  f"expected {tuple(target.shape)} {target.dtype}")
        assign(target, state[key])
    for prefix, opt in (("opt_g", gan.opt_g), ("opt_d", gan.opt_d)):
        keys = opt.state_dict().keys()
        try:
            opt.load_state_dict({k: state[f"{prefix}.{k}"] for k in keys})
        except ValueError as err:
            raise CheckpointError(str(err)) from None


def build_networks(config: Config, mixture: GaussianMixture, rng) -> tuple[MLP, MLP]:
    """G and D as the run configures them, initialised from their own streams (every
    backend starts from these parameters). `rng` is one run's streams, a list of them (a
    population: member i initialised from rng[i], as the single run of its seed), or None
    (parameters left for the caller to fill)."""
    dtype = np.dtype(config.dtype)
    pieces = config.maxout_pieces
    members = rng if isinstance(rng, list) else [rng]
    P = len(members)
    G = MLP([config.noise_dim, *config.hidden, mixture.dim], config.g_activation, dtype=dtype,
            pieces=pieces, population=P, **({"batchnorm": True} if config.g_batchnorm else {}))
    d_hidden = config.d_hidden or config.hidden
    D = MLP([mixture.dim * config.pack, *d_hidden, 1], config.d_activation, dtype=dtype,
            dropout=config.dropout, pieces=pieces, population=P)
    if rng is not None:
        G.init([r["g_init"] for r in members])
        D.init([r["d_init"] for r in members])
    return G, D


def make_gan(config: Config, mixture: GaussianMixture):
    """The GAN of config.backend: NumPy layers (numpy), or kernels (emu, cuda)."""
    if config.backend == "numpy":
        return GAN(config, mixture)
    from .engine import DeviceGAN  # imported here: the numpy backend never needs it

    return DeviceGAN(config, mixture, config.backend)


class GAN:
    """Generator, discriminator, their optimisers and the RNG streams of one run."""

    def __init__(self, config: Config, mixture: GaussianMixture) -> None:
        self.config, self.mixture = config, mixture
        self.loss = get_loss(config.loss)
        dtype = np.dtype(config.dtype)
        self.P, m, dim = 1, config.batch, mixture.dim
        _, self.rng = random_streams(config.seed)
        self.G, self.D = build_networks(config, mixture, self.rng)
        self.D.set_rng(self.rng["dropout"])
        beta1 = config.adam_beta1
        self.opt_g = make_optimizer(config.optimizer, self.G.params, self.G.grads, config.lr_g,
                                    beta1)
        self.opt_d = make_optimizer(config.optimizer, self.D.params, self.D.grads, config.lr_d,
                                    beta1)
        # PacGAN packing: D's input is `pack` consecutive samples concatenated, so a minibatch
        # of m packs takes m * pack samples (a reshape, no copy).
        self.pack = pack = config.pack
        # Buffers of the step: D's concatenated [real; fake] batch and its logit gradient.
        self.d_input = np.empty((self.P, 2 * m, dim * pack), dtype=dtype)
        self.d_grad = np.empty((self.P, 2 * m, 1), dtype=dtype)
        self.noise_shape = (self.P, m * pack, config.noise_dim)

    # ------------------------------------------------------------- the step
    def draw_noise(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return draw_noise(self.config, shape, rng)

    def sample_real(self) -> np.ndarray:
        """A minibatch of m real packs per member, (P, m, pack * dim)."""
        m = self.config.batch
        return self.mixture.sample(self.P * m * self.pack, self.rng["data"]).reshape(
            self.P, m, -1)

    def training_noise(self) -> np.ndarray:
        """A minibatch of G's noise, (P, m * pack, noise_dim)."""
        return self.draw_noise(self.noise_shape, self.rng["noise"])

    def discriminator_step(self) -> float:
        m = self.config.batch
        self.d_input[:, :m] = self.sample_real()
        self.d_input[:, m:] = self._packed(self.G.forward(self.training_noise()))
        logits = self.D.forward(self.d_input)
        value, grad_real, grad_fake = self.loss.discriminator(logits[:, :m], logits[:, m:])
        self.d_grad[:, :m] = grad_real
        self.d_grad[:, m:] = grad_fake
        self.D.backward(self.d_grad, input_grad=False)
        self.opt_d.step()
        if self.loss.clip:
            np.clip(self.D.params, -self.config.clip, self.config.clip, out=self.D.params)
        self.step_values = value  # every member's loss (toygan.population reads them)
        return float(value[0])

    def generator_step(self) -> float:
        fake = self.G.forward(self.training_noise())
        logits = self.D.forward(self._packed(fake))
        value, grad = self.loss.generator(logits)
        grad_fake = self.D.backward(grad, input_grad=True, param_grads=False)
        self.G.backward(grad_fake.reshape(fake.shape), input_grad=False)
        self.opt_g.step()
        self.step_values = value
        return float(value[0])

    def _packed(self, x: np.ndarray) -> np.ndarray:
        """(P, n * pack, dim) -> (P, n, pack * dim): consecutive samples side by side."""
        return x.reshape(x.shape[0], x.shape[1] // self.pack, -1)

    def iteration(self) -> tuple[float, float]:
        """One iteration of Algorithm 1; returns (last D loss, G loss)."""
        for _ in range(self.config.k):
            loss_d = self.discriminator_step()
        return loss_d, self.generator_step()

    # --------------------------------------------------------- inspection
    def generate(self, z: np.ndarray) -> np.ndarray:
        return np.array(self.G.forward(z)[0], dtype=np.float64)

    def discriminate(self, x: np.ndarray) -> np.ndarray:
        """D's output at points x (n, pack * dim): a probability for BCE losses, else the
        raw score. With packing, pass packs (`train.packs`)."""
        self.D.eval()
        try:
            logits = np.array(self.D.forward(np.asarray(x)[None])[0, :, 0], dtype=np.float64)
        finally:
            self.D.train()
        return expit(logits) if self.loss.output_is_probability else logits

    def grad_norms(self) -> tuple[float, float]:
        """Euclidean norms of D's and G's last parameter gradients."""
        return float(np.linalg.norm(self.D.grads)), float(np.linalg.norm(self.G.grads))

    def parameters_finite(self) -> bool:
        return bool(np.isfinite(self.G.params).all() and np.isfinite(self.D.params).all())

    # ---------------------------------------------------------- state
    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"g_params": self.G.params.copy(), "d_params": self.D.params.copy()}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            for key, value in opt.state_dict().items():
                state[f"{prefix}.{key}"] = np.array(value, copy=True)
        for name in TRAINING_STREAMS:
            state[f"rng.{name}"] = np.array(json.dumps(self.rng[name].bit_generator.state))
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "philox" in state:
            raise CheckpointError(
                "the checkpoint was written by a kernel backend (emu or cuda), whose Philox "
                "random streams the numpy backend does not draw from; resume it with "
                "--backend emu or --backend cuda")
        restore_networks(state, self, np.copyto)
        for name in TRAINING_STREAMS:
            self.rng[name].bit_generator.state = json.loads(str(state[f"rng.{name}"]))


# ------------------------------------------------------------------ evaluation
class EvalSets:
    """The fixed evaluation sets of a run, drawn once from its `eval` stream: G's noise,
    real samples, the KDE's noise and the Parzen validation set."""

    def __init__(self, config: Config, mixture: GaussianMixture,
                 eval_rng: np.random.Generator) -> None:
        n = config.eval_samples
        self.noise = draw_noise(config, (1, n, config.noise_dim), eval_rng)
        self.real = mixture.sample(n, eval_rng)
        self.kde_noise = eval_rng.standard_normal((n, mixture.dim))
        self.validation = mixture.sample(PARZEN_VALIDATION, eval_rng)


def packs(x: np.ndarray, pack: int) -> np.ndarray:
    """Points (n, dim) as D's inputs: packs of `pack` consecutive points."""
    return x[: len(x) - len(x) % pack].reshape(-1, pack * x.shape[1])


def evaluate_record(gan, mixture: GaussianMixture, config: Config, sets: EvalSets,
                    records: list[dict], record: dict) -> np.ndarray:
    """Adds one evaluation's metrics to `record` (which holds its step and losses): D on
    real and generated samples, gradient norms, the cheap metrics always, the expensive
    ones every `expensive_every` evaluations and at the final step, then the collapse
    detector over `records` (the earlier evaluations). Returns G's samples."""
    fake = gan.generate(sets.noise)
    record["d_real"] = float(gan.discriminate(packs(sets.real, config.pack)).mean())
    record["d_fake"] = float(gan.discriminate(packs(fake, config.pack)).mean())
    record["grad_norm_d"], record["grad_norm_g"] = gan.grad_norms()
    # D* compares D with p_data / (p_data + p_g) point by point: a packed D has no
    # value at a single point.
    pointwise = gan.loss.output_is_probability and config.pack == 1
    d = gan.discriminate if pointwise else None
    record.update(metrics.sample_metrics(mixture, fake, sets.real, sets.kde_noise, d))
    index = sum(1 for r in records if not r.get("diverged"))
    every = config.expensive_every
    if record["step"] == config.steps or (every and index % every == 0):
        record.update(metrics.expensive_metrics(mixture, fake, sets.real, sets.validation))
    record["events"] = metrics.collapse_events(records, record)
    return fake


def summarise_records(records: list[dict]) -> dict:
    """A run's outcome from its metrics records: the last good evaluation's SUMMARY_KEYS,
    the expensive metrics of the last evaluation that has them (the final one, unless the
    run diverged before it), and every collapse event."""
    good = [r for r in records if not r.get("diverged")]
    last = good[-1] if good else {}
    summary = {key: last.get(key) for key in SUMMARY_KEYS}
    expensive = [r for r in good if "precision" in r]
    for key in EXPENSIVE_KEYS:
        summary[key] = expensive[-1].get(key) if expensive else None
    summary["events"] = [e for r in good for e in r.get("events", [])]
    return summary


# ------------------------------------------------------------------ trainer
class Trainer:
    """Runs a GAN for config.steps iterations in a run directory.

    New run: `Trainer(config, run_dir)`. Resume: `Trainer.resume(run_dir, overrides)`.
    Files: config.json, metrics.jsonl (one JSON object per evaluation), summary.json,
    checkpoint.npz (last good state) and samples.npz (what the plots need), each written
    to a temporary name and renamed into place.
    """

    def __init__(self, config: Config, run_dir: Path) -> None:
        self.mixture = config.validate()
        check_memory(config, self.mixture)  # before anything is allocated
        self.config, self.run_dir = config, Path(run_dir)
        self.gan = make_gan(config, self.mixture)
        self.quiet = True  # run.py sets False: say so when a signal arrives
        self.on_checkpoint: Callable[[], None] | None = None  # called after each one
        self.saved_step: int | None = None  # the step of the checkpoint on disk
        self.step = 0
        self.records: list[dict] = []
        self.loss_sums = np.zeros(2)  # D and G loss summed since the last evaluation
        self.loss_count = 0
        self.last_good: dict[str, np.ndarray] | None = None
        self.last_fake: np.ndarray | None = None  # G's samples at the last evaluation
        self.sets = EvalSets(config, self.mixture, self.gan.rng["eval"])
        self.eval_noise, self.eval_real = self.sets.noise, self.sets.real
        self.snapshots: list[tuple[int, np.ndarray]] = []  # (step, G samples) per evaluation

    @classmethod
    def resume(cls, run_dir: Path, overrides: dict | None = None) -> Trainer:
        """Continue a run from its checkpoint; only NON_TRAJECTORY options may change."""
        run_dir = Path(run_dir)
        config_path = run_dir / "config.json"
        if not config_path.is_file():
            raise CheckpointError(f"{run_dir} holds no config.json: nothing to resume")
        try:
            config = Config.from_dict(read_json(config_path, "a run's configuration"))
        except (RunFileError, TypeError, ValueError) as err:
            raise CheckpointError(f"{config_path} is unreadable: {err}") from None
        stored = config.to_dict()
        for key, value in (overrides or {}).items():
            if key in ("preset", "mixture"):
                continue  # the run's own distribution is kept
            if key not in Config.NON_TRAJECTORY and stored[key] != value:
                raise CheckpointError(
                    f"--{key.replace('_', '-')} {value} differs from the run's {stored[key]}; "
                    "a resumed run keeps its configuration (only "
                    f"{', '.join(Config.NON_TRAJECTORY)} may change)"
                )
            setattr(config, key, value)
        trainer = cls(config, run_dir)
        trainer._load_checkpoint()
        return trainer

    def _load_checkpoint(self) -> None:
        path = self.run_dir / "checkpoint.npz"
        if not path.is_file():
            raise CheckpointError(f"no checkpoint at {path}")
        try:
            state = load_npz(path)
        except RunFileError as err:
            raise CheckpointError(f"checkpoint {path} is unreadable ({err})") from None
        bad = [k for k, v in state.items()
               if v.dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            raise CheckpointError(f"checkpoint {path} holds NaN/Inf in {bad[0]}: it is "
                                  "corrupt (a run only checkpoints finite states)")
        try:
            if int(state["version"]) != CHECKPOINT_VERSION:
                raise CheckpointError(f"checkpoint {path} has format {int(state['version'])}")
            # Through Config, so that options added since the checkpoint was written take
            # their defaults (which reproduce the old behaviour).
            theirs = Config.from_dict(json.loads(str(state["config"]))).trajectory_dict()
            theirs = json.loads(json.dumps(theirs))
            ours = self.config.trajectory_dict()
            if theirs != json.loads(json.dumps(ours)):
                diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
                raise CheckpointError(
                    f"checkpoint {path} is from another configuration (differs in: "
                    f"{', '.join(diff)})"
                )
            self.gan.load_state_dict(state)
            self.step = int(state["step"])
            self.loss_sums[...] = state["loss_sums"]
            self.loss_count = int(state["loss_count"])
        except KeyError as err:
            raise CheckpointError(f"checkpoint {path} lacks {err.args[0]!r}") from None
        except CheckpointError:
            raise
        except (ValueError, TypeError) as err:  # wrong shapes or kinds of scalars
            raise CheckpointError(f"checkpoint {path} is corrupt ({err})") from None
        if self.step > self.config.steps:
            raise CheckpointError(
                f"the checkpoint is at step {self.step}, beyond --steps {self.config.steps}"
            )
        metrics_path = self.run_dir / "metrics.jsonl"
        if metrics_path.is_file():
            try:
                lines = read_jsonl(metrics_path)
            except RunFileError as err:
                raise CheckpointError(f"{err}; the run cannot be resumed") from None
            # Evaluations after the checkpoint are redone by the resumed run.
            self.records = [r for r in lines if r["step"] <= self.step and not r.get("diverged")]
        snapshots_path = self.run_dir / "snapshots.npz"
        if snapshots_path.is_file():
            try:
                data = load_npz(snapshots_path, ("steps", "fake"))
            except RunFileError as err:
                raise CheckpointError(f"{err}; the run cannot be resumed") from None
            steps, fake = data["steps"], data["fake"]
            if (steps.ndim != 1 or fake.ndim != 3 or len(steps) != len(fake)
                    or fake.shape[2] != self.mixture.dim):
                raise CheckpointError(f"{snapshots_path} holds arrays of the wrong shapes "
                                      f"(steps {steps.shape}, fake {fake.shape})")
            self.snapshots = [(int(t), x) for t, x in zip(steps, fake, strict=True)
                              if t <= self.step]
        self.last_good = self.gan.state_dict()
        self.saved_step = self.step

    # ------------------------------------------------------------ files
    def write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.run_dir / "config.json", self.config.to_json() + "\n")

    def _write_metrics(self) -> None:
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)
        atomic_write_text(self.run_dir / "metrics.jsonl", text)

    def _write_snapshots(self) -> None:
        if not self.config.snapshot_samples or not self.snapshots:
            return
        steps, fakes = zip(*self.snapshots, strict=True)
        n = min(len(x) for x in fakes)  # a resume may have changed --snapshot-samples
        atomic_save_npz(self.run_dir / "snapshots.npz",
                        {"steps": np.array(steps, dtype=np.int64),
                         "fake": np.stack([x[:n] for x in fakes])})

    def _write_checkpoint(self, state: dict[str, np.ndarray]) -> None:
        arrays = dict(state)
        arrays["version"] = np.array(CHECKPOINT_VERSION)
        arrays["step"] = np.array(self.step, dtype=np.int64)
        arrays["loss_sums"] = self.loss_sums.copy()
        arrays["loss_count"] = np.array(self.loss_count, dtype=np.int64)
        arrays["config"] = np.array(json.dumps(self.config.trajectory_dict(), sort_keys=True))
        atomic_save_npz(self.run_dir / "checkpoint.npz", arrays)
        self.saved_step = self.step
        if self.on_checkpoint is not None:
            self.on_checkpoint()

    # ------------------------------------------------------------ evaluation
    def evaluate(self) -> dict:
        """One line of metrics.jsonl (see evaluate_record), with the mean losses since the
        last evaluation; keeps G's samples for the snapshots."""
        record: dict = {"step": self.step, "wall_seconds": round(time.perf_counter() - self.t0, 3)}
        if self.loss_count:
            record["loss_d"] = float(self.loss_sums[0] / self.loss_count)
            record["loss_g"] = float(self.loss_sums[1] / self.loss_count)
        fake = evaluate_record(self.gan, self.mixture, self.config, self.sets, self.records,
                               record)
        self.loss_sums[...] = 0.0
        self.loss_count = 0
        self.last_fake = fake
        if self.config.snapshot_samples:
            kept = fake[: self.config.snapshot_samples].astype(np.float32)
            self.snapshots = [(t, x) for t, x in self.snapshots if t < self.step]
            self.snapshots.append((self.step, kept))
        return record

    def _surface(self) -> dict[str, np.ndarray]:
        """D on a grid over the data's support (what the discriminator plot draws)."""
        if self.config.pack > 1:
            return {}  # a packed D has no value at a single point
        lo, hi = self.mixture.bounds(margin=4.0)
        fake = self.last_fake
        lo = np.minimum(lo, np.percentile(fake, 1, axis=0))
        hi = np.maximum(hi, np.percentile(fake, 99, axis=0))
        pad = 0.15 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        if self.mixture.dim == 1:
            xs = np.linspace(lo[0], hi[0], 1000)
            return {"grid_x": xs, "d_values": self.gan.discriminate(xs[:, None])}
        if self.mixture.dim != 2:
            return {}
        xs = np.linspace(lo[0], hi[0], 160)
        ys = np.linspace(lo[1], hi[1], 160)
        xx, yy = np.meshgrid(xs, ys, indexing="xy")
        points = np.stack([xx.ravel(), yy.ravel()], axis=1)
        d = self.gan.discriminate(points).reshape(xx.shape)
        return {"grid_x": xs, "grid_y": ys, "d_values": d}

    def _write_samples(self) -> None:
        arrays = {"fake": self.last_fake, "real": self.eval_real, "step": np.array(self.step)}
        arrays.update(self._surface())
        arrays["d_is_probability"] = np.array(self.gan.loss.output_is_probability)
        atomic_save_npz(self.run_dir / "samples.npz", arrays)

    # ------------------------------------------------------------ the loop
    def run(self, progress: Callable[[int, int, dict], None] | None = None) -> dict:
        """Train to config.steps; returns the summary. Raises Diverged on NaN/Inf."""
        self.t0 = time.perf_counter()
        start_step = self.step
        # SIGINT/SIGTERM stop the loop between iterations, with the state saved there
        # (toygan.interrupts); NaN/Inf is caught by the guard on every step, with a clear
        # message; numpy's own warnings about it would only come first and say less.
        with DeferredSignals(self.quiet) as self._signals, \
                np.errstate(invalid="ignore", over="ignore"):
            self.write_config()
            if not self.records:
                self._evaluate_and_checkpoint()
            self.eval_seconds = 0.0
            tick = time.perf_counter()
            self._loop(progress)
            train_seconds = time.perf_counter() - tick - self.eval_seconds
        if self.last_fake is None:  # resumed at its final step: nothing was evaluated
            self.last_fake = self.gan.generate(self.eval_noise)
        self._write_samples()
        return self._finish(train_seconds, self.step - start_step, diverged=False)

    def _loop(self, progress: Callable[[int, int, dict], None] | None) -> None:
        config, gan = self.config, self.gan
        while self.step < config.steps:
            self._stop_if_asked()
            loss_d, loss_g = gan.iteration()
            self.step += 1
            if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
                self._diverge(f"loss became NaN/Inf (D loss {loss_d}, G loss {loss_g})")
            self.loss_sums[0] += loss_d
            self.loss_sums[1] += loss_g
            self.loss_count += 1
            if self.step % config.eval_every == 0 or self.step == config.steps:
                tick = time.perf_counter()
                record = self._evaluate_and_checkpoint()
                self.eval_seconds += time.perf_counter() - tick
                if progress:
                    progress(self.step, config.steps, record)
            elif progress and self.step % 50 == 0:
                progress(self.step, config.steps, {})

    def _stop_if_asked(self) -> None:
        """Between iterations: on a signal received since, save and raise Interrupted."""
        signum = self._signals.requested
        if signum is not None:
            self.interrupt()
            raise Interrupted(signum, self.saved_step)

    def interrupt(self) -> None:
        """Save the state after the last complete iteration (a finite one; else the last
        checkpoint stays, and the resumed run meets the same divergence)."""
        if self.saved_step != self.step and self.gan.parameters_finite():
            self._write_checkpoint(self.gan.state_dict())

    def _evaluate_and_checkpoint(self) -> dict:
        """Evaluate, log and checkpoint a state known to be finite (else: diverge)."""
        if not self.gan.parameters_finite():
            self._diverge("a parameter became NaN/Inf")
        record = self.evaluate()
        self.records.append(record)
        self._write_metrics()
        self._write_snapshots()
        self.last_good = self.gan.state_dict()
        self._write_checkpoint(self.last_good)
        return record

    def _diverge(self, reason: str) -> None:
        message = f"training diverged at step {self.step}: {reason}"
        self.records.append({"step": self.step, "diverged": True, "reason": reason})
        self._write_metrics()
        # Plots show the last good state; the checkpoint on disk is already that state.
        if self.last_good is not None:
            self.gan.load_state_dict(self.last_good)
        if self.last_fake is not None:
            self._write_samples()
        self._finish(time.perf_counter() - self.t0, 0, diverged=True, reason=reason)
        raise Diverged(message + f"; last good checkpoint kept in {self.run_dir}")

    def _finish(self, train_seconds: float, steps_done: int, diverged: bool, reason=None) -> dict:
        good = [r for r in self.records if not r.get("diverged")]
        last = good[-1] if good else {}
        config = self.config
        summary = {
            "preset": config.preset,
            "backend": config.backend,
            "seed": config.seed,
            "loss": config.loss,
            "steps": last.get("step", 0),
            "wall_seconds": round(time.perf_counter() - self.t0, 3),
            "steps_per_second": round(steps_done / train_seconds, 2) if train_seconds > 0 else None,
            "diverged": diverged,
            "versions": versions(),
        }
        summary.update(summarise_records(self.records))
        if diverged:
            summary["diverged_at_step"] = self.step
            summary["diverged_reason"] = reason
        atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary
