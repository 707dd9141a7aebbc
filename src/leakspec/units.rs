//! Units written in a spec: sizes (`"256B"`, `"5MiB"`, `"10MB"`), per-request rates and
//! durations (`"30s"`), each a newtype so a byte is never mistaken for a count.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A size in bytes, written in a spec as `"256B"`, `"1.5 KiB"`, `"5MiB"` (binary, 1024ⁿ) or
/// `"10MB"` (decimal, 1000ⁿ), or as a bare TOML integer of bytes.
///
/// Units are case-insensitive; a fraction is rounded to the nearest byte (`"0.1KiB"` is 102
/// bytes), but a fraction of the unit `B` itself is an error.
///
/// ```
/// use leakcheck::leakspec::ByteSize;
/// assert_eq!("5MiB".parse::<ByteSize>().unwrap().bytes(), 5 * 1024 * 1024);
/// assert_eq!("10MB".parse::<ByteSize>().unwrap().bytes(), 10_000_000);
/// assert_eq!("1.5 KiB".parse::<ByteSize>().unwrap().to_string(), "1.5KiB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct ByteSize(u64);

impl ByteSize {
    /// A size of `bytes` bytes.
    pub const fn new(bytes: u64) -> Self {
        Self(bytes)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, UnitError> {
        let size = parse_size(text)?;
        if size.unit == 1 && size.frac_digits > 0 && size.mantissa % size.scale() != 0 {
            return Err(UnitError::new(format!("`{}` is a fraction of a byte", text.trim()))
                .help("sizes count whole bytes: write e.g. `256B`"));
        }
        let exact = size.mantissa * size.unit;
        let rounded = (exact + size.scale() / 2) / size.scale();
        u64::try_from(rounded)
            .map(ByteSize)
            .map_err(|_| UnitError::new(format!("`{}` is too large", text.trim())))
    }
}

impl fmt::Display for ByteSize {
    /// The shortest exact form: `5MiB`, `1.5KiB`, `1000B`. It parses back to the same size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] =
            [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
        let bytes = u128::from(self.0);
        for (name, unit) in UNITS {
            let unit = u128::from(unit);
            // At most three decimals, and only when they are exact.
            if bytes >= unit && (bytes * 1000) % unit == 0 {
                let thousandths = bytes * 1000 / unit;
                let (whole, frac) = (thousandths / 1000, thousandths % 1000);
                return if frac == 0 {
                    write!(f, "{whole}{name}")
                } else {
                    let frac = format!("{frac:03}");
                    write!(f, "{whole}.{}{name}", frac.trim_end_matches('0'))
                };
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// Tolerated heap growth per request, in bytes (fractions allowed): `"256B"`, `"0.5KiB"`, or a
/// bare TOML number of bytes.
///
/// ```
/// use leakcheck::leakspec::BytesPerRequest;
/// assert_eq!("0.5KiB".parse::<BytesPerRequest>().unwrap().bytes(), 512.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, serde::Serialize)]
#[serde(transparent)]
pub struct BytesPerRequest(f64);

impl BytesPerRequest {
    /// A rate of `bytes` bytes per request; `None` when negative or not finite.
    pub fn new(bytes: f64) -> Option<Self> {
        (bytes.is_finite() && bytes >= 0.0).then_some(Self(bytes))
    }

    /// Bytes per request.
    pub const fn bytes(self) -> f64 {
        self.0
    }
}

impl FromStr for BytesPerRequest {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, UnitError> {
        let size = parse_size(text)?;
        // Exact up to f64 precision, which is far finer than any budget needs.
        Ok(Self((size.mantissa * size.unit) as f64 / size.scale() as f64))
    }
}

impl fmt::Display for BytesPerRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}B", self.0)
    }
}

/// Tolerated growth in object count per request (fractions allowed: `0.05` is one object every
/// twenty requests).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, serde::Serialize)]
#[serde(transparent)]
pub struct ObjectsPerRequest(f64);

impl ObjectsPerRequest {
    /// A rate of `objects` objects per request; `None` when negative or not finite.
    pub fn new(objects: f64) -> Option<Self> {
        (objects.is_finite() && objects >= 0.0).then_some(Self(objects))
    }

    /// Objects per request.
    pub const fn objects(self) -> f64 {
        self.0
    }
}

impl fmt::Display for ObjectsPerRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How far a recorded figure of `leakspec.lock` may be exceeded before a route counts as a
/// regression: a relative part (a fraction of the recorded figure) plus an absolute part in
/// bytes per request (for heap growth, times the requests measured). Written
/// `"25% + 32B"`, `"10%"` or `"64B"`.
///
/// Both parts matter: growth of a clean route is near zero and noisy, so a relative tolerance
/// alone would flap on it; a large figure varies with it, so an absolute one alone would be
/// too tight or too loose.
///
/// ```
/// use leakcheck::leakspec::RegressionTolerance;
/// let t: RegressionTolerance = "25% + 32B".parse().unwrap();
/// assert_eq!((t.relative(), t.bytes_per_request()), (0.25, 32.0));
/// // 100 B per request recorded: up to 100 + 25 + 32 passes.
/// assert_eq!(t.allowed(100.0, 1.0), 157.0);
/// // 64 KiB of heap growth over 1,000 requests: up to 64 KiB + 16 KiB + 32 B × 1,000.
/// assert_eq!(t.allowed(65536.0, 1000.0), 65536.0 * 1.25 + 32_000.0);
/// assert_eq!(t.to_string(), "25% + 32B");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RegressionTolerance {
    relative: f64,
    bytes_per_request: f64,
}

impl RegressionTolerance {
    /// The built-in tolerance, `"25% + 32B"`. Measured on the fixture services (six clean
    /// routes, 600-1,500 requests, three runs each): heap growth varied between runs by up to
    /// 17 KiB (23%), the peak heap by up to 15%; a leaking class's rate by under 1%.
    pub const DEFAULT: RegressionTolerance =
        RegressionTolerance { relative: 0.25, bytes_per_request: 32.0 };

    /// A tolerance of `relative` (a fraction: 0.25 is 25%) plus `bytes_per_request`; `None`
    /// when either is negative or not finite.
    pub fn new(relative: f64, bytes_per_request: f64) -> Option<Self> {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        (ok(relative) && ok(bytes_per_request))
            .then_some(RegressionTolerance { relative, bytes_per_request })
    }

    /// The relative part, as a fraction of the recorded figure.
    pub fn relative(self) -> f64 {
        self.relative
    }

    /// The absolute part, in bytes per request.
    pub fn bytes_per_request(self) -> f64 {
        self.bytes_per_request
    }

    /// The highest value that still passes against `recorded`, for a figure measured over
    /// `requests` requests (1 for a per-request rate): `recorded + |recorded| × relative +
    /// bytes_per_request × requests`.
    pub fn allowed(self, recorded: f64, requests: f64) -> f64 {
        recorded + recorded.abs() * self.relative + self.bytes_per_request * requests
    }
}

impl Default for RegressionTolerance {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl FromStr for RegressionTolerance {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, UnitError> {
        const HELP: &str = "write a percentage and a size per request, e.g. `\"25% + 32B\"`";
        let trimmed = text.trim();
        let (mut relative, mut absolute) = (None, None);
        for part in trimmed.split('+').map(str::trim) {
            if let Some(percent) = part.strip_suffix('%') {
                let value: f64 = percent.trim().parse().map_err(|_| {
                    UnitError::new(format!("invalid percentage `{part}` in `{trimmed}`")).help(HELP)
                })?;
                if !value.is_finite() {
                    return Err(
                        UnitError::new(format!("percentage `{part}` is not a number")).help(HELP)
                    );
                }
                if value < 0.0 {
                    return Err(UnitError::new(format!("percentage `{part}` is negative")));
                }
                if relative.replace(value / 100.0).is_some() {
                    return Err(
                        UnitError::new(format!("two percentages in `{trimmed}`")).help(HELP)
                    );
                }
            } else {
                let rate = BytesPerRequest::from_str(part).map_err(|e| {
                    let message = if part.is_empty() {
                        format!("invalid tolerance `{trimmed}`")
                    } else {
                        format!("{} in tolerance `{trimmed}`", e.message)
                    };
                    UnitError::new(message).help(HELP)
                })?;
                if absolute.replace(rate.bytes()).is_some() {
                    return Err(UnitError::new(format!("two sizes in `{trimmed}`")).help(HELP));
                }
            }
        }
        Ok(RegressionTolerance {
            relative: relative.unwrap_or(0.0),
            bytes_per_request: absolute.unwrap_or(0.0),
        })
    }
}

impl fmt::Display for RegressionTolerance {
    /// `25% + 32B`; parses back to the same tolerance.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = (self.relative * 1e6).round() / 1e4;
        let bytes = BytesPerRequest(self.bytes_per_request);
        match (self.relative > 0.0, self.bytes_per_request > 0.0) {
            (true, true) => write!(f, "{percent}% + {bytes}"),
            (true, false) => write!(f, "{percent}%"),
            (false, _) => write!(f, "{bytes}"),
        }
    }
}

/// Parses a duration written the humantime way (`"30s"`, `"1m 30s"`, `"500ms"`); zero is
/// refused, since every duration in a spec is a timeout.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(leakcheck::leakspec::parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
/// assert!(leakcheck::leakspec::parse_duration("30").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UnitError::new(format!("duration `{trimmed}` has no unit"))
            .help(format!("write e.g. `\"{trimmed}s\"` or `\"{trimmed}ms\"`")));
    }
    let duration = humantime::parse_duration(trimmed).map_err(|e| {
        UnitError::new(format!("invalid duration `{trimmed}`: {e}"))
            .help("write e.g. `\"500ms\"`, `\"30s\"`, `\"2m\"` or `\"1m 30s\"`")
    })?;
    if duration.is_zero() {
        return Err(UnitError::new("a timeout must be longer than zero"));
    }
    Ok(duration)
}

/// Formats a duration the way a spec writes it (`30s`, `1m 30s`, `500ms`).
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// A value that is not a valid size or duration, with a hint on how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UnitError {
    /// What is wrong, e.g. "unknown unit `M` in `5M`".
    pub message: String,
    /// How to write it instead.
    pub help: Option<String>,
}

impl UnitError {
    fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), help: None }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A size as written: `mantissa / 10^frac_digits` units of `unit` bytes each.
struct RawSize {
    mantissa: u128,
    frac_digits: u32,
    unit: u128,
}

impl RawSize {
    fn scale(&self) -> u128 {
        10u128.pow(self.frac_digits)
    }
}

const SIZE_HELP: &str =
    "write e.g. `\"256B\"`, `\"1.5KiB\"`, `\"5MiB\"` (1024ⁿ) or `\"10MB\"` (1000ⁿ)";

fn parse_size(text: &str) -> Result<RawSize, UnitError> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(UnitError::new(format!("size `{trimmed}` is negative")));
    }
    let number_len =
        trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_len);
    let unit = unit.trim_start();
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(UnitError::new(format!("invalid size `{trimmed}`")).help(SIZE_HELP));
    }
    if frac.len() > 9 {
        return Err(UnitError::new(format!("size `{trimmed}` has more than 9 decimals")));
    }
    let too_large = || UnitError::new(format!("size `{trimmed}` is too large"));
    let mut mantissa: u128 = 0;
    for digit in whole.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(digit - b'0')))
            .ok_or_else(too_large)?;
    }
    if mantissa > u128::from(u64::MAX) * 1000 {
        return Err(too_large());
    }
    let unit_bytes: u128 = match unit.to_ascii_lowercase().as_str() {
        "b" => 1,
        "kb" => 1000,
        "mb" => 1000u128.pow(2),
        "gb" => 1000u128.pow(3),
        "tb" => 1000u128.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "" => {
            return Err(UnitError::new(format!("size `{trimmed}` has no unit")).help(format!(
                "write `\"{trimmed}B\"` for bytes, or a bare integer without quotes"
            )));
        }
        other => {
            let help = match other {
                "k" | "m" | "g" | "t" => {
                    let upper = other.to_ascii_uppercase();
                    format!("write `{upper}iB` for 1024-based or `{upper}B` for 1000-based units")
                }
                _ => SIZE_HELP.to_owned(),
            };
            return Err(
                UnitError::new(format!("unknown unit `{unit}` in size `{trimmed}`")).help(help)
            );
        }
    };
    Ok(RawSize { mantissa, frac_digits: frac.len() as u32, unit: unit_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(text: &str) -> Result<u64, String> {
        text.parse::<ByteSize>().map(ByteSize::bytes).map_err(|e| e.message)
    }

    #[test]
    fn sizes_in_every_unit() {
        assert_eq!(size("256B"), Ok(256));
        assert_eq!(size("256 B"), Ok(256));
        assert_eq!(size("5MiB"), Ok(5 << 20));
        assert_eq!(size("5mib"), Ok(5 << 20));
        assert_eq!(size("1.5 KiB"), Ok(1536));
        assert_eq!(size("10MB"), Ok(10_000_000));
        assert_eq!(size("2GB"), Ok(2_000_000_000));
        assert_eq!(size("1TiB"), Ok(1 << 40));
        assert_eq!(size("0.1KiB"), Ok(102));
        assert_eq!(size(".5KiB"), Ok(512));
        assert_eq!(size("0B"), Ok(0));
        assert_eq!(size("  7kb "), Ok(7000));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert_eq!(size("5M").unwrap_err(), "unknown unit `M` in size `5M`");
        assert_eq!(size("256").unwrap_err(), "size `256` has no unit");
        assert_eq!(size("-1MiB").unwrap_err(), "size `-1MiB` is negative");
        assert_eq!(size("1.5B").unwrap_err(), "`1.5B` is a fraction of a byte");
        assert_eq!(size("MiB").unwrap_err(), "invalid size `MiB`");
        assert_eq!(size("1.2.3MiB").unwrap_err(), "invalid size `1.2.3MiB`");
        assert_eq!(size("").unwrap_err(), "invalid size ``");
        assert_eq!(size("17000000TiB").unwrap_err(), "`17000000TiB` is too large");
        assert_eq!(
            size("99999999999999999999999999999999999999999B").unwrap_err(),
            "size `99999999999999999999999999999999999999999B` is too large"
        );
        let k = "5K".parse::<ByteSize>().unwrap_err();
        assert_eq!(
            k.help.as_deref(),
            Some("write `KiB` for 1024-based or `KB` for 1000-based units")
        );
    }

    #[test]
    fn sizes_display_exactly_and_round_trip() {
        for (bytes, text) in [
            (0, "0B"),
            (1000, "1000B"),
            (1024, "1KiB"),
            (1536, "1.5KiB"),
            (5 << 20, "5MiB"),
            (1025, "1025B"),
            ((1 << 30) + (1 << 29), "1.5GiB"),
        ] {
            assert_eq!(ByteSize::new(bytes).to_string(), text);
            assert_eq!(size(text), Ok(bytes));
        }
    }

    #[test]
    fn rates_keep_fractions() {
        let rate = |t: &str| t.parse::<BytesPerRequest>().unwrap().bytes();
        assert_eq!(rate("256B"), 256.0);
        assert_eq!(rate("0.5B"), 0.5);
        assert_eq!(rate("1.5KiB"), 1536.0);
        assert!(BytesPerRequest::new(-1.0).is_none());
        assert!(ObjectsPerRequest::new(f64::NAN).is_none());
        assert_eq!(ObjectsPerRequest::new(0.05).unwrap().objects(), 0.05);
    }

    #[test]
    fn tolerances() {
        let t = |s: &str| s.parse::<RegressionTolerance>().map_err(|e| e.message);
        let parts = |s: &str| t(s).map(|t| (t.relative(), t.bytes_per_request()));
        assert_eq!(parts("25% + 32B"), Ok((0.25, 32.0)));
        assert_eq!(parts("32B+25%"), Ok((0.25, 32.0)));
        assert_eq!(parts(" 10 % "), Ok((0.1, 0.0)));
        assert_eq!(parts("0.5KiB"), Ok((0.0, 512.0)));
        assert_eq!(parts("0%"), Ok((0.0, 0.0)));
        assert_eq!(t("25").unwrap_err(), "size `25` has no unit in tolerance `25`");
        assert_eq!(t("x% + 1B").unwrap_err(), "invalid percentage `x%` in `x% + 1B`");
        assert_eq!(t("-5%").unwrap_err(), "percentage `-5%` is negative");
        assert_eq!(t("5% + 5%").unwrap_err(), "two percentages in `5% + 5%`");
        assert_eq!(t("1B + 2B").unwrap_err(), "two sizes in `1B + 2B`");
        assert_eq!(t("25% +").unwrap_err(), "invalid tolerance `25% +`");
        for text in ["25% + 32B", "12.5%", "64B", "0B"] {
            assert_eq!(t(text).unwrap().to_string(), text);
        }
        assert!(RegressionTolerance::new(-0.1, 0.0).is_none());
        assert_eq!(RegressionTolerance::default().to_string(), "25% + 32B");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        let no_unit = parse_duration("30").unwrap_err();
        assert_eq!(no_unit.message, "duration `30` has no unit");
        assert_eq!(no_unit.help.as_deref(), Some("write e.g. `\"30s\"` or `\"30ms\"`"));
        assert!(parse_duration("30 secs").unwrap().eq(&Duration::from_secs(30)));
        assert!(parse_duration("3o s").unwrap_err().message.starts_with("invalid duration `3o s`"));
        assert_eq!(parse_duration("0s").unwrap_err().message, "a timeout must be longer than zero");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m 30s");
    }
}
