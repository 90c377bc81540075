"""The files a run's figures are drawn from, read and checked before anything is drawn:
config.json, metrics.jsonl, samples.npz and snapshots.npz against each other. A missing,
corrupt or inconsistent file raises runfiles.RunFileError naming it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.distributions import GaussianMixture, MixtureSpecError
from ..runfiles import GIF_FILE, RunFileError, load_npz, read_json, read_jsonl

# The metrics the curves draw: each, where a record has it, a number or null.
SERIES_KEYS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "d_real", "d_fake",
               "d_dstar_gap", "modes_covered", "modes_covered_20", "high_quality_fraction",
               "precision", "recall", "coverage", "mode_entropy", "reverse_kl",
               "jsd_estimate", "jsd_stderr", "kl_data_g", "kl_g_data", "wasserstein1",
               "sliced_wasserstein1", "frechet", "parzen_loglik", "loglik_test_exact",
               "loglik_data_of_g")


def load_run(run_dir: Path) -> tuple[dict, list[dict], dict]:
    """config, metrics records and samples.npz of a run (plus snapshots.npz when present,
    under the keys snapshot_steps and snapshot_fake), every file checked against the
    others: runfiles.RunFileError names the first file that is missing, corrupt or does
    not fit (e.g. samples of another dimension than the config's mixture)."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json", "a run's configuration")
    mixture = run_mixture(config, run_dir / "config.json")
    records = read_jsonl(run_dir / "metrics.jsonl")
    check_records(records, mixture, run_dir / "metrics.jsonl")
    samples = load_npz(run_dir / "samples.npz", required=("fake", "real", "step"))
    check_samples(samples, mixture, run_dir / "samples.npz")
    snapshots = run_dir / "snapshots.npz"
    if snapshots.exists():
        data = load_npz(snapshots, required=("steps", "fake"))
        check_snapshots(data, mixture, snapshots)
        samples["snapshot_steps"], samples["snapshot_fake"] = data["steps"], data["fake"]
    return config, records, samples


def run_mixture(config: dict, path: Path) -> GaussianMixture:
    """The data distribution of a run's config.json (RunFileError naming it if there is
    none or it describes no distribution)."""
    if "mixture" not in config:
        raise RunFileError(f"{path} has no 'mixture': not a run's config.json")
    try:
        return GaussianMixture.from_dict(config["mixture"])
    except MixtureSpecError as err:
        raise RunFileError(f"{path}: its mixture is not valid ({err})") from None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_records(records: list[dict], mixture: GaussianMixture, path: Path) -> None:
    """The metrics records hold what the figures read, of the right types and sizes."""
    k = mixture.n_components
    if not records:
        raise RunFileError(f"{path} holds no evaluation (a finished run logs step 0 at least)")
    last_step = -1
    for number, record in enumerate(records, start=1):
        where = f"{path} line {number}"
        if record.get("diverged"):
            continue
        if record["step"] < last_step:
            raise RunFileError(f"{where}: step {record['step']} comes after step {last_step}")
        last_step = record["step"]
        for key in SERIES_KEYS:
            if record.get(key) is not None and not _is_number(record[key]):
                raise RunFileError(f"{where}: {key} is {record[key]!r}, not a number")
        if "modes_total" in record and not _is_count(record["modes_total"]):
            raise RunFileError(f"{where}: modes_total is {record['modes_total']!r}, not a count")
        events = record.get("events", [])
        if not isinstance(events, list) or not all(
                isinstance(e, dict) and _is_number(e.get("step")) and isinstance(e.get("kind"), str)
                for e in events):
            raise RunFileError(f"{where}: events is not a list of {{step, kind}} objects")
        for key in ("mode_mass", "mode_histogram"):
            if key not in record:
                continue
            values = record[key]
            if (not isinstance(values, list) or len(values) != k
                    or not all(_is_number(v) and math.isfinite(v) and v >= 0 for v in values)):
                raise RunFileError(f"{where}: {key} is not a list of {k} non-negative numbers "
                                   f"(one per mode of the mixture in config.json)")


def _check_array(arrays: dict, key: str, path: Path, ndim: int, tail: tuple = (),
                 kinds: str = "fiu", what: str = "numbers") -> np.ndarray:
    """arrays[key] has `ndim` dimensions, numeric values, and ends in the sizes `tail`."""
    a = arrays[key]
    if a.dtype.kind not in kinds:
        raise RunFileError(f"{path}: {key!r} holds {a.dtype} values, not {what}")
    if a.ndim != ndim or (tail and a.shape[ndim - len(tail):] != tail):
        want = ", ".join(["n"] * (ndim - len(tail)) + [str(t) for t in tail])
        raise RunFileError(f"{path}: {key!r} has shape {a.shape}, expected ({want})")
    return a


def check_samples(samples: dict, mixture: GaussianMixture, path: Path) -> None:
    """samples.npz fits the run's mixture: G's and the real samples are (n, dim), D's grid
    (1-D and 2-D data only) matches D's values."""
    dim = mixture.dim
    for key in ("fake", "real"):
        a = samples[key]
        if a.ndim == 2 and a.shape[1] != dim and a.dtype.kind in "fiu":
            raise RunFileError(f"{path}: {key!r} holds {a.shape[1]}-D points, but the mixture "
                               f"in config.json is {dim}-D")
        _check_array(samples, key, path, 2, (dim,))
        if len(a) == 0:
            raise RunFileError(f"{path}: {key!r} holds no sample")
    if not np.isfinite(samples["fake"]).all(axis=1).any():
        raise RunFileError(f"{path}: 'fake' holds no finite sample of G")
    _check_array(samples, "step", path, 0, kinds="iu", what="a step number")
    if "d_is_probability" in samples:
        _check_array(samples, "d_is_probability", path, 0, kinds="biu", what="a flag")
    grid = [key for key in ("grid_x", "grid_y", "d_values") if key in samples]
    if not grid:
        return
    expected = {1: ["grid_x", "d_values"], 2: ["grid_x", "grid_y", "d_values"]}.get(dim)
    if expected is None:
        raise RunFileError(f"{path} holds D on a grid ({grid[0]!r}), but the mixture in "
                           f"config.json is {dim}-D (a grid is kept for 1-D and 2-D data)")
    for key in (*expected, "d_is_probability"):
        if key not in samples:
            raise RunFileError(f"{path} holds {grid[0]!r} but lacks {key!r}")
    extra = [key for key in ("grid_y",) if key in samples and key not in expected]
    if extra:
        raise RunFileError(f"{path} holds {extra[0]!r}, but the mixture in config.json is 1-D")
    for key in expected[:-1]:
        axis = _check_array(samples, key, path, 1)
        if len(axis) < 2 or not np.isfinite(axis).all() or np.any(np.diff(axis) <= 0):
            raise RunFileError(f"{path}: {key!r} is not an increasing grid of finite values")
    shape = tuple(len(samples[key]) for key in reversed(expected[:-1]))  # (y, x) or (x,)
    d = _check_array(samples, "d_values", path, len(shape))
    if d.shape != shape:
        raise RunFileError(f"{path}: 'd_values' has shape {d.shape}, but the grid is {shape}")


def check_snapshots(data: dict, mixture: GaussianMixture, path: Path) -> None:
    """snapshots.npz: steps (T,) and G's samples (T, n, dim) at those steps."""
    steps = _check_array(data, "steps", path, 1, kinds="iu", what="step numbers")
    fake = data["fake"]
    if fake.ndim == 3 and fake.shape[2] != mixture.dim and fake.dtype.kind in "fiu":
        raise RunFileError(f"{path}: 'fake' holds {fake.shape[2]}-D points, but the mixture "
                           f"in config.json is {mixture.dim}-D")
    _check_array(data, "fake", path, 3, (mixture.dim,))
    if fake.shape[0] != len(steps):
        raise RunFileError(f"{path}: 'fake' holds {fake.shape[0]} snapshots for "
                           f"{len(steps)} steps")
    if len(steps) and fake.shape[1] == 0:
        raise RunFileError(f"{path}: the snapshots hold no sample")


def skipped(config: dict, records: list[dict], samples: dict) -> dict[str, str]:
    """The figures (file names, GIF included) that the run's files do not allow, each with
    the reason."""
    mixture = GaussianMixture.from_dict(config["mixture"])
    out = {}
    if "snapshot_steps" not in samples or len(samples["snapshot_steps"]) == 0:
        out["snapshots.png"] = out[GIF_FILE] = "the run kept no snapshots of G's samples"
    if "d_values" not in samples:
        if mixture.dim > 2:
            out["discriminator.png"] = (f"D is kept on a grid for 1-D and 2-D data only (this "
                                        f"mixture is {mixture.dim}-D)")
        else:
            out["discriminator.png"] = "a packed D (PacGAN) has no value at a single point"
    good = _good(records)
    if not any("mode_mass" in r for r in good):
        out["mode_mass.png"] = "metrics.jsonl logs no mode_mass"
    if not any("mode_histogram" in r for r in good):
        out["coverage.png"] = "metrics.jsonl logs no mode_histogram"
    return out


def _good(records: list[dict]) -> list[dict]:
    return [r for r in records if not r.get("diverged")]
