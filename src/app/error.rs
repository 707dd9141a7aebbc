//! The error of a command that could not do its job, shared by `leakcheck run`, `leakcheck
//! test` and the `cargo test` harness: a message and its causes, printed as `error: MESSAGE`
//! then one `cause:` line per cause. The name says where it ends: a command line's exit status
//! 2 (101 under the harness).

use std::io::Write;

use crate::style::Paint;

/// Something that stopped leakcheck from doing its job: a message and its causes.
#[derive(Debug)]
pub struct CliError {
    message: String,
    causes: Vec<String>,
}

impl CliError {
    /// An error saying what failed (`message`, read after "error:") and why (`cause`).
    pub fn new(message: impl Into<String>, cause: impl std::fmt::Display) -> CliError {
        CliError { message: message.into(), causes: vec![cause.to_string()] }
    }

    /// An error from a typed error: its text as the message, each error in its source chain
    /// as a cause.
    pub fn from_error(error: &dyn std::error::Error) -> CliError {
        let causes =
            std::iter::successors(error.source(), |e| e.source()).map(|e| e.to_string()).collect();
        CliError { message: error.to_string(), causes }
    }

    /// An error with any number of causes, each printed on a `cause:` line of its own.
    pub fn with_causes(message: impl Into<String>, causes: Vec<String>) -> CliError {
        CliError { message: message.into(), causes }
    }
}

impl CliError {
    /// Writes the error to stderr: `error: MESSAGE`, then a `cause:` line per cause.
    pub fn print(&self) {
        let mut stderr = anstream::stderr();
        let paint = Paint::for_stdout();
        let _ = writeln!(stderr, "{} {}", paint.red_bold("error:"), self.message);
        for cause in &self.causes {
            let _ = writeln!(stderr, "  {} {cause}", paint.bold("cause:"));
        }
    }
}
