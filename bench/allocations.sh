#!/usr/bin/env bash
# The cost of recording allocation sites: runs a spec with `--allocations off` and with the
# default (`sampling`), alternately, REPS times each, and prints per run the wall time of the
# whole run, the time spent sending requests (where the profiler's cost lands), and
# leakcheck's peak RSS, read from the JSON reports.
#
#   bench/allocations.sh [SPEC] [REPS] [LEAKCHECK] [leakcheck run flags...]
# defaults: tests/fixtures/specs/allocations.toml, 3, target/release/leakcheck (else debug);
# e.g. `bench/allocations.sh tests/fixtures/specs/allocations.toml 2 "" --target events-hub`.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-tests/fixtures/specs/allocations.toml}
reps=${2:-3}
bin=${3:-target/release/leakcheck}
[ -x "$bin" ] || bin=target/debug/leakcheck
shift 3 2>/dev/null || shift $#
extra=("$@")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-9s %4s %9s %10s %10s\n' mode rep wall_s requests_s peak_rss_mib
for rep in $(seq "$reps"); do
  for mode in off sampling; do
    (cd "$out" && "$OLDPWD/$bin" run --spec "$OLDPWD/$spec" --allocations "$mode" --quiet "${extra[@]}" \
      --json "$out/$mode-$rep.json" >/dev/null 2>&1) || true
    python3 - "$out/$mode-$rep.json" "$mode" "$rep" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
routes = [r for t in d["targets"] for r in t["routes"]]
requests = sum(r["timings"]["requests"] for r in routes)
print(f'{sys.argv[2]:<9} {sys.argv[3]:>4} {d["elapsed"]:>9.1f} {requests:>10.1f} {(d.get("peak_rss") or 0) / 2**20:>10.1f}')
PY
  done
done
