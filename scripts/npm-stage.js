#!/usr/bin/env node
// Stages the npm packages into a directory, ready for `npm pack` (scripts/npm-pack.sh drives
// it): the `leakcheck` launcher package from npm/leakcheck/, and the platform package
// `@leakcheck/<key>` holding a binary. Every package gets the crate's version; the launcher's
// optionalDependencies list the platform packages of the release at that exact version.
//
//   node scripts/npm-stage.js main VERSION STAGEDIR KEYS          (KEYS: comma-separated)
//   node scripts/npm-stage.js platform VERSION STAGEDIR KEY BINARY
//   node scripts/npm-stage.js key-for-target TRIPLE                 (the key of a Rust target)
//   node scripts/npm-stage.js keys                                  (every key, comma-separated)
"use strict";

const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const source = path.join(root, "npm", "leakcheck");
const { PLATFORMS, packageName, binaryFile, byKey } = require(path.join(source, "lib", "platforms.js"));

const LICENSES = ["LICENSE-MIT", "LICENSE-APACHE"];

function fail(message) {
  process.stderr.write(`npm-stage: error: ${message}\n`);
  process.exit(2);
}

function writeJson(file, value) {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + "\n");
}

function copyLicenses(dir) {
  for (const name of LICENSES) fs.copyFileSync(path.join(root, name), path.join(dir, name));
}

function checkVersion(version) {
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(version || "")) fail(`\`${version}\` is not a semver version`);
}

function parseKeys(list) {
  const keys = list.split(",").filter(Boolean);
  if (keys.length === 0) fail("no platforms given for the launcher's optionalDependencies");
  for (const key of keys) {
    if (!byKey(key)) fail(`unknown platform \`${key}\` (known: ${PLATFORMS.map((p) => p.key).join(", ")})`);
  }
  return keys;
}

/** The `leakcheck` package: npm/leakcheck/ with the version and optionalDependencies set. */
function stageMain(version, stage, keys) {
  const dir = path.join(stage, "leakcheck");
  fs.cpSync(source, dir, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(source, "package.json"), "utf8"));
  manifest.version = version;
  manifest.optionalDependencies = Object.fromEntries(keys.map((key) => [packageName(key), version]));
  writeJson(path.join(dir, "package.json"), manifest);
  copyLicenses(dir);
  fs.chmodSync(path.join(dir, "bin", "leakcheck.js"), 0o755);
  return dir;
}

/** `@leakcheck/<key>`: the binary, with os/cpu/libc so npm installs it only where it runs. */
function stagePlatform(version, stage, key, binary) {
  const platform = byKey(key);
  if (!platform) fail(`unknown platform \`${key}\` (known: ${PLATFORMS.map((p) => p.key).join(", ")})`);
  if (!fs.existsSync(binary) || !fs.statSync(binary).isFile()) fail(`no binary at ${binary}`);
  const launcher = JSON.parse(fs.readFileSync(path.join(source, "package.json"), "utf8"));
  const dir = path.join(stage, key);
  const file = binaryFile(platform);
  fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
  fs.copyFileSync(binary, path.join(dir, file));
  fs.chmodSync(path.join(dir, file), 0o755);
  const manifest = {
    name: packageName(key),
    version,
    description: `The leakcheck binary for ${platform.label}. Install \`leakcheck\`, which picks it.`,
    homepage: launcher.homepage,
    repository: launcher.repository,
    license: launcher.license,
    os: [platform.os],
    cpu: [platform.cpu],
    ...(platform.libc ? { libc: [platform.libc] } : {}),
    files: [file, "README.md", ...LICENSES],
    // Yarn PnP: a binary must be on disk to be executed.
    preferUnplugged: true,
  };
  writeJson(path.join(dir, "package.json"), manifest);
  fs.writeFileSync(
    path.join(dir, "README.md"),
    `# ${packageName(key)}\n\nThe \`leakcheck\` binary for ${platform.label} (Rust target \`${platform.target}\`).\n` +
      "Do not install this package yourself: `npm install --save-dev leakcheck` installs the\n" +
      "package for your platform and the `leakcheck` command that starts it.\n",
  );
  copyLicenses(dir);
  return dir;
}

const [command, ...args] = process.argv.slice(2);
switch (command) {
  case "main": {
    const [version, stage, keys] = args;
    checkVersion(version);
    process.stdout.write(stageMain(version, stage, parseKeys(keys || "")) + "\n");
    break;
  }
  case "platform": {
    const [version, stage, key, binary] = args;
    checkVersion(version);
    process.stdout.write(stagePlatform(version, stage, key, binary) + "\n");
    break;
  }
  case "key-for-target": {
    const [target] = args;
    const platform = PLATFORMS.find((p) => p.target === target);
    if (!platform) fail(`no platform package is built from the Rust target \`${target}\`; pass --platform KEY`);
    process.stdout.write(platform.key + "\n");
    break;
  }
  case "keys":
    process.stdout.write(PLATFORMS.map((p) => p.key).join(",") + "\n");
    break;
  default:
    fail("usage: npm-stage.js main VERSION STAGEDIR KEYS | platform VERSION STAGEDIR KEY BINARY | key-for-target TRIPLE | keys");
}
