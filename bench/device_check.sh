#!/usr/bin/env bash
# The one-call device check (bench/device_check.py): on a lent H100/H200 with nothing
# installed beyond the machine's image, from the repository root:
#     bash bench/device_check.sh [OUT] [--only a,b] [--budget S] [--dry-run]
# OUT (default device-check; $OUT/device-check under the device tool) gets
# device_check.json and .md, a log per step, the bench's results and the runs' summaries.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:+$OUT/device-check}"
out="${out:-device-check}"
if [[ $# -gt 0 && "$1" != --* ]]; then out="$1"; shift; fi
exec python3 bench/device_check.py --out "$out" "$@"
