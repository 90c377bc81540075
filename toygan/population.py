"""Population training: many GANs of one architecture trained in lockstep, and statistics
of their outcomes with confidence intervals.

`python -m toygan.run mixture8 --population 64 [--grid "lr_d=1e-4,3e-4 k=1,5"]` trains 64
members per cell of the grid (seeds seed .. seed + 63 in every cell, so that cells are
compared on the same seeds). Weights are stacked as (P, n_params) and every op is one
batched NumPy call over the members (toygan.nn's member axis), or on --backend emu/cuda
one kernel launch over them (toygan.device_population).

What makes member i equal to the single run of its configuration (tested):
- its parameters are initialised, and its minibatches and noise drawn, from the streams of
  its own seed (train.random_streams), in the same order and shapes as a single run's;
- per-member learning rates go through the same float arithmetic as a scalar one
  (optim.Optimizer._as_params);
- with k differing between members, every member runs max(k) D steps in lockstep and the
  update of a member past its own k is masked (its parameters, gradients, optimiser state,
  step count and dropout generator put back; it draws no minibatch or noise);
- it is evaluated by the single run's own code (train.evaluate_record) on a one-member copy
  of its networks, with its own evaluation sets.
A member whose loss or parameters become NaN/Inf is frozen at its last good evaluation and
marked (diverged_at_step); the others train on, unaffected (no op mixes members).

Files of a population run directory (plots read only these):
  config.json       the base configuration, with "population" and "grid"
  members.json      each member's configuration and cell
  members.jsonl     one line per member and evaluation: {"member": i, ...the single run's
                    metrics record...}
  population.json   per-member summaries (the single run's summary keys) and the table per
                    cell (cell_table)
  population.npz    each member's final G samples (thumbnails), the real samples, the means
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .config import Config, ConfigError
from .distributions import GaussianMixture
from .interrupts import DeferredSignals, Interrupted
from .losses import get_loss
from .optim import make_optimizer
from .population_stats import (  # noqa: F401 (importers take these from here too)
    cell_name,
    cell_table,
    collapsed,
    format_table,
    write_population,
)
from .resources import check_memory, versions
from .runfiles import RunFileError, load_npz, read_json, read_jsonl
from .train import (
    GAN,
    TRAINING_STREAMS,
    CheckpointError,
    EvalSets,
    atomic_save_npz,
    atomic_write_text,
    build_networks,
    draw_noise,
    evaluate_record,
    random_streams,
    restore_networks,
    summarise_records,
)

# Options a grid may vary: they change neither shapes nor code paths, so members of
# different cells still run in one lockstep batch.
GRID_KEYS = {"lr_d": float, "lr_g": float, "k": int, "seed": int}
POPULATION_FILES = ("config.json", "members.json", "members.jsonl", "population.json",
                    "population.npz")
POPULATION_PLOT_FILES = ("population_modes.png", "population_members.png",
                         "population_collapse.png")
THUMBNAIL_SAMPLES = 500
MAX_MEMBERS = 65_535  # members ride on one grid dimension of a kernel launch


# ---------------------------------------------------------------- the grid
def parse_grid(spec: str | None) -> dict[str, list]:
    """'lr_d=1e-4,3e-4 k=1,5', or a JSON object {"lr_d": [1e-4, 3e-4], "k": [1, 5]}, or a
    path to a file holding that object -> {key: values}."""
    if not spec:
        return {}
    text = spec.strip()
    path = Path(text)
    if not text.startswith("{") and "=" not in text:
        if not path.is_file():
            raise ConfigError(f"--grid {spec!r}: neither KEY=V1,V2 pairs nor a JSON file")
        text = path.read_text()
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except RecursionError:
            raise ConfigError("--grid: JSON nested too deeply") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"--grid: invalid JSON ({err})") from None
        if not isinstance(raw, dict):
            raise ConfigError("--grid: the JSON must be an object of lists")
        pairs = [(k, v if isinstance(v, list) else [v]) for k, v in raw.items()]
    else:
        pairs = []
        for part in text.split():
            key, sep, values = part.partition("=")
            if not sep or not values:
                raise ConfigError(f"--grid: {part!r} is not KEY=V1,V2,...")
            pairs.append((key, values.split(",")))
    grid: dict[str, list] = {}
    for key, values in pairs:
        if key not in GRID_KEYS:
            raise ConfigError(f"--grid: {key!r} cannot vary within a population; choose from "
                              f"{', '.join(GRID_KEYS)}")
        if key in grid:
            raise ConfigError(f"--grid: {key} given twice")
        try:
            grid[key] = [_grid_value(GRID_KEYS[key], v) for v in values]
        except (TypeError, ValueError):
            raise ConfigError(f"--grid: {key} needs {GRID_KEYS[key].__name__} values, got "
                              f"{values}") from None
        if not grid[key]:
            raise ConfigError(f"--grid: {key} has no values")
        if len(set(grid[key])) != len(grid[key]):
            raise ConfigError(f"--grid: {key} lists a value twice ({values})")
    return grid


def _grid_value(kind: type, value):
    """A grid value as its option's type; '1e3' is an int, 1.5 is not, true is neither."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value} is not a number")
    if kind is int:
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{value} is not an integer")
        return int(number)
    return kind(value)


def cells_of(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, in a fixed order ([{}] without a grid)."""
    keys = sorted(grid)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def member_configs(base: Config, population: int, grid: dict[str, list]) -> list[Config]:
    """`population` members per cell: seeds base.seed + j (j < population) in every cell,
    unless the grid varies the seed itself. Each is validated as a single run's config."""
    if not isinstance(population, int) or isinstance(population, bool) or population < 1:
        raise ConfigError(f"--population must be an integer >= 1, got {population}")
    total = population * len(cells_of(grid))
    if total > MAX_MEMBERS:
        raise ConfigError(f"{total} members ({population} per cell x {total // population} "
                          f"cells): at most {MAX_MEMBERS} train in one population (the CUDA "
                          "grid's limit); split it into several runs or a sweep")
    if "seed" in grid and population > 1:
        raise ConfigError("the grid varies the seed: each seed value is one member, so give "
                          "--population 1 (N copies of a seed are not N samples)")
    members = []
    for cell in cells_of(grid):
        for j in range(population):
            data = base.to_dict()
            data["seed"] = base.seed + j
            data.update(cell)
            config = Config.from_dict(data)
            config.validate()
            members.append(config)
    return members


# ---------------------------------------------------------------- the model
class PopulationGAN(GAN):
    """P GANs in lockstep on the numpy backend: train.GAN with a member axis of P."""

    def __init__(self, configs: list[Config], mixture: GaussianMixture) -> None:
        base = configs[0]
        self.config, self.configs, self.mixture = base, configs, mixture
        self.loss = get_loss(base.loss)
        self.P, m, dim, dtype = len(configs), base.batch, mixture.dim, np.dtype(base.dtype)
        self.rngs = [random_streams(c.seed)[1] for c in configs]
        self.G, self.D = build_networks(base, mixture, self.rngs)
        self.D.set_rng([r["dropout"] for r in self.rngs])
        lr_g = np.array([c.lr_g for c in configs])
        lr_d = np.array([c.lr_d for c in configs])
        self.opt_g = make_optimizer(base.optimizer, self.G.params, self.G.grads, lr_g,
                                    base.adam_beta1)
        self.opt_d = make_optimizer(base.optimizer, self.D.params, self.D.grads, lr_d,
                                    base.adam_beta1)
        self.k = np.array([c.k for c in configs])
        self.alive = np.ones(self.P, dtype=bool)
        self.pack = pack = base.pack
        self.d_input = np.zeros((self.P, 2 * m, dim * pack), dtype=dtype)
        self.d_grad = np.empty((self.P, 2 * m, 1), dtype=dtype)
        self.noise = np.zeros((self.P, m * pack, base.noise_dim), dtype=dtype)
        self._active = self.alive

    def sample_real(self) -> np.ndarray:
        m = self.config.batch
        for i in np.flatnonzero(self._active):
            self.d_input[i, :m] = self.mixture.sample(m * self.pack, self.rngs[i]["data"]
                                                      ).reshape(m, -1)
        return self.d_input[:, :m]

    def training_noise(self) -> np.ndarray:
        shape = (1, *self.noise.shape[1:])
        for i in np.flatnonzero(self._active):
            self.noise[i] = draw_noise(self.config, shape, self.rngs[i]["noise"])[0]
        return self.noise

    def _masked(self, optimizer, step: Callable[[], object]):
        """Run `step` (which updates `optimizer`'s parameters) for the active members only:
        the others' parameters, gradients, optimiser state and step counts are put back."""
        frozen = ~self._active
        if not frozen.any():
            return step()
        arrays = [optimizer.params, optimizer.grads] + [
            v for k, v in optimizer.state_dict().items() if k != "steps"]
        saved = [a[frozen].copy() for a in arrays]
        steps = optimizer.steps.copy()
        # D's dropout draws from every member's generator; a masked member's must not move.
        dropout = {i: self.rngs[i]["dropout"].bit_generator.state
                   for i in np.flatnonzero(frozen)}
        value = step()
        for a, s in zip(arrays, saved, strict=True):
            a[frozen] = s
        optimizer.steps[frozen] = steps[frozen]
        for i, state in dropout.items():
            self.rngs[i]["dropout"].bit_generator.state = state
        return value

    def iteration(self) -> tuple[np.ndarray, np.ndarray]:
        """One lockstep iteration; (D loss, G loss) per member (NaN for members that took
        no step)."""
        loss_d = np.full(self.P, np.nan)
        for j in range(int(self.k[self.alive].max(initial=0))):
            self._active = self.alive & (self.k > j)
            values = self._masked(self.opt_d, self._discriminator_values)
            loss_d[self._active] = values[self._active]
        self._active = self.alive
        loss_g = np.full(self.P, np.nan)
        values = self._masked(self.opt_g, self._generator_values)
        loss_g[self.alive] = values[self.alive]
        return loss_d, loss_g

    # train.GAN's steps return member 0's loss; step_values holds every member's.
    def _discriminator_values(self) -> np.ndarray:
        self.discriminator_step()
        return np.asarray(self.step_values, dtype=np.float64).reshape(self.P)

    def _generator_values(self) -> np.ndarray:
        self.generator_step()
        return np.asarray(self.step_values, dtype=np.float64).reshape(self.P)

    def members_finite(self) -> np.ndarray:
        return (np.isfinite(self.G.params).all(axis=1) & np.isfinite(self.D.params).all(axis=1))

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Every member's parameters, on the host."""
        return self.G.params.copy(), self.D.params.copy()

    def restore_member(self, i: int, snapshot: tuple[np.ndarray, np.ndarray]) -> None:
        self.G.params[i], self.D.params[i] = snapshot[0][i], snapshot[1][i]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every member's parameters, optimiser states, training streams and whether it is
        alive."""
        state = {"g_params": self.G.params.copy(), "d_params": self.D.params.copy(),
                 "alive": self.alive.copy()}
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state.update({f"{prefix}.{k}": np.array(v, copy=True)
                          for k, v in opt.state_dict().items()})
        state["rng.members"] = np.array(json.dumps(
            [{name: r[name].bit_generator.state for name in TRAINING_STREAMS}
             for r in self.rngs]))
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "rng.members" not in state:
            raise CheckpointError("the checkpoint was written by a kernel backend (emu or "
                                  "cuda); resume it with the same --backend")
        restore_networks(state, self, np.copyto)
        members = json.loads(str(state["rng.members"]))
        if len(members) != self.P:
            raise CheckpointError(f"the checkpoint holds {len(members)} members, not {self.P}")
        for r, saved in zip(self.rngs, members, strict=True):
            for name in TRAINING_STREAMS:
                r[name].bit_generator.state = saved[name]
        self.alive[...] = state["alive"]

    def member(self, i: int) -> GAN:
        """A one-member GAN holding member i's parameters and last gradients: what
        evaluate_record inspects, computed exactly as for a single run."""
        view = GAN.__new__(GAN)
        view.config, view.mixture, view.loss, view.P = self.configs[i], self.mixture, \
            self.loss, 1
        view.G, view.D = build_networks(self.configs[i], self.mixture, None)
        for ours, theirs in ((view.G, self.G), (view.D, self.D)):
            ours.params[0] = theirs.params[i]
            ours.grads[0] = theirs.grads[i]
        return view


# ---------------------------------------------------------------- the trainer
class PopulationTrainer:
    """Trains a population to config.steps in one run directory (see the module doc).

    New: `PopulationTrainer(base, population, grid, run_dir)`; resume:
    `PopulationTrainer.resume(run_dir, overrides)`. checkpoint.npz holds every member's
    state (written at each evaluation and on SIGINT/SIGTERM, after a whole iteration), so a
    resumed population ends bit-identical to one that never stopped."""

    def __init__(self, base: Config, population: int, grid: dict[str, list],
                 run_dir: Path) -> None:
        self.mixture = base.validate()
        self.base, self.population, self.grid = base, population, grid
        self.configs = member_configs(base, population, grid)
        check_memory(base, self.mixture, len(self.configs))  # before anything is allocated
        self.cells = cells_of(grid)
        self.member_cell = [c for c in range(len(self.cells)) for _ in range(population)]
        self.run_dir = Path(run_dir)
        if base.backend == "numpy":
            self.gan = PopulationGAN(self.configs, self.mixture)
        else:  # emu or cuda: the kernels, batched over the members
            from .device_population import DevicePopulationGAN

            self.gan = DevicePopulationGAN(self.configs, self.mixture, base.backend)
        P = self.gan.P
        self.sets = [EvalSets(c, self.mixture, r["eval"])
                     for c, r in zip(self.configs, self.gan.rngs, strict=True)]
        self.records: list[list[dict]] = [[] for _ in range(P)]
        self.loss_sums = np.zeros((P, 2))
        self.loss_counts = np.zeros(P, dtype=np.int64)
        self.diverged_at: list[int | None] = [None] * P
        self.reasons: list[str | None] = [None] * P
        self.last_good = self.gan.snapshot()
        self.last_fake: list[np.ndarray | None] = [None] * P
        self.step = 0
        self.quiet = True
        self.on_checkpoint: Callable[[], None] | None = None
        self.saved_step: int | None = None

    @classmethod
    def resume(cls, run_dir: Path, overrides: dict | None = None) -> PopulationTrainer:
        """Continue a population from its checkpoint; only NON_TRAJECTORY options change."""
        run_dir = Path(run_dir)
        path = run_dir / "config.json"
        try:
            data = read_json(path, "a population's configuration")
        except RunFileError as err:
            raise CheckpointError(str(err)) from None
        population, grid = data.pop("population", None), data.pop("grid", None)
        if (not isinstance(population, int) or isinstance(population, bool) or population < 1
                or not isinstance(grid, dict)):
            raise CheckpointError(f"{path} is not a population's config.json (population "
                                  f"{population!r}, grid {grid!r})")
        try:
            base = Config.from_dict(data)
        except ConfigError as err:
            raise CheckpointError(f"{path}: {err}") from None
        for key, value in (overrides or {}).items():
            if key not in Config.NON_TRAJECTORY and getattr(base, key) != value:
                raise CheckpointError(
                    f"--{key.replace('_', '-')} {value} differs from the run's "
                    f"{getattr(base, key)}; a resumed run keeps its configuration (only "
                    f"{', '.join(Config.NON_TRAJECTORY)} may change)")
            setattr(base, key, value)
        try:
            trainer = cls(base, population, parse_grid(json.dumps(grid)), run_dir)
        except ConfigError as err:
            raise CheckpointError(f"{path}: {err}") from None
        trainer._load_checkpoint()
        return trainer

    def _load_checkpoint(self) -> None:
        path = self.run_dir / "checkpoint.npz"
        try:
            state = load_npz(path, ("step", "config", "loss_sums", "loss_counts",
                                    "diverged_at", "reasons", "last_g", "last_d", "fake",
                                    "has_fake"))
        except RunFileError as err:
            raise CheckpointError(f"cannot resume: {err}") from None
        ours = json.loads(json.dumps(self._trajectory()))
        if json.loads(str(state["config"])) != ours:
            raise CheckpointError(f"checkpoint {path} is from another configuration")
        P = self.gan.P
        try:
            self.gan.load_state_dict(state)
            self.step = int(state["step"])
            self.loss_sums[...] = state["loss_sums"]
            self.loss_counts[...] = state["loss_counts"]
            self.last_good[0][...] = state["last_g"]
            self.last_good[1][...] = state["last_d"]
            at = [int(v) for v in state["diverged_at"]]
            reasons = json.loads(str(state["reasons"]))
            if len(at) != P or len(reasons) != P:
                raise ValueError(f"{len(at)} members, expected {P}")
        except (KeyError, ValueError, TypeError) as err:
            raise CheckpointError(f"checkpoint {path} is corrupt ({err})") from None
        self.diverged_at = [None if v < 0 else v for v in at]
        self.reasons = reasons
        self.last_fake = [x.astype(np.float64) if has else None
                          for x, has in zip(state["fake"], state["has_fake"], strict=True)]
        if self.step > self.base.steps:
            raise CheckpointError(f"the checkpoint is at step {self.step}, beyond --steps "
                                  f"{self.base.steps}")
        try:
            lines = read_jsonl(self.run_dir / "members.jsonl", ("member", "step"))
        except RunFileError as err:
            raise CheckpointError(f"{err}; the population cannot be resumed") from None
        for record in lines:
            i = record.pop("member")
            if not isinstance(i, int) or not 0 <= i < P:
                raise CheckpointError(f"{self.run_dir / 'members.jsonl'}: member {i!r} is not "
                                      f"one of the {P} members")
            if record["step"] <= self.step:  # later evaluations are redone
                self.records[i].append(record)
        self.saved_step = self.step

    def _trajectory(self) -> dict:
        return {"base": self.base.trajectory_dict(), "population": self.population,
                "grid": self.grid}

    def _write_checkpoint(self) -> None:
        P, n = self.gan.P, min(THUMBNAIL_SAMPLES, self.base.eval_samples)
        fake = np.zeros((P, n, self.mixture.dim), dtype=np.float64)
        for i, x in enumerate(self.last_fake):
            if x is not None:
                fake[i] = x[:n]
        arrays = {**self.gan.state_dict(), "step": np.array(self.step, dtype=np.int64),
                  "config": np.array(json.dumps(self._trajectory(), sort_keys=True)),
                  "loss_sums": self.loss_sums.copy(), "loss_counts": self.loss_counts.copy(),
                  "diverged_at": np.array([-1 if v is None else v for v in self.diverged_at],
                                          dtype=np.int64),
                  "reasons": np.array(json.dumps(self.reasons)),
                  "last_g": self.last_good[0], "last_d": self.last_good[1],
                  "fake": fake, "has_fake": np.array([x is not None for x in self.last_fake])}
        atomic_save_npz(self.run_dir / "checkpoint.npz", arrays)
        self.saved_step = self.step
        if self.on_checkpoint is not None:
            self.on_checkpoint()

    def write_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = self.base.to_dict()
        data.update(population=self.population, grid=self.grid)
        atomic_write_text(self.run_dir / "config.json", json.dumps(data, indent=2) + "\n")
        members = [{"member": i, "cell": self.member_cell[i],
                    "cell_name": cell_name(self.cells[self.member_cell[i]]),
                    "config": c.to_dict()} for i, c in enumerate(self.configs)]
        atomic_write_text(self.run_dir / "members.json", json.dumps(members, indent=1) + "\n")

    def _diverge(self, i: int, reason: str) -> None:
        """Freeze member i at its last good parameters and mark it."""
        self.gan.alive[i] = False
        self.diverged_at[i], self.reasons[i] = self.step, reason
        self.gan.restore_member(i, self.last_good)
        self.records[i].append({"step": self.step, "diverged": True, "reason": reason})

    def evaluate(self) -> None:
        finite = self.gan.members_finite()
        for i in np.flatnonzero(self.gan.alive & ~finite):
            self._diverge(int(i), "a parameter became NaN/Inf")
        for i in np.flatnonzero(self.gan.alive):
            record: dict = {"step": self.step}
            if self.loss_counts[i]:
                record["loss_d"] = float(self.loss_sums[i, 0] / self.loss_counts[i])
                record["loss_g"] = float(self.loss_sums[i, 1] / self.loss_counts[i])
            self.last_fake[i] = evaluate_record(self.gan.member(int(i)), self.mixture,
                                                self.configs[i], self.sets[i],
                                                self.records[i], record)
            self.records[i].append(record)
        self.loss_sums[...] = 0.0
        self.loss_counts[...] = 0
        alive, now = self.gan.alive, self.gan.snapshot()
        for last, current in zip(self.last_good, now, strict=True):
            last[alive] = current[alive]
        lines = [json.dumps({"member": i, **r}, sort_keys=True) + "\n"
                 for i, rs in enumerate(self.records) for r in rs]
        atomic_write_text(self.run_dir / "members.jsonl", "".join(lines))
        self._write_checkpoint()

    def run(self, progress: Callable[[int, int, dict], None] | None = None) -> dict:
        """Train to config.steps; returns the summary. On SIGINT/SIGTERM: the state after
        the last whole iteration is saved and Interrupted raised (toygan.interrupts)."""
        config = self.base
        self.t0 = time.perf_counter()
        start_step = self.step
        train_seconds = 0.0
        with DeferredSignals(self.quiet) as signals, \
                np.errstate(invalid="ignore", over="ignore"):
            self.write_config()
            if not any(self.records):
                self.evaluate()
            while self.step < config.steps:
                if signals.requested is not None:
                    if self.saved_step != self.step:
                        self._write_checkpoint()
                    raise Interrupted(signals.requested, self.saved_step)
                tick = time.perf_counter()
                loss_d, loss_g = self.gan.iteration()
                train_seconds += time.perf_counter() - tick
                self.step += 1
                took = self.gan.alive.copy()
                bad = took & ~(np.isfinite(loss_d) & np.isfinite(loss_g))
                for i in np.flatnonzero(bad):
                    self._diverge(int(i), f"loss became NaN/Inf (D loss {loss_d[i]}, G loss "
                                          f"{loss_g[i]})")
                good = took & ~bad
                self.loss_sums[good, 0] += loss_d[good]
                self.loss_sums[good, 1] += loss_g[good]
                self.loss_counts[good] += 1
                if self.step % config.eval_every == 0 or self.step == config.steps:
                    self.evaluate()
                    if progress:
                        progress(self.step, config.steps, self.progress_record())
                elif progress and self.step % 50 == 0:
                    progress(self.step, config.steps, {})
            return self.finish(train_seconds, self.step - start_step)

    def progress_record(self) -> dict:
        """What the progress line shows: the members' mean modes and high-quality share."""
        last = [rs[-1] for rs in self.records if rs and not rs[-1].get("diverged")]
        if not last:
            return {}
        return {"modes_covered": float(np.mean([r["modes_covered"] for r in last])),
                "modes_total": last[0]["modes_total"],
                "high_quality_fraction": float(np.mean([r["high_quality_fraction"]
                                                        for r in last])),
                "jsd_estimate": float(np.mean([r["jsd_estimate"] for r in last]))}

    def member_summary(self, i: int) -> dict:
        good = [r for r in self.records[i] if not r.get("diverged")]
        last = good[-1] if good else {}
        summary = {"member": i, "cell": self.member_cell[i], "seed": self.configs[i].seed,
                   "steps": last.get("step", 0), "diverged": self.diverged_at[i] is not None,
                   **summarise_records(self.records[i])}
        if summary["diverged"]:
            summary["diverged_at_step"] = self.diverged_at[i]
            summary["diverged_reason"] = self.reasons[i]
        return summary

    def finish(self, train_seconds: float, steps_done: int) -> dict:
        members = [self.member_summary(i) for i in range(self.gan.P)]
        P, steps = self.gan.P, self.step
        summary = {
            "preset": self.base.preset, "population": self.population, "members": P,
            "grid": self.grid, "steps": steps,
            "wall_seconds": round(time.perf_counter() - self.t0, 3),
            "gan_iterations_per_second": (round(P * steps_done / train_seconds, 1)
                                          if train_seconds > 0 else None),
            "versions": versions(),
            "cells": cell_table(members, self.cells),
            "member_summaries": members,
        }
        n = min(THUMBNAIL_SAMPLES, self.base.eval_samples)
        fake = np.full((P, n, self.mixture.dim), np.nan, dtype=np.float32)  # NaN: no eval
        for i, x in enumerate(self.last_fake):
            if x is not None:
                fake[i] = x[:n]
        write_population(self.run_dir, summary, fake, self.sets[0].real[:n], self.mixture)
        return summary
