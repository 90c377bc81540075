"""The shape of a verified claim, shared by `toygan.verify` and the claim modules.

A claim module (`claims.analytic`, `claims.training`) lists `CLAIMS`: each a `Claim` whose
`check(quick, out_dir)` measures the claim and returns a `ClaimResult`. `quick` trades
precision for time (the whole quick set runs in under a minute on 2 cores); `out_dir`,
when given, receives the claim's figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ClaimResult:
    name: str  # short id, e.g. "thm1_identity"
    source: str  # where in the paper, e.g. "Thm. 1"
    statement: str  # the claim in words
    measured: float  # the figure measured (an error, a ratio, a rate, ...)
    tolerance: str  # what the figure is held to, e.g. "<= 1e-9"
    passed: bool
    details: str = ""  # one line more: what exactly was measured
    figures: list[str] = field(default_factory=list)  # files written to out_dir


@dataclass(frozen=True)
class Claim:
    name: str
    source: str
    statement: str
    check: Callable[[bool, Path | None], ClaimResult]
    # Too long for --quick (hours of training): `verify --quick` lists it as not run.
    full_only: bool = False
