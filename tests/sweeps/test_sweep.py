"""python -m toygan.sweep: expansion, resume without redoing work, no summary from partial
results, and a Dask LocalCluster that loses a worker midway."""

from __future__ import annotations

import json
import os
import signal

import pytest

from toygan import sweep
from toygan.config import ConfigError

TINY = {"steps": 12, "eval_every": 6, "hidden": [8, 8], "batch": 16, "eval_samples": 100,
        "expensive_every": 0}


def spec(**overrides) -> dict:
    base = {"preset": "mixture8", "options": dict(TINY), "grid": {"lr_d": [1e-4, 3e-4]},
            "seeds": 2}
    base.update(overrides)
    return base


def completed(out) -> dict[str, dict]:
    runs = out / sweep.RUNS
    return {d.name: json.loads((d / "sweep_task.json").read_text())
            for d in runs.iterdir() if (d / "summary.json").is_file()}


def in_process(tasks, out, on_done):
    errors = []
    for task in tasks:
        on_done(sweep.run_task(task, str(out)))
    return errors


def test_expand_names_every_cell_and_seed():
    cells, tasks = sweep.expand(spec(grid={"lr_d": [1e-4, 3e-4], "k": [1, 5]}, seeds=[3, 7]))
    assert len(cells) == 4 and len(tasks) == 8
    assert len({t["name"] for t in tasks}) == 8
    assert {(t["config"]["k"], t["config"]["seed"]) for t in tasks} == {
        (k, s) for k in (1, 5) for s in (3, 7)}
    for bad, message in ((spec(grid={"loss": ["bogus"]}), "unknown loss"),
                         (spec(seeds=0), "seeds"), (spec(grid={"seed": [1]}), "not in its grid"),
                         (spec(grid={"k": []}), "non-empty"),
                         (spec(grid={"preset": ["grid25"]}), "one distribution per sweep")):
        with pytest.raises(ConfigError, match=message):
            sweep.expand(bad)


def test_a_sweep_resumes_without_redoing_work(tmp_path):
    out = tmp_path / "sw"
    assert sweep.run_sweep(spec(), out, plots=False, execute=in_process) == 0
    first = completed(out)
    assert len(first) == 4
    table = json.loads((out / "population.json").read_text())
    assert table["members"] == 4 and [row["members"] for row in table["cells"]] == [2, 2]
    # Lose one run and leave a crashed attempt behind: only that run is redone.
    lost = sorted(first)[1]
    for f in (out / "runs" / lost).iterdir():
        f.unlink()
    (out / "runs" / lost).rmdir()
    (out / "runs" / f"{sweep.PARTIAL}{lost}-dead").mkdir()
    messages = []
    assert sweep.run_sweep(spec(), out, plots=False, progress=messages.append,
                           execute=in_process) == 0
    assert messages[0] == "4 runs, 3 already complete, 1 to do"
    again = completed(out)
    assert set(again) == set(first)
    for name in first:
        assert (again[name]["finished"] == first[name]["finished"]) == (name != lost)
    assert not list((out / "runs").glob(f"{sweep.PARTIAL}*"))


def test_no_summary_from_partial_results(tmp_path):
    out = tmp_path / "sw"

    def one_fails(tasks, out, on_done):
        for task in tasks[1:]:
            on_done(sweep.run_task(task, str(out)))
        return [f"{tasks[0]['name']}: RuntimeError: worker lost"]

    messages = []
    assert sweep.run_sweep(spec(), out, plots=False, progress=messages.append,
                           execute=one_fails) == 1
    assert not (out / "population.json").exists()
    assert any("no summary written" in m for m in messages)
    assert len(completed(out)) == 3
    # The next attempt does the missing run only, then summarises all four.
    assert sweep.run_sweep(spec(), out, plots=False, execute=in_process) == 0
    assert json.loads((out / "population.json").read_text())["members"] == 4


def test_cli_local_processes_and_bad_spec(tmp_path, capsys):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec(seeds=1)))
    out = tmp_path / "sw"
    assert sweep.main([str(path), "--out", str(out), "--workers", "2"]) == 0
    assert len(completed(out)) == 2 and (out / "population_collapse.png").is_file()
    assert "collapse rate" in capsys.readouterr().err
    path.write_text('{"preset": "mixture8", "colour": 1}')
    assert sweep.main([str(path), "--out", str(out)]) == 2
    assert "unknown sweep spec keys: colour" in capsys.readouterr().err


def test_dask_cluster_losing_a_worker_midway_completes_every_run_once(tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "sw"
    the_spec = spec(grid={"lr_d": [1e-4, 2e-4, 3e-4]}, seeds=2,
                    options={**TINY, "steps": 60, "eval_every": 30})
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(os.getpid)  # {worker address: pid}
        killed, messages = [], []

        def progress(text):
            messages.append(text)
            if "] " in text and not killed:  # the first run is done: kill a worker
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        code = sweep.run_sweep(the_spec, out, scheduler=cluster.scheduler_address,
                               plots=False, progress=progress)
    assert code == 0 and killed
    print("\n".join(messages))  # shows whether the killed worker had a run in flight
    done = completed(out)
    assert len(done) == 6  # every run, each in one complete directory
    assert not list((out / "runs").glob(f"{sweep.PARTIAL}*"))
    table = json.loads((out / "population.json").read_text())
    assert table["members"] == 6 and sorted(m["run"] for m in table["member_summaries"]) == \
        sorted(f"runs/{name}" for name in done)
