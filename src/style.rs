//! Colour for text reports, decided once per output stream: on for a terminal, off for pipes,
//! CI logs and whenever `NO_COLOR` is set (the decision comes from `anstream`).

use anstyle::{AnsiColor, Style};

/// Wraps text in ANSI styles, or leaves it alone when colour is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paint {
    enabled: bool,
}

impl Paint {
    /// Colour on.
    pub const COLOR: Paint = Paint { enabled: true };
    /// Colour off: plain text, as in CI logs and snapshot tests.
    pub const PLAIN: Paint = Paint { enabled: false };

    /// Colour if standard output is a terminal that wants it (honours `NO_COLOR`,
    /// `CLICOLOR_FORCE`).
    pub fn for_stdout() -> Paint {
        let choice = anstream::AutoStream::choice(&std::io::stdout());
        Paint { enabled: !matches!(choice, anstream::ColorChoice::Never) }
    }

    fn apply(self, style: Style, text: &str) -> String {
        if self.enabled { format!("{style}{text}{style:#}") } else { text.to_owned() }
    }

    /// Bold.
    pub fn bold(self, text: &str) -> String {
        self.apply(Style::new().bold(), text)
    }
    /// Dim, for table headers.
    pub fn dim(self, text: &str) -> String {
        self.apply(Style::new().dimmed(), text)
    }
    /// Red.
    pub fn red(self, text: &str) -> String {
        self.apply(AnsiColor::Red.on_default(), text)
    }
    /// Red and bold, for failures.
    pub fn red_bold(self, text: &str) -> String {
        self.apply(AnsiColor::Red.on_default().bold(), text)
    }
    /// Yellow, for warnings.
    pub fn yellow(self, text: &str) -> String {
        self.apply(AnsiColor::Yellow.on_default().bold(), text)
    }
    /// Green, for success.
    pub fn green(self, text: &str) -> String {
        self.apply(AnsiColor::Green.on_default().bold(), text)
    }
}
