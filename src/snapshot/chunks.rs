//! The workers' tokeniser, 64 bytes at a time with AVX2, where the processor has it.
//!
//! Each byte of a window becomes a bit in three masks (digit, comma, newline); a handful of
//! operations on the masks check that the text is nothing but values and V8's separators, and
//! where values start and how long they are is a matter of counting bits. Read value by value
//! ([`super::bulk::simple_values`]), each value's position waits on the length of the one
//! before, a chain of loads and bit counts the processor cannot overlap. The digits are then
//! turned into numbers four at a time. Whatever the masks do not vouch for (spaces, 16 digits
//! or more, the closing `]`, an error, the block's last bytes) is left to the value-by-value
//! loop and the careful path, which read it exactly as they read everything on other
//! processors.
//!
//! Measured on a 1 MiB block of `edges`: 6.5 ns per value against 10.5 ns value by value; see
//! docs/speed.md for what it does to a whole parse.

// Elsewhere only `SLACK` is used; the loop waits for a vector form of its steps.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

/// The three masks of 64 bytes: digits, commas, newlines (bit k for byte k).
type Masks = (u64, u64, u64);

/// Values of room a tokeniser's output needs past one for every two bytes of text.
pub(super) const SLACK: usize = 3;

/// Bytes [`chunked_values`] reads from a chunk's start: the chunk and the next one, into
/// which a value begun near the chunk's end may run.
const CHUNK_SPAN: usize = 128;

/// Bits of a [`CHUNK_SPAN`] window whose bytes are checked: a value starting in the first 64
/// bytes ends, with its separator, within 64 + 15 + 2.
const CHECKED: u128 = (1 << 96) - 1;

/// Reads the values of `text[i..]` 64 bytes at a time into `out[k..]`, while [`CHUNK_SPAN`]
/// bytes are left and the text is plain V8 output (`digits ','` or `digits '\n' ','`, fewer
/// than 16 digits). Returns where it stopped, at the start of a value, and the new `k`.
///
/// `classify` makes the masks of 64 bytes; `convert` writes the value of the first
/// `len.min(8)` digits at each of `at` (the longer values are finished here), and may write
/// up to three values more: `out` has [`SLACK`] values of room past the text's.
#[inline(always)]
fn chunked_values(
    classify: impl Fn(&[u8; 64]) -> Masks,
    convert: impl Fn(&[u8], &[usize], &[u32], &mut [u64]),
    text: &[u8],
    mut i: usize,
    out: &mut [u64],
    mut k: usize,
) -> (usize, usize) {
    use super::bulk::{POW10, eight_digits};
    let n = text.len();
    if n < CHUNK_SPAN || i > n - CHUNK_SPAN {
        return (i, k);
    }
    let classify = |base: usize| classify(text[base..base + 64].try_into().expect("64 bytes"));
    let mut base = i;
    // The byte before `i` is a value's separator or the array's `[`: neither a digit nor a
    // newline, as bit -1 of the masks.
    let (mut digit_before, mut newline_before) = (0u128, 0u128);
    let mut low = classify(base);
    let mut at = [0usize; 32];
    let mut len = [0u32; 32];
    loop {
        let high = classify(base + 64);
        let wide = |low: u64, high: u64| low as u128 | (high as u128) << 64;
        let (d, c, l) = (wide(low.0, high.0), wide(low.1, high.1), wide(low.2, high.2));
        let after_digit = (d << 1) | digit_before;
        let after_newline = (l << 1) | newline_before;
        let bad = !(d | c | l) // anything else
            | (l & !(c >> 1)) // a newline not followed by a comma
            | (l & !after_digit) // a newline not after a value
            | (c & !(after_digit | after_newline)); // a comma not after a value
        if bad & CHECKED != 0 {
            return (i, k);
        }
        let mut starts = (d & !after_digit) as u64;
        let mut count = 0;
        let mut long = false;
        let mut next = i;
        while starts != 0 {
            let s = starts.trailing_zeros();
            // In 64 bits from the start: a run of 16 digits or more goes to the careful path
            // anyway, and the shift of 64 for a run of 64 only makes `next` wrong then.
            let run = (!((d >> s) as u64)).trailing_zeros();
            let newline = ((l >> s) as u64).wrapping_shr(run) & 1;
            at[count] = base + s as usize;
            len[count] = run;
            next = at[count] + run as usize + 1 + newline as usize;
            long |= run > 8;
            count += 1;
            starts &= starts - 1;
        }
        // Room for whole groups of four: `convert` may write up to three values past the
        // last, which the next chunk or the careful path overwrites.
        let values = &mut out[k..k + count.next_multiple_of(4)];
        convert(text, &at[..count], &len[..count], values);
        if long {
            // Values of 9 digits or more: the first eight digits' value, times the rest.
            for j in 0..count {
                let run = len[j] as usize;
                if run > 8 {
                    if run >= 16 {
                        // Keep what comes before it; the careful path reads it.
                        return (at[j], k + j);
                    }
                    let (rest, _) = eight_digits(&text[at[j] + 8..at[j] + 16]);
                    values[j] = values[j] * POW10[run - 8] + rest;
                }
            }
        }
        k += count;
        i = next;
        base += 64;
        if base > n - CHUNK_SPAN {
            return (i, k);
        }
        digit_before = (low.0 >> 63) as u128;
        newline_before = (low.2 >> 63) as u128;
        low = high;
    }
}

/// [`super::bulk::tokenize`]'s loop with [`chunked_values`] in front of the value-by-value
/// loop, compiled for AVX2; `None` where the processor lacks it.
#[cfg(target_arch = "x86_64")]
pub(super) fn tokenize_avx2(
    text: &[u8],
    out: &mut [u64],
    count: &mut usize,
) -> Option<super::bulk::End> {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return None;
    }
    // SAFETY: the processor has AVX2, checked just above.
    #[allow(unsafe_code)]
    Some(unsafe { avx2::tokenize(text, out, count) })
}

/// The only `unsafe` in the parser: entering code compiled for AVX2 after checking that the
/// processor has it, and unaligned 32-byte loads and stores within slices of that length.
/// The steps are closures inside the function compiled for AVX2, so they are compiled for it
/// too and inlined into its loop (as functions of their own, each chunk paid a call).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use std::arch::x86_64::*;

    use super::super::bulk::{End, FastValues, simple_values, tokenize_into};
    use super::{Masks, chunked_values};

    #[target_feature(enable = "avx2")]
    pub(super) fn tokenize(text: &[u8], out: &mut [u64], count: &mut usize) -> End {
        let load = |bytes: &[u8]| -> __m256i {
            let bytes: &[u8; 32] = bytes.try_into().expect("32 bytes");
            // SAFETY: `bytes` holds 32 bytes; the load has no alignment requirement.
            unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
        };
        let classify = |chunk: &[u8; 64]| -> Masks {
            let half = |x: __m256i| -> Masks {
                let digit = _mm256_and_si256(
                    _mm256_cmpeq_epi8(_mm256_max_epu8(x, _mm256_set1_epi8(b'0' as i8)), x),
                    _mm256_cmpeq_epi8(_mm256_min_epu8(x, _mm256_set1_epi8(b'9' as i8)), x),
                );
                let comma = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b',' as i8));
                let newline = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'\n' as i8));
                let bits = |m: __m256i| _mm256_movemask_epi8(m) as u32 as u64;
                (bits(digit), bits(comma), bits(newline))
            };
            let (d0, c0, l0) = half(load(&chunk[..32]));
            let (d1, c1, l1) = half(load(&chunk[32..]));
            (d0 | d1 << 32, c0 | c1 << 32, l0 | l1 << 32)
        };
        // The first eight bytes at each start, shifted so the digits end the word, then
        // multiplied and added pairwise (by 10, 100 and 10,000), four values at a time.
        let convert = |text: &[u8], at: &[usize], len: &[u32], out: &mut [u64]| {
            let word = |k: usize| -> i64 {
                match at.get(k) {
                    Some(&a) => {
                        let w = u64::from_le_bytes(text[a..a + 8].try_into().expect("8 bytes"));
                        (w ^ 0x3030_3030_3030_3030) as i64
                    }
                    None => 0,
                }
            };
            let shift = |k: usize| -> i64 { len.get(k).map_or(0, |&l| (64 - 8 * l.min(8)) as i64) };
            let tens = _mm256_set1_epi16(0x010A); // bytes 10, 1
            let hundreds = _mm256_set1_epi32(0x0001_0064); // words 100, 1
            let ten_thousand = _mm256_set1_epi64x(10_000);
            let mut k = 0;
            while k < at.len() {
                let x = _mm256_set_epi64x(word(k + 3), word(k + 2), word(k + 1), word(k));
                let s = _mm256_set_epi64x(shift(k + 3), shift(k + 2), shift(k + 1), shift(k));
                let x = _mm256_sllv_epi64(x, s);
                let pairs = _mm256_maddubs_epi16(x, tens);
                let fours = _mm256_madd_epi16(pairs, hundreds);
                let high = _mm256_mul_epu32(fours, ten_thousand);
                let v = _mm256_add_epi64(high, _mm256_srli_epi64(fours, 32));
                // All four lanes, past the last value too: `out` has room (see `SLACK`).
                let lanes: &mut [u64; 4] = (&mut out[k..k + 4]).try_into().expect("4 lanes");
                // SAFETY: `lanes` holds 32 bytes; the store has no alignment requirement.
                unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), v) };
                k += 4;
            }
        };
        tokenize_into(text, out, count, Chunked { classify, convert })
    }

    /// [`chunked_values`], then the value-by-value loop for what it leaves.
    struct Chunked<C, V> {
        classify: C,
        convert: V,
    }

    impl<C, V> FastValues for Chunked<C, V>
    where
        C: Fn(&[u8; 64]) -> Masks,
        V: Fn(&[u8], &[usize], &[u32], &mut [u64]),
    {
        #[inline(always)]
        fn read(&self, text: &[u8], i: usize, out: &mut [u64], k: &mut usize) -> usize {
            let (i, got) = chunked_values(&self.classify, &self.convert, text, i, out, *k);
            *k = got;
            simple_values(text, i, |v, _| {
                out[*k] = v;
                *k += 1;
                true
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bulk::{OneByOne, Tokens, tokenize, tokenize_into};

    /// The values and the end [`tokenize`] finds, with a dirty scratch buffer.
    fn tokens(
        text: &[u8],
        tokenizer: impl Fn(&[u8], &mut Vec<u64>) -> Tokens,
    ) -> (Vec<u64>, Tokens) {
        let mut out = vec![7; 5];
        let found = tokenizer(text, &mut out);
        out.truncate(found.0);
        (out, found)
    }

    /// The tokeniser the workers use (64 bytes at a time where the processor has AVX2) reads
    /// what the value-by-value loop with the careful path reads, errors included.
    fn assert_agrees(text: &[u8]) {
        let reference = tokens(text, |text, out| {
            out.resize(text.len() / 2 + 1 + super::SLACK, 0);
            let mut count = 0;
            let end = tokenize_into(text, out, &mut count, OneByOne);
            (count, end)
        });
        let got = tokens(text, tokenize);
        assert_eq!(got, reference, "{:?}", String::from_utf8_lossy(text));
    }

    /// This machine runs the chunked loop: without AVX2 the tests below compare the
    /// value-by-value loop with itself, so say so rather than pass quietly.
    #[test]
    fn the_processor_runs_the_chunked_loop() {
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("no AVX2 here: the chunked tokeniser is not exercised");
        }
    }

    /// A value of every length from 1 to 20 digits at every offset across the edges of the
    /// chunks (64 bytes) and of the checked window (96), after either separator.
    #[test]
    fn chunks_read_every_length_at_every_offset() {
        for digits in 1..=20u32 {
            let v = 10u64.pow(digits - 1) + 7 * (digits as u64 % 3);
            for sep in [",", "\n,"] {
                for before in 0..100 {
                    let mut text = "3,".repeat(before / 2);
                    if before % 2 == 1 {
                        text.push_str("44,");
                    }
                    text.push_str(&v.to_string());
                    text.push_str(sep);
                    text.push_str(&"42\n,".repeat(60));
                    assert_agrees(text.as_bytes());
                    text.push_str("9]");
                    assert_agrees(text.as_bytes());
                }
            }
        }
    }

    /// Text with something out of the ordinary at every offset: both read the same values
    /// before it and stop, or fail, at the same byte with the same message.
    #[test]
    fn chunks_stop_where_the_value_loop_stops() {
        let odd =
            [" ", "x", ",", "\n", "\n,", "\n\n,", "]", "-1", "1.5", "\r,", "12345678901234567"];
        for thing in odd {
            for at in 0..140 {
                let mut text = String::new();
                let mut k = 0u64;
                while text.len() < at {
                    text.push_str(&(k * 7919 % 100_000).to_string());
                    text.push_str(if k.is_multiple_of(4) { "\n," } else { "," });
                    k += 1;
                }
                for glued in [false, true] {
                    let mut text = text.clone();
                    if glued {
                        // In place of the last value's separator.
                        while text.ends_with([',', '\n']) {
                            text.pop();
                        }
                    }
                    text.push_str(thing);
                    text.push_str(&"5,".repeat(100));
                    assert_agrees(text.as_bytes());
                }
            }
        }
    }

    /// Every byte value in every position of a chunk: only digits, commas and newlines in
    /// V8's order pass the masks.
    #[test]
    fn every_byte_is_classified() {
        for b in 0..=255u8 {
            for at in [0, 1, 31, 32, 33, 63, 64, 65, 95, 96, 97, 127] {
                let mut text = "1234,".repeat(40).into_bytes();
                text[at] = b;
                assert_agrees(&text);
            }
        }
    }
}
