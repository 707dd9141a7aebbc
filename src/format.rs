//! Number formatting shared by every human-readable output: sizes in KiB/MiB, thousands
//! separators, plurals and per-step rates, so every report says the same thing the same way.

/// A byte count in the largest binary unit that keeps it at or above 1: `512 B`, `1.5 KiB`,
/// `20.0 MiB`.
///
/// ```
/// use leakcheck::format::bytes;
/// assert_eq!(bytes(512), "512 B");
/// assert_eq!(bytes(1536), "1.5 KiB");
/// assert_eq!(bytes(20 * 1024 * 1024), "20.0 MiB");
/// ```
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A signed byte difference: `+1.5 KiB`, `-512 B`, `0 B`.
pub fn signed_bytes(n: i64) -> String {
    match n {
        0 => "0 B".into(),
        n if n > 0 => format!("+{}", bytes(n as u64)),
        n => format!("-{}", bytes(n.unsigned_abs())),
    }
}

/// A rate in bytes per step, with enough precision for small rates: `56 B`, `0.4 B`, `1.2 KiB`.
pub fn bytes_rate(rate: f64) -> String {
    if rate.abs() >= 1024.0 {
        let s = bytes(rate.abs() as u64);
        if rate < 0.0 { format!("-{s}") } else { s }
    } else if rate.abs() >= 10.0 {
        format!("{rate:.0} B")
    } else {
        format!("{rate:.1} B")
    }
}

/// An object rate with sensible precision: `1`, `0.1`, `0.02`.
pub fn count_rate(rate: f64) -> String {
    let a = rate.abs();
    if a >= 10.0 || (a - a.round()).abs() < 0.005 {
        format!("{rate:.0}")
    } else if a >= 0.1 {
        format!("{rate:.2}").trim_end_matches('0').to_owned()
    } else {
        format!("{rate:.3}").trim_end_matches('0').to_owned()
    }
}

/// An integer with thousands separators: `12,345`.
///
/// ```
/// use leakcheck::format::thousands;
/// assert_eq!(thousands(1234567), "1,234,567");
/// assert_eq!(thousands(12), "12");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed count: `+500`, `-3`, `0`.
pub fn signed(n: i64) -> String {
    match n {
        n if n > 0 => format!("+{}", thousands(n as u64)),
        n if n < 0 => format!("-{}", thousands(n.unsigned_abs())),
        _ => "0".into(),
    }
}

/// `1 snapshot`, `3 snapshots`, `2 classes`.
///
/// ```
/// use leakcheck::format::plural;
/// assert_eq!(plural(1, "snapshot"), "1 snapshot");
/// assert_eq!(plural(3, "snapshot"), "3 snapshots");
/// assert_eq!(plural(2, "class"), "2 classes");
/// ```
pub fn plural(n: u64, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{} {}", thousands(n), plural_word(word)) }
}

/// The plural of an English noun as leakcheck uses them (`class` → `classes`).
pub fn plural_word(word: &str) -> String {
    if ["s", "x", "ch", "sh"].iter().any(|e| word.ends_with(e)) {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// Text from outside (a class name from a snapshot, a command line) made safe to print on one
/// line of a terminal or a CI log: control characters (escape sequences, line breaks, tabs,
/// `\u{7f}` and the C1 range) become visible escapes, so a name cannot colour the terminal,
/// move its cursor, or start a fake log line or a `::error` workflow command.
///
/// ```
/// use leakcheck::format::printable;
/// assert_eq!(printable("Session"), "Session");
/// assert_eq!(printable("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
/// ```
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates() {
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(signed_bytes(-2048), "-2.0 KiB");
        assert_eq!(bytes_rate(56.0), "56 B");
        assert_eq!(bytes_rate(4.8), "4.8 B");
        assert_eq!(count_rate(1.0), "1");
        assert_eq!(count_rate(0.1), "0.1");
        assert_eq!(count_rate(0.025), "0.025");
        assert_eq!(signed(-1500), "-1,500");
    }
}
