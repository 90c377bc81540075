#!/usr/bin/env bash
# The one-call device check (bench/device_check.py): on a lent H100/H200 with nothing
# installed beyond the machine's image, from the repository root:
#     bash bench/device_check.sh [OUT] [--only a,b] [--budget S] [--dry-run]
# OUT (default $OUT under the device tool, else device-check) gets device_check.json and
# .md, and device_check.tar.gz with a log per step, the bench's results and the runs' files.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-device-check}"
if [[ $# -gt 0 && "$1" != --* ]]; then out="$1"; shift; fi
exec python3 bench/device_check.py --out "$out" "$@"
