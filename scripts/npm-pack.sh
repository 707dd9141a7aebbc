#!/usr/bin/env bash
# Builds leakcheck's npm packages as `npm pack` tarballs in OUTDIR: the `leakcheck` launcher
# package and the `@leakcheck/<platform>` package holding the binary. By default it builds the
# release binary for this machine (`cargo build --release --locked`); --binary uses one already
# built (the tests pass their debug binary; the release workflow its cross-compiled ones).
# Every package gets the version of Cargo.toml. Prints the tarballs' paths, one per line.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/npm-pack.sh [OPTIONS] OUTDIR

  --binary PATH        package this leakcheck binary instead of building the release binary
  --platform KEY       the platform package to put it in (default: the one of the Rust host
                       target, e.g. linux-x64-gnu); one of npm/leakcheck/lib/platforms.js
  --platforms KEYS     comma-separated platforms the launcher's optionalDependencies list
                       (default: every platform)
  --platforms-from DIR list the platforms whose tarballs are in DIR (the release: only
                       what was built)
  --main-only          only the `leakcheck` launcher package
  --platform-only      only the platform package
EOF
}

die() {
  echo "npm-pack: error: $*" >&2
  exit 2
}

binary="" platform="" platforms="" platforms_from="" only="" outdir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary=$2; shift 2 ;;
    --platform) [ $# -ge 2 ] || die "--platform needs a key"; platform=$2; shift 2 ;;
    --platforms) [ $# -ge 2 ] || die "--platforms needs a list"; platforms=$2; shift 2 ;;
    --platforms-from) [ $# -ge 2 ] || die "--platforms-from needs a directory"; platforms_from=$2; shift 2 ;;
    --main-only) only=main; shift ;;
    --platform-only) only=platform; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [ -z "$outdir" ] || die "one OUTDIR only (got $outdir and $1)"; outdir=$1; shift ;;
  esac
done
[ -n "$outdir" ] || { usage >&2; die "no OUTDIR given"; }
command -v node >/dev/null || die "node is not on the PATH"
command -v npm >/dev/null || die "npm is not on the PATH"

root=$(cd "$(dirname "$0")/.." && pwd)
stage_js="$root/scripts/npm-stage.js"
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

# The version and target directory as cargo sees them (CARGO_TARGET_DIR included).
metadata=$(cargo metadata --no-deps --format-version 1 --manifest-path "$root/Cargo.toml")
read -r version target_dir < <(node -e '
  const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const p = m.packages.find((p) => p.name === "leakcheck");
  console.log(p.version, m.target_directory);' <<<"$metadata")

stage=$(mktemp -d "${TMPDIR:-/tmp}/leakcheck-npm-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT

pack() { # DIR -> prints the tarball's path
  local name
  name=$(cd "$1" && npm pack --ignore-scripts --pack-destination "$outdir" --json | node -e '
    console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].filename)')
  echo "$outdir/$name"
}

if [ "$only" != main ]; then
  host_target=$(rustc -vV | sed -n 's/^host: //p')
  if [ -z "$platform" ]; then
    platform=$(node "$stage_js" key-for-target "$host_target")
  fi
  if [ -z "$binary" ]; then
    echo "npm-pack: building the release binary (cargo build --release --locked)" >&2
    cargo build --release --locked --manifest-path "$root/Cargo.toml" >&2
    binary="$target_dir/release/leakcheck"
  fi
  [ -f "$binary" ] || die "no binary at $binary"
  binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
  # A binary for this machine must be the one of this checkout's version.
  platform_target=$(node -e '
    const { byKey } = require(process.argv[1]);
    const p = byKey(process.argv[2]);
    console.log(p ? p.target : "");' "$root/npm/leakcheck/lib/platforms.js" "$platform")
  if [ "$platform_target" = "$host_target" ]; then
    said=$("$binary" --version) || die "$binary --version failed"
    [ "$said" = "leakcheck $version" ] || die "$binary says \`$said\`, but Cargo.toml has $version"
  fi
  dir=$(node "$stage_js" platform "$version" "$stage" "$platform" "$binary")
  pack "$dir"
fi

if [ "$only" != platform ]; then
  if [ -n "$platforms_from" ]; then
    [ -d "$platforms_from" ] || die "--platforms-from: no directory $platforms_from"
    platforms=""
    for key in $(node "$stage_js" keys | tr ',' ' '); do
      if [ -f "$platforms_from/leakcheck-$key-$version.tgz" ]; then
        platforms="${platforms:+$platforms,}$key"
      fi
    done
    [ -n "$platforms" ] || die "no platform tarball (leakcheck-KEY-$version.tgz) in $platforms_from"
  fi
  [ -n "$platforms" ] || platforms=$(node "$stage_js" keys)
  dir=$(node "$stage_js" main "$version" "$stage" "$platforms")
  pack "$dir"
fi
