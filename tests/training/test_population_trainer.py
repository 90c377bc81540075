"""Population training (toygan.population): member i equals the single run of its
configuration, divergent members are frozen without touching the others, the grid and the
table per cell, the figures' arrays, the CLI."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from toygan import run
from toygan.config import Config, ConfigError
from toygan.core.optim import make_optimizer
from toygan.training.grid import cells_of, member_configs, parse_grid
from toygan.training.population_trainer import PopulationTrainer
from toygan.training.tables import cell_table
from toygan.training.trainer import Trainer


def small(**overrides) -> Config:
    base = dict(preset="mixture8", hidden=[19, 17], batch=37, steps=12, eval_every=6,
                eval_samples=300, seed=3, backend="numpy", expensive_every=1)
    base.update(overrides)
    return Config(**base)


def single_run(config: Config, tmp_path, name: str) -> Trainer:
    trainer = Trainer(Config.from_dict(config.to_dict()), tmp_path / name)
    trainer.run()
    return trainer


def assert_member_is_single_run(pop: PopulationTrainer, i: int, single: Trainer) -> None:
    # Same float operations in the same order: equal, not merely close.
    np.testing.assert_array_equal(pop.gan.G.params[i], single.gan.G.params[0])
    np.testing.assert_array_equal(pop.gan.D.params[i], single.gan.D.params[0])
    ours = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in pop.records[i]]
    theirs = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in single.records]
    assert ours == theirs


@pytest.mark.parametrize("case", [
    dict(grid="lr_d=1e-4,3e-4 k=1,2"),
    dict(grid="lr_g=1e-3,2e-4 k=1,2", options=dict(dropout=0.2, optimizer="rmsprop",
                                                    d_activation="leaky_relu")),
    dict(grid="k=1,3", options=dict(loss="wasserstein", optimizer="sgd", pack=2)),
], ids=["adam-k-lr", "dropout-rmsprop", "wasserstein-sgd-pack"])
def test_every_member_equals_its_single_run(tmp_path, case):
    base = small(**case.get("options", {}))
    pop = PopulationTrainer(base, 2, parse_grid(case["grid"]), tmp_path / "pop")
    pop.run()
    assert pop.gan.P == 2 * len(pop.cells)
    for i, config in enumerate(pop.configs):
        assert_member_is_single_run(pop, i, single_run(config, tmp_path, f"single{i}"))


def test_a_diverging_member_is_frozen_and_the_others_train_on(tmp_path):
    base = small(steps=12, eval_every=4)
    pop = PopulationTrainer(base, 3, {}, tmp_path / "pop")
    iteration, calls = pop.gan.iteration, []

    def poisoned():
        calls.append(1)
        if len(calls) == 6:  # step 6: member 1's D turns NaN
            pop.gan.D.params[1, 0] = np.nan
        return iteration()

    pop.gan.iteration = poisoned
    summary = pop.run()
    member = summary["member_summaries"][1]
    assert member["diverged"] and member["diverged_at_step"] == 6
    assert "NaN" in member["diverged_reason"]
    # Frozen at its last good evaluation (step 4): finite, and its records stop there.
    assert np.isfinite(pop.gan.D.params[1]).all()
    assert [r["step"] for r in pop.records[1] if not r.get("diverged")] == [0, 4]
    assert summary["cells"][0]["diverged"] == 1
    for i in (0, 2):
        assert_member_is_single_run(pop, i, single_run(pop.configs[i], tmp_path, f"s{i}"))
    lines = [json.loads(x) for x in (tmp_path / "pop" / "members.jsonl").read_text()
             .splitlines()]
    assert any(r["member"] == 1 and r.get("diverged") for r in lines)


def test_per_member_learning_rates_update_like_a_scalar_one():
    rng = np.random.default_rng(0)
    for name in ("sgd", "adam", "rmsprop"):
        params = rng.standard_normal((3, 50)).astype(np.float32)
        grads = rng.standard_normal((3, 50)).astype(np.float32)
        lrs = [1e-3, 2e-4, 3e-2]
        together = params.copy()
        opt = make_optimizer(name, together, grads, np.array(lrs))
        for _ in range(3):
            opt.step()
        for i, lr in enumerate(lrs):
            alone = params[i:i + 1].copy()
            one = make_optimizer(name, alone, grads[i:i + 1].copy(), lr)
            for _ in range(3):
                one.step()
            np.testing.assert_array_equal(together[i], alone[0])


def test_grid_forms_and_errors(tmp_path):
    assert parse_grid("lr_d=1e-4,3e-4 k=1,5") == {"lr_d": [1e-4, 3e-4], "k": [1, 5]}
    assert parse_grid('{"k": [1, 5], "lr_g": 2e-4}') == {"k": [1, 5], "lr_g": [2e-4]}
    spec = tmp_path / "grid.json"
    spec.write_text('{"seed": [0, 10]}')
    assert parse_grid(str(spec)) == {"seed": [0, 10]}
    assert parse_grid(None) == {}
    for bad, message in (("loss=minimax", "cannot vary"), ("k=one", "needs int"),
                         ("k=1.5", "needs int"),
                         ("k=1 k=2", "given twice"), ("k", "neither"), ("[1]", "neither"),
                         ("{bad", "invalid JSON")):
        with pytest.raises(ConfigError, match=message):
            parse_grid(bad)


def test_members_per_cell_share_their_seeds():
    configs = member_configs(small(seed=5), 3, parse_grid("lr_d=1e-4,3e-4"))
    assert [(c.seed, c.lr_d) for c in configs] == [
        (5, 1e-4), (6, 1e-4), (7, 1e-4), (5, 3e-4), (6, 3e-4), (7, 3e-4)]
    assert cells_of({}) == [{}]
    with pytest.raises(ConfigError, match="--population"):
        member_configs(small(), 0, {})
    # A grid over seeds makes each seed one member: N copies of a seed are not N samples.
    with pytest.raises(ConfigError, match="varies the seed"):
        member_configs(small(), 2, parse_grid("seed=1,2"))
    assert [c.seed for c in member_configs(small(), 1, parse_grid("seed=1,2"))] == [1, 2]


def test_cell_table_counts_collapse_with_a_wilson_interval():
    def member(cell, modes, diverged=False):
        return {"cell": cell, "modes_covered": modes, "modes_total": 8, "diverged": diverged,
                "high_quality_fraction": 0.5, "reverse_kl": 0.1, "jsd_estimate": 0.3}

    members = [member(0, 8), member(0, 8), member(0, 5), member(0, 8, diverged=True),
               member(1, 8)]
    table = cell_table(members, [{"k": 1}, {"k": 5}])
    first = table[0]
    assert (first["members"], first["collapsed"], first["diverged"]) == (4, 2, 1)
    assert first["collapse_rate"] == 0.5
    lo, hi = first["collapse_rate_ci95"]
    assert lo == pytest.approx(0.150, abs=1e-3) and hi == pytest.approx(0.850, abs=1e-3)
    assert first["modes_covered_distribution"][8] == 2 and sum(
        first["modes_covered_distribution"]) == 3  # the diverged member has no count
    assert first["modes_covered"]["mean"] == pytest.approx(7.0)
    assert table[1]["collapse_rate"] == 0.0 and table[1]["collapse_rate_ci95"][0] == 0.0
    assert table[1]["name"] == "k=5"


def test_cli_population_run_files_figures_and_table(tmp_path, capsys):
    out = tmp_path / "pop"
    code = run.main(["mixture8", "--population", "2", "--grid", "lr_d=1e-4,3e-4", "--steps",
                     "6", "--eval-every", "3", "--hidden", "16,16", "--batch", "32",
                     "--eval-samples", "200", "--out", str(out)])
    assert code == 0
    for name in ("config.json", "members.json", "members.jsonl", "population.json",
                 "population.npz", "population_modes.png", "population_members.png",
                 "population_collapse.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "population.json").read_text())
    assert summary["members"] == 4 and len(summary["cells"]) == 2
    assert "collapse rate (95% CI)" in capsys.readouterr().out

    from toygan.figures import population

    modes = population.modes_arrays(summary)
    assert modes["counts"].sum() == 4 and modes["counts"].shape == (2, 9)
    collapse = population.collapse_arrays(summary)
    assert (collapse["lower"] >= 0).all() and (collapse["upper"] >= 0).all()
    members = population.members_arrays(out)
    assert members["fake"].shape == (4, 200, 2)  # eval_samples < THUMBNAIL_SAMPLES
    assert list(members["cell"]) == [0, 0, 1, 1]


@pytest.mark.parametrize("argv, message", [
    (["--population", "2", "--backend", "emu", "--dropout", "0.2"], "has no dropout"),
    (["--population", "2", "--grid", "loss=minimax"], "cannot vary"),
    (["--population", "0"], "--population"),
])
def test_cli_population_errors(tmp_path, capsys, argv, message):
    code = run.main(["mixture8", "--steps", "2", *argv, "--out", str(tmp_path / "x")])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


POP = ["--population", "2", "--grid", "k=1,2", "--steps", "14", "--eval-every", "5",
       "--hidden", "8", "--batch", "16", "--eval-samples", "100", "--no-plots", "--quiet"]


def _population_files(out) -> tuple[dict, list, dict]:
    with np.load(out / "checkpoint.npz", allow_pickle=False) as data:
        state = {key: data[key] for key in data.files}
    lines = (out / "members.jsonl").read_text().splitlines()
    summary = json.loads((out / "population.json").read_text())
    for key in ("wall_seconds", "gan_iterations_per_second"):
        summary.pop(key)
    return state, lines, summary


@pytest.mark.parametrize("backend, extra", [("numpy", ["--dropout", "0.1"]), ("emu", [])])
def test_an_interrupted_population_resumes_bit_identical(tmp_path, capsys, monkeypatch,
                                                         backend, extra):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    argv = ["mixture8", *POP, "--backend", backend, *extra]
    assert run.main([*argv, "--out", str(straight)]) == 0
    trainer_class = type(PopulationTrainer(small(backend=backend), 1, {}, tmp_path / "x").gan)
    real, calls = trainer_class.iteration, []

    def signalled(self):  # Ctrl-C lands inside the 8th lockstep iteration
        calls.append(1)
        if len(calls) == 8:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self)

    with monkeypatch.context() as patch:
        patch.setattr(trainer_class, "iteration", signalled)
        assert run.main([*argv, "--out", str(stopped)]) == 130
    assert "state saved" in capsys.readouterr().err
    with np.load(stopped / "checkpoint.npz") as data:
        assert int(data["step"]) == 8
    assert run.main(["--resume", str(stopped), "--quiet", "--no-plots"]) == 0
    ours, theirs = _population_files(straight), _population_files(stopped)
    assert ours[0].keys() == theirs[0].keys()
    for key in ours[0]:
        assert np.array_equal(ours[0][key], theirs[0][key]), key
    assert ours[1] == theirs[1] and ours[2] == theirs[2]


def test_a_population_resumes_to_more_steps_and_refuses_other_changes(tmp_path, capsys):
    short, long = tmp_path / "short", tmp_path / "long"
    assert run.main(["mixture8", *POP, "--out", str(long), "--steps", "20"]) == 0
    assert run.main(["mixture8", *POP, "--out", str(short), "--steps", "10"]) == 0
    assert run.main(["--resume", str(short), "--lr-d", "0.5", "--quiet"]) == 2
    assert "differs from the run's" in capsys.readouterr().err
    assert run.main(["--resume", str(short), "--steps", "20", "--quiet", "--no-plots"]) == 0
    with np.load(short / "checkpoint.npz") as a, np.load(long / "checkpoint.npz") as b:
        for key in ("g_params", "d_params", "opt_d.m", "opt_g.v"):
            assert np.array_equal(a[key], b[key]), key


def test_a_population_config_json_reproduces_the_run(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run.main(["mixture8", "--population", "2", "--grid", "k=1,2", "--steps", "4",
                     "--eval-every", "2", "--hidden", "8", "--eval-samples", "100",
                     "--no-plots", "--quiet", "--out", str(first)]) == 0
    assert run.main(["--config", str(first / "config.json"), "--no-plots", "--quiet",
                     "--out", str(second)]) == 0
    a, b = (json.loads((d / "population.json").read_text()) for d in (first, second))
    assert a["members"] == b["members"] == 4 and a["grid"] == b["grid"] == {"k": [1, 2]}
    assert a["cells"] == b["cells"]


@pytest.mark.parametrize("kernels", ["per-op", "fused"])
def test_on_the_kernels_every_member_equals_its_single_run(tmp_path, kernels):
    """The emulator (the kernels CI runs): member draws with their own Philox keys and
    calls, per-member updates, masked k; equal to single emu runs, bit for bit."""
    base = small(backend="emu", dtype="float32", kernels=kernels, steps=6, eval_every=3,
                 eval_samples=200)
    pop = PopulationTrainer(base, 1, parse_grid("lr_d=1e-4,3e-4 k=1,2"), tmp_path / "pop")
    pop.run()
    assert pop.gan.kernel_path == kernels and pop.gan.P == 4
    G, D = pop.gan.snapshot()
    for i, config in enumerate(pop.configs):
        single = single_run(config, tmp_path, f"single{i}")
        state = single.gan.state_dict()
        np.testing.assert_array_equal(G[i], state["g_params"][0])
        np.testing.assert_array_equal(D[i], state["d_params"][0])
        ours = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in pop.records[i]]
        theirs = [{k: v for k, v in r.items() if k != "wall_seconds"} for r in single.records]
        assert ours == theirs


def test_cli_population_on_the_emulator_reproduces_from_its_config(tmp_path):
    out, again = tmp_path / "pop", tmp_path / "again"
    assert run.main(["mixture8", "--population", "2", "--backend", "emu", "--steps", "4",
                     "--eval-every", "2", "--hidden", "8", "--eval-samples", "100",
                     "--no-plots", "--quiet", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["backend"] == "emu"
    assert run.main(["--config", str(out / "config.json"), "--no-plots", "--quiet", "--out",
                     str(again)]) == 0
    assert json.loads((again / "config.json").read_text())["backend"] == "emu"
    a, b = (json.loads((d / "population.json").read_text()) for d in (out, again))
    assert a["cells"] == b["cells"] and a["members"] == 2


def test_a_backend_switch_on_resume_says_so_not_corrupt(tmp_path, capsys):
    from toygan.run import main

    out = tmp_path / "pop"
    tiny = ["--steps", "4", "--eval-every", "2", "--batch", "8", "--hidden", "4",
            "--eval-samples", "50", "--expensive-every", "0", "--quiet", "--no-plots"]
    assert main(["mixture8", *tiny, "--population", "2", "--out", str(out)]) == 0
    assert main(["--resume", str(out), "--steps", "6", "--backend", "emu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "numpy backend" in err and "corrupt" not in err, err


def test_a_resume_may_not_change_a_value_the_grid_varies(tmp_path, capsys):
    from toygan.run import main

    out = tmp_path / "pop"
    tiny = ["--steps", "4", "--eval-every", "2", "--batch", "8", "--hidden", "4",
            "--eval-samples", "50", "--expensive-every", "0", "--quiet", "--no-plots"]
    assert main(["mixture8", *tiny, "--penalty", "r1", "--population", "1", "--grid",
                 "gamma=0.1,10", "--out", str(out)]) == 0
    assert main(["--resume", str(out), "--gamma", "3", "--quiet"]) == 2
    assert "varies over this population's grid (gamma = 0.1, 10.0)" in capsys.readouterr().err
