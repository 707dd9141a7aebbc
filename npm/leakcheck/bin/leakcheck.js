#!/usr/bin/env node
// The `leakcheck` command of the npm package: starts the native binary from the platform
// package npm installed for this machine, with the same arguments, standard streams and
// environment, and ends the way it ended: with its exit status, or killed by the same signal.
// Signals sent to this process (a CI runner cancelling the job, `kill`) are passed on, so
// leakcheck can stop its targets and write its partial reports as it does when run directly.
"use strict";

const { spawn } = require("node:child_process");
const os = require("node:os");
const { currentHost } = require("../lib/platforms");
const { LauncherError, resolveBinary } = require("../lib/resolve");

// The signals a shell, a terminal or a CI runner sends to end a command. SIGINT from a
// terminal reaches leakcheck directly too (same process group); a second one is harmless.
const FORWARDED = process.platform === "win32" ? ["SIGINT", "SIGTERM", "SIGBREAK"] : ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

function resolvePackageJson(name) {
  try {
    return require.resolve(`${name}/package.json`);
  } catch (e) {
    if (e && e.code === "MODULE_NOT_FOUND") return null;
    throw e;
  }
}

function main() {
  let binary;
  try {
    binary = resolveBinary({
      host: currentHost(),
      ownPackage: require("../package.json"),
      resolvePackageJson,
      env: process.env,
    });
  } catch (e) {
    if (!(e instanceof LauncherError)) throw e;
    process.stderr.write(e.render());
    // 2: leakcheck could not do its job, as the binary itself says it.
    process.exitCode = 2;
    return;
  }

  const child = spawn(binary.file, process.argv.slice(2), { stdio: "inherit", windowsHide: false });

  const handlers = new Map();
  for (const signal of FORWARDED) {
    const handler = () => {
      // The child may already be gone; then its exit is on its way.
      try {
        child.kill(signal);
      } catch {}
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }

  child.on("error", (e) => {
    const hint =
      e.code === "EACCES"
        ? "the file is not executable: reinstall the package (or chmod +x it)"
        : e.code === "ENOENT"
          ? "the file is gone or its loader is missing (a glibc binary on a musl system?)"
          : String(e.message);
    process.stderr.write(new LauncherError(`could not start ${binary.file} (from ${binary.from})`, [`cause: ${e.code || "error"}: ${hint}`]).render());
    process.exitCode = 2;
  });

  child.on("exit", (code, signal) => {
    for (const [name, handler] of handlers) process.removeListener(name, handler);
    if (signal) {
      // Die of the same signal so that a shell or CI runner sees what happened; if the
      // signal does not end Node (it is ignored here), exit as a shell would report it.
      const number = os.constants.signals[signal] || 0;
      process.exitCode = 128 + number;
      try {
        process.kill(process.pid, signal);
      } catch {}
      return;
    }
    process.exitCode = code === null ? 2 : code;
  });
}

main();
