"""The mode-collapse diagnostics against cases with known answers: a perfect generator, a
generator on one mode, on two modes, a shifted ring; the collapse detector on hand-made
histories; the trainer's evaluation cadence, snapshots and PacGAN packing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tests.gradcheck import assert_gradient
from toygan.config import Config, ConfigError
from toygan.core import metrics, modes
from toygan.core.distributions import GaussianMixture, preset
from toygan.device import launch
from toygan.gan.factory import resolve
from toygan.gan.numpy_gan import GAN
from toygan.training.evaluation import EXPENSIVE_KEYS
from toygan.training.trainer import Trainer

RING = preset("mixture8")  # 8 modes, radius 2, std 0.02
N = 2500


def draw(mixture: GaussianMixture, n: int = N, seed: int = 0) -> np.ndarray:
    return mixture.sample(n, np.random.default_rng(seed))


def one_mode(k: int = 0) -> GaussianMixture:
    return GaussianMixture(RING.means[k:k + 1], RING.stds[k:k + 1])


def two_modes() -> GaussianMixture:
    return GaussianMixture(RING.means[[0, 4]], RING.stds[[0, 4]])


# ------------------------------------------------------------ mode statistics
def test_perfect_generator_mode_statistics():
    out = modes.mode_statistics(RING, draw(RING))
    assert out["modes_covered"] == out["modes_covered_20"] == out["modes_covered_veegan"] == 8
    # P(|z| < 3) for a 2-D standard normal is 1 - exp(-4.5) = 0.98889.
    assert out["high_quality_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    assert out["mode_entropy"] == pytest.approx(math.log(8), abs=0.01)
    assert out["reverse_kl"] < 0.01
    assert sum(out["mode_mass"]) == pytest.approx(out["high_quality_fraction"])


@pytest.mark.parametrize("g, covered, entropy", [(one_mode(3), 1, 0.0),
                                                 (two_modes(), 2, math.log(2))])
def test_collapsed_generators_mode_statistics(g, covered, entropy):
    out = modes.mode_statistics(RING, draw(g))
    assert out["modes_covered"] == out["modes_covered_veegan"] == covered
    assert out["mode_entropy"] == pytest.approx(entropy, abs=0.01)
    # KL(h || uniform over 8) = log 8 - H(h)
    assert out["reverse_kl"] == pytest.approx(math.log(8) - entropy, abs=0.01)
    assert np.count_nonzero(out["mode_mass"]) == covered


def test_shifted_ring_has_no_high_quality_sample():
    out = modes.mode_statistics(RING, draw(RING) + np.array([0.5, 0.0]))
    assert out["modes_covered"] == 0 and out["high_quality_fraction"] == 0.0
    assert out["reverse_kl"] is None and out["mode_entropy"] is None


# ------------------------------------------------------------- divergences
def test_kl_both_ways_tell_missing_modes_from_extra_mass():
    real, noise = draw(RING, seed=1), np.random.default_rng(2).standard_normal((N, 2))
    perfect = metrics.jsd_estimate(RING, draw(RING), real, noise)
    collapsed = metrics.jsd_estimate(RING, draw(one_mode()), real, noise)
    # G on one mode misses 7/8 of p_data: KL(p_data || p_g) is large; but p_g puts its mass
    # where p_data has density 1/8 of its own, so KL(p_g || p_data) is about log 8.
    assert collapsed["kl_data_g"] > 5.0
    assert collapsed["kl_g_data"] == pytest.approx(math.log(8), abs=0.2)
    assert perfect["kl_data_g"] < 0.5 and perfect["kl_g_data"] < 0.5


def test_exact_log_likelihood_of_a_perfect_generator_is_minus_the_entropy():
    # For one isotropic 2-D Gaussian, E[log p] = -log(2 pi e s^2).
    g = one_mode()
    out = metrics.mean_log_likelihood(g, draw(g, 20000))
    expected = -math.log(2 * math.pi * math.e * 0.02**2)
    assert abs(out["loglik_data_of_g"] - expected) < 4 * out["loglik_data_of_g_stderr"]


# ---------------------------------------------------------------- transport
def test_exact_w1_of_a_point_mass_against_a_standard_normal():
    for a in (-2.0, 0.0, 0.7, 5.0):
        expected = a * (2 * stats.norm.cdf(a) - 1) + 2 * stats.norm.pdf(a)  # E|X - a|
        got = metrics.wasserstein1_exact(np.array([0.0]), np.array([1.0]), np.array([1.0]),
                                         np.full(100, a))
        assert got == pytest.approx(expected, rel=1e-10)


@settings(deadline=None)
@given(st.floats(-3, 3), st.floats(0.2, 3.0), st.integers(200, 2000))
def test_exact_w1_of_shifted_quantiles_is_the_shift(shift, scale, n):
    # Samples at the midpoint quantiles of N(shift, s^2): W1 to N(0, s^2) tends to |shift|
    # (the discretisation adds at most s * 2 / sqrt(n) here; checked numerically below).
    u = (np.arange(n) + 0.5) / n
    x = scale * stats.norm.ppf(u) + shift
    got = metrics.wasserstein1_exact(np.array([0.0]), np.array([scale]), np.array([1.0]), x)
    assert abs(got - abs(shift)) <= scale * 2.0 / math.sqrt(n)


def test_exact_w1_matches_quadrature_of_the_cdf_difference():
    mix = preset("trimodal1d")
    x = draw(mix, 300, seed=4)[:, 0]
    grid = np.linspace(-8, 8, 400001)
    cdf_mix = (mix.weights * stats.norm.cdf((grid[:, None] - mix.means[:, 0]) / mix.stds[:, 0])
               ).sum(axis=1)
    cdf_emp = np.searchsorted(np.sort(x), grid, side="right") / len(x)
    quad = np.trapezoid(np.abs(cdf_emp - cdf_mix), grid)
    assert metrics.wasserstein1_to_data(mix, x[:, None]) == pytest.approx(quad, abs=1e-6)


def test_w1_to_data_refuses_2d():
    with pytest.raises(ValueError, match="1-D"):
        metrics.wasserstein1_to_data(RING, draw(RING, 10))


def test_sliced_w1_of_a_translation_is_two_over_pi_times_its_length():
    real = draw(RING)
    shift = np.array([0.5, 0.0])  # length 0.5, along the first slice
    # Equal samples shifted by v: each slice's W1 is |u.v|; the mean of |cos| over the 64
    # even angles pi j / 64 of a half circle is (1/64) cot(pi/128), 2/pi to 1e-4.
    expected = 0.5 / 64 / math.tan(math.pi / 128)
    assert metrics.sliced_wasserstein(real + shift, real) == pytest.approx(expected, rel=1e-9)
    assert metrics.sliced_wasserstein(real, real) == 0.0
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.sliced_wasserstein(real, real[:10])


def test_frechet_known_answers():
    # A perfect generator: 0 up to sampling error; a translation adds |v|^2; one mode of a
    # ring of radius r (cov (r^2/2 + s^2) I) against the ring: r^2 + 2 (sqrt(r^2/2 + s^2) - s)^2.
    assert metrics.frechet_distance(RING, draw(RING, 20000)) < 0.01
    shifted = GaussianMixture(RING.means + np.array([0.3, -0.4]), RING.stds)
    assert metrics.frechet_distance(shifted, draw(RING, 20000)) == pytest.approx(0.25, abs=0.03)
    r, s = 2.0, 0.02
    expected = r**2 + 2 * (math.sqrt(r**2 / 2 + s**2) - s) ** 2
    assert metrics.frechet_distance(RING, draw(one_mode(), 20000)) == pytest.approx(expected,
                                                                                  rel=0.01)


# ------------------------------------------------------------------ Parzen
def test_parzen_of_a_perfect_generator_is_close_to_the_exact_log_likelihood():
    out = metrics.parzen_log_likelihood(RING, draw(RING, seed=1), draw(RING, 1000, seed=2),
                                        draw(RING, seed=3))
    assert out["parzen_sigma_at_grid_edge"] is False
    assert out["parzen_bias"] == pytest.approx(out["parzen_loglik"] - out["loglik_test_exact"])
    assert -0.2 < out["parzen_bias"] < 0.05  # measured -0.03: Parzen underestimates a little
    collapsed = metrics.parzen_log_likelihood(RING, draw(one_mode(), seed=1),
                                              draw(RING, 1000, seed=2), draw(RING, seed=3))
    # 7/8 of the test points are far from every sample: the window widens to reach them
    # (sigma ~ the ring's scale, the grid anchored on the data) and the figure drops ~7 nats.
    assert collapsed["parzen_sigma"] > 100 * out["parzen_sigma"]
    assert collapsed["parzen_loglik"] < out["parzen_loglik"] - 5.0
    assert collapsed["loglik_test_exact"] == out["loglik_test_exact"]  # same test points


def test_parzen_reports_a_sigma_at_the_edge_of_its_grid():
    out = metrics.parzen_log_likelihood(RING, draw(RING), draw(RING, 500, 2), draw(RING, 500, 3),
                                        sigmas=np.array([1.0, 2.0, 4.0]))
    assert out["parzen_sigma"] == 1.0 and out["parzen_sigma_at_grid_edge"] is True


# ---------------------------------------------------- nearest-neighbour sets
def test_precision_recall_density_coverage_of_a_perfect_and_a_collapsed_generator():
    real = draw(RING, seed=1)
    perfect = {**metrics.precision_recall(real, draw(RING, seed=2)),
               **metrics.density_coverage(real, draw(RING, seed=2))}
    for key in ("precision", "recall", "coverage"):
        assert perfect[key] > 0.9, perfect
    assert 0.8 < perfect["density"] < 1.2
    collapsed = {**metrics.precision_recall(real, draw(one_mode(), seed=2)),
                 **metrics.density_coverage(real, draw(one_mode(), seed=2))}
    assert collapsed["precision"] > 0.9  # every sample is realistic...
    assert collapsed["recall"] == pytest.approx(1 / 8, abs=0.03)  # ...but 1 mode of 8
    assert collapsed["coverage"] == pytest.approx(1 / 8, abs=0.03)
    # Density looks at the fakes' neighbourhoods only: the collapsed G's samples are as dense
    # among the real ones as a perfect G's, so density is ~1: coverage is what sees it.
    assert 0.8 < collapsed["density"] < 1.2


def test_coinciding_samples_count_as_inside_closed_balls():
    # Every point repeated 6 times: k-NN radii are 0 for k <= 5; a strict < would give 0.
    real = np.repeat(draw(RING, 100), 6, axis=0)
    assert metrics.precision_recall(real, real.copy()) == {"precision": 1.0, "recall": 1.0}
    out = metrics.density_coverage(real, real.copy())
    assert out["coverage"] == 1.0
    assert out["density"] == pytest.approx(6 / 5)  # each fake is in its 6 twins' balls
    far = metrics.precision_recall(real, real + 1.0)
    assert far == {"precision": 0.0, "recall": 0.0}


def test_knn_radii_by_hand_and_errors():
    points = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert metrics.knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert metrics.knn_radii(points, 3).tolist() == [7.0, 6.0, 4.0, 7.0]
    with pytest.raises(ValueError, match="needs at least"):
        metrics.knn_radii(points, 4)


# --------------------------------------------------------------- detector
def record(step: int, histogram: list[int], covered_20: int | None = None) -> dict:
    counts = np.array(histogram)
    h = counts[counts > 0] / counts.sum() if counts.sum() else np.array([])
    return {"step": step, "modes_total": len(histogram), "mode_histogram": histogram,
            "modes_covered_20": covered_20 if covered_20 is not None
            else int(np.count_nonzero(counts >= 20)),
            "mode_entropy": float(-(h * np.log(h)).sum())}


def test_detector_quiet_on_a_healthy_run():
    history = [record(s, [30] * 8) for s in range(0, 500, 100)]
    assert all(modes.collapse_events(history[:i], history[i]) == [] for i in range(5))


def test_detector_flags_coverage_drop_entropy_collapse_and_hopping():
    healthy = record(100, [30] * 8)
    collapsed = record(200, [200, 0, 0, 0, 0, 0, 0, 1])
    events = modes.collapse_events([record(0, [0] * 8), healthy], collapsed)
    kinds = {e["kind"]: e for e in events}
    assert set(kinds) == {"coverage_drop", "entropy_collapse"}
    assert all(e["step"] == 200 for e in events)
    assert "8 -> 1" in kinds["coverage_drop"]["detail"]
    hop = record(300, [0, 0, 0, 0, 0, 210, 0, 0])
    events = modes.collapse_events([healthy, collapsed], hop)
    assert [e["kind"] for e in events] == ["mode_hopping"]
    assert events[0]["detail"] == "dominant mode 0 -> 5"
    # Staying collapsed on the same mode is not a new event.
    assert modes.collapse_events([healthy, collapsed, hop], record(400, [0] * 5 + [220, 0, 0])
                                   ) == []


def test_detector_ignores_undefined_entropy_and_old_records():
    off = record(100, [0] * 8)  # no high-quality sample: entropy undefined
    off["mode_entropy"] = None
    kinds = [e["kind"] for e in modes.collapse_events([record(0, [30] * 8)], off)]
    assert kinds == ["coverage_drop"]  # modes are lost; no entropy to have collapsed
    old = {k: v for k, v in record(0, [30] * 8).items() if k != "mode_entropy"}
    assert modes.collapse_events([old], record(100, [240] + [0] * 7))[0]["kind"] == (
        "coverage_drop")


def test_detector_skips_diverged_markers_and_small_drops():
    history = [record(0, [30] * 8), {"step": 5, "diverged": True, "reason": "x"}]
    assert modes.collapse_events(history, {"step": 5, "diverged": True}) == []
    # 25 modes: a drop must be at least ceil(2.5) = 3 modes below the best.
    grid = [record(0, [30] * 25)]
    assert modes.collapse_events(grid, record(1, [30] * 23 + [0, 0])) == []
    assert [e["kind"] for e in modes.collapse_events(grid, record(1, [30] * 22 + [0] * 3))
            ] == ["coverage_drop"]


# ---------------------------------------------------------------- trainer
def small(**overrides) -> Config:
    base = dict(preset="mixture8", steps=40, batch=32, hidden=[16, 16], eval_every=10,
                eval_samples=200, seed=3, backend="numpy")
    base.update(overrides)
    return Config(**base)


def lines(run_dir) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("every, expected", [(2, [0, 20, 40]), (0, [40]), (1, [0, 10, 20, 30, 40])])
def test_expensive_metrics_follow_their_cadence_and_the_final_step(tmp_path, every, expected):
    summary = Trainer(small(expensive_every=every), tmp_path).run()
    records = lines(tmp_path)
    assert [r["step"] for r in records if "precision" in r] == expected
    for r in records:
        assert set(EXPENSIVE_KEYS) <= set(r) or not set(EXPENSIVE_KEYS) & set(r)
        assert "events" in r and "sliced_wasserstein1" in r and "frechet" in r
    assert summary["precision"] == records[-1]["precision"]
    assert summary["events"] == [e for r in records for e in r["events"]]


def test_1d_runs_log_the_exact_w1(tmp_path):
    Trainer(small(preset="bimodal1d", steps=10), tmp_path).run()
    for r in lines(tmp_path):
        assert r["wasserstein1"] > 0 and "sliced_wasserstein1" not in r


def test_snapshots_hold_each_evaluation_and_can_be_turned_off(tmp_path):
    Trainer(small(snapshot_samples=50), tmp_path / "a").run()
    with np.load(tmp_path / "a" / "snapshots.npz") as data:
        assert data["steps"].tolist() == [0, 10, 20, 30, 40]
        assert data["fake"].shape == (5, 50, 2) and data["fake"].dtype == np.float32
        with np.load(tmp_path / "a" / "samples.npz") as final:
            assert np.array_equal(data["fake"][-1], final["fake"][:50].astype(np.float32))
    Trainer(small(snapshot_samples=0), tmp_path / "b").run()
    assert not (tmp_path / "b" / "snapshots.npz").exists()


def test_packed_discriminator_input_and_generator_gradient():
    config = small(pack=3, dtype="float64", batch=4, hidden=[5], g_batchnorm=True)
    mixture = config.validate()
    gan = GAN(config, mixture)
    assert gan.D.sizes[0] == 3 * 2
    gan.discriminator_step()
    assert gan.d_input.shape == (1, 8, 6)
    # The G step's gradient through the packed D, against finite differences of the G loss
    # with the noise fixed.
    z = gan.training_noise()
    gan.training_noise = lambda: z

    def g_loss(params: np.ndarray) -> float:
        saved = gan.G.params.copy()
        gan.G.params[...] = params.reshape(gan.G.params.shape)
        fake = gan.G.forward(z)
        value, _ = gan.loss.generator(gan.D.forward(gan._packed(fake)))
        gan.G.params[...] = saved
        return float(value[0])

    params = gan.G.params.copy()
    gan.opt_g.step = lambda: None  # keep the parameters: compare the gradient it computed
    gan.generator_step()
    assert np.array_equal(gan.G.params, params)
    assert_gradient(g_loss, params, gan.G.grads.copy(), np.random.default_rng(0))


def test_packed_run_trains_resumes_and_logs_no_pointwise_gap(tmp_path):
    straight, stopped = tmp_path / "a", tmp_path / "b"
    Trainer(small(pack=2, steps=20), straight).run()
    Trainer(small(pack=2, steps=10), stopped).run()
    Trainer.resume(stopped, {"steps": 20}).run()
    with np.load(straight / "checkpoint.npz") as x, np.load(stopped / "checkpoint.npz") as y:
        assert np.array_equal(x["g_params"], y["g_params"])
    for r in lines(straight):
        assert "d_dstar_gap" not in r and 0.0 <= r["d_real"] <= 1.0
    with np.load(straight / "samples.npz") as data:
        assert "d_values" not in data.files


@pytest.mark.parametrize("option", [{"pack": 2}, {"g_batchnorm": True}])
def test_kernel_backends_run_packing_and_batch_norm_per_op_only(option, monkeypatch):
    small(backend="emu", **option).validate()
    with pytest.raises(ConfigError, match="--kernels fused has no batch norm"):
        small(backend="emu", kernels="fused", **option).validate()

    monkeypatch.setattr(launch, "cuda_available", lambda: True)  # auto picks cuda...
    config = small(backend="auto", **option)
    resolve(config)
    assert config.backend == "cuda"  # ...for batch norm and packing too
    plain = small(backend="auto")
    resolve(plain)
    assert plain.backend == "cuda"


def test_adam_beta1_reaches_the_optimisers():
    gan = GAN(small(adam_beta1=0.8), RING)
    assert gan.opt_g.beta1 == gan.opt_d.beta1 == 0.8


def test_cli_packs_draws_the_gif_and_prints_the_diagnostics(tmp_path, capsys):
    from toygan import run, runfiles

    # --overwrite removes them:
    assert {*runfiles.PLOT_FILES, runfiles.GIF_FILE} <= set(run.OWN_FILES)
    out = tmp_path / "run"
    code = run.main(["mixture8", "--steps", "20", "--batch", "16", "--hidden", "8",
                     "--eval-every", "10", "--eval-samples", "100", "--pack", "2", "--gif",
                     "--expensive-every", "0", "--snapshot-samples", "30", "--backend", "numpy",
                     "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "precision/recall" in text and "collapse events" in text
    config = json.loads((out / "config.json").read_text())
    assert (config["pack"], config["expensive_every"], config["snapshot_samples"]) == (2, 0, 30)
    for name in ("training.gif", "snapshots.png", "mode_mass.png", "coverage.png"):
        assert (out / name).stat().st_size > 1000
    assert not (out / "discriminator.png").exists()  # a packed D has no pointwise surface


def test_resume_may_change_the_snapshot_size(tmp_path):
    Trainer(small(steps=20, snapshot_samples=50), tmp_path).run()
    Trainer.resume(tmp_path, {"steps": 40, "snapshot_samples": 100}).run()
    with np.load(tmp_path / "snapshots.npz") as data:
        assert data["steps"].tolist() == [0, 10, 20, 30, 40]
        assert data["fake"].shape == (5, 50, 2)  # the smaller size, for every evaluation


def test_checkpoints_written_before_the_new_options_still_resume(tmp_path):
    # A run of the previous format: no pack, g_batchnorm, maxout_pieces, adam_beta1, ...
    Trainer(small(steps=10), tmp_path).run()
    new = ("pack", "g_batchnorm", "maxout_pieces", "adam_beta1", "d_hidden",
           "expensive_every", "snapshot_samples")
    with np.load(tmp_path / "checkpoint.npz") as data:
        state = {key: data[key] for key in data.files}
    old = {k: v for k, v in json.loads(str(state["config"])).items() if k not in new}
    state["config"] = np.array(json.dumps(old))
    np.savez(tmp_path / "checkpoint.npz", **state)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({k: v for k, v in config.items()
                                                      if k not in new}))
    summary = Trainer.resume(tmp_path, {"steps": 20}).run()
    assert summary["steps"] == 20
