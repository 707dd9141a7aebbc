#!/usr/bin/env bash
# How often `leakcheck run` flags a leak of a known size, against the detection limit it states
# (issue 13), and how often it fails a service that does not leak.
#
#   bench/detection.sh [RUNS_PER_SIZE] [CLEAN_RUNS]        defaults 20 and 50
#
# LIMIT=42.4 skips the calibration; SIZES="2 1 4 0.5" picks the multiples (and their order);
# KEEP=1 appends to the rows of an earlier run instead of starting afresh.
#
# 1. Calibration: 5 runs of tests/fixtures/services/pricing.js's `orders` route with no leak
#    (LEAK_BYTES=0); L = the median detection limit they state
#    (`verdict.detection_limit.bytes_per_request`).
# 2. Leak sizes: RUNS_PER_SIZE runs at 0.5 L, 1 L, 2 L and 4 L bytes per request (the archive
#    keeps one flat string of CHUNK_BYTES whenever that much has accumulated); each run
#    records whether the route FAILED and the limit that run stated.
# 3. Clean: CLEAN_RUNS runs, each of one route in turn from the fixtures that must pass
#    (bench/detection-clean.toml): a bounded lru-cache still filling at the baseline, churn, a
#    full LRU, a cache built once, JIT warm-up, a WeakMap cache; each FAIL is a false alarm.
# Prints a Markdown table; raw rows in bench/out/detection/rows.tsv.
#
# Kept small on purpose (the machine is shared): 200 requests per rung, 20 warm-up requests.
# LEAKCHECK=target/release/leakcheck when it exists, else target/debug/leakcheck.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-20}
CLEAN=${2:-50}
if [ -z "${LEAKCHECK:-}" ]; then
  LEAKCHECK=target/release/leakcheck
  [ -x "$LEAKCHECK" ] || LEAKCHECK=target/debug/leakcheck
fi
OUT=bench/out/detection
mkdir -p "$OUT"
ROWS=$OUT/rows.tsv
[ -n "${KEEP:-}" ] || : >"$ROWS"
SIZES=${SIZES:-0.5 1 2 4}
SPEC=bench/detection.toml
CLEAN_SPEC=bench/detection-clean.toml

# One run of the leaking route; prints "outcome<TAB>stated limit<TAB>measured B/request".
run_leak() {
  local bytes=$1 json=$OUT/run.json
  rm -f "$json"
  LEAK_BYTES=$bytes "$LEAKCHECK" run --spec "$SPEC" --route orders --quiet --json "$json" \
    >/dev/null 2>"$OUT/last-stderr.txt" || true
  python3 - "$json" <<'PY'
import json, sys
try:
    route = json.load(open(sys.argv[1]))["targets"][0]["routes"][0]
except Exception:
    print("error\t0\t0"); sys.exit()
v = route.get("verdict") or {}
limit = (v.get("detection_limit") or {}).get("bytes_per_request", 0)
print(f"{route['outcome']}\t{limit:.1f}\t{v.get('bytes_per_request', 0):.1f}")
PY
}

if [ -n "${LIMIT:-}" ]; then
  L=$LIMIT
else
  echo "calibrating: 5 runs with no leak" >&2
  limits=()
  for i in 1 2 3 4 5; do
    IFS=$'\t' read -r outcome limit _ < <(run_leak 0)
    printf 'calibration\t0\t%s\t%s\n' "$outcome" "$limit" >>"$ROWS"
    limits+=("$limit")
  done
  L=$(printf '%s\n' "${limits[@]}" | sort -g | sed -n 3p)
fi
echo "stated limit: $L B/request" >&2

for m in $SIZES; do
  bytes=$(python3 -c "print(round($m * $L, 1))")
  for i in $(seq "$RUNS"); do
    IFS=$'\t' read -r outcome limit rate < <(run_leak "$bytes")
    printf 'leak\t%s\t%s\t%s\t%s\t%s\n' "$m" "$bytes" "$outcome" "$limit" "$rate" >>"$ROWS"
    echo "  ${m}x ($bytes B/request) run $i: $outcome (stated $limit, measured $rate)" >&2
  done
done

routes=$(python3 - "$CLEAN_SPEC" <<'PY'
import re, sys
names = re.findall(r'^name = "([^"]+)"', open(sys.argv[1]).read(), re.M)
print(" ".join(n for n in names if n not in ("pricing", "shop-api", "events-hub")))
PY
)
read -r -a route_list <<<"$routes"
for i in $(seq "$CLEAN"); do
  route=${route_list[$(( (i - 1) % ${#route_list[@]} ))]}
  json=$OUT/clean.json
  rm -f "$json"
  "$LEAKCHECK" run --spec "$CLEAN_SPEC" --route "$route" --quiet --json "$json" >/dev/null 2>&1 || true
  outcome=$(python3 -c "
import json,sys
try:
    t=[r for t in json.load(open('$json'))['targets'] for r in t['routes'] if r['outcome']!='skipped']
    print(t[0]['outcome'])
except Exception: print('error')")
  printf 'clean\t%s\t%s\n' "$route" "$outcome" >>"$ROWS"
  # A false alarm's report is the evidence: keep it (the next run overwrites clean.json).
  [ "$outcome" = pass ] || cp "$json" "$OUT/clean-$i-$route-$outcome.json" 2>/dev/null || true
  echo "  clean $i ($route): $outcome" >&2
done

python3 - "$ROWS" "$L" <<'PY'
import sys, statistics
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
L = float(sys.argv[2])
print(f"stated detection limit L = {L} B/request (median of 5 runs without a leak)\n")
print("| leak per request | runs | flagged | detection rate | stated limit in those runs (median) |")
print("|---|---|---|---|---|")
for m in ("0.5", "1", "2", "4"):
    rs = [r for r in rows if r[0] == "leak" and r[1] == m]
    if not rs:
        continue
    flagged = sum(r[3] == "fail" for r in rs)
    stated = statistics.median(float(r[4]) for r in rs)
    print(f"| {m} L = {rs[0][2]} B | {len(rs)} | {flagged} | {100 * flagged / len(rs):.0f}% | {stated:.1f} B |")
clean = [r for r in rows if r[0] == "clean"]
if clean:
    print()
    print("| clean route | runs | FAIL | error |")
    print("|---|---|---|---|")
    for route in sorted({r[1] for r in clean}):
        rs = [r for r in clean if r[1] == route]
        print(f"| {route} | {len(rs)} | {sum(r[2] == 'fail' for r in rs)} | {sum(r[2] == 'error' for r in rs)} |")
    print(f"| all | {len(clean)} | {sum(r[2] == 'fail' for r in clean)} | {sum(r[2] == 'error' for r in clean)} |")
PY
