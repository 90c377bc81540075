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

from ..config import Config
from ..gan.factory import make_gan, resolve
from ..gan.networks import CheckpointError
from ..interrupts import DeferredSignals, Interrupted
from ..resources import check_memory, versions
from ..runfiles import (
    RunFileError,
    atomic_save_npz,
    atomic_write_text,
    load_npz,
    read_json,
    read_jsonl,
)
from .evaluation import EvalSets, evaluate_record, summarise_records
from .loop import TrainingLoop, iterations_per_second

CHECKPOINT_VERSION = 1


class Diverged(RuntimeError):
    """A loss or parameter became NaN or Inf."""



# ------------------------------------------------------------------ trainer
class Trainer(TrainingLoop):
    """Runs a GAN for config.steps iterations in a run directory.

    New run: `Trainer(config, run_dir)`. Resume: `Trainer.resume(run_dir, overrides)`.
    Files: config.json, metrics.jsonl (one JSON object per evaluation), summary.json,
    checkpoint.npz (last good state) and samples.npz (what the plots need), each written
    to a temporary name and renamed into place.
    """

    def __init__(self, config: Config, run_dir: Path) -> None:
        self.mixture = resolve(config)
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
        # A checkpoint is written after the evaluation it follows has been logged: a run
        # with a checkpoint and no metrics lost its history, and resuming would hide that.
        if not metrics_path.is_file():
            raise CheckpointError(f"{metrics_path} is missing: the run's evaluations would be "
                                  "lost; put it back, or start a new run")
        try:
            lines = read_jsonl(metrics_path)
        except RunFileError as err:
            raise CheckpointError(f"{err}; the run cannot be resumed") from None
        # Evaluations after the checkpoint are redone by the resumed run.
        self.records = [r for r in lines if r["step"] <= self.step and not r.get("diverged")]
        if not self.records:
            raise CheckpointError(f"{metrics_path} holds no evaluation up to the checkpoint's "
                                  f"step {self.step}: the run's history is lost; start a new "
                                  "run")
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
            train_seconds = self.train_to(self.config.steps, self.config.eval_every, progress)
        if self.last_fake is None:  # resumed at its final step: nothing was evaluated
            self.last_fake = self.gan.generate(self.eval_noise)
        self._write_samples()
        return self._finish(train_seconds, self.step - start_step, diverged=False)

    # ------------------------------------------------------------ TrainingLoop
    def stop_if_asked(self) -> None:
        """Between iterations: on a signal received since, save and raise Interrupted."""
        signum = self._signals.requested
        if signum is not None:
            self.interrupt()
            raise Interrupted(signum, self.saved_step)

    def take_losses(self, loss_d: float, loss_g: float) -> None:
        if not (math.isfinite(loss_d) and math.isfinite(loss_g)):
            self._diverge(f"loss became NaN/Inf (D loss {loss_d}, G loss {loss_g})")
        self.loss_sums[0] += loss_d
        self.loss_sums[1] += loss_g
        self.loss_count += 1

    def evaluate_step(self) -> dict:
        return self._evaluate_and_checkpoint()

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
            "penalty": config.penalty,
            "gamma": config.gamma if config.penalty != "none" else None,
            "update": config.update,
            "steps": last.get("step", 0),
            "wall_seconds": round(time.perf_counter() - self.t0, 3),
            "steps_per_second": iterations_per_second(steps_done, train_seconds, 2),
            "diverged": diverged,
            "versions": versions(),
        }
        summary.update(summarise_records(self.records))
        if diverged:
            summary["diverged_at_step"] = self.step
            summary["diverged_reason"] = reason
        atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary
