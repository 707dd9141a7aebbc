#!/usr/bin/env bash
# Step 1 of the GitHub Action (action.yml): puts a `leakcheck` on the PATH of the job's later
# steps. INSTALL=npm installs the npm package (the launcher and this runner's platform
# package) into a tool directory under RUNNER_TEMP, away from the project's package.json;
# INSTALL=release downloads the binary attached to the GitHub release and checks its SHA-256;
# INSTALL=none uses the project's own (node_modules/.bin, from its devDependencies) or the one
# already on the PATH. VERSION '' means the version of the action's own checkout.
set -euo pipefail

: "${INSTALL:=npm}" "${VERSION:=}" "${ACTION_PATH:?}" "${ACTION_REPOSITORY:=leakcheck/leakcheck}"
: "${WORKING_DIRECTORY:=.}" "${RUNNER_TEMP:=${TMPDIR:-/tmp}}" "${GITHUB_PATH:?}"

fail() {
  echo "::error title=leakcheck install::$*"
  exit 2
}

if [ -z "$VERSION" ]; then
  VERSION=$(sed -n '/^\[package\]/,/^\[/ s/^version = "\([^"]*\)".*/\1/p' "$ACTION_PATH/Cargo.toml" | head -n1)
  [ -n "$VERSION" ] || fail "no version in $ACTION_PATH/Cargo.toml: set the action's \`version\` input"
fi
VERSION=${VERSION#v}

tools="$RUNNER_TEMP/leakcheck-$VERSION"
case "$INSTALL" in
  npm)
    command -v npm >/dev/null || fail "install: npm needs Node.js on the runner (actions/setup-node), or use install: release"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-audit --no-fund --no-package-lock "leakcheck@$VERSION" >&2
    bin="$tools/node_modules/.bin"
    ;;
  release)
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) target=x86_64-unknown-linux-musl ;;
      Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
      Darwin-x86_64) target=x86_64-apple-darwin ;;
      Darwin-arm64) target=aarch64-apple-darwin ;;
      *) fail "no release binary for $(uname -s) $(uname -m): use install: npm, or build it with cargo install --locked leakcheck" ;;
    esac
    archive="leakcheck-$VERSION-$target.tar.gz"
    url="${GITHUB_SERVER_URL:-https://github.com}/$ACTION_REPOSITORY/releases/download/v$VERSION/$archive"
    mkdir -p "$tools/bin"
    curl --fail --silent --show-error --location --retry 3 --output "$tools/$archive" "$url" \
      || fail "could not download $url"
    curl --fail --silent --show-error --location --retry 3 --output "$tools/$archive.sha256" "$url.sha256" \
      || fail "could not download $url.sha256"
    expected=$(cut -d' ' -f1 <"$tools/$archive.sha256")
    actual=$( (command -v sha256sum >/dev/null && sha256sum "$tools/$archive" || shasum -a 256 "$tools/$archive") | cut -d' ' -f1)
    [ "$expected" = "$actual" ] || fail "$archive: SHA-256 $actual, but the release says $expected"
    tar -xzf "$tools/$archive" -C "$tools/bin"
    bin="$tools/bin"
    ;;
  none)
    if [ -x "$WORKING_DIRECTORY/node_modules/.bin/leakcheck" ]; then
      bin=$(cd "$WORKING_DIRECTORY/node_modules/.bin" && pwd)
    elif command -v leakcheck >/dev/null; then
      bin=$(dirname "$(command -v leakcheck)")
    else
      fail "install: none, but there is no leakcheck in $WORKING_DIRECTORY/node_modules/.bin or on the PATH"
    fi
    ;;
  *) fail "install must be npm, release or none, not \`$INSTALL\`" ;;
esac

said=$("$bin/leakcheck" --version) || fail "$bin/leakcheck --version failed"
echo "$said ($INSTALL, $bin)"
echo "$bin" >>"$GITHUB_PATH"
