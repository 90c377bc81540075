"""Population training: many GANs of one architecture trained in lockstep, and statistics
of their outcomes with confidence intervals.

`python -m toygan.run mixture8 --population 64 [--grid "lr_d=1e-4,3e-4 k=1,5"]` trains 64
members per cell of the grid (seeds seed .. seed + 63 in every cell, so that cells are
compared on the same seeds). Weights are stacked as (P, n_params) and every op is one
batched NumPy call over the members (toygan.core.nn's member axis), or on --backend emu/cuda
one kernel launch over them (toygan.gan.device_populations).

What makes member i equal to the single run of its configuration (tested):
- its parameters are initialised, and its minibatches and noise drawn, from the streams of
  its own seed (gan.streams.random_streams), in the same order and shapes as a single run's;
- per-member learning rates go through the same float arithmetic as a scalar one
  (optim.Optimizer._as_params);
- with k differing between members, every member runs max(k) D steps in lockstep and the
  update of a member past its own k is masked (its parameters, gradients, optimiser state,
  step count and dropout generator put back; it draws no minibatch or noise);
- it is evaluated by the single run's own code (training.evaluation.evaluate_record) on a
  one-member copy of its networks, with its own evaluation sets.
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

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import Config, ConfigError
from ..gan.factory import make_population_gan, resolve
from ..gan.networks import CheckpointError
from ..interrupts import DeferredSignals, Interrupted
from ..resources import check_memory, versions
from ..runfiles import (
    THUMBNAIL_SAMPLES,
    RunFileError,
    atomic_save_npz,
    atomic_write_text,
    load_npz,
    read_json,
    read_jsonl,
)
from .evaluation import EvalSets, evaluate_record, summarise_records
from .grid import cells_of, member_configs, parse_grid
from .loop import TrainingLoop, iterations_per_second
from .tables import cell_name, cell_table, write_population


# ---------------------------------------------------------------- the trainer
class PopulationTrainer(TrainingLoop):
    """Trains a population to config.steps in one run directory (see the module doc).

    New: `PopulationTrainer(base, population, grid, run_dir)`; resume:
    `PopulationTrainer.resume(run_dir, overrides)`. checkpoint.npz holds every member's
    state (written at each evaluation and on SIGINT/SIGTERM, after a whole iteration), so a
    resumed population ends bit-identical to one that never stopped."""

    def __init__(self, base: Config, population: int, grid: dict[str, list],
                 run_dir: Path) -> None:
        self.mixture = resolve(base)
        self.base, self.population, self.grid = base, population, grid
        self.configs = member_configs(base, population, grid)
        check_memory(base, self.mixture, len(self.configs))  # before anything is allocated
        self.cells = cells_of(grid)
        self.member_cell = [c for c in range(len(self.cells)) for _ in range(population)]
        self.run_dir = Path(run_dir)
        self.gan = make_population_gan(self.configs, self.mixture)
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
            if key in grid and key not in Config.NON_TRAJECTORY:
                raise CheckpointError(
                    f"--{key.replace('_', '-')} varies over this population's grid "
                    f"({key} = {', '.join(map(str, grid[key]))}); a resumed run keeps it")
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
        except CheckpointError:  # a ValueError too, but it says what is wrong: not "corrupt"
            raise
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
        with DeferredSignals(self.quiet) as self._signals, \
                np.errstate(invalid="ignore", over="ignore"):
            self.write_config()
            if not any(self.records):
                self.evaluate()
            train_seconds = self.train_to(config.steps, config.eval_every, progress)
            return self.finish(train_seconds, self.step - start_step)

    # ------------------------------------------------------------ TrainingLoop
    def stop_if_asked(self) -> None:
        if self._signals.requested is not None:
            if self.saved_step != self.step:
                self._write_checkpoint()
            raise Interrupted(self._signals.requested, self.saved_step)

    def take_losses(self, loss_d: np.ndarray, loss_g: np.ndarray) -> None:
        took = self.gan.alive.copy()
        bad = took & ~(np.isfinite(loss_d) & np.isfinite(loss_g))
        for i in np.flatnonzero(bad):
            self._diverge(int(i), f"loss became NaN/Inf (D loss {loss_d[i]}, G loss "
                                  f"{loss_g[i]})")
        good = took & ~bad
        self.loss_sums[good, 0] += loss_d[good]
        self.loss_sums[good, 1] += loss_g[good]
        self.loss_counts[good] += 1

    def evaluate_step(self) -> dict:
        self.evaluate()
        return self.progress_record()

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
            "gan_iterations_per_second": iterations_per_second(P * steps_done, train_seconds, 1),
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
