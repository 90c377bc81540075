"""Algorithm 1 trainer: learning happens, resume is bit-exact, divergence is caught."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from toygan.config import Config
from toygan.gan.numpy_gan import GAN
from toygan.training.evaluation import EXPENSIVE_KEYS
from toygan.training.trainer import Diverged, Trainer


def small(**overrides) -> Config:
    base = dict(preset="mixture8", steps=30, batch=32, hidden=[16, 16], eval_every=10,
                eval_samples=200, seed=3)
    base.update(overrides)
    return Config(**base)


def records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def checkpoint(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "checkpoint.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def test_short_run_on_gauss1d_reduces_jsd(tmp_path):
    config = Config(preset="gauss1d", steps=600, batch=64, hidden=[32, 32], eval_every=300,
                    eval_samples=1000, seed=0)
    summary = Trainer(config, tmp_path).run()
    jsd = [r["jsd_estimate"] for r in records(tmp_path)]
    # G starts near 0, p_data is N(4, 0.5^2): nearly disjoint at first.
    assert jsd[0] > 0.5
    assert jsd[-1] < 0.5 * jsd[0], jsd
    assert summary["jsd_estimate"] == jsd[-1]
    assert summary["diverged"] is False


def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    Trainer(small(steps=40, dropout=0.1), straight).run()
    Trainer(small(steps=20, dropout=0.1), stopped).run()
    Trainer.resume(stopped, {"steps": 40}).run()
    a, b = checkpoint(straight), checkpoint(stopped)
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    # Step 20 was the stopped run's final evaluation, which always gets the expensive
    # metrics; the straight run's evaluation there may not. All else is identical.
    ours, theirs = records(straight), records(stopped)
    assert [r["step"] for r in ours] == [r["step"] for r in theirs]
    for r, t in zip(ours, theirs, strict=True):
        extra = set(t) - set(r)
        assert extra <= set(EXPENSIVE_KEYS) and (not extra or t["step"] == 20), extra
        assert {k: v for k, v in r.items() if k != "wall_seconds"} == {
            k: v for k, v in t.items() if k != "wall_seconds" and k not in extra}
    assert json.loads((stopped / "config.json").read_text())["steps"] == 40
    with np.load(straight / "snapshots.npz") as x, np.load(stopped / "snapshots.npz") as y:
        assert np.array_equal(x["steps"], y["steps"]) and np.array_equal(x["fake"], y["fake"])


def test_resume_after_an_interrupt_mid_interval_is_bit_identical(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    Trainer(small(steps=30), straight).run()
    trainer = Trainer(small(steps=30), stopped)
    real_iteration, calls = trainer.gan.iteration, []

    def interrupted_at_18():
        calls.append(1)
        if len(calls) == 18:
            raise KeyboardInterrupt
        return real_iteration()

    trainer.gan.iteration = interrupted_at_18
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    trainer.interrupt()  # what the CLI does on Ctrl-C
    resumed = Trainer.resume(stopped, {})
    assert resumed.step == 17
    resumed.run()
    a, b = checkpoint(straight), checkpoint(stopped)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    # Loss means of the interval cut by the interrupt are restored too.
    strip = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in records(straight)]
    assert strip == [{k: v for k, v in r.items() if k != "wall_seconds"}
                     for r in records(stopped)]


def test_nan_in_discriminator_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    Trainer(small(steps=10), tmp_path).run()
    before = (tmp_path / "checkpoint.npz").read_bytes()
    trainer = Trainer.resume(tmp_path, {"steps": 30})
    trainer.gan.D.params[0, 5] = np.nan
    with pytest.raises(Diverged, match="diverged at step 11"):
        trainer.run()
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    last = records(tmp_path)[-1]
    assert last["diverged"] is True and last["step"] == 11
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["diverged"] is True and summary["diverged_at_step"] == 11
    assert summary["steps"] == 10  # the figures are those of the last good evaluation
    with np.load(tmp_path / "samples.npz") as samples:
        assert np.isfinite(samples["fake"]).all() and np.isfinite(samples["d_values"]).all()
    # The kept checkpoint resumes cleanly.
    assert Trainer.resume(tmp_path, {"steps": 12}).run()["diverged"] is False


def test_inf_in_the_generator_stops_the_run(tmp_path):
    trainer = Trainer(small(steps=10, eval_every=5), tmp_path)
    trainer.gan.G.params[0, -1] = np.inf  # G's output bias
    with pytest.raises(Diverged, match="diverged at step 0: a parameter"):
        trainer.run()
    assert records(tmp_path) == [{"step": 0, "diverged": True,
                                  "reason": "a parameter became NaN/Inf"}]
    assert not (tmp_path / "checkpoint.npz").exists()  # no good state was ever seen


@pytest.mark.parametrize("loss", ["minimax", "nonsaturating", "wasserstein", "least_squares"])
def test_every_loss_trains_and_stays_finite(tmp_path, loss):
    summary = Trainer(small(loss=loss, steps=20), tmp_path).run()
    assert summary["diverged"] is False
    state = checkpoint(tmp_path)
    assert np.isfinite(state["g_params"]).all() and np.isfinite(state["d_params"]).all()


def test_wasserstein_clips_critic_weights(tmp_path):
    trainer = Trainer(small(loss="wasserstein", steps=5, clip=0.02), tmp_path)
    trainer.run()
    assert np.abs(trainer.gan.D.params).max() <= 0.02


def test_k_discriminator_steps_per_generator_step():
    config = small(k=3)
    config.validate()
    from toygan.core.distributions import preset

    gan = GAN(config, preset("mixture8"))
    for _ in range(4):
        gan.iteration()
    assert gan.opt_d.steps == 12 and gan.opt_g.steps == 4


@pytest.mark.parametrize("noise", ["normal", "uniform"])
def test_noise_priors(noise):
    config = small(noise=noise)
    config.validate()
    from toygan.core.distributions import preset

    gan = GAN(config, preset("mixture8"))
    z = gan.draw_noise((1, 20000, 2), np.random.default_rng(0))
    assert z.dtype == np.float32
    if noise == "uniform":
        assert z.min() >= -1 and z.max() < 1 and abs(z.mean()) < 0.02
    else:
        assert abs(z.std() - 1) < 0.02


def test_same_seed_same_run_different_seed_different_run(tmp_path):
    a = Trainer(small(steps=10), tmp_path / "a")
    b = Trainer(small(steps=10), tmp_path / "b")
    c = Trainer(small(steps=10, seed=4), tmp_path / "c")
    for t in (a, b, c):
        t.run()
    assert np.array_equal(a.gan.G.params, b.gan.G.params)
    assert not np.array_equal(a.gan.G.params, c.gan.G.params)


def test_float64_runs(tmp_path):
    trainer = Trainer(small(dtype="float64", steps=5), tmp_path)
    trainer.run()
    assert trainer.gan.G.params.dtype == np.float64
