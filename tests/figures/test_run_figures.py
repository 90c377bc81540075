"""Figures of a run: every file is written, decodes and is not blank; the arrays behind
each figure agree with numbers computed independently from the run's files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from PIL import Image
from scipy.spatial.distance import cdist

from toygan import plot, runfiles
from toygan.config import Config
from toygan.core.distributions import GaussianMixture, preset
from toygan.core.metrics import kde_bandwidth
from toygan.figures import curves, run_figures, run_files
from toygan.figures import samples as sample_figures
from toygan.training.trainer import Trainer

PRESETS = ("mixture8", "bimodal1d")
STEPS, EVAL_EVERY = 40, 10
EVAL_STEPS = list(range(0, STEPS + 1, EVAL_EVERY))  # 5 evaluations, step 0 included
DATA_FILES = ("config.json", "metrics.jsonl", "summary.json", "checkpoint.npz",
              "samples.npz", "snapshots.npz")


def small(name: str, **overrides) -> Config:
    base = dict(preset=name, steps=STEPS, batch=32, hidden=[16, 16], eval_every=EVAL_EVERY,
                eval_samples=200, backend="numpy", seed=1)
    base.update(overrides)
    return Config(**base)


def distinct_colours(rgb: np.ndarray) -> int:
    """Distinct 8-bit colours of an (h, w, 3) image, values in [0, 255]."""
    codes = np.round(rgb).astype(np.int64).reshape(-1, 3) @ np.array([1 << 16, 1 << 8, 1])
    return len(np.unique(codes))


def read_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def mixture_of(run_dir: Path) -> GaussianMixture:
    return GaussianMixture.from_dict(json.loads((run_dir / "config.json").read_text())["mixture"])


def mode_counts(spec: dict, x: np.ndarray) -> np.ndarray:
    """High-quality samples (within 3 per-axis stds of the nearest mode) per mode, written
    out here from the mixture's JSON spec (the PacGAN counting rule)."""
    means, stds = np.array(spec["means"], float), np.array(spec["stds"], float)
    z = (x[:, None, :] - means[None]) / stds[None]
    dist = np.sqrt((z**2).sum(axis=2))
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(len(x)), nearest] < 3.0
    return np.bincount(nearest[good], minlength=len(means))


def gaussian_mixture_density(spec: dict, points: np.ndarray) -> np.ndarray:
    means, stds = np.array(spec["means"], float), np.array(spec["stds"], float)
    weights = np.array(spec["weights"], float)
    z = (points[:, None, :] - means[None]) / stds[None]
    norm = np.prod(np.sqrt(2 * np.pi) * stds, axis=1)
    return (weights / norm * np.exp(-0.5 * (z**2).sum(axis=2))).sum(axis=1)


def kde_density(points: np.ndarray, centres: np.ndarray, h: float) -> np.ndarray:
    d2 = cdist(points, centres, "sqeuclidean")
    dim = centres.shape[1]
    return np.exp(-0.5 * d2 / h**2).mean(axis=1) / (2 * np.pi * h**2) ** (dim / 2)


def grid_points(samples: dict) -> np.ndarray:
    if "grid_y" not in samples:
        return samples["grid_x"][:, None]
    xx, yy = np.meshgrid(samples["grid_x"], samples["grid_y"], indexing="xy")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("plots")
    out = {}
    for name in PRESETS:
        Trainer(small(name), root / name).run()
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def drawn(runs) -> dict[str, list[Path]]:
    """make_all(gif=True) once per run; the run directories held no figure before."""
    paths = {}
    for name, run_dir in runs.items():
        assert not list(run_dir.glob("*.png")) and not list(run_dir.glob("*.gif"))
        paths[name] = run_figures.make_all(run_dir, gif=True)
    return paths


# ------------------------------------------------------------------- files
@pytest.mark.parametrize("name", PRESETS)
def test_make_all_writes_every_figure_and_the_gif(runs, drawn, name):
    run_dir = runs[name]
    expected = {*runfiles.PLOT_FILES, runfiles.GIF_FILE}
    assert {p.name for p in drawn[name]} == expected
    assert all(p.parent == run_dir and p.is_file() for p in drawn[name])
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".")], "temporary files left"


@pytest.mark.parametrize("filename", runfiles.PLOT_FILES)
@pytest.mark.parametrize("name", PRESETS)
def test_png_decodes_has_a_sensible_size_and_is_not_blank(runs, drawn, name, filename):
    image = matplotlib.image.imread(runs[name] / filename)
    assert image.ndim == 3 and image.shape[2] in (3, 4), image.shape
    height, width = image.shape[:2]
    assert 300 <= height <= 3000 and 300 <= width <= 3000, image.shape
    rgb = image[..., :3]
    assert rgb.std() > 0.05, f"{filename} looks blank"
    colours = distinct_colours(rgb * 255)
    assert colours > 30, f"{filename} has only {colours} colours"


@pytest.mark.parametrize("name", PRESETS)
def test_gif_has_one_frame_per_snapshot_and_every_frame_is_drawn(runs, drawn, name):
    snapshot_steps = read_npz(runs[name] / "snapshots.npz")["steps"]
    assert list(snapshot_steps) == EVAL_STEPS
    with Image.open(runs[name] / runfiles.GIF_FILE) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == len(snapshot_steps)
        width, height = gif.size
        assert 200 <= width <= 1500 and 200 <= height <= 1500, gif.size
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB"), dtype=float))
    for frame in frames:
        assert frame.std() > 10.0
        assert distinct_colours(frame) > 8
    assert not np.array_equal(frames[0], frames[-1])  # at least the title's step differs


# --------------------------------------------------------------- snapshots
@pytest.mark.parametrize("name", PRESETS)
def test_snapshot_arrays_pick_first_last_and_a_box_holding_the_modes(runs, name):
    run_dir = runs[name]
    _, _, samples = run_files.load_run(run_dir)
    mixture = mixture_of(run_dir)
    stored = read_npz(run_dir / "snapshots.npz")
    arrays = sample_figures.snapshot_arrays(samples, mixture)
    index = arrays["index"]
    assert index[0] == 0 and index[-1] == len(stored["steps"]) - 1
    assert np.all(np.diff(index) > 0) and len(index) <= 8
    assert list(index) == list(range(len(EVAL_STEPS)))  # 5 snapshots: all of them
    assert np.array_equal(arrays["steps"], stored["steps"][index])
    assert np.array_equal(arrays["fake"], stored["fake"][index])
    lo, hi = arrays["lo"], arrays["hi"]
    assert lo.shape == hi.shape == (mixture.dim,) and np.all(lo < hi)
    assert np.all(mixture.modes >= lo) and np.all(mixture.modes <= hi)
    # The box holds the middle 98 % of the samples (it widens beyond the data to do so).
    every = stored["fake"].reshape(-1, mixture.dim)
    inside = np.all((every >= lo) & (every <= hi), axis=1).mean()
    assert inside >= 0.95


def test_snapshot_arrays_choose_at_most_eight_evenly_spaced_panels(runs):
    run_dir = runs["mixture8"]
    _, _, samples = run_files.load_run(run_dir)
    n = 20
    many = dict(samples)
    many["snapshot_steps"] = np.arange(n) * 7
    many["snapshot_fake"] = np.repeat(samples["snapshot_fake"][:1], n, axis=0)
    arrays = sample_figures.snapshot_arrays(many, mixture_of(run_dir))
    index = arrays["index"]
    assert len(index) == 8 and index[0] == 0 and index[-1] == n - 1
    assert set(np.diff(index)) <= {2, 3}, index  # 19 / 7 = 2.7 apart
    assert np.array_equal(arrays["steps"], index * 7)
    three = sample_figures.snapshot_arrays(many, mixture_of(run_dir), panels=3)["index"]
    assert list(three) == [0, 10, 19] or list(three) == [0, 9, 19]


@pytest.mark.parametrize("name", PRESETS)
def test_one_exploded_snapshot_does_not_blow_up_the_box(runs, name):
    run_dir = runs[name]
    _, _, samples = run_files.load_run(run_dir)
    mixture = mixture_of(run_dir)
    normal = sample_figures.snapshot_arrays(samples, mixture)
    exploded = dict(samples)
    fake = samples["snapshot_fake"].copy()
    fake[2] *= 1e6
    exploded["snapshot_fake"] = fake
    arrays = sample_figures.snapshot_arrays(exploded, mixture)
    lo_data, hi_data = mixture.bounds(margin=4.0)
    span = hi_data - lo_data
    # The cap: the data's bounds +- their span, plus the 5 % padding of the drawn box
    # (0.05 of the capped width, at most 3 spans).
    pad = 0.05 * 3.0 * span
    assert np.all(arrays["lo"] >= lo_data - span - pad - 1e-9), (arrays["lo"], lo_data, span)
    assert np.all(arrays["hi"] <= hi_data + span + pad + 1e-9), (arrays["hi"], hi_data, span)
    # ... and the explosion was big enough to reach the cap on some side.
    width, normal_width = arrays["hi"] - arrays["lo"], normal["hi"] - normal["lo"]
    assert np.any(width > normal_width * 1.01) or np.any(width >= 3.0 * span)
    assert np.all(mixture.modes >= arrays["lo"]) and np.all(mixture.modes <= arrays["hi"])


# ----------------------------------------------------------- discriminator
@pytest.mark.parametrize("name", PRESETS)
def test_discriminator_arrays_match_an_independent_d_star(runs, name):
    config, _, samples = run_files.load_run(runs[name])
    stored = read_npz(runs[name] / "samples.npz")
    arrays = sample_figures.discriminator_arrays(config, samples)
    d_values = stored["d_values"]
    expected_shape = (len(stored["grid_x"]),) if name == "bimodal1d" else (
        len(stored["grid_y"]), len(stored["grid_x"]))
    assert d_values.shape == expected_shape
    for key in ("d", "d_star", "p_g", "p_data"):
        assert arrays[key].shape == d_values.shape, key
    assert np.array_equal(arrays["d"], d_values)
    assert np.all(arrays["d_star"] >= 0.0) and np.all(arrays["d_star"] <= 1.0)
    fake = stored["fake"]
    assert arrays["bandwidth"] == pytest.approx(kde_bandwidth(fake), rel=1e-12)
    points = grid_points(stored)
    p = gaussian_mixture_density(config["mixture"], points)
    q = kde_density(points, fake, arrays["bandwidth"])
    assert np.allclose(arrays["p_data"].ravel(), p, rtol=1e-8, atol=1e-300)
    assert np.allclose(arrays["p_g"].ravel(), q, rtol=1e-6, atol=1e-300)
    defined = (p + q) > 1e-250  # where a direct ratio does not underflow
    assert defined.mean() > 0.5
    assert np.allclose(arrays["d_star"].ravel()[defined], (p / (p + q))[defined],
                       rtol=1e-6, atol=1e-9)


def synthetic(name: str, fake: np.ndarray) -> tuple[dict, dict, np.ndarray]:
    """A config and samples dict on a grid that passes through every mode exactly; the
    grid indices of the modes."""
    mixture = preset(name)
    config = {"mixture": mixture.to_dict()}
    modes = mixture.modes
    lo, hi = mixture.bounds(margin=6.0)
    xs = np.unique(np.concatenate([np.linspace(lo[0], hi[0], 41), modes[:, 0]]))
    samples = {"fake": fake, "grid_x": xs}
    if mixture.dim == 1:
        where = [(int(np.flatnonzero(xs == m[0])[0]),) for m in modes]
        samples["d_values"] = np.zeros(len(xs))
    else:
        ys = np.unique(np.concatenate([np.linspace(lo[1], hi[1], 41), modes[:, 1]]))
        samples["grid_y"] = ys
        where = [(int(np.flatnonzero(ys == m[1])[0]), int(np.flatnonzero(xs == m[0])[0]))
                 for m in modes]
        samples["d_values"] = np.zeros((len(ys), len(xs)))
    return config, samples, where


@pytest.mark.parametrize("name", PRESETS)
def test_d_star_is_one_half_where_g_matches_the_data_and_one_where_g_is_elsewhere(name):
    mixture = preset(name)
    rng = np.random.default_rng(11)
    config, samples, where = synthetic(name, mixture.sample(4000, rng))
    arrays = sample_figures.discriminator_arrays(config, samples)
    assert arrays["d_star"].shape == samples["d_values"].shape
    at_modes = np.array([arrays["d_star"][i] for i in where])
    assert np.all(np.abs(at_modes - 0.5) < 0.15), at_modes
    # G far from the data: D* = p_data / (p_data + p_g) is ~1 at the modes (not ~0).
    config, samples, where = synthetic(name, mixture.sample(1000, rng) + 50.0)
    arrays = sample_figures.discriminator_arrays(config, samples)
    assert np.all(np.array([arrays["d_star"][i] for i in where]) > 0.99)


# --------------------------------------------------------------- mode mass
@pytest.mark.parametrize("name", PRESETS)
def test_mode_mass_arrays_are_the_records_transposed(runs, name):
    run_dir = runs[name]
    records = read_records(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    arrays = curves.mode_mass_arrays(records)
    k = len(config["mixture"]["means"])
    assert list(arrays["steps"]) == EVAL_STEPS
    assert arrays["mass"].shape == (k, len(EVAL_STEPS))
    for column, record in enumerate(records):
        assert np.allclose(arrays["mass"][:, column], record["mode_mass"])
        assert arrays["mass"][:, column].sum() == pytest.approx(
            record["high_quality_fraction"], abs=1e-12)
    # The last column, recomputed from G's final samples in samples.npz.
    fake = read_npz(run_dir / "samples.npz")["fake"]
    assert np.allclose(arrays["mass"][:, -1], mode_counts(config["mixture"], fake) / len(fake))


def test_mode_mass_arrays_skip_diverged_records_and_handle_none():
    records = [{"step": 0, "mode_mass": [0.1, 0.2], "high_quality_fraction": 0.3},
               {"step": 5, "mode_mass": [0.4, 0.0], "high_quality_fraction": 0.4},
               {"step": 7, "diverged": True, "reason": "x"}]
    arrays = curves.mode_mass_arrays(records)
    assert list(arrays["steps"]) == [0, 5]
    assert np.array_equal(arrays["mass"], [[0.1, 0.4], [0.2, 0.0]])
    empty = curves.mode_mass_arrays([{"step": 3, "diverged": True, "reason": "y"}])
    assert empty["steps"].size == 0 and empty["mass"].shape == (0, 0)


# ---------------------------------------------------------------- coverage
@pytest.mark.parametrize("name", PRESETS)
def test_coverage_arrays_match_the_final_samples(runs, name):
    run_dir = runs[name]
    config = json.loads((run_dir / "config.json").read_text())
    records = read_records(run_dir)
    arrays = curves.coverage_arrays(config, records)
    assert arrays["step"] == STEPS
    histogram = np.array(records[-1]["mode_histogram"], float)
    assert np.allclose(arrays["weights"], config["mixture"]["weights"])
    if name == "bimodal1d":
        assert np.allclose(arrays["weights"], [0.3, 0.7])
    fake = read_npz(run_dir / "samples.npz")["fake"]
    counts = mode_counts(config["mixture"], fake)
    assert np.array_equal(counts, histogram)
    assert arrays["high_quality_fraction"] == pytest.approx(counts.sum() / len(fake))
    if counts.sum():
        assert arrays["share"].sum() == pytest.approx(1.0)
        assert np.allclose(arrays["share"], histogram / histogram.sum())
    else:
        assert np.array_equal(arrays["share"], np.zeros(len(counts)))


def test_coverage_arrays_use_the_last_good_evaluation():
    config = {"mixture": preset("bimodal1d").to_dict()}
    records = [
        {"step": 0, "mode_histogram": [1, 3], "high_quality_fraction": 0.4},
        {"step": 10, "mode_histogram": [6, 2], "high_quality_fraction": 0.8},
        {"step": 11, "diverged": True, "reason": "x"},
    ]
    arrays = curves.coverage_arrays(config, records)
    assert arrays["step"] == 10 and arrays["high_quality_fraction"] == 0.8
    assert np.allclose(arrays["share"], [0.75, 0.25])
    assert np.allclose(arrays["weights"], [0.3, 0.7])
    records[1]["mode_histogram"] = [0, 0]  # no high-quality sample: zeros, not NaN
    assert np.array_equal(curves.coverage_arrays(config, records)["share"], [0.0, 0.0])


# ----------------------------------------------------------- series/events
HAND_MADE = [
    {"step": 0, "loss_d": 1.5, "modes_covered": 8, "events": []},
    {"step": 5, "loss_d": 0.5, "reverse_kl": None,
     "events": [{"step": 5, "kind": "coverage_drop", "detail": "8 -> 6"}]},
    {"step": 7, "diverged": True, "reason": "x"},
    {"step": 10, "loss_d": 0.25, "modes_covered": 2, "reverse_kl": 0.7,
     "events": [{"step": 10, "kind": "mode_hopping", "detail": "0 -> 3"},
                {"step": 10, "kind": "entropy_collapse", "detail": "1.9 -> 0.2"}]},
    {"step": 12, "diverged": True},
]


def test_series_returns_the_steps_and_values_that_were_logged():
    steps, values = curves.series(HAND_MADE, "loss_d")
    assert list(steps) == [0, 5, 10] and list(values) == [1.5, 0.5, 0.25]
    assert values.dtype == float
    steps, values = curves.series(HAND_MADE, "modes_covered")
    assert list(steps) == [0, 10] and list(values) == [8.0, 2.0]
    steps, values = curves.series(HAND_MADE, "reverse_kl")  # None is not a value
    assert list(steps) == [10] and list(values) == [0.7]
    steps, values = curves.series(HAND_MADE, "not_logged")
    assert len(steps) == 0 and len(values) == 0


def test_events_lists_collapse_events_then_divergences():
    assert curves.events(HAND_MADE) == [
        {"step": 5, "kind": "coverage_drop", "detail": "8 -> 6"},
        {"step": 10, "kind": "mode_hopping", "detail": "0 -> 3"},
        {"step": 10, "kind": "entropy_collapse", "detail": "1.9 -> 0.2"},
        {"step": 7, "kind": "diverged", "detail": "x"},
        {"step": 12, "kind": "diverged", "detail": ""},
    ]
    assert curves.events([{"step": 0, "loss_d": 1.0}]) == []


@pytest.mark.parametrize("name", PRESETS)
def test_series_and_events_of_a_real_run_follow_metrics_jsonl(runs, name):
    records = read_records(runs[name])
    steps, jsd = curves.series(records, "jsd_estimate")
    assert list(steps) == EVAL_STEPS
    assert list(jsd) == [r["jsd_estimate"] for r in records]
    assert curves.events(records) == [e for r in records for e in r["events"]]


# --------------------------------------------------------------------- CLI
def test_plot_cli_draws_a_copied_run_and_prints_the_paths(runs, tmp_path, capsys):
    run_dir = tmp_path / "copy"
    run_dir.mkdir()
    for name in DATA_FILES:
        shutil.copy(runs["mixture8"] / name, run_dir / name)
    capsys.readouterr()
    assert plot.main([str(run_dir)]) == 0
    out = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in out) == sorted(runfiles.PLOT_FILES)
    for path in out:
        assert Path(path).parent == run_dir and Path(path).is_file()
    assert not (run_dir / runfiles.GIF_FILE).exists()  # only with --gif


def test_plot_cli_refuses_a_directory_without_samples(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert plot.main([str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "error" in captured.err and "samples.npz" in captured.err
    assert str(tmp_path) in captured.err
    assert captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


# ------------------------------------------------------------------ PacGAN
def test_packed_run_has_no_discriminator_figure_but_all_the_others(tmp_path):
    run_dir = tmp_path / "packed"
    Trainer(small("mixture8", pack=2, steps=20, eval_every=5), run_dir).run()
    stored = read_npz(run_dir / "samples.npz")
    assert "d_values" not in stored and "fake" in stored
    assert sample_figures.plot_discriminator(run_dir) is None
    assert not (run_dir / "discriminator.png").exists()
    reasons = run_files.skipped(*run_files.load_run(run_dir))
    assert set(reasons) == {"discriminator.png"} and "packed" in reasons["discriminator.png"]
    notes = []
    paths = run_figures.make_all(run_dir, note=notes.append)
    assert len(notes) == 1 and notes[0].startswith("discriminator.png not drawn")
    expected = set(runfiles.PLOT_FILES) - {"discriminator.png"}
    assert {p.name for p in paths} == expected
    for path in paths:
        image = matplotlib.image.imread(path)
        assert min(image.shape[:2]) >= 300 and image[..., :3].std() > 0.05, path.name
    assert not (run_dir / "discriminator.png").exists()
