#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, builds with
# AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/, and runs every
# suite (unit, data-driven cases, fuzz-corpus replays, CLI tests) under the
# 'asan' test setup. Ends with a "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

BUILD=${BUILD:-build-asan}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debugoptimized >/dev/null
fi
ninja -C "$BUILD"

set +e
meson test -C "$BUILD" --setup=asan --print-errorlogs "$@"
rc=$?
set -e

# One plain closing line with the counts, from meson's own log.
python3 - "$BUILD/meson-logs/testlog-asan.json" <<'PY' || true
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    res = r.get("result")
    if res in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif res == "SKIP":
        skip += 1
    else:
        bad += 1
print(f"{ok} passed, {bad} failed" + (f", {skip} skipped" if skip else ""))
PY
exit $rc
