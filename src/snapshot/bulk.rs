//! Tokenising the big integer arrays (`nodes`, `edges`) on several threads.
//!
//! They are 90% of a snapshot's text, and reading integers is most of parsing. The reading
//! thread cuts the array text into blocks that end just after a comma, so every block starts at
//! a value; workers turn blocks into values; the reading thread puts the values back in order
//! and hands them on as records. Everything here is plain safe code over byte slices.

/// Splits a block's text into values. The text starts where a value is expected (after `[` or
/// `,`). Returns `Ok(None)` when the block ended after a comma (the array goes on), or
/// `Ok(Some(end))` with the offset just past the closing `]`. Errors carry the offset in the
/// block and a message worded like the sequential parser's.
pub(super) fn tokenize(text: &[u8], out: &mut Vec<u64>) -> Result<Option<usize>, (usize, String)> {
    let n = text.len();
    let mut i = 0;
    loop {
        i = simple_values(text, i, out);
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
                out.push(acc);
                i += 1;
            }
            b']' => {
                out.push(acc);
                return Ok(Some(i + 1));
            }
            b if b.is_ascii_digit() => return Err((i, "expected ',' between numbers".into())),
            other => {
                return Err((i, format!("expected ',' or ']' but found {}", describe(other))));
            }
        }
    }
}

/// Reads values as V8 writes them, `digits ','` or `digits '\n' ','` with fewer than 8 digits,
/// from `text[i..]` into `out` while at least 16 bytes are left, and returns where it stopped:
/// at the first value that is anything else (more digits, spaces, the closing `]`, an error),
/// which [`tokenize`]'s careful path then reads. This loop is most of parsing's time: a value
/// costs one 8-byte load, the digit arithmetic and a separator check, where the careful path
/// tests every byte for space, end of text and digit.
#[inline(always)]
fn simple_values(text: &[u8], mut i: usize, out: &mut Vec<u64>) -> usize {
    while i + 16 <= text.len() {
        let (v, d) = eight_digits(&text[i..i + 8]);
        if d == 0 || d == 8 {
            break;
        }
        match (text[i + d], text[i + d + 1]) {
            (b',', _) => i += d + 1,
            (b'\n', b',') => i += d + 2,
            _ => break,
        }
        out.push(v);
    }
    i
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
    let word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
    // XOR maps '0'..='9' to 0..=9 and every other byte to something else.
    let x = word ^ 0x3030_3030_3030_3030;
    // High bit set in each byte that is not a digit (>= 10). Carries only flow upwards from a
    // non-digit byte, so the lowest flagged byte is exact, and that is all we use.
    let non_digit = (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080;
    let n = (non_digit.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // Keep the n digit bytes, moved to the top so the missing ones read as leading zeros.
    let mut v = x << (64 - 8 * n as u32);
    v = (v & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(2561) >> 8;
    v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(6_553_601) >> 16;
    v = (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(42_949_672_960_001) >> 32;
    (v, n)
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

    type Tokens = (Vec<u64>, Result<Option<usize>, (usize, String)>);

    fn values(text: &str) -> Tokens {
        let mut out = Vec::new();
        let r = tokenize(text.as_bytes(), &mut out);
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
}
