//! The `leakcheck` command: a thin wrapper over the library (see `leakcheck --help`).
fn main() -> std::process::ExitCode {
    leakcheck::cli::main()
}
