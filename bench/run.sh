#!/usr/bin/env bash
# Benchmark: leakcheck against memlab on the same heap snapshots.
#
# Run from anywhere (it cd's to the repo root):   bench/run.sh
#
# 1. Generates missing inputs into bench/out/ (gitignored) with bench/gen-snapshot.js:
#    heap-20, heap-200, heap-1000 (.heapsnapshot of about 21 MB, 211 MB, 1.1 GB)
#    and triple/s0..s2 (three ~300 MB snapshots of one process with a leak).
# 2. For each single snapshot, times with /usr/bin/time (wall seconds, peak RSS):
#      memlab:    memlab analyze object-size --snapshot FILE
#                 (parse + shortest paths + dominators/retained sizes, then a top-N print)
#      leakcheck: $LEAKCHECK summary FILE --format json
#    and on the triple:
#      memlab:    memlab find-leaks --baseline s0 --target s1 --final s2 --trace-all-objects
#      leakcheck: $LEAKCHECK diff s0 s1 s2
# 3. Prints a Markdown table (and keeps raw rows in bench/out/results.tsv, logs in bench/out/logs/).
#
# Environment:
#   LEAKCHECK=target/release/leakcheck  binary to test (a missing binary or failing run shows as "failed")
#   SIZES="20 200 1000"                 which single snapshots to use ("" for none; 1000 needs ~10 GB RAM to generate)
#   TRIPLE_MB=300                       size of each triple snapshot; TRIPLE=0 skips the triple
#   TOOLS="memlab leakcheck"            which tools to run
#   MEMLAB_HEAP_MB=20000                --max-old-space-size for memlab (its own bin uses 4096)
#   TIMEOUT=3600                        per-run limit in seconds
# Measured here (Node 20.20.2, memlab 2.0.5, 2 vCPUs shared with other jobs, load ~5):
#   input                       memlab                 leakcheck (bc05d24)
#   21 MB / 268k nodes          2.5-4.5 s,  236 MB     0.24 s,  23 MB   summary
#   214 MB / 2.72M nodes        10.6-29.7 s, 946 MB    1.20 s, 184 MB   summary
#   1.12 GB / 14.0M nodes       99.6-103 s, 4.1 GB     10.2 s, 898 MB   summary
#   3 x 305 MB / 3.87M nodes    31-40 s, 1.65 GB       3.45 s, 743 MB   find-leaks vs diff
# Generating the 1.12 GB input takes ~2.5 min; the triple ~1 min.
# Exit status: 0 when the table was printed, even if some tool runs failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=bench/out
LOGS=$OUT/logs
LEAKCHECK=${LEAKCHECK:-target/release/leakcheck}
SIZES=${SIZES-"20 200 1000"}
TRIPLE_MB=${TRIPLE_MB:-300}
TRIPLE=${TRIPLE:-1}
TOOLS=${TOOLS:-"memlab leakcheck"}
MEMLAB_HEAP_MB=${MEMLAB_HEAP_MB:-20000}
TIMEOUT=${TIMEOUT:-3600}
MEMLAB_JS=bench/node_modules/@memlab/cli/bin/memlab.js
mkdir -p "$OUT" "$LOGS"

# --- prerequisites ------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
  echo "installing GNU time (needed for peak RSS)" >&2
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y time >&2; else sudo apt-get install -y time >&2; fi
fi
if [[ " $TOOLS " == *" memlab "* && ! -f $MEMLAB_JS ]]; then
  echo "installing memlab into bench/node_modules" >&2
  (cd bench && PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund >&2)
fi

# --- inputs ---------------------------------------------------------------------------
# Snapshot size asked of the generator for each nominal size (MB).
gen_mb() { case $1 in 20) echo 21 ;; 200) echo 211 ;; 1000) echo 1100 ;; *) echo "$1" ;; esac; }
# Old-space limit for the generator: the heap is ~0.5x the snapshot, writing needs more.
gen_heap() { echo $(( $1 * 4 + 2000 )); }

for s in $SIZES; do
  f=$OUT/heap-$s.heapsnapshot
  if [[ ! -s $f ]]; then
    mb=$(gen_mb "$s")
    echo "generating $f (~$mb MB)" >&2
    # Write to a temporary name first so an interrupted run is not mistaken for an input.
    node --expose-gc --max-old-space-size="$(gen_heap "$mb")" bench/gen-snapshot.js --size-mb "$mb" --out "$f.tmp" >&2
    mv "$f.tmp" "$f"
  fi
done
if [[ $TRIPLE == 1 && ! -s $OUT/triple/s2.heapsnapshot ]]; then
  echo "generating $OUT/triple/s0..s2 (~$TRIPLE_MB MB each)" >&2
  rm -rf "$OUT/triple" "$OUT/triple.tmp"
  node --expose-gc --max-old-space-size="$(gen_heap "$TRIPLE_MB")" bench/gen-snapshot.js --triple --size-mb "$TRIPLE_MB" --out "$OUT/triple.tmp" >&2
  mv "$OUT/triple.tmp" "$OUT/triple"
fi

# --- measuring ------------------------------------------------------------------------
RESULTS=$OUT/results.tsv
: > "$RESULTS"

node_count() { head -c 4096 "$1" | grep -o '"node_count":[0-9]*' | head -1 | cut -d: -f2; }
size_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# measure CASE FILE_MB NODES TOOL CMD...  -> appends a row to results.tsv
measure() {
  local case=$1 mb=$2 nodes=$3 tool=$4; shift 4
  local log=$LOGS/$case.$tool.log tf=$LOGS/$case.$tool.time secs peak
  echo "running $tool on $case" >&2
  local status=0
  timeout "$TIMEOUT" /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$log" 2>&1 || status=$?
  # Status 1 from leakcheck means "leaks found", a successful run; 2+ is a failure.
  if [[ $status -eq 0 || ( $tool == leakcheck && $status -eq 1 ) ]]; then
    read -r secs peak < <(grep -E '^[0-9.]+ [0-9]+$' "$tf" | tail -1)
    peak=$(awk -v k="$peak" 'BEGIN { printf "%.0f", k / 1024 }')
  else
    echo "  $tool failed on $case (exit $status), see $log" >&2
    secs=failed; peak=-
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$mb" "$nodes" "$tool" "$secs" "$peak" >> "$RESULTS"
}

# The memlab command line, run through node directly (no npx) so the timing is memlab's own.
MEMLAB=(node --expose-gc --max-old-space-size="$MEMLAB_HEAP_MB" "$MEMLAB_JS")

for s in $SIZES; do
  f=$OUT/heap-$s.heapsnapshot
  mb=$(size_mb "$f"); nodes=$(node_count "$f")
  for tool in $TOOLS; do
    case $tool in
      memlab) measure "heap-$s" "$mb" "$nodes" memlab "${MEMLAB[@]}" analyze object-size --snapshot "$f" ;;
      leakcheck) measure "heap-$s" "$mb" "$nodes" leakcheck "$LEAKCHECK" summary "$f" --format json ;;
    esac
  done
done

if [[ $TRIPLE == 1 ]]; then
  t=$OUT/triple
  mb=$(size_mb "$t/s1.heapsnapshot"); nodes=$(node_count "$t/s1.heapsnapshot")
  for tool in $TOOLS; do
    case $tool in
      memlab)
        rm -rf "$OUT/memlab-work"
        measure triple "3x$mb" "3x$nodes" memlab "${MEMLAB[@]}" find-leaks --baseline "$t/s0.heapsnapshot" \
          --target "$t/s1.heapsnapshot" --final "$t/s2.heapsnapshot" --trace-all-objects --work-dir "$OUT/memlab-work" ;;
      leakcheck)
        measure triple "3x$mb" "3x$nodes" leakcheck "$LEAKCHECK" diff "$t/s0.heapsnapshot" "$t/s1.heapsnapshot" "$t/s2.heapsnapshot" ;;
    esac
  done
fi

# --- table ----------------------------------------------------------------------------
awk -F'\t' '
  { key = $1; if (!(key in order)) order[key] = ++n; mb[key] = $2; nodes[key] = $3
    secs[key, $4] = $5; peak[key, $4] = $6 }
  function ratio(a, b) { return (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) ? sprintf("%.1fx", a / b) : "-" }
  END {
    print "| input | file MB | nodes | tool | seconds | peak MB | speed-up | memory ratio |"
    print "|---|---|---|---|---|---|---|---|"
    for (i = 1; i <= n; i++) for (k in order) if (order[k] == i) {
      for (t = 1; t <= 2; t++) {
        tool = (t == 1) ? "memlab" : "leakcheck"
        if (!((k, tool) in secs)) continue
        up = (tool == "leakcheck") ? ratio(secs[k, "memlab"], secs[k, tool]) : ""
        mr = (tool == "leakcheck") ? ratio(peak[k, "memlab"], peak[k, tool]) : ""
        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", k, mb[k], nodes[k], tool, secs[k, tool], peak[k, tool], up, mr
      }
    }
  }' "$RESULTS"
