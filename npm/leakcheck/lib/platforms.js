// The platforms leakcheck ships a native binary for, and how the launcher picks the one for
// the machine it runs on. One table serves the launcher (bin/leakcheck.js), the script that
// stages the npm packages (scripts/npm-stage.js) and the release workflow's test
// (tests/npm_package.rs checks that .github/workflows/release.yml builds every row).
"use strict";

const fs = require("node:fs");

/**
 * One row per platform package `@leakcheck/<key>`. `os`, `cpu` and `libc` are the npm
 * package.json fields that let npm install only the matching package; `target` is the Rust
 * target triple the release workflow builds it from.
 */
const PLATFORMS = [
  { key: "linux-x64-gnu", os: "linux", cpu: "x64", libc: "glibc", target: "x86_64-unknown-linux-gnu", label: "Linux x64 (glibc)" },
  { key: "linux-arm64-gnu", os: "linux", cpu: "arm64", libc: "glibc", target: "aarch64-unknown-linux-gnu", label: "Linux arm64 (glibc)" },
  { key: "linux-x64-musl", os: "linux", cpu: "x64", libc: "musl", target: "x86_64-unknown-linux-musl", label: "Linux x64 (musl, static)" },
  { key: "linux-arm64-musl", os: "linux", cpu: "arm64", libc: "musl", target: "aarch64-unknown-linux-musl", label: "Linux arm64 (musl, static)" },
  { key: "darwin-x64", os: "darwin", cpu: "x64", libc: null, target: "x86_64-apple-darwin", label: "macOS x64" },
  { key: "darwin-arm64", os: "darwin", cpu: "arm64", libc: null, target: "aarch64-apple-darwin", label: "macOS arm64" },
  { key: "win32-x64", os: "win32", cpu: "x64", libc: null, target: "x86_64-pc-windows-msvc", label: "Windows x64" },
];

/** The npm scope of the platform packages. */
const SCOPE = "@leakcheck";

/** The platform package's name for a platform key: `@leakcheck/linux-x64-gnu`. */
function packageName(key) {
  return `${SCOPE}/${key}`;
}

/** The binary's file name inside a platform package, relative to the package root. */
function binaryFile(platform) {
  return platform.os === "win32" ? "bin/leakcheck.exe" : "bin/leakcheck";
}

/** The row for a key, or undefined. */
function byKey(key) {
  return PLATFORMS.find((p) => p.key === key);
}

/**
 * Which C library this Linux machine runs: "glibc", "musl", or null when it cannot tell.
 * /usr/bin/ldd says it first and cheaply (glibc's is a script of the GNU C Library, musl's a
 * link to or script naming musl); otherwise Node's own diagnostic report names the glibc it
 * runs on (glibc builds of Node only) and the shared objects it loaded (~40 ms).
 */
function detectLibc() {
  if (process.platform !== "linux") return null;
  try {
    const ldd = fs.readFileSync("/usr/bin/ldd", "latin1");
    if (ldd.includes("musl")) return "musl";
    if (ldd.includes("GNU C Library")) return "glibc";
  } catch {
    // No ldd: ask Node.
  }
  try {
    if (process.report) {
      // Collecting network interfaces can take seconds on some hosts; nothing here needs them.
      if ("excludeNetwork" in process.report) process.report.excludeNetwork = true;
      const report = process.report.getReport();
      const header = report && report.header;
      if (header && header.glibcVersionRuntime) return "glibc";
      const objects = (report && report.sharedObjects) || [];
      if (objects.some((o) => /(^|\/)(ld-musl-|libc\.musl-)/.test(o))) return "musl";
    }
  } catch {
    // A report is a diagnostic nicety: cannot tell.
  }
  return null;
}

/**
 * The platform keys that can run on `host` ({platform, arch, libc}), best first. A static
 * musl binary runs on a glibc system too, so it is the second choice there (pnpm and older
 * npm versions may have installed only one of the two), and the first when the C library is
 * unknown.
 */
function candidates(host) {
  const { platform, arch, libc } = host;
  if (platform === "linux") {
    const gnu = `linux-${arch}-gnu`;
    const musl = `linux-${arch}-musl`;
    const order = libc === "glibc" ? [gnu, musl] : libc === "musl" ? [musl] : [musl, gnu];
    return order.filter((key) => byKey(key));
  }
  const key = `${platform}-${arch}`;
  return byKey(key) ? [key] : [];
}

/** A short name for the host in messages: `linux-x64 (glibc)`, `freebsd-x64`. */
function describeHost(host) {
  const base = `${host.platform}-${host.arch}`;
  return host.platform === "linux" ? `${base} (${host.libc || "unknown C library"})` : base;
}

/** The machine this Node process runs on. */
function currentHost() {
  return { platform: process.platform, arch: process.arch, libc: detectLibc() };
}

module.exports = {
  PLATFORMS,
  SCOPE,
  packageName,
  binaryFile,
  byKey,
  detectLibc,
  candidates,
  describeHost,
  currentHost,
};
