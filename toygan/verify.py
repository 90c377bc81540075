"""`python -m toygan.verify [--quick] [--out DIR]`: measure every claim of the paper.

Prints a table (claim, source, measured figure, tolerance, pass/fail), and writes
report.md, report.json and the claims' figures to DIR (default `verify-report/`). Exit code
1 if any claim fails, 2 on bad usage (one line on stderr, nothing written), 130 when
interrupted (143 on SIGTERM; a population claim saves its checkpoint first and the next
verify into DIR resumes it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .claims import Claim, ClaimResult
from .cli import (  # noqa: F401 (re-exported for older importers)
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    CommandParser,
    UsageError,
    fail,
    int_in,
    int_list,
    one_line,
    os_error_text,
    output_dir_problem,
)
from .runfiles import RunLock, RunLockedError, atomic_write_text, missing_dirs, remove_empty_dirs


# ------------------------------------------------------------------ claims
def all_claims() -> list[Claim]:
    from .claims.analytic import CLAIMS as ANALYTIC
    from .claims.dirac import CLAIMS as DIRAC
    from .claims.fgan import CLAIMS as BEYOND
    from .claims.fgan_learned import CLAIMS as LEARNED
    from .claims.jacobian import CLAIMS as JACOBIAN
    from .claims.perfect_d import CLAIMS as PERFECT
    from .claims.pg_population import CLAIMS as POPULATION
    from .claims.training import CLAIMS as TRAINING

    return [*ANALYTIC, *TRAINING, *DIRAC, *JACOBIAN, *POPULATION, *BEYOND, *LEARNED, *PERFECT]


def _figure(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.2e}"


def markdown_table(results: list[ClaimResult]) -> str:
    lines = ["| claim | source | statement | measured | tolerance | result |",
             "|---|---|---|---|---|---|"]
    for r in results:
        verdict = "pass" if r.passed else "**FAIL**"
        cells = [f"`{r.name}`", r.source, r.statement, _figure(r.measured), r.tolerance, verdict]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def run_claims(claims: list[Claim], quick: bool, out_dir: Path | None,
               log=sys.stderr) -> list[tuple[ClaimResult, float]]:
    results = []
    for i, claim in enumerate(claims, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(claims)}] {claim.name} ({claim.source}) ...", file=log, flush=True)
        try:
            result = claim.check(quick, out_dir)
        except Exception as err:  # a crashing check is a failed claim, reported as such
            result = ClaimResult(claim.name, claim.source, claim.statement, float("nan"),
                                 "runs without error", False, f"{type(err).__name__}: {err}")
        results.append((result, time.perf_counter() - t0))
    return results


def build_parser() -> CommandParser:
    parser = CommandParser(prog="python -m toygan.verify", description=__doc__.split("\n\n")[0],
                           epilog="claims: " + ", ".join(c.name for c in all_claims()))
    parser.add_argument("--quick", action="store_true",
                        help="fewer cases and shorter runs (under a minute on 2 cores)")
    parser.add_argument("--out", type=Path, default=Path("verify-report"),
                        help="directory for report.md, report.json and figures")
    parser.add_argument("--only", default=None, help="comma-separated claim ids to run")
    return parser


def select_claims(claims: list[Claim], only: str | None) -> list[Claim]:
    """The claims `--only` names (all of them when it is not given); UsageError otherwise
    (an empty --only names nothing: it is refused, not read as "all")."""
    if only is None:
        return claims
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    if not wanted:
        raise UsageError(f"--only {only!r} names no claim; known: "
                         f"{', '.join(c.name for c in claims)}")
    unknown = wanted - {c.name for c in claims}
    if unknown:
        raise UsageError(f"unknown claim(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(c.name for c in claims)}")
    return [c for c in claims if c.name in wanted]


def main(argv: list[str] | None = None) -> int:
    """Bad input: one line on stderr, exit 2, nothing written (see the module doc)."""
    try:
        args = build_parser().parse_args(argv)
        claims = select_claims(all_claims(), args.only)
        problem = output_dir_problem(args.out)
        if problem:
            raise UsageError(problem)
        for name in ("report.md", "report.json"):
            if (args.out / name).is_dir():
                raise UsageError(f"{args.out / name} is a directory; the report cannot be "
                                 "written there")
    except UsageError as err:
        return fail("verify", str(err))
    created = missing_dirs(args.out)
    try:
        with RunLock(args.out):  # a second verify into the same DIR is refused at once
            return _verify(args, claims)
    except RunLockedError as err:
        return fail("verify", str(err))
    except MemoryError:
        return fail("verify", "out of memory while measuring the claims (try --quick or "
                    "--only)")
    except OSError as err:
        return fail("verify", os_error_text(err))
    except KeyboardInterrupt as err:
        # A population claim's trainer stops on SIGINT or SIGTERM after saving its
        # checkpoint (the next verify resumes it): 130 or 143, as the training commands.
        print("\ntoygan.verify: interrupted; no report written", file=sys.stderr)
        return getattr(err, "exit_code", EXIT_INTERRUPTED)
    finally:
        remove_empty_dirs(created)  # only where nothing was written


def _earlier_figures(out: Path) -> set[str]:
    """The figures an earlier report in `out` listed (none when there is no readable one)."""
    try:
        earlier = json.loads((out / "report.json").read_text())
        return {f for r in earlier["results"] for f in r["figures"]
                if isinstance(f, str) and Path(f).name == f}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _verify(args: argparse.Namespace, claims: list[Claim]) -> int:
    t0 = time.perf_counter()
    earlier = _earlier_figures(args.out)
    # Claims that train populations for hours are measured by the full run only.
    not_run = [c.name for c in claims if args.quick and c.full_only]
    claims = [c for c in claims if c.name not in not_run]
    timed = run_claims(claims, args.quick, args.out)
    results = [r for r, _ in timed]
    table = markdown_table(results)
    failed = [r.name for r in results if not r.passed]
    mode = "quick" if args.quick else "full"
    report = [f"# toygan verify report ({mode})", "",
              f"{len(results) - len(failed)} of {len(results)} claims hold; "
              f"{time.perf_counter() - t0:.1f} s.", "", table, "", "## Details", ""]
    if not_run:
        report[3:3] = ["", f"Not run in --quick (full verify only): {', '.join(not_run)}."]
    for r, seconds in timed:
        report.append(f"- `{r.name}` ({seconds:.1f} s): {r.details}")
        report.extend(f"  ![{r.name}]({fig})" for fig in r.figures)
    atomic_write_text(args.out / "report.md", "\n".join(report) + "\n")
    atomic_write_text(args.out / "report.json", json.dumps(
        {"mode": mode, "results": [{**vars(r), "seconds": round(s, 2)} for r, s in timed],
         "not_run": not_run},
        indent=2, default=str) + "\n")
    # The earlier report's figures that this one does not draw would sit beside it as if
    # they were its own: they go (only names that report listed, nothing else).
    for name in earlier - {f for r in results for f in r.figures}:
        (args.out / name).unlink(missing_ok=True)
    print(table)
    if not_run:
        print(f"\nnot run in --quick (full verify only): {', '.join(not_run)}")
    print(f"\n{len(results) - len(failed)}/{len(results)} claims hold"
          + (f"; FAILED: {', '.join(failed)}" if failed else "") + f" -> {args.out}/report.md")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
