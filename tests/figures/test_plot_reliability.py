"""Figures in any dimension, and `python -m toygan.plot` on bad input: exit 2, one line on
stderr naming the file and what is wrong, no traceback, nothing on disk changed."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from toygan import plot, run, runfiles
from toygan.config import Config
from toygan.core.distributions import GaussianMixture
from toygan.figures import panels, population, run_figures, run_files, style
from toygan.training.trainer import Trainer

TINY = ["--steps", "20", "--eval-every", "10", "--batch", "16", "--hidden", "8",
        "--eval-samples", "200", "--quiet"]
MIXTURES = {
    3: {"name": "c3", "means": [[0, 0, 0], [2, 2, 2]], "stds": 0.1},
    5: {"name": "c5", "means": [[0, 0, 0, 0, 0], [2, 2, 2, 2, 2], [0, 2, 0, 2, 0]],
        "stds": [[0.1, 0.2, 0.3, 0.1, 0.1], [0.2] * 5, [0.1] * 5], "weights": [1, 2, 3]},
}
HIGH_DIM_FIGURES = {name for name in runfiles.PLOT_FILES if name != "discriminator.png"}
DATA_FILES = ("config.json", "metrics.jsonl", "summary.json", "samples.npz", "snapshots.npz")
POPULATION_DATA = ("config.json", "members.json", "members.jsonl", "population.json",
                   "population.npz")
ROOT = Path(__file__).resolve().parents[2]


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def copy_run(source: Path, target: Path, names=DATA_FILES) -> Path:
    target.mkdir()
    for name in names:
        shutil.copy(source / name, target / name)
    return target


def assert_decodes_and_is_drawn(path: Path, fmt: str = "PNG") -> None:
    with Image.open(path) as image:
        assert image.format == fmt, path.name
        image.verify()  # the whole file decodes
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=float)
    assert min(rgb.shape[:2]) >= 150 and max(rgb.shape[:2]) <= 3000, (path.name, rgb.shape)
    assert rgb.std() > 10.0, f"{path.name} looks blank"


def assert_no_temporaries(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".")], \
        "temporary files left"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, Path]:
    """3-D and 5-D runs through `python -m toygan.run` (which draws their figures)."""
    root = tmp_path_factory.mktemp("high_dim")
    out = {}
    for dim, spec in MIXTURES.items():
        out[dim] = root / f"d{dim}"
        assert run.main([json.dumps(spec), *TINY, "--gif", "--out", str(out[dim])]) == 0
    return out


@pytest.fixture(scope="module")
def populations(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("high_dim_population")
    out = {}
    for dim, spec in MIXTURES.items():
        out[dim] = root / f"p{dim}"
        assert run.main([json.dumps(spec), "--population", "2", *TINY,
                         "--out", str(out[dim])]) == 0
    return out


@pytest.fixture(scope="module")
def plane_run(tmp_path_factory) -> Path:
    """A 2-D run: its samples.npz holds D on a grid."""
    out = tmp_path_factory.mktemp("plane") / "ring"
    Trainer(Config(preset="mixture8", steps=10, batch=16, hidden=[8], eval_every=10,
                   eval_samples=200, backend="numpy", seed=2), out).run()
    return out


# ------------------------------------------------------- any dimension
@pytest.mark.parametrize("dim", sorted(MIXTURES))
def test_training_in_3_and_5_dimensions_draws_every_figure_that_applies(runs, dim):
    run_dir = runs[dim]
    drawn = {p.name for p in run_dir.iterdir() if p.suffix in (".png", ".gif")}
    assert drawn == HIGH_DIM_FIGURES | {runfiles.GIF_FILE}
    for name in HIGH_DIM_FIGURES:
        assert_decodes_and_is_drawn(run_dir / name)
    with Image.open(run_dir / runfiles.GIF_FILE) as gif:
        assert gif.format == "GIF"
        with np.load(run_dir / "snapshots.npz") as data:
            assert gif.n_frames == len(data["steps"]) == 3
    assert_no_temporaries(run_dir)


@pytest.mark.parametrize("dim", sorted(MIXTURES))
def test_plot_cli_redraws_a_high_dimensional_run_and_notes_the_skipped_figure(
        runs, tmp_path, capsys, dim):
    run_dir = copy_run(runs[dim], tmp_path / "copy")
    capsys.readouterr()
    gif = dim == 3  # (the fixture's runs drew the GIF in both dimensions)
    assert plot.main([str(run_dir), *(["--gif"] if gif else [])]) == 0
    captured = capsys.readouterr()
    printed = captured.out.split()
    expected = HIGH_DIM_FIGURES | ({runfiles.GIF_FILE} if gif else set())
    assert sorted(Path(p).name for p in printed) == sorted(expected)
    for path in printed:
        assert Path(path).parent == run_dir
        assert_decodes_and_is_drawn(Path(path), "GIF" if path.endswith(".gif") else "PNG")
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("toygan.plot: note: discriminator.png")
    assert f"{dim}-D" in lines[0]
    assert_no_temporaries(run_dir)


def test_a_stale_discriminator_figure_of_an_earlier_run_is_removed(runs, tmp_path):
    run_dir = copy_run(runs[3], tmp_path / "copy")
    shutil.copy(runs[3] / "samples.png", run_dir / "discriminator.png")
    notes = []
    paths = run_figures.make_all(run_dir, note=notes.append)
    assert {p.name for p in paths} == HIGH_DIM_FIGURES
    assert not (run_dir / "discriminator.png").exists()
    assert len(notes) == 1 and "removed" in notes[0]


def test_skipped_names_the_figures_a_run_cannot_have(runs):
    reasons = run_files.skipped(*run_files.load_run(runs[5]))
    assert set(reasons) == {"discriminator.png"} and "5-D" in reasons["discriminator.png"]


@pytest.mark.parametrize("dim", sorted(MIXTURES))
def test_population_runs_in_3_and_5_dimensions_draw_their_figures(populations, tmp_path,
                                                                  capsys, dim):
    out = populations[dim]
    for name in runfiles.POPULATION_PLOT_FILES:
        assert_decodes_and_is_drawn(out / name)
    assert_no_temporaries(out)
    members = population.members_arrays(out)
    assert members["fake"].shape == (2, 200, dim) and members["real"].shape[1] == dim
    copy = copy_run(out, tmp_path / "copy", POPULATION_DATA)
    capsys.readouterr()
    assert plot.main([str(copy), "--gif"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"toygan.plot: note: {runfiles.GIF_FILE} not drawn: a population run " \
        "has no animation\n"
    printed = captured.out.split()
    assert sorted(Path(p).name for p in printed) == sorted(runfiles.POPULATION_PLOT_FILES)
    for path in printed:
        assert_decodes_and_is_drawn(Path(path))
    assert_no_temporaries(copy)


def test_projection_pairs_are_those_of_the_first_three_coordinates():
    assert panels.projection_pairs(1) == []
    assert panels.projection_pairs(2) == [(0, 1)]
    assert panels.projection_pairs(3) == panels.projection_pairs(7) == [(0, 1), (0, 2), (1, 2)]


def test_the_marginal_on_a_pair_is_the_integral_of_the_density_over_the_rest():
    mixture = GaussianMixture([[0.0, 1.0, -1.0], [1.5, -0.5, 0.5]],
                              [[0.3, 0.6, 0.4], [0.5, 0.2, 0.7]], [1.0, 3.0])
    pair = panels.marginal(mixture, (0, 2))
    assert pair.dim == 2
    rng = np.random.default_rng(3)
    points = rng.uniform(-1.5, 2.0, size=(20, 2))
    x2 = np.linspace(-6.0, 6.0, 4001)  # 10+ stds beyond every component's x2
    grid = np.empty((len(points), len(x2), 3))
    grid[:, :, 0], grid[:, :, 1], grid[:, :, 2] = points[:, None, 0], x2, points[:, None, 1]
    density = mixture.prob(grid.reshape(-1, 3)).reshape(len(points), len(x2))
    integral = np.trapezoid(density, x2, axis=1)
    assert np.allclose(pair.prob(points), integral, rtol=1e-9, atol=1e-12)
    assert panels.marginal(mixture, (0, 1, 2)) is mixture


# ------------------------------------------------------------- bad input
def _rewrite_records(path: Path, change) -> None:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    change(records)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _rewrite_npz(path: Path, change) -> None:
    with np.load(path) as data:
        arrays = dict(data)
    change(arrays)
    np.savez(path, **arrays)


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _cut_mid_line(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[: text.index("\n") + 40])


def _replace_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


CORRUPT = {
    "metrics truncated": ("metrics.jsonl", _cut_mid_line, "corrupt"),
    "metrics garbage": ("metrics.jsonl", lambda p: p.write_bytes(b"\x89PNG\xff\x00 junk"),
                        "cannot be read"),
    "metrics not json": ("metrics.jsonl", lambda p: p.write_text("step 0 loss 1\n"),
                         "not valid JSON"),
    "metrics empty": ("metrics.jsonl", lambda p: p.write_text(""), "no evaluation"),
    "metrics a string loss": ("metrics.jsonl", lambda p: _rewrite_records(
        p, lambda rs: rs[1].update(loss_d="high")), "loss_d"),
    "metrics mode_mass of other modes": ("metrics.jsonl", lambda p: _rewrite_records(
        p, lambda rs: rs[0].update(mode_mass=[0.5])), "mode_mass"),
    "metrics events not a list": ("metrics.jsonl", lambda p: _rewrite_records(
        p, lambda rs: rs[0].update(events=3)), "events"),
    "metrics steps out of order": ("metrics.jsonl", lambda p: _rewrite_records(
        p, lambda rs: rs.reverse()), "comes after"),
    "samples garbage": ("samples.npz", lambda p: p.write_bytes(os.urandom(300)),
                        "not an .npz archive"),
    "samples truncated": ("samples.npz", _truncate, ".npz"),
    "samples a directory": ("samples.npz", _replace_dir, "samples.npz"),
    "samples without fake": ("samples.npz", lambda p: _rewrite_npz(
        p, lambda a: a.pop("fake")), "'fake'"),
    "samples fake 2-D for a 3-D mixture": ("samples.npz", lambda p: _rewrite_npz(
        p, lambda a: a.update(fake=a["fake"][:, :2])), "2-D points"),
    "samples real of strings": ("samples.npz", lambda p: _rewrite_npz(
        p, lambda a: a.update(real=np.array([["a", "b", "c"]]))), "'real'"),
    "samples a grid on 3-D data": ("samples.npz", lambda p: _rewrite_npz(
        p, lambda a: a.update(grid_x=np.linspace(0, 1, 5), d_values=np.zeros(5))), "grid"),
    "snapshots garbage": ("snapshots.npz", lambda p: p.write_text("hello\n"),
                          "not an .npz archive"),
    "snapshots of another dimension": ("snapshots.npz", lambda p: _rewrite_npz(
        p, lambda a: a.update(fake=a["fake"][..., :2])), "2-D points"),
    "snapshots fewer than steps": ("snapshots.npz", lambda p: _rewrite_npz(
        p, lambda a: a.update(fake=a["fake"][:1])), "snapshots"),
    "config garbage": ("config.json", lambda p: p.write_text('{"mixture": '), "not valid JSON"),
    "config a list": ("config.json", lambda p: p.write_text("[1, 2]\n"), "not a JSON list"),
    "config without a mixture": ("config.json", lambda p: p.write_text('{"seed": 1}\n'),
                                 "mixture"),
    "config a bad mixture": ("config.json", lambda p: p.write_text(
        '{"mixture": {"means": [[0, 0, 0]], "stds": -1}}\n'), "stds must be positive"),
}


def assert_refused(argv: list[str], capsys, *words: str) -> str:
    capsys.readouterr()
    assert plot.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("toygan.plot: error: "), lines[0]
    assert "Traceback" not in captured.err and captured.out == ""
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_corrupt_run_file_exits_2_with_one_line_naming_it(runs, tmp_path, capsys, case):
    name, corrupt, words = CORRUPT[case]
    run_dir = copy_run(runs[3], tmp_path / "copy")
    corrupt(run_dir / name)
    before = contents(run_dir)
    assert_refused([str(run_dir), "--gif"], capsys, str(run_dir / name), words)
    assert contents(run_dir) == before  # no figure, no temporary file
    assert_no_temporaries(run_dir)


PLANE_CORRUPT = {
    "d_values off the grid": lambda a: a.update(d_values=a["d_values"][:-1]),
    "grid_y missing": lambda a: a.pop("grid_y"),
    "grid_x not increasing": lambda a: a.update(grid_x=a["grid_x"][::-1]),
    "fake 3-D for a 2-D mixture": lambda a: a.update(fake=np.zeros((10, 3))),
}


@pytest.mark.parametrize("case", sorted(PLANE_CORRUPT))
def test_an_inconsistent_d_grid_exits_2_naming_samples_npz(plane_run, tmp_path, capsys, case):
    run_dir = copy_run(plane_run, tmp_path / "copy")
    _rewrite_npz(run_dir / "samples.npz", PLANE_CORRUPT[case])
    before = contents(run_dir)
    assert_refused([str(run_dir)], capsys, str(run_dir / "samples.npz"))
    assert contents(run_dir) == before


def _population_json(change):
    def corrupt(path: Path) -> None:
        summary = json.loads(path.read_text())
        change(summary)
        path.write_text(json.dumps(summary))
    return corrupt


POPULATION_CORRUPT = {
    "json garbage": ("population.json", lambda p: p.write_text("garbage{"), "not valid JSON"),
    "json truncated": ("population.json", _truncate, "not valid JSON"),
    "json without cells": ("population.json", _population_json(lambda s: s.pop("cells")),
                           "cells"),
    "json distribution not counts": ("population.json", _population_json(
        lambda s: s["cells"][0].update(modes_covered_distribution="x")), "modes_covered"),
    "json rate outside its interval": ("population.json", _population_json(
        lambda s: s["cells"][0].update(collapse_rate_ci95=[0.9, 1.0], collapse_rate=0.1)),
        "interval"),
    "npz garbage": ("population.npz", lambda p: p.write_text("garbage\n"),
                    "not an .npz archive"),
    "npz truncated": ("population.npz", _truncate, ".npz"),
    "npz dimensions differ": ("population.npz", lambda p: _rewrite_npz(
        p, lambda a: a.update(real=a["real"][:, :2])), "dimension"),
    "npz fewer members": ("population.npz", lambda p: _rewrite_npz(
        p, lambda a: a.update(fake=a["fake"][:1])), "member"),
    "npz without means": ("population.npz", lambda p: _rewrite_npz(
        p, lambda a: a.pop("means")), "'means'"),
}


@pytest.mark.parametrize("case", sorted(POPULATION_CORRUPT))
def test_a_corrupt_population_file_exits_2_with_one_line_naming_it(populations, tmp_path,
                                                                   capsys, case):
    name, corrupt, words = POPULATION_CORRUPT[case]
    run_dir = copy_run(populations[3], tmp_path / "copy", POPULATION_DATA)
    corrupt(run_dir / name)
    before = contents(run_dir)
    assert_refused([str(run_dir)], capsys, str(run_dir / name), words)
    assert contents(run_dir) == before


def test_a_missing_a_file_and_a_bare_directory_exit_2(runs, tmp_path, capsys):
    assert_refused([str(tmp_path / "nothing")], capsys, "does not exist")
    assert not (tmp_path / "nothing").exists()
    assert_refused([str(runs[3] / "config.json")], capsys, "is a file")
    (tmp_path / "empty").mkdir()
    assert_refused([str(tmp_path / "empty")], capsys, "samples.npz")
    assert list((tmp_path / "empty").iterdir()) == []
    copy = copy_run(runs[3], tmp_path / "copy")
    (copy / "metrics.jsonl").unlink()
    assert_refused([str(copy)], capsys, str(copy / "metrics.jsonl"), "missing")


@pytest.mark.parametrize("argv, words", [
    (["--bogus"], ("unrecognized arguments: --bogus",)),
    ([], ("required",)),
    ([""], ("give a run directory",)),
    (["--gif=yes"], ("--gif",)),
])
def test_bad_options_exit_2_with_one_line_and_no_usage_block(runs, capsys, argv, words):
    argv = [str(runs[3]), *argv] if argv and argv[0].startswith("--") else argv
    before = contents(runs[3])
    line = assert_refused(argv, capsys, *words)
    assert "usage" not in line
    assert contents(runs[3]) == before


def test_an_unwritable_run_directory_exits_2_and_writes_nothing(runs, tmp_path, capsys,
                                                              monkeypatch):
    run_dir = copy_run(runs[3], tmp_path / "copy")
    before = contents(run_dir)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runfiles.tempfile, "mkstemp", refuse)  # what a 0555 directory does
    assert_refused([str(run_dir)], capsys, str(run_dir), "Permission denied")
    assert contents(run_dir) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0555 directory")
def test_a_read_only_run_directory_exits_2(runs, tmp_path, capsys):
    run_dir = copy_run(runs[3], tmp_path / "copy")
    before = contents(run_dir)
    run_dir.chmod(0o555)
    try:
        assert_refused([str(run_dir)], capsys, str(run_dir))
    finally:
        run_dir.chmod(0o755)
    assert contents(run_dir) == before


def test_a_write_that_fails_midway_leaves_no_temporary_file(runs, tmp_path, capsys,
                                                            monkeypatch):
    run_dir = copy_run(runs[3], tmp_path / "copy")
    before = contents(run_dir)

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runfiles.os, "replace", full)
    assert_refused([str(run_dir), "--gif"], capsys, "No space left on device")
    assert contents(run_dir) == before
    assert_no_temporaries(run_dir)


def test_the_real_command_prints_one_line_and_no_traceback(runs, tmp_path):
    run_dir = copy_run(runs[3], tmp_path / "copy")
    (run_dir / "samples.npz").write_bytes(b"PK\x03\x04 not really a zip")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv, words in (([str(run_dir)], "samples.npz"), ([str(run_dir), "-x"], "-x")):
        proc = subprocess.run([sys.executable, "-m", "toygan.plot", *argv], capture_output=True,
                              text=True, env=env, timeout=120)
        assert proc.returncode == 2 and proc.stdout == ""
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("toygan.plot: error: "), proc.stderr
        assert words in lines[0]
    assert not list(run_dir.glob("*.png"))


# ------------------------------------------------------------ atomic saves
def test_every_figure_goes_through_the_one_atomic_save(runs, populations, tmp_path,
                                                       monkeypatch):
    saved = []
    real = runfiles.atomic_save_figure

    def recording(fig, path, **kwargs):
        saved.append(Path(path).name)
        return real(fig, path, **kwargs)

    monkeypatch.setattr(style, "atomic_save_figure", recording)
    written = []
    real_bytes = runfiles.atomic_write_bytes

    def recording_bytes(path, data):
        written.append(Path(path).name)
        real_bytes(path, data)

    monkeypatch.setattr(style, "atomic_write_bytes", recording_bytes)
    run_dir = copy_run(runs[5], tmp_path / "single")
    run_figures.make_all(run_dir, gif=True)
    assert sorted(saved) == sorted(HIGH_DIM_FIGURES) and written == [runfiles.GIF_FILE]
    saved.clear()
    population.make_population(copy_run(populations[5], tmp_path / "pop",
                                              POPULATION_DATA))
    assert sorted(saved) == sorted(runfiles.POPULATION_PLOT_FILES)


def test_population_figures_import_no_private_name_of_the_style():
    tree = ast.parse(Path(population.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "style":
            assert not [a.name for a in node.names if a.name.startswith("_")]
    assert not hasattr(style, "_save")
    for module in Path(style.__file__).parent.glob("*.py"):  # only runfiles renders files
        assert "savefig" not in module.read_text(), module.name
