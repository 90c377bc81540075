"""`python -m toygan.reproduce NAME`: the PacGAN / VEEGAN mode-collapse tables, rerun.

Protocol (PacGAN, Lin et al., 2018, Section 5 and its code, as the issue states it):
ring: 8 modes on a circle of radius 1, std 0.01; grid: 25 modes on {-4,-2,0,2,4}^2, std
0.05. G: 4 hidden layers of 400 ReLU units with batch norm, noise N(0, I) in 2-D. D: 3
hidden maxout layers of 200 units with 5 pieces. Adam, lr 1e-4, beta1 0.8; minibatch 100;
2500 samples per evaluation; 10 seeds; D sees packs of 1 to 4 samples (PacGAN1 = GAN).
Counting: PacGAN's rule (per-axis std units) for pacgan-*, VEEGAN's (Euclidean, 3 std)
for veegan-*; on these isotropic mixtures they agree, the keys differ only in name.

Each (pack, seed) is an ordinary run directory under OUT (resumable; a finished run is not
redone), so every diagnostic and plot of toygan applies to it. The table gives the mean
+- standard error over seeds and the published rows beside it; it is written as
table-NAME.md and table-NAME.json in OUT (default runs/reproduce-PRESET, shared by the
pacgan-* and veegan-* tables of one data set: their runs are the same).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from .config import Config
from .theory import mean_stderr
from .train import CheckpointError, Diverged, Trainer, atomic_write_text

PROTOCOLS = {
    "pacgan-ring": ("ring8_pacgan", ""),
    "pacgan-grid": ("grid25", ""),
    "veegan-ring": ("ring8_pacgan", "_veegan"),
    "veegan-grid": ("grid25", "_veegan"),
}
# PacGAN Table 1 (mean +- standard error over 10 seeds): modes, high-quality %, reverse KL.
PUBLISHED = {
    "ring8_pacgan": {"GAN": (6.3, 0.5, 98.2, 0.2, 0.45, 0.09),
                     "PacGAN2": (7.9, 0.1, 95.6, 2.0, 0.07, 0.03)},
    "grid25": {"GAN": (17.3, 0.8, 94.8, 0.7, 0.70, 0.07)},
}
DEFAULT_STEPS = 2000  # CPU scale; the published runs trained for far longer


def protocol_config(preset: str, pack: int, seed: int, steps: int) -> Config:
    """The PacGAN network, optimiser and evaluation for one (pack, seed)."""
    return Config(
        preset=preset, loss="nonsaturating", k=1, steps=steps, batch=100,
        lr_d=1e-4, lr_g=1e-4, optimizer="adam", adam_beta1=0.8,
        hidden=[400, 400, 400, 400], g_activation="relu", g_batchnorm=True,
        d_hidden=[200, 200, 200], d_activation="maxout", maxout_pieces=5,
        noise_dim=2, noise="normal", seed=seed, pack=pack,
        eval_every=max(1, steps // 10), eval_samples=2500, expensive_every=0,
        backend="numpy",
    )


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n); 0 for one value)."""
    a = np.asarray(values, dtype=float)
    if len(a) < 2:
        return (float(a[0]), 0.0) if len(a) else (math.nan, math.nan)
    return mean_stderr(a)


def run_one(config: Config, run_dir: Path, quiet: bool) -> dict:
    """Train (or resume, or reuse when finished) one run and return its summary."""
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary.get("steps") == config.steps or summary.get("diverged"):
            return summary
        if summary.get("steps", 0) > config.steps:
            raise CheckpointError(f"{run_dir} holds a run of {summary['steps']} iterations, "
                                  f"more than --steps {config.steps}; use another --out")
    if (run_dir / "checkpoint.npz").is_file():
        trainer = Trainer.resume(run_dir, {"steps": config.steps})
    else:
        trainer = Trainer(config, run_dir)
    try:
        summary = trainer.run()
    except Diverged as err:
        if not quiet:
            print(f"  {err}", file=sys.stderr)
        summary = json.loads(summary_path.read_text())
    return summary


def table_rows(summaries: dict[int, list[dict]], suffix: str) -> list[dict]:
    """One row per pack size: modes, high-quality % and reverse KL, mean +- s.e. over seeds.
    A run without high-quality samples has reverse KL undefined; it is left out of that
    column's mean and counted in `reverse_kl_undefined`."""
    rows = []
    for pack, runs in sorted(summaries.items()):
        kls = [s[f"reverse_kl{suffix}"] for s in runs if s.get(f"reverse_kl{suffix}") is not None]
        rows.append({
            "name": "GAN" if pack == 1 else f"PacGAN{pack}",
            "pack": pack,
            "seeds": len(runs),
            "diverged": sum(bool(s.get("diverged")) for s in runs),
            "modes": mean_se([s[f"modes_covered{suffix}"] for s in runs]),
            "high_quality_percent": mean_se(
                [100.0 * s[f"high_quality_fraction{suffix}"] for s in runs]),
            "reverse_kl": mean_se(kls),
            "reverse_kl_undefined": len(runs) - len(kls),
        })
    return rows


def format_markdown(name: str, preset: str, steps: int, rows: list[dict], seconds: float) -> str:
    def pm(pair, digits):
        mean, se = pair
        return "n/a" if math.isnan(mean) else f"{mean:.{digits}f} +- {se:.{digits}f}"

    total = 8 if "ring" in name else 25
    lines = [
        f"## {name}: {preset}, {steps} iterations per run (CPU scale)",
        "",
        f"Counting rule: {'VEEGAN' if name.startswith('veegan') else 'PacGAN'}. Mean +- "
        "standard error over seeds. The published runs trained for far longer (hundreds of "
        f"thousands of iterations); these {steps}-iteration runs are the protocol scaled down, "
        "not a replication of its length.",
        "",
        f"| method | seeds | modes (max {total}) | high-quality samples (%) | reverse KL |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        note = f" ({row['diverged']} diverged)" if row["diverged"] else ""
        kl = pm(row["reverse_kl"], 2)
        if row["reverse_kl_undefined"]:
            kl += f" ({row['reverse_kl_undefined']} undefined)"
        lines.append(f"| toygan {row['name']} | {row['seeds']}{note} | {pm(row['modes'], 1)} | "
                     f"{pm(row['high_quality_percent'], 1)} | {kl} |")
    for method, (m, ms, q, qs, k, ks) in PUBLISHED.get(preset, {}).items():
        lines.append(f"| published {method} (PacGAN Table 1) | 10 | {m:.1f} +- {ms:.1f} | "
                     f"{q:.1f} +- {qs:.1f} | {k:.2f} +- {ks:.2f} |")
    lines += ["", f"Wall time: {seconds:.0f} s.", ""]
    return "\n".join(lines)


def _strict_json(value):
    """NaN (a column with no defined value) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m toygan.reproduce",
        description="Rerun the PacGAN/VEEGAN 2-D mode-collapse protocol and print its table "
        "beside the published rows.")
    parser.add_argument("name", choices=list(PROTOCOLS))
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"iterations per run (default {DEFAULT_STEPS}, CPU scale)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per row (default 10)")
    parser.add_argument("--packs", default=None,
                        help="pack sizes, e.g. 1,2 (default 1,2,3,4 for pacgan-*, 1 for "
                        "veegan-*)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default runs/reproduce-PRESET: pacgan-* and "
                        "veegan-* share their runs, which differ only in how they are counted)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    preset, suffix = PROTOCOLS[args.name]
    try:
        packs = [int(p) for p in (args.packs or ("1,2,3,4" if suffix == "" else "1")).split(",")]
    except ValueError:
        parser.error(f"--packs must be integers like 1,2, got {args.packs!r}")
    if args.steps < 1 or args.seeds < 1 or min(packs) < 1:
        parser.error("--steps, --seeds and pack sizes must be >= 1")
    out = args.out or Path("runs") / f"reproduce-{preset}"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summaries: dict[int, list[dict]] = {}
    for pack in packs:
        for seed in range(args.seeds):
            config = protocol_config(preset, pack, seed, args.steps)
            if not args.quiet:
                print(f"{args.name}: pack {pack}, seed {seed} ({args.steps} iterations)",
                      file=sys.stderr, flush=True)
            try:
                summary = run_one(config, out / f"pack{pack}-seed{seed}", args.quiet)
            except CheckpointError as err:
                print(f"toygan.reproduce: error: {err}", file=sys.stderr)
                return 2
            summaries.setdefault(pack, []).append(summary)
    rows = table_rows(summaries, suffix)
    seconds = time.perf_counter() - t0
    text = format_markdown(args.name, preset, args.steps, rows, seconds)
    atomic_write_text(out / f"table-{args.name}.md", text)
    atomic_write_text(out / f"table-{args.name}.json", json.dumps(
        {"name": args.name, "preset": preset, "steps": args.steps, "seeds": args.seeds,
         "rows": _strict_json(rows), "published": PUBLISHED.get(preset, {}),
         "wall_seconds": round(seconds, 1)}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
