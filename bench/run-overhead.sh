#!/usr/bin/env bash
# What a `leakcheck run` costs beyond what V8 and the service spend.
#
# Runs a spec (default: the README's example) with --json and, per route, splits the wall time
# into V8's snapshots, forced GCs, the requests, and leakcheck's own analysis after each
# snapshot's last chunk; the share of leakcheck is (wall - snapshots - gc - requests) / wall.
# Also prints leakcheck's own peak RSS (from the report: GNU time would count the services too)
# against the largest compact graph and analysis it held, and, per snapshot, its resident memory
# once the snapshot had streamed in against that snapshot's compact graph. bench/big-heap.toml gives ~300 MB snapshots.
#
#   bench/run-overhead.sh [SPEC]        LEAKCHECK=target/release/leakcheck by default
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SPEC=${1:-leakspec.toml.example}
LEAKCHECK=${LEAKCHECK:-target/release/leakcheck}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
set +e
"$LEAKCHECK" run --spec "$SPEC" --quiet --json "$OUT/run.json" >/dev/null
set -e
python3 - "$OUT/run.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
rss_mb = (report.get("peak_rss") or 0) / 2**20
print("| target › route | wall s | V8 snapshots s | GC s | requests s | leakcheck analysis s | other s | leakcheck share |")
print("|---|---|---|---|---|---|---|---|")
tot = dict(wall=0, snapshots=0, gc=0, requests=0, analysis=0)
for t in report["targets"]:
    for r in t["routes"]:
        x = r["timings"]
        for k in tot: tot[k] += x[k]
        other = x["wall"] - x["snapshots"] - x["gc"] - x["requests"]
        share = other / x["wall"] if x["wall"] else 0
        print(f"| {t['name']} › {r['name']} | {x['wall']:.2f} | {x['snapshots']:.2f} | {x['gc']:.2f} | {x['requests']:.2f} | {x['analysis']:.2f} | {other - x['analysis']:.2f} | {share:.1%} |")
other = tot["wall"] - tot["snapshots"] - tot["gc"] - tot["requests"]
print(f"| **all routes** | {tot['wall']:.2f} | {tot['snapshots']:.2f} | {tot['gc']:.2f} | {tot['requests']:.2f} | {tot['analysis']:.2f} | {other - tot['analysis']:.2f} | **{other / tot['wall']:.1%}** |")
rungs = [g for t in report["targets"] for r in t["routes"] for g in r["rungs"]]
biggest = max(rungs, key=lambda g: g["snapshot_bytes"], default=None)
if biggest:
    graph_mb = max(g["graph_bytes"] for g in rungs) / 2**20
    print(f"\nlargest snapshot: {biggest['snapshot_bytes'] / 2**20:.0f} MiB of JSON, {biggest['nodes']:,} nodes, taken by V8 in {biggest['snapshot_time']:.1f} s")
    print(f"leakcheck peak RSS over the run: {rss_mb:.0f} MiB; largest compact graph + analysis: {graph_mb:.0f} MiB")
    print("\nwhile streaming (RSS once each snapshot had streamed in, against its compact graph):")
    for g in rungs:
        if g.get("rss_after_streaming"):
            rss, graph = g["rss_after_streaming"] / 2**20, g["compact_graph_bytes"] / 2**20
            print(f"  {g['requests']:>6} requests: {g['snapshot_bytes'] / 2**20:.0f} MiB of JSON -> graph {graph:.0f} MiB, RSS {rss:.0f} MiB (graph + {rss - graph:.0f} MiB)")
PY
