//! Tokenising the big integer arrays (`nodes`, `edges`) on several threads.
//!
//! They are 90% of a snapshot's text, and reading integers is most of parsing. The reading
//! thread cuts the array text into blocks that end just after a comma, so every block starts at
//! a value; workers turn blocks into values (64 bytes at a time with AVX2 where the processor
//! has it: [`super::chunks`]) and the values into records' columns ([`super::records`]); the
//! reading thread takes them in order. Everything here is plain safe code over byte slices.

/// What [`tokenize`] found in a block: how many values it wrote, and `Ok(None)` when the block
/// ended after a comma (the array goes on), `Ok(Some(end))` with the offset just past the
/// closing `]`, or an error with its offset in the block and a message worded like the
/// sequential parser's (the values before it are counted).
pub(super) type Tokens = (usize, End);

/// How a block's text ends: see [`Tokens`].
pub(super) type End = Result<Option<usize>, (usize, String)>;

/// Splits a block's text into values, written to `out[..count]`. The text starts where a value
/// is expected (after `[` or `,`).
///
/// `out` is a scratch buffer, not a list: it is grown (zeroed) to a value for every two bytes
/// of text if it is shorter, and its old contents are overwritten. Reused from block to block
/// it is zeroed once, and a value costs a store and a bounds check, not a push.
pub(super) fn tokenize(text: &[u8], out: &mut Vec<u64>) -> Tokens {
    // A value takes two bytes of text at least (`1,`, or the last one: `1]`).
    // And a few more for the chunked loop's last group of four.
    let room = text.len() / 2 + 1 + super::chunks::SLACK;
    if out.len() < room {
        out.resize(room, 0);
    }
    let mut count = 0;
    #[cfg(target_arch = "x86_64")]
    if let Some(end) = super::chunks::tokenize_avx2(text, out, &mut count) {
        return (count, end);
    }
    let end = tokenize_into(text, out, &mut count, OneByOne);
    (count, end)
}

/// The fast loop of [`tokenize_into`]: reads plain values of `text[i..]` into `out[*k..]`,
/// advancing `*k`, and returns where it stopped, at a value it leaves to the careful path.
pub(super) trait FastValues {
    fn read(&self, text: &[u8], i: usize, out: &mut [u64], k: &mut usize) -> usize;
}

/// [`simple_values`] as the fast loop.
pub(super) struct OneByOne;

impl FastValues for OneByOne {
    #[inline(always)]
    fn read(&self, text: &[u8], i: usize, out: &mut [u64], k: &mut usize) -> usize {
        simple_values(text, i, |v, _| {
            out[*k] = v;
            *k += 1;
            true
        })
    }
}

/// [`tokenize`] with the given fast loop; the careful path reads what it leaves, one value at
/// a time, with the sequential parser's error messages.
#[inline(always)]
pub(super) fn tokenize_into(
    text: &[u8],
    out: &mut [u64],
    count: &mut usize,
    fast: impl FastValues,
) -> End {
    let n = text.len();
    let mut i = 0;
    let mut k = 0;
    loop {
        i = fast.read(text, i, out, &mut k);
        *count = k;
        while i < n && is_space(text[i]) {
            i += 1;
        }
        if i == n {
            return Ok(None);
        }
        let start = i;
        let mut acc: u64 = 0;
        if n - i >= 16 {
            let (v, d) = eight_digits(&text[i..i + 8]);
            acc = v;
            i += d;
            if d == 8 {
                let (v2, d2) = eight_digits(&text[i..i + 8]);
                acc = acc * POW10[d2] + v2;
                i += d2;
            }
        }
        // Whatever the fast path left: the rest of a long number, or the block's last bytes.
        while i < n && text[i].is_ascii_digit() {
            acc = match acc.checked_mul(10).and_then(|a| a.checked_add((text[i] - b'0') as u64)) {
                Some(a) => a,
                None => return Err((i, "integer too large".into())),
            };
            i += 1;
        }
        if i == start {
            return Err((
                i,
                format!("expected an unsigned integer but found {}", describe(text[i])),
            ));
        }
        while i < n && is_space(text[i]) {
            i += 1;
        }
        if i == n {
            return Err((i, "unexpected end of input (the snapshot is truncated)".into()));
        }
        match text[i] {
            b',' => {
                out[k] = acc;
                k += 1;
                *count = k;
                i += 1;
            }
            b']' => {
                out[k] = acc;
                *count = k + 1;
                return Ok(Some(i + 1));
            }
            b if b.is_ascii_digit() => return Err((i, "expected ',' between numbers".into())),
            other => {
                return Err((i, format!("expected ',' or ']' but found {}", describe(other))));
            }
        }
    }
}

/// Reads values as V8 writes them, `digits ','` or `digits '\n' ','` with fewer than 16
/// digits, from `text[i..]` while at least [`WINDOW`] bytes are left, calling
/// `each(value, start)` with each value and the offset where its digits start, and returns
/// where it stopped: at the first value that is anything else (more digits, spaces, the closing
/// `]`, an error), which the careful paths then read, or just past the value for which `each`
/// returned false.
///
/// This loop is most of parsing's time, and both paths use it (the one-thread path over the
/// scanner's buffer, the workers over their blocks). A value costs one window (one bounds
/// check), one 8-byte word of digits (two for 8 to 15 digits, as the `to_node` of edges into
/// a snapshot of over 1.4M nodes have) and a two-byte separator test, with no per-byte
/// branches. Values of 8 digits and more used to leave it for the careful path.
#[inline(always)]
pub(super) fn simple_values(
    text: &[u8],
    mut i: usize,
    mut each: impl FnMut(u64, usize) -> bool,
) -> usize {
    // `,` alone, or V8's record separator `\n,`, read as a little-endian pair of bytes.
    const NEWLINE_COMMA: u16 = u16::from_le_bytes([b'\n', b',']);
    let last = text.len().saturating_sub(WINDOW);
    while i <= last && text.len() >= WINDOW {
        let window: &[u8; WINDOW] = text[i..i + WINDOW].try_into().expect("a window");
        let x = digit_word(&window[..8]);
        let d = digit_count(x);
        let (value, end) = if d.wrapping_sub(1) < 7 {
            (digits_value(x, d), d)
        } else if d == 8 {
            let y = digit_word(&window[8..16]);
            let d2 = digit_count(y);
            if d2 == 8 {
                break; // 16 digits or more
            }
            // `(y << 8) << (56 - 8 d2)` is `y << (64 - 8 d2)` without overflowing at d2 = 0.
            let low = digits_top((y << 8) << (56 - 8 * d2 as u32));
            (digits_value(x, 8) * POW10[d2] + low, 8 + d2)
        } else {
            break; // not a digit
        };
        let pair = u16::from_le_bytes(window[end..end + 2].try_into().expect("2 bytes"));
        let newline = pair == NEWLINE_COMMA;
        if pair as u8 != b',' && !newline {
            break;
        }
        let start = i;
        i += end + 1 + newline as usize;
        if !each(value, start) {
            break;
        }
    }
    i
}

/// Bytes [`simple_values`] needs ahead of a value: 15 digits and a two-byte separator.
const WINDOW: usize = 24;

/// 8 bytes of text as a little-endian word, XORed with `'0'` in every byte, which maps
/// `'0'..='9'` to 0..=9 and every other byte to something else.
#[inline(always)]
fn digit_word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes")) ^ 0x3030_3030_3030_3030
}

/// How many of a [`digit_word`]'s bytes, from the first, are digits (0..=8).
#[inline(always)]
fn digit_count(x: u64) -> usize {
    // High bit set in each byte that is not a digit (>= 10). Carries only flow upwards from a
    // non-digit byte, so the lowest flagged byte is exact, and that is all we use.
    let non_digit = (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080;
    (non_digit.trailing_zeros() / 8) as usize
}

/// Offset just after the comma before value number `k` in a block's text (for error messages
/// only): where the one-thread path reports a record's errors, so both paths agree even when
/// whitespace follows the comma.
pub(super) fn value_offset(text: &[u8], k: usize) -> usize {
    let mut i = 0;
    for _ in 0..k {
        while i < text.len() && (is_space(text[i]) || text[i].is_ascii_digit()) {
            i += 1;
        }
        i += 1; // the comma
    }
    i.min(text.len())
}

/// Offset just after the comma before the `n`-th value from the end of a block's text, which
/// ends just after a comma: where a record cut by the block's end starts.
pub(super) fn record_start_from_end(text: &[u8], n: usize) -> usize {
    let mut i = text.len();
    for _ in 0..n {
        i = i.saturating_sub(1); // the comma after the value
        while i > 0 && (is_space(text[i - 1]) || text[i - 1].is_ascii_digit()) {
            i -= 1;
        }
    }
    i
}

pub(super) const POW10: [u64; 9] =
    [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// The value of the leading ASCII digits of 8 bytes (at most 8 of them) and how many there
/// are, with a handful of arithmetic instructions instead of a loop per digit (SWAR, as in
/// simdjson's `parse_eight_digits_unrolled`).
#[inline(always)]
pub(super) fn eight_digits(bytes: &[u8]) -> (u64, usize) {
    let x = digit_word(bytes);
    let n = digit_count(x);
    if n == 0 {
        return (0, 0);
    }
    (digits_value(x, n), n)
}

/// The value of the `n` (1..=8) digits in the low bytes of the [`digit_word`] `x`.
#[inline(always)]
fn digits_value(x: u64, n: usize) -> u64 {
    // Keep the n digit bytes, moved to the top so the missing ones read as leading zeros.
    digits_top(x << (64 - 8 * n as u32))
}

/// The value of 8 digits 0..=9, one per byte, the first in the lowest byte.
#[inline(always)]
fn digits_top(mut v: u64) -> u64 {
    // Every byte is 0..=9 already, so the usual first mask (`& 0x0F0F_0F0F_0F0F_0F0F`) is
    // left out: one constant less to keep in a register in the hot loop.
    v = v.wrapping_mul(2561) >> 8;
    v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

pub(super) fn describe(b: u8) -> String {
    if b.is_ascii_graphic() { format!("'{}'", b as char) } else { format!("byte 0x{b:02x}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    type End = Result<Option<usize>, (usize, String)>;

    fn values(text: &str) -> (Vec<u64>, End) {
        // A dirty scratch buffer, as the pool hands out: stale values must not show.
        let mut out = vec![7; 3];
        let (count, r) = tokenize(text.as_bytes(), &mut out);
        out.truncate(count);
        (out, r)
    }

    #[test]
    fn blocks_end_after_a_comma_or_at_the_bracket() {
        assert_eq!(values("1,22,333,"), (vec![1, 22, 333], Ok(None)));
        assert_eq!(values("\n1\n,2]rest"), (vec![1, 2], Ok(Some(6))));
        let long = "12345678901234567,9876543210987654321,";
        assert_eq!(values(long).0, vec![12345678901234567, 9876543210987654321]);
    }

    #[test]
    fn the_fast_loop_and_the_careful_path_agree() {
        // Values of every length up to 20 digits, with V8's separators and odd spacing mixed
        // in, long enough that most go through `simple_values`.
        let mut text = String::new();
        let mut want = Vec::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for k in 0..2000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = match k % 5 {
                0 => x % 10,
                1 => x % 100_000,
                2 => x % 10_000_000,
                3 => x % 100_000_000_000,
                _ => x,
            };
            want.push(v);
            text.push_str(&v.to_string());
            text.push_str(match x % 7 {
                0 => "\n,",
                1 => " , ",
                2 => ",\n",
                _ => ",",
            });
        }
        assert_eq!(values(&text), (want.clone(), Ok(None)));
        while text.ends_with([',', ' ', '\n']) {
            text.pop();
        }
        text.push_str("]tail");
        let (got, end) = values(&text);
        assert_eq!(got, want);
        assert_eq!(end, Ok(Some(text.len() - 4)));
        let bad = text.replacen(",", ",x", 1000);
        assert!(values(&bad).1.unwrap_err().1.contains("found 'x'"));
    }

    #[test]
    fn errors_point_at_the_byte() {
        assert_eq!(values("1,x,").1, Err((2, "expected an unsigned integer but found 'x'".into())));
        assert_eq!(values("1 2,").1, Err((2, "expected ',' between numbers".into())));
        assert!(values("12").1.unwrap_err().1.contains("truncated"));
        assert!(values("99999999999999999999,").1.unwrap_err().1.contains("too large"));
        assert_eq!(value_offset(b"1, 22,333,", 2), 6);
        assert_eq!(value_offset(b"1, 22,333,", 1), 2);
        assert_eq!(record_start_from_end(b"1, 22,333,", 1), 6);
        assert_eq!(record_start_from_end(b"1, 22,333,", 2), 2);
        assert_eq!(record_start_from_end(b"1, 22,333,", 3), 0);
    }

    /// A value of every length from 1 to 20 digits, after `,` or `\n,`, moved one value at a
    /// time across the end of the fast loop's window, and as the last value before `]`.
    #[test]
    fn every_length_and_separator_across_the_window_edge() {
        for digits in 1..=20u32 {
            let v = 10u64.pow(digits - 1) + 7 * (digits as u64 % 3);
            assert_eq!(v.to_string().len(), digits as usize);
            for sep in [",", "\n,"] {
                for before in 0..(WINDOW + 4) {
                    let mut text = "3,".repeat(before);
                    text.push_str(&v.to_string());
                    text.push_str(sep);
                    let mut want = vec![3; before];
                    want.push(v);
                    assert_eq!(values(&text), (want.clone(), Ok(None)), "{text:?}");
                    // The same value last, before the bracket.
                    let last = format!("{}{v}]", "3,".repeat(before));
                    assert_eq!(values(&last), (want.clone(), Ok(Some(last.len()))), "{last:?}");
                    // And followed by more values, so the loop reads past it.
                    text.push_str(&"42\n,".repeat(8));
                    want.extend([42; 8]);
                    assert_eq!(values(&text), (want, Ok(None)), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn errors_count_the_values_before_them() {
        let mut out = Vec::new();
        let text = b"1,2,3,4,5,6,7,8,9,10,11,12,x,";
        let (count, end) = tokenize(text, &mut out);
        assert_eq!(count, 12);
        assert_eq!(&out[..count], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let at = text.iter().position(|&b| b == b'x').unwrap();
        assert_eq!(end, Err((at, "expected an unsigned integer but found 'x'".into())));
        let text = format!("{}1,", "123456789012345,".repeat(4));
        let (count, end) = tokenize(text.as_bytes(), &mut out);
        assert_eq!((count, end), (5, Ok(None)));
        assert_eq!(&out[..4], &[123_456_789_012_345; 4]);
    }
}
