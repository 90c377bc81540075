"""Registers, shared memory and spills of every kernel, as nvcc reports them for sm_90.

    python bench/kernel_resources.py [--arch sm_90] [--double]

Compiles each kernels/*.cu with `nvcc --resource-usage -Xptxas -warn-spills` (nvcc only:
no GPU is needed) and prints one row per kernel.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

from toygan.device.launch import KERNEL_DIR, sources

_FUNCTION = re.compile(r"Function properties for (\w+)")
_SPILLS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USAGE = re.compile(r"Used (\d+) registers.*?(?:(\d+) bytes smem)?")


def report(arch: str, double: bool) -> list[dict]:
    rows = []
    for path in sources():
        command = ["nvcc", f"-arch={arch}", "-std=c++17", "-c", str(path), "-o", "/dev/null",
                   f"-I{KERNEL_DIR}", "--resource-usage", "-Xptxas", "-warn-spills"]
        if double:
            command.append("-DTOYGAN_DOUBLE")
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        current: dict | None = None
        for line in (result.stdout + result.stderr).splitlines():
            if m := _FUNCTION.search(line):
                current = {"file": path.name, "kernel": m.group(1)}
                rows.append(current)
            elif current is not None and (m := _SPILLS.search(line)):
                current.update(stack=int(m.group(1)), spill_stores=int(m.group(2)),
                               spill_loads=int(m.group(3)))
            elif current is not None and "Used" in line and (m := _USAGE.search(line)):
                current["registers"] = int(m.group(1))
                smem = re.search(r"(\d+) bytes smem", line)
                current["smem"] = int(smem.group(1)) if smem else 0
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="sm_90")
    parser.add_argument("--double", action="store_true", help="the float64 build")
    args = parser.parse_args(argv)
    if shutil.which("nvcc") is None:
        print("nvcc is not on PATH", file=sys.stderr)
        return 2
    rows = report(args.arch, args.double)
    print(f"{'file':<16} {'kernel':<24} {'regs':>5} {'smem B':>7} {'stack B':>8} {'spills':>7}")
    for r in rows:
        spills = r.get("spill_stores", 0) + r.get("spill_loads", 0)
        print(f"{r['file']:<16} {r['kernel']:<24} {r.get('registers', 0):>5} "
              f"{r.get('smem', 0):>7} {r.get('stack', 0):>8} {spills:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
