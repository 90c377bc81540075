"""A sweep's spec (toygan.sweep): reading and checking it, the cells and runs it expands
to, their directory names, and what differs between two specs."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..config import Config, ConfigError
from ..gan.factory import resolve
from ..resources import check_memory
from ..runfiles import RunFileError, read_json, safe_name
from ..training.grid import cells_of

RUNS = "runs"  # OUT/runs/<cell>-seed<s>: one complete run directory each
SPEC_KEYS = ("preset", "mixture", "options", "grid", "seeds", "out")
MAX_RUNS = 100_000  # cells x seeds: far beyond a toy sweep, short of exhausting memory
NAME_LIMIT = 160  # characters of a cell's directory name (file names stop at 255 bytes)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_kind(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _short(value, limit: int = 40) -> str:
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


# ---------------------------------------------------------------- the spec
def load_spec(path: Path) -> dict:
    """The spec in a JSON file, checked (check_spec); ConfigError says what is wrong."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except FileNotFoundError:
        raise ConfigError(f"sweep spec not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"sweep spec {path} is a directory, not a file") from None
    except OSError as err:
        raise ConfigError(f"cannot read sweep spec {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"sweep spec {path} is not a text file (not UTF-8)") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"sweep spec {path} is not valid JSON ({err.msg} at line "
                          f"{err.lineno} column {err.colno})") from None
    except RecursionError:
        raise ConfigError(f"sweep spec {path} is nested too deeply") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"a sweep spec is a JSON object; {path} holds a JSON "
                          f"{_json_kind(spec)}")
    check_spec(spec)
    return spec


def seed_list(spec: dict) -> list[int]:
    """The spec's seeds as a list: a count n is 0 .. n-1."""
    seeds = spec.get("seeds", 1)
    usage = (f"seeds: a count from 1 to {MAX_RUNS}, or a list of distinct non-negative "
             f"integers, got {_short(seeds)}")
    if _is_int(seeds):
        if not 1 <= seeds <= MAX_RUNS:
            raise ConfigError(usage)
        return list(range(seeds))
    if (not isinstance(seeds, list) or not seeds or len(seeds) > MAX_RUNS
            or not all(_is_int(s) and 0 <= s < 2**63 for s in seeds)):
        raise ConfigError(usage)
    seen = set()
    for s in seeds:
        if s in seen:
            raise ConfigError(f"seeds: {s} appears twice (two copies of one run)")
        seen.add(s)
    return list(seeds)


def _value_key(value):
    """A hashable stand-in for a JSON value, equal for equal values (1 and 1.0), with
    booleans apart from numbers."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list):
        return ("list", tuple(_value_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _value_key(v)) for k, v in value.items())))
    return ("value", value)


def check_spec(spec: dict) -> None:
    """The spec's own structure (Config checks the option values): ConfigError naming the
    first problem."""
    if not isinstance(spec, dict):
        raise ConfigError(f"a sweep spec is a JSON object, not a JSON {_json_kind(spec)}")
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise ConfigError(f"unknown sweep spec keys: {', '.join(sorted(unknown))} "
                          f"(a spec has {', '.join(SPEC_KEYS)})")
    options = spec.get("options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"the spec's options must be a JSON object of run options, got "
                          f"a JSON {_json_kind(options)}")
    grid = spec.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ConfigError("the spec's grid maps option names to non-empty lists")
    if "seed" in grid:
        raise ConfigError("give seeds with the spec's \"seeds\", not in its grid")
    if "seed" in options:
        raise ConfigError("give seeds with the spec's \"seeds\", not in its options")
    if "preset" in grid or "mixture" in grid:
        raise ConfigError("one distribution per sweep (its summary counts that one's modes); "
                          "run a sweep per preset")
    for key in ("preset", "mixture"):
        if key in spec and key in options:
            raise ConfigError(f"{key} is given both by the spec and in its options; give it once")
    both = sorted(set(grid) & set(options))
    if both:
        raise ConfigError(f"{both[0]} is both in the spec's options and in its grid; the grid's "
                          "values would replace the option: give it in one place")
    for key, values in grid.items():
        seen = set()
        for value in values:
            vk = _value_key(value)
            if vk in seen:
                raise ConfigError(f"grid {key}: the value {_short(value)} appears twice "
                                  "(two identical cells)")
            seen.add(vk)
    seeds = seed_list(spec)
    if math.prod(len(v) for v in grid.values()) * len(seeds) > MAX_RUNS:
        raise ConfigError(f"the spec makes more than {MAX_RUNS} runs; split the sweep")
    if "out" in spec:
        out = spec["out"]
        if not isinstance(out, str) or not out or "\0" in out:
            raise ConfigError(f"the spec's out must be a non-empty path, got {_short(out)}")


def cell_label(cell: dict) -> str:
    """A cell as text with every value exact (a float by its repr, which round-trips)."""
    return " ".join(f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in cell.items()) or "all"


def cell_slug(cell: dict) -> str:
    """The cell's part of its runs' directory names."""
    return safe_name(cell_label(cell), default="all", limit=NAME_LIMIT)


def expand(spec: dict) -> tuple[list[dict], list[dict]]:
    """The grid's cells, and one task per cell x seed: {"cell", "seed", "name", "config"}.
    Checks the whole spec, every task's Config included, and touches no file."""
    check_spec(spec)
    grid = spec.get("grid", {})
    seeds = seed_list(spec)
    base = dict(spec.get("options", {}))
    for key in ("preset", "mixture"):
        if key in spec:
            base[key] = spec[key]
    cells = cells_of(grid)
    tasks, slugs, configs = [], {}, {}
    sized: list[tuple[str, Config]] = []  # one config per cell, for the memory check
    for c, cell in enumerate(cells):
        label = cell_label(cell)
        where = f"grid cell {label}: " if cell else ""
        slug = cell_slug(cell)
        if slug in slugs:
            raise ConfigError(f"grid cells {slugs[slug]} and {label} would share the run "
                              f"directory name {slug}; give values that differ in letters "
                              "or digits (or a shorter grid)")
        slugs[slug] = label
        for seed in seeds:
            data = {"backend": "numpy", **base, **cell, "seed": seed}
            try:
                config = Config.from_dict(data)
                resolve(config)  # every task's config is checked before anything runs
            except ConfigError as err:
                raise ConfigError(f"{where}{err}") from None
            except (TypeError, ValueError, OverflowError) as err:  # an unchecked value
                raise ConfigError(f"{where}{type(err).__name__}: {err}") from None
            config_dict = config.to_dict()
            if seed == seeds[0]:
                key = _canonical({**config_dict, "seed": None})
                if key in configs:
                    raise ConfigError(f"grid cells {configs[key]} and {label} make the same "
                                      "configuration")
                configs[key] = label
            tasks.append({"cell": c, "seed": seed, "name": f"{slug}-seed{seed}",
                          "config": config_dict})
            if seed == seeds[0]:
                sized.append((where, config))
    for where, config in sized:  # last: what a machine can hold, once the spec is sound
        try:
            check_memory(config, config.validate())
        except ConfigError as err:
            raise ConfigError(f"{where}{err}") from None
    return cells, tasks


def _spec_key(spec: dict) -> dict:
    """What of a spec decides its runs (its out is where the sweep is, not what it is)."""
    seeds = spec.get("seeds", 1)
    return {"preset": spec.get("preset"), "mixture": spec.get("mixture"),
            "options": spec.get("options", {}), "grid": spec.get("grid", {}),
            "seeds": list(range(seeds)) if _is_int(seeds) and 0 <= seeds <= MAX_RUNS
            else seeds}


def spec_differences(old: dict, new: dict) -> list[str]:
    """'key old -> new' for what differs between two specs ([] when they make the same
    sweep)."""
    a, b = _spec_key(old), _spec_key(new)
    missing = object()
    diffs = []

    def show(value) -> str:
        return "(none)" if value is missing or value is None else _short(value)

    for key in a:
        if key in ("options", "grid") and isinstance(a[key], dict) and isinstance(b[key], dict):
            for sub in sorted(set(a[key]) | set(b[key])):
                x, y = a[key].get(sub, missing), b[key].get(sub, missing)
                if x is missing or y is missing or _canonical(x) != _canonical(y):
                    diffs.append(f"{key}.{sub} {show(x)} -> {show(y)}")
        elif _canonical(a[key]) != _canonical(b[key]):
            diffs.append(f"{key} {show(a[key])} -> {show(b[key])}")
    return diffs


# ---------------------------------------------------------------- runs on disk
def run_config(run_dir: Path) -> dict:
    """The full Config of a run (defaults filled in), from its config.json; RunFileError
    names the file when it is missing or not a run's configuration."""
    path = Path(run_dir) / "config.json"
    data = read_json(path, "a run's configuration")
    try:
        return json.loads(json.dumps(Config.from_dict(data).to_dict()))
    except (ConfigError, TypeError, ValueError) as err:
        raise RunFileError(f"{path} is not a run configuration ({err})") from None


def config_differences(stored: dict, wanted: dict) -> list[str]:
    wanted = json.loads(json.dumps(wanted))
    return sorted(k for k in set(stored) | set(wanted)
                  if _canonical(stored.get(k)) != _canonical(wanted.get(k)))


def _run_problem(run_dir: Path, task: dict) -> str | None:
    """Why a complete-looking run directory cannot stand for its task (None: it can)."""
    if not run_dir.is_dir() or run_dir.is_symlink():
        return f"{run_dir} is not a run directory"
    if not (run_dir / "summary.json").is_file():
        return f"{run_dir} is not a complete run ({run_dir / 'summary.json'} is missing)"
    try:
        stored = run_config(run_dir)
    except RunFileError as err:
        return str(err)
    diff = config_differences(stored, task["config"])
    if diff:
        return (f"{run_dir} was trained with another configuration (differs in: "
                f"{', '.join(diff[:6])}{', ...' if len(diff) > 6 else ''})")
    return None
