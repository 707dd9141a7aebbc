//! The workers' tokeniser, 64 bytes at a time with AVX2, where the processor has it.
//!
//! Each byte of a window becomes a bit in three masks (digit, comma, newline); a handful of
//! operations on the masks check that the text is nothing but values and V8's separators, and
//! where values start and end is a matter of counting bits. Read value by value
//! ([`super::bulk::simple_values`]), each value's position waits on the length of the one
//! before, a chain of loads and bit counts the processor cannot overlap. The digits are then
//! turned into numbers four at a time. Each window starts at a value, so nothing is carried
//! from one window to the next (an earlier form slid over aligned 64-byte chunks and paid
//! 128-bit shifts per value to see across their edges: 8.8 ns per value of `edges` against
//! 6.1 ns this way, side by side). Whatever the masks do not vouch for (spaces, 16 digits or
//! more, the closing `]`, an error, the block's last bytes) is left to the value-by-value loop
//! and the careful path, which read it exactly as they read everything on other processors.
//!
//! See docs/speed.md for what it does to a whole parse.

// Elsewhere only `SLACK` is used; the loop waits for a vector form of its steps.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

/// The three masks of 64 bytes: digits, commas, newlines (bit k for byte k).
type Masks = (u64, u64, u64);

/// Values of room a tokeniser's output needs past one for every two bytes of text.
pub(super) const SLACK: usize = 3;

/// Bytes [`chunked_values`] reads from a window's start: the window, 8 bytes from any of its
/// positions (every value's first eight digits are read as a word), and the rest of a value
/// of up to 15 digits begun in its first [`FIRST`] bytes.
const SPAN: usize = 72;
const _: () = assert!(SPAN >= 64 + 8 && SPAN >= FIRST as usize + 16);

/// The values starting in a window's first `FIRST` bytes are read from it; the next window
/// starts at the first value after them, which lies within the 64 bytes as long as values
/// have at most 8 digits (as in every snapshot of fewer than 14M nodes), and is otherwise
/// read by the value-by-value loop.
const FIRST: u32 = 54;

/// Where a window's values start and end: byte offsets in the window, in groups of eight.
/// A window has at most 32 values (each takes a digit and a separator).
type Offsets = [u32; 32];

/// Reads the values of `text[i..]` a 64-byte window at a time into `out[k..]`, while
/// [`SPAN`] bytes are left and the text is plain V8 output (`digits ','` or `digits '\n' ','`,
/// fewer than 16 digits). Returns where it stopped, at the start of a value, and the new `k`.
///
/// Each window starts at a value, so a value's start is a digit after a non-digit and its
/// end a digit before one, with no state carried from the window before. `classify` makes
/// the masks of 64 bytes; `convert` writes the value of the first `(end - start + 1).min(8)`
/// digits for each of the first `count` of `starts` and `ends` (the longer values are
/// finished here), and may write up to three values more: `out` has [`SLACK`] values of room
/// past the text's.
///
/// The offsets are taken eight at a time whatever the count, so the loop's branches follow
/// how many values a window holds, which changes little from one window to the next (a loop
/// per value mispredicted its end once a window); offsets past the count are 0 (or an
/// earlier window's), still places `convert` may read a word at. Values of 9 digits or more
/// are found from the digit mask (a run of nine), not value by value. With the function
/// compiled for BMI1 too (`blsr`, and `tzcnt` without a check for zero), per value on a
/// 300 MB snapshot's arrays, best of runs alternated side by side: `nodes` 2.94 -> 2.56 ns,
/// `edges` 3.17 -> 2.99 ns. Either change alone was slower than neither.
#[inline(always)]
fn chunked_values(
    classify: impl Fn(&[u8; 64]) -> Masks,
    convert: impl Fn(&[u8; SPAN], &Offsets, &Offsets, usize, &mut [u64]),
    text: &[u8],
    mut i: usize,
    out: &mut [u64],
    mut k: usize,
) -> (usize, usize) {
    use super::bulk::{POW10, eight_digits};
    let n = text.len();
    let mut at: Offsets = [0; 32];
    let mut end: Offsets = [0; 32];
    while n >= SPAN && i <= n - SPAN {
        let window: &[u8; SPAN] = text[i..i + SPAN].try_into().expect("SPAN bytes");
        let (d, c, l) = classify(window[..64].try_into().expect("64 bytes"));
        let starts = d & !(d << 1);
        let later = starts & (!0 << FIRST);
        if starts & 1 == 0 || later == 0 {
            return (i, k);
        }
        // Bytes `..stop` hold whole values and their separators; `stop` starts the next.
        let stop = later.trailing_zeros();
        let part = (1u64 << stop) - 1;
        let after_digit = d << 1;
        let bad = !(d | c | l) // anything else
            | (l & !(c >> 1)) // a newline not followed by a comma
            | (l & !after_digit) // a newline not after a value
            | (c & !(after_digit | (l << 1))); // a comma not after a value
        if bad & part != 0 {
            return (i, k);
        }
        let mut starts = starts & part;
        let mut ends = d & !(d >> 1) & part;
        let count = starts.count_ones() as usize;
        for (a, e) in at.chunks_exact_mut(8).zip(end.chunks_exact_mut(8)) {
            for (a, e) in a.iter_mut().zip(e) {
                *a = starts.trailing_zeros() & 63;
                *e = ends.trailing_zeros() & 63;
                starts &= starts.wrapping_sub(1);
                ends &= ends.wrapping_sub(1);
            }
            if starts == 0 {
                break;
            }
        }
        // Room for whole groups of four: `convert` may write up to three values past the
        // last, which the next window or the careful path overwrites.
        let values = &mut out[k..k + count.next_multiple_of(4)];
        convert(window, &at, &end, count, values);
        // Nine digits in a row: bit j of `nine` is set when bytes j..j+9 all are.
        let two = d & (d >> 1);
        let four = two & (two >> 2);
        let nine = four & (four >> 4) & (d >> 8);
        if nine & part != 0 {
            // Values of 9 digits or more: the first eight digits' value, times the rest.
            for j in 0..count {
                let (a, run) = (at[j] as usize, (end[j] - at[j] + 1) as usize);
                if run > 8 {
                    if run >= 16 {
                        // Keep what comes before it; the careful path reads it.
                        return (i + a, k + j);
                    }
                    let (rest, _) = eight_digits(&window[a + 8..a + 16]);
                    values[j] = values[j] * POW10[run - 8] + rest;
                }
            }
        }
        k += count;
        i += stop as usize;
    }
    (i, k)
}

/// [`super::bulk::tokenize`]'s loop with [`chunked_values`] in front of the value-by-value
/// loop, compiled for AVX2, BMI1 and POPCNT (every processor with AVX2 in use has the other
/// two); `None` where the processor lacks one.
#[cfg(target_arch = "x86_64")]
pub(super) fn tokenize_avx2(
    text: &[u8],
    out: &mut [u64],
    count: &mut usize,
) -> Option<super::bulk::End> {
    if !has_what_the_chunked_loop_needs() {
        return None;
    }
    // SAFETY: the processor has AVX2, BMI1 and POPCNT, checked just above.
    #[allow(unsafe_code)]
    Some(unsafe { avx2::tokenize(text, out, count) })
}

/// Whether the processor has what [`tokenize_avx2`] is compiled for.
#[cfg(target_arch = "x86_64")]
fn has_what_the_chunked_loop_needs() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("popcnt")
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
    use super::{Masks, Offsets, SPAN, chunked_values};

    #[target_feature(enable = "avx2,bmi1,popcnt")]
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
        let convert =
            |window: &[u8; SPAN], at: &Offsets, end: &Offsets, count: usize, out: &mut [u64]| {
                let word = |a: u32| -> i64 {
                    // Offsets are below 64, so the word is within the window: no bounds check.
                    let a = (a & 63) as usize;
                    let w = u64::from_le_bytes(window[a..a + 8].try_into().expect("8 bytes"));
                    (w ^ 0x3030_3030_3030_3030) as i64
                };
                let tens = _mm256_set1_epi16(0x010A); // bytes 10, 1
                let hundreds = _mm256_set1_epi32(0x0001_0064); // words 100, 1
                let ten_thousand = _mm256_set1_epi64x(10_000);
                let (one, eight) = (_mm_set1_epi32(1), _mm_set1_epi32(8));
                let sixty_four = _mm256_set1_epi64x(64);
                let offsets = |o: &[u32]| -> __m128i {
                    let o: &[u32; 4] = o.try_into().expect("4 offsets");
                    // SAFETY: `o` holds 16 bytes; the load has no alignment requirement.
                    unsafe { _mm_loadu_si128(o.as_ptr().cast()) }
                };
                let mut k = 0;
                while k < count {
                    let a = &at[k..k + 4];
                    let x = _mm256_set_epi64x(word(a[3]), word(a[2]), word(a[1]), word(a[0]));
                    // Digits per value, at most eight: end - start + 1.
                    let n = _mm_sub_epi32(offsets(&end[k..k + 4]), offsets(a));
                    let n = _mm_min_epu32(_mm_add_epi32(n, one), eight);
                    // Shifted so the digits end the word: 64 - 8 * len bits.
                    let s = _mm256_sub_epi64(
                        sixty_four,
                        _mm256_slli_epi64(_mm256_cvtepu32_epi64(n), 3),
                    );
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
        V: Fn(&[u8; SPAN], &Offsets, &Offsets, usize, &mut [u64]),
    {
        #[inline(always)]
        fn read(&self, text: &[u8], mut i: usize, out: &mut [u64], k: &mut usize) -> usize {
            loop {
                let (stopped, got) =
                    chunked_values(&self.classify, &self.convert, text, i, out, *k);
                *k = got;
                let near_end = text.len() < SPAN || stopped > text.len() - SPAN;
                // Within a block, one value (of 9 digits or more, in a window of longer
                // values) value by value, then windows again; near its end, all the rest.
                i = simple_values(text, stopped, |v, _| {
                    out[*k] = v;
                    *k += 1;
                    near_end
                });
                if near_end || i == stopped {
                    return i;
                }
            }
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
        if !super::has_what_the_chunked_loop_needs() {
            eprintln!("no AVX2, BMI1 and POPCNT here: the chunked tokeniser is not exercised");
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

    /// Values of 9 to 15 digits, each longer than a window can hold after its first part,
    /// in runs: the windows stop before each and take over again after it.
    #[test]
    fn long_values_in_a_row() {
        for digits in 9..=17u32 {
            for every in 1..=4 {
                let mut text = String::new();
                for k in 0..120u64 {
                    let v = if k % every == 0 { 10u64.pow(digits - 1) + k } else { k * 31 };
                    text.push_str(&v.to_string());
                    text.push_str(if k % 3 == 0 { "\n," } else { "," });
                }
                assert_agrees(text.as_bytes());
                text.push_str("7]");
                assert_agrees(text.as_bytes());
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
