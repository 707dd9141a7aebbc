// Finds the native leakcheck binary the launcher starts: the one in the platform package npm
// installed for this machine through leakcheck's optionalDependencies, or the one
// LEAKCHECK_BINARY names. Pure apart from the file checks, so npm/test/ can drive it with any
// host and any set of installed packages.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { PLATFORMS, SCOPE, packageName, binaryFile, byKey, candidates, describeHost } = require("./platforms");

/** A reason the launcher cannot start leakcheck: a message and the lines that explain it. */
class LauncherError extends Error {
  constructor(message, causes) {
    super(message);
    this.name = "LauncherError";
    this.causes = causes;
  }

  /** `error: MESSAGE` and an indented line per cause, as leakcheck itself reports errors. */
  render() {
    return [`error: ${this.message}`, ...this.causes.map((c) => `  ${c}`)].join("\n") + "\n";
  }
}

const FALLBACK = "cargo install --locked leakcheck";

/**
 * The platform keys this copy of the `leakcheck` package offers: those of its own
 * optionalDependencies (a release lists every platform it built a binary for).
 */
function offeredKeys(ownPackage) {
  const prefix = `${SCOPE}/`;
  return Object.keys(ownPackage.optionalDependencies || {})
    .filter((name) => name.startsWith(prefix))
    .map((name) => name.slice(prefix.length))
    .filter((key) => byKey(key));
}

/**
 * The binary to start, as `{ file, from }` (`from` says where it came from, for messages).
 * Throws a LauncherError that says what to do when there is none.
 *
 * - `host`: `{ platform, arch, libc }` (see platforms.currentHost);
 * - `ownPackage`: the parsed package.json of the `leakcheck` package;
 * - `resolvePackageJson(name)`: the path of `name/package.json` as Node resolves it from
 *   the launcher, or null when the package is not installed;
 * - `env`: the environment (LEAKCHECK_BINARY).
 */
function resolveBinary({ host, ownPackage, resolvePackageJson, env }) {
  const override = env.LEAKCHECK_BINARY;
  if (override) {
    if (!isFile(override)) {
      throw new LauncherError(`LEAKCHECK_BINARY names \`${override}\`, which is not a file`, [
        "point it at a leakcheck binary (e.g. the one `cargo install --locked leakcheck` installs), or unset it",
      ]);
    }
    return { file: override, from: "LEAKCHECK_BINARY" };
  }

  const offered = offeredKeys(ownPackage);
  const wanted = candidates(host).filter((key) => offered.includes(key));
  if (wanted.length === 0) {
    const list = offered.length > 0 ? offered.join(", ") : "none";
    throw new LauncherError(`leakcheck ${ownPackage.version} has no prebuilt binary for ${describeHost(host)}`, [
      `prebuilt binaries: ${list}`,
      `build it from source instead (needs a Rust toolchain): ${FALLBACK}`,
      "then run that `leakcheck`, or set LEAKCHECK_BINARY to its path to keep using npx",
    ]);
  }

  for (const key of wanted) {
    const name = packageName(key);
    const manifestPath = resolvePackageJson(name);
    if (!manifestPath) continue;
    const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
    if (manifest.version !== ownPackage.version) {
      throw new LauncherError(`${name} ${manifest.version} does not match leakcheck ${ownPackage.version}`, [
        `the binary must come from the same release: reinstall, e.g. npm install --save-dev leakcheck@${ownPackage.version}`,
      ]);
    }
    const file = path.join(path.dirname(manifestPath), binaryFile(byKey(key)));
    if (!isFile(file)) {
      throw new LauncherError(`${name} is installed but has no binary at ${file}`, [
        "the package is damaged: remove node_modules and install again",
      ]);
    }
    return { file, from: name };
  }

  const names = wanted.map(packageName);
  throw new LauncherError(
    `the package that holds leakcheck's binary for ${describeHost(host)} is not installed (${names.join(" or ")})`,
    [
      "npm installs it through leakcheck's optionalDependencies: install without --omit=optional / --no-optional",
      "a lock file made on another platform can lack it: run `npm install` once on this one",
      `or build leakcheck from source: ${FALLBACK}`,
    ],
  );
}

function isFile(file) {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

module.exports = { LauncherError, resolveBinary, offeredKeys, FALLBACK, PLATFORMS };
