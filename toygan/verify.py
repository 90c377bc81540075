"""`python -m toygan.verify [--quick] [--out DIR]`: measure every claim of the paper.

Prints a table (claim, source, measured figure, tolerance, pass/fail), and writes
report.md, report.json and the claims' figures to DIR (default `verify-report/`). Exit code
1 if any claim fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .claims import Claim, ClaimResult


def all_claims() -> list[Claim]:
    from .claims_analytic import CLAIMS as ANALYTIC
    from .claims_training import CLAIMS as TRAINING

    return [*ANALYTIC, *TRAINING]


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toygan.verify", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="fewer cases and shorter runs (under a minute on 2 cores)")
    parser.add_argument("--out", type=Path, default=Path("verify-report"),
                        help="directory for report.md, report.json and figures")
    parser.add_argument("--only", default="", help="comma-separated claim ids to run")
    args = parser.parse_args(argv)
    claims = all_claims()
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = wanted - {c.name for c in claims}
        if unknown:
            print(f"toygan.verify: error: unknown claim(s) {', '.join(sorted(unknown))}; "
                  f"known: {', '.join(c.name for c in claims)}", file=sys.stderr)
            return 2
        claims = [c for c in claims if c.name in wanted]
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timed = run_claims(claims, args.quick, args.out)
    results = [r for r, _ in timed]
    table = markdown_table(results)
    failed = [r.name for r in results if not r.passed]
    mode = "quick" if args.quick else "full"
    report = [f"# toygan verify report ({mode})", "",
              f"{len(results) - len(failed)} of {len(results)} claims hold; "
              f"{time.perf_counter() - t0:.1f} s.", "", table, "", "## Details", ""]
    for r, seconds in timed:
        report.append(f"- `{r.name}` ({seconds:.1f} s): {r.details}")
        report.extend(f"  ![{r.name}]({fig})" for fig in r.figures)
    (args.out / "report.md").write_text("\n".join(report) + "\n")
    (args.out / "report.json").write_text(json.dumps(
        {"mode": mode, "results": [{**vars(r), "seconds": round(s, 2)} for r, s in timed]},
        indent=2, default=str) + "\n")
    print(table)
    print(f"\n{len(results) - len(failed)}/{len(results)} claims hold"
          + (f"; FAILED: {', '.join(failed)}" if failed else "") + f" -> {args.out}/report.md")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
