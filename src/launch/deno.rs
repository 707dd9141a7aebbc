//! Deno specifics: the inspector flag goes after the subcommand (`deno run --inspect=… app.ts`),
//! and Deno announces it on stderr with the same `Debugger listening on ws://…` line as Node.

use super::node::INSPECT_FLAG;

/// No update check against dl.deno.land, no permission prompt (there is no terminal).
pub(crate) const OFFLINE_ENV: &[(&str, &str)] =
    &[("DENO_NO_UPDATE_CHECK", "1"), ("DENO_NO_PROMPT", "1")];

/// Subcommands that run a program and take `--inspect`.
const RUNNING: &[&str] = &["run", "serve", "task", "test", "eval"];

/// The arguments (without `argv[0]`) with `--inspect=127.0.0.1:0` inserted right after the
/// subcommand; a command without a known subcommand (`deno app.ts`, which means `deno run`)
/// gets it first.
pub(crate) fn with_inspector(argv: &[String]) -> Vec<String> {
    let rest = &argv[1..];
    let mut args = Vec::with_capacity(argv.len());
    match rest.first() {
        Some(sub) if RUNNING.contains(&sub.as_str()) => {
            args.push(sub.clone());
            args.push(INSPECT_FLAG.to_owned());
            args.extend_from_slice(&rest[1..]);
        }
        _ => {
            args.push(INSPECT_FLAG.to_owned());
            args.extend_from_slice(rest);
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_flag_follows_the_subcommand() {
        assert_eq!(
            with_inspector(&argv(&["deno", "run", "--allow-net", "main.ts"])),
            ["run", "--inspect=127.0.0.1:0", "--allow-net", "main.ts"]
        );
        assert_eq!(
            with_inspector(&argv(&["deno", "serve", "main.ts"])),
            ["serve", "--inspect=127.0.0.1:0", "main.ts"]
        );
        assert_eq!(
            with_inspector(&argv(&["deno", "main.ts"])),
            ["--inspect=127.0.0.1:0", "main.ts"]
        );
    }
}
