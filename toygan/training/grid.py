"""The grid of a population: which options may vary between members (GRID_KEYS), the
`--grid` spec parsed, its cells, and each member's configuration."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from ..config import Config, ConfigError
from ..device.geometry import MAX_MEMBERS  # members ride on one grid dimension of a launch

# Options a grid may vary: they change neither shapes nor code paths, so members of
# different cells still run in one lockstep batch.
GRID_KEYS = {"lr_d": float, "lr_g": float, "k": int, "seed": int, "gamma": float}


def parse_grid(spec: str | None) -> dict[str, list]:
    """'lr_d=1e-4,3e-4 k=1,5', or a JSON object {"lr_d": [1e-4, 3e-4], "k": [1, 5]}, or a
    path to a file holding that object -> {key: values}."""
    if spec is None:
        return {}
    text = spec.strip()
    if not text:
        raise ConfigError("--grid: an empty spec; give KEY=V1,V2 pairs, a JSON object or a "
                          "file")
    path = Path(text)
    if not text.startswith("{") and "=" not in text:
        if not path.is_file():
            raise ConfigError(f"--grid {spec!r}: neither KEY=V1,V2 pairs nor a JSON file")
        text = path.read_text()
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except RecursionError:
            raise ConfigError("--grid: JSON nested too deeply") from None
        except json.JSONDecodeError as err:
            raise ConfigError(f"--grid: invalid JSON ({err})") from None
        if not isinstance(raw, dict):
            raise ConfigError("--grid: the JSON must be an object of lists")
        pairs = [(k, v if isinstance(v, list) else [v]) for k, v in raw.items()]
    else:
        pairs = []
        for part in text.split():
            key, sep, values = part.partition("=")
            if not sep or not values:
                raise ConfigError(f"--grid: {part!r} is not KEY=V1,V2,...")
            pairs.append((key, values.split(",")))
    grid: dict[str, list] = {}
    for key, values in pairs:
        if key not in GRID_KEYS:
            raise ConfigError(f"--grid: {key!r} cannot vary within a population; choose from "
                              f"{', '.join(GRID_KEYS)}")
        if key in grid:
            raise ConfigError(f"--grid: {key} given twice")
        try:
            grid[key] = [_grid_value(GRID_KEYS[key], v) for v in values]
        except (TypeError, ValueError):
            raise ConfigError(f"--grid: {key} needs {GRID_KEYS[key].__name__} values, got "
                              f"{values}") from None
        if not grid[key]:
            raise ConfigError(f"--grid: {key} has no values")
        if len(set(grid[key])) != len(grid[key]):
            raise ConfigError(f"--grid: {key} lists a value twice ({values})")
    return grid


def _grid_value(kind: type, value):
    """A grid value as its option's type; '1e3' is an int, 1.5 is not, true is neither."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value} is not a number")
    if kind is int:
        number = float(value)
        if not number.is_integer():
            raise ValueError(f"{value} is not an integer")
        return int(number)
    return kind(value)


def cells_of(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, in a fixed order ([{}] without a grid)."""
    keys = sorted(grid)
    return [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(grid[k] for k in keys))]


def member_configs(base: Config, population: int, grid: dict[str, list]) -> list[Config]:
    """`population` members per cell: seeds base.seed + j (j < population) in every cell,
    unless the grid varies the seed itself. Each is validated as a single run's config."""
    if not isinstance(population, int) or isinstance(population, bool) or population < 1:
        raise ConfigError(f"--population must be an integer >= 1, got {population}")
    if base.update != "alternating":  # before the members' own checks (k from a grid)
        raise ConfigError(f"--update {base.update}: a population trains with alternating "
                          "updates only; train single runs (or a sweep)")
    if "gamma" in grid and base.penalty == "none":
        raise ConfigError("--grid varies gamma, the weight of a gradient penalty: give "
                          "--penalty r1, r2 or wgan-gp")
    total = population * len(cells_of(grid))
    if total > MAX_MEMBERS:
        raise ConfigError(f"{total} members ({population} per cell x {total // population} "
                          f"cells): at most {MAX_MEMBERS} train in one population (the CUDA "
                          "grid's limit); split it into several runs or a sweep")
    if "seed" in grid and population > 1:
        raise ConfigError("the grid varies the seed: each seed value is one member, so give "
                          "--population 1 (N copies of a seed are not N samples)")
    members = []
    for cell in cells_of(grid):
        for j in range(population):
            data = base.to_dict()
            data["seed"] = base.seed + j
            data.update(cell)
            config = Config.from_dict(data)
            config.validate()
            members.append(config)
    return members
