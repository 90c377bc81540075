"""The training loop that single runs and populations share, with the one definition of
training time: the seconds spent inside the GAN step's `iteration()` calls, nothing else
(evaluation, checkpoints and progress lines are outside it). `steps_per_second` of a run
and `gan_iterations_per_second` of a population both divide by it."""

from __future__ import annotations

import time
from collections.abc import Callable

Progress = Callable[[int, int, dict], None]


class TrainingLoop:
    """Iterates `self.gan` from `self.step` to `steps`. A subclass says what happens
    between iterations (`stop_if_asked`), with each iteration's losses (`take_losses`),
    and at every evaluation step (`evaluate_step`, which returns the progress record)."""

    step: int
    gan: object

    def stop_if_asked(self) -> None:
        raise NotImplementedError

    def take_losses(self, loss_d, loss_g) -> None:
        raise NotImplementedError

    def evaluate_step(self) -> dict:
        raise NotImplementedError

    def train_to(self, steps: int, eval_every: int, progress: Progress | None) -> float:
        """Train to `steps`, evaluating every `eval_every` iterations and at the last; a
        progress call at each evaluation (with its record) and every 50 iterations.
        Returns the training time (see the module doc)."""
        train_seconds = 0.0
        while self.step < steps:
            self.stop_if_asked()
            tick = time.perf_counter()
            loss_d, loss_g = self.gan.iteration()
            train_seconds += time.perf_counter() - tick
            self.step += 1
            self.take_losses(loss_d, loss_g)
            if self.step % eval_every == 0 or self.step == steps:
                record = self.evaluate_step()
                if progress:
                    progress(self.step, steps, record)
            elif progress and self.step % 50 == 0:
                progress(self.step, steps, {})
        return train_seconds


def iterations_per_second(iterations: float, train_seconds: float, digits: int) -> float | None:
    return round(iterations / train_seconds, digits) if train_seconds > 0 else None
