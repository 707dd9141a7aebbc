//! Streaming `.heapsnapshot` parser: reads the JSON text once, from any [`Read`], straight into
//! a [`HeapGraph`], never holding the text whole.
//!
//! The bulk of a snapshot is two arrays of unsigned integers (`nodes`, `edges`) and one array of
//! strings, so the parser is a small hand-written scanner with a tight loop for integer arrays;
//! only the small `snapshot` header goes through serde_json. Field layouts are read from
//! `snapshot.meta`, never assumed (Node 20 writes 7 node fields, newer V8 6). Top-level keys are
//! expected in V8's order (`snapshot` before `nodes` and `edges`), which every runtime writes;
//! unknown keys are skipped.

use super::bulk::{self, POW10, describe, eight_digits, is_space};
use super::graph::{EdgeKind, HeapGraph, MAX_NODES, NodeKind, SnapshotInfo};
use serde::Deserialize;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Mutex, mpsc};

/// A snapshot that could not be read: what is wrong and the byte offset where it was found.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The reader failed.
    #[error("could not read the snapshot: {0}")]
    Io(#[from] io::Error),
    /// The input has no text at all (an empty file, or nothing was sent).
    #[error("the snapshot is empty")]
    Empty,
    /// The text is not a well-formed heap snapshot.
    #[error("{message} at byte {offset}")]
    Syntax {
        /// Byte offset into the snapshot text.
        offset: u64,
        /// What is wrong, e.g. "unexpected end of input (the snapshot is truncated)".
        message: String,
    },
}

impl ParseError {
    /// The byte offset of a syntax error, if this is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            ParseError::Syntax { offset, .. } => Some(*offset),
            ParseError::Empty => Some(0),
            ParseError::Io(_) => None,
        }
    }
}

/// Parses a snapshot from any reader (a file, or the concatenated chunks of a CDP stream).
///
/// The reader is buffered internally; passing a `BufReader` is harmless but not needed.
pub fn parse<R: Read>(reader: R) -> Result<HeapGraph, ParseError> {
    parse_with(reader, &ParseOptions::default())
}

/// How the parser may use threads. The defaults suit every caller; tests use tiny blocks to
/// exercise the parallel path on small inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Threads that turn the integer arrays' text into numbers, besides the reading thread.
    /// 0 reads everything on the calling thread.
    pub workers: usize,
    /// Arrays with fewer values than this (by the header's counts) are read on the calling
    /// thread: starting threads costs more than it saves.
    pub parallel_min_values: u64,
    /// Bytes per block handed to a worker.
    pub block_size: usize,
    /// Keep the node ids. Only comparing snapshots needs them; a summary of one snapshot
    /// saves 4 bytes per node without them ([`HeapGraph::id`] then answers 0).
    pub keep_ids: bool,
}

impl ParseOptions {
    /// The options for the parallel path, if an array of `values` values should take it.
    fn bulk_for(&self, values: u64) -> Option<&ParseOptions> {
        (self.workers > 0 && values >= self.parallel_min_values).then_some(self)
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ParseOptions {
            workers: if cores > 1 { cores.min(3) } else { 0 },
            parallel_min_values: 1 << 21,
            block_size: 1 << 20,
            keep_ids: true,
        }
    }
}

/// [`parse`] with explicit threading options.
pub fn parse_with<R: Read>(reader: R, options: &ParseOptions) -> Result<HeapGraph, ParseError> {
    Parser::new(reader, options.clone()).run()
}

/// Parses a snapshot file.
pub fn parse_file(path: &Path) -> Result<HeapGraph, ParseError> {
    let file = std::fs::File::open(path)?;
    parse(file)
}

const BUFFER_SIZE: usize = 1 << 20;
/// A run of array text for a worker, with its offset in the snapshot.
struct Block {
    base: u64,
    text: Vec<u8>,
}

/// Most fields a node or edge record may have (V8 writes 6 or 7 node fields and 3 edge fields).
const MAX_FIELDS: usize = 16;
/// Upper bound on what the header's counts may pre-reserve, so a corrupt header claiming
/// billions of nodes cannot make us allocate before the data proves it.
const MAX_RESERVE: usize = 1 << 24;

/// Byte-level reader with its own buffer and position tracking.
struct Scanner<R> {
    reader: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// Bytes consumed before `buf[0]`.
    base: u64,
    /// Text read ahead by the parallel path and handed back, served before the reader.
    replay: Vec<u8>,
    replay_pos: usize,
}

impl<R: Read> Scanner<R> {
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError::Syntax { offset: self.offset(), message: message.into() })
    }

    /// Refills the buffer; returns false at end of input.
    fn fill(&mut self) -> Result<bool, ParseError> {
        if self.pos < self.len {
            return Ok(true);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        if self.replay_pos < self.replay.len() {
            let n = (self.replay.len() - self.replay_pos).min(self.buf.len());
            self.buf[..n].copy_from_slice(&self.replay[self.replay_pos..self.replay_pos + n]);
            self.replay_pos += n;
            self.len = n;
            if self.replay_pos == self.replay.len() {
                self.replay = Vec::new();
                self.replay_pos = 0;
            }
            return Ok(true);
        }
        loop {
            match self.reader.read(&mut self.buf) {
                Ok(n) => {
                    self.len = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, ParseError> {
        if self.fill()? { Ok(Some(self.buf[self.pos])) } else { Ok(None) }
    }

    fn eof<T>(&self) -> Result<T, ParseError> {
        self.error("unexpected end of input (the snapshot is truncated)")
    }

    /// Next non-whitespace byte, not consumed.
    fn peek_token(&mut self) -> Result<u8, ParseError> {
        loop {
            if !self.fill()? {
                return self.eof();
            }
            let b = self.buf[self.pos];
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Ok(b);
            }
        }
    }

    fn expect(&mut self, want: u8) -> Result<(), ParseError> {
        let got = self.peek_token()?;
        if got != want {
            return self.error(format!("expected '{}' but found {}", want as char, describe(got)));
        }
        self.pos += 1;
        Ok(())
    }

    /// After a value inside an array or object: consumes ',' (returns true) or `close`
    /// (returns false).
    fn comma_or(&mut self, close: u8) -> Result<bool, ParseError> {
        let b = self.peek_token()?;
        self.pos += 1;
        match b {
            b',' => Ok(true),
            b if b == close => Ok(false),
            other => {
                self.pos -= 1;
                self.error(format!(
                    "expected ',' or '{}' but found {}",
                    close as char,
                    describe(other)
                ))
            }
        }
    }

    /// Reads a JSON string (the opening quote not yet consumed) and appends its decoded text.
    fn read_string(&mut self, out: &mut String) -> Result<(), ParseError> {
        self.expect(b'"')?;
        let mut pending_high: Option<u16> = None;
        let mut carry = Vec::new();
        loop {
            if !self.fill()? {
                return self.eof();
            }
            let chunk = &self.buf[self.pos..self.len];
            let Some(i) = memchr::memchr2(b'"', b'\\', chunk) else {
                push_utf8(out, chunk, &mut pending_high, &mut carry, true);
                self.pos = self.len;
                continue;
            };
            push_utf8(out, &chunk[..i], &mut pending_high, &mut carry, false);
            let special = chunk[i];
            self.pos += i + 1;
            if special == b'"' {
                flush_surrogate(out, &mut pending_high);
                return Ok(());
            }
            self.read_escape(out, &mut pending_high)?;
        }
    }

    fn next_byte(&mut self) -> Result<u8, ParseError> {
        if !self.fill()? {
            return self.eof();
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn read_escape(&mut self, out: &mut String, high: &mut Option<u16>) -> Result<(), ParseError> {
        let c = self.next_byte()?;
        let simple = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let mut code: u16 = 0;
                for _ in 0..4 {
                    let h = self.next_byte()?;
                    let digit = match h {
                        b'0'..=b'9' => h - b'0',
                        b'a'..=b'f' => h - b'a' + 10,
                        b'A'..=b'F' => h - b'A' + 10,
                        _ => {
                            self.pos -= 1;
                            return self.error("invalid \\u escape in string");
                        }
                    };
                    code = (code << 4) | digit as u16;
                }
                push_utf16(out, code, high);
                return Ok(());
            }
            _ => {
                self.pos -= 1;
                return self.error(format!("invalid escape '\\{}' in string", c as char));
            }
        };
        flush_surrogate(out, high);
        out.push(simple);
        Ok(())
    }

    /// Skips any JSON value, or copies its text into `capture`.
    fn skip_value(&mut self, mut capture: Option<&mut Vec<u8>>) -> Result<(), ParseError> {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let start = self.peek_token()?;
        if !matches!(start, b'{' | b'[' | b'"') {
            // A scalar: runs until a delimiter.
            loop {
                let Some(b) = self.peek()? else { return Ok(()) };
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(());
                }
                if let Some(c) = capture.as_deref_mut() {
                    c.push(b);
                }
                self.pos += 1;
            }
        }
        loop {
            if !self.fill()? {
                return self.eof();
            }
            let chunk = &self.buf[self.pos..self.len];
            let mut consumed = chunk.len();
            let mut done = false;
            for (i, &b) in chunk.iter().enumerate() {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if depth == 0 {
                            consumed = i + 1;
                            done = true;
                            break;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            consumed = i + 1;
                            done = true;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(c) = capture.as_deref_mut() {
                c.extend_from_slice(&chunk[..consumed]);
            }
            self.pos += consumed;
            if done {
                return Ok(());
            }
        }
    }

    /// Reads an array of unsigned integers, calling `sink` with each value. The sink returns
    /// an error message to abort. This is where parsing time goes: most values are read by
    /// [`Scanner::fast_value`] straight from the buffer, and only values near the end of the
    /// buffer, or unusual text, take the careful byte-by-byte path.
    ///
    /// Values are grouped into records of `fields` values (one node, one edge) and the sink is
    /// called once per record, so it can pick fields by position instead of dispatching on
    /// every value. Returns the number of values read; a trailing partial record is counted but
    /// not passed on (the caller's count check reports it).
    fn read_records(
        &mut self,
        fields: usize,
        parallel: Option<&ParseOptions>,
        mut sink: impl FnMut(&[u64; MAX_FIELDS]) -> Result<(), &'static str>,
    ) -> Result<u64, ParseError> {
        debug_assert!((1..=MAX_FIELDS).contains(&fields));
        self.expect(b'[')?;
        if self.peek_token()? == b']' {
            self.pos += 1;
            return Ok(0);
        }
        if let Some(options) = parallel {
            return self.read_records_parallel(fields, options, sink);
        }
        let mut record = [0u64; MAX_FIELDS];
        let mut field = 0;
        let mut count: u64 = 0;
        // Absolute offset: the buffer may be refilled in the middle of a record.
        let mut record_start = self.offset();
        loop {
            let (value, separator) = match self.fast_value() {
                Some(found) => found,
                None => self.slow_value()?,
            };
            record[field] = value;
            field += 1;
            count += 1;
            if field == fields {
                if let Err(message) = sink(&record) {
                    return Err(ParseError::Syntax {
                        offset: record_start,
                        message: message.into(),
                    });
                }
                field = 0;
                record_start = self.offset();
            }
            if separator == b']' {
                return Ok(count);
            }
        }
    }

    /// [`Scanner::read_records`] with the integer text turned into numbers on worker threads
    /// (see [`bulk`]). The reading thread reads blocks, cuts each just after its last comma,
    /// and assembles the workers' values into records in order. Text read past the closing `]`
    /// goes back to the scanner, so parsing carries on as if nothing happened.
    fn read_records_parallel(
        &mut self,
        fields: usize,
        options: &ParseOptions,
        mut sink: impl FnMut(&[u64; MAX_FIELDS]) -> Result<(), &'static str>,
    ) -> Result<u64, ParseError> {
        type Done = (u64, Block, Vec<u64>, Result<Option<usize>, (usize, String)>);
        // One block per worker plus one being read: each costs its text and its values.
        let in_flight_max = options.workers + 1;
        // What is left of the scanner's buffer starts the first block.
        let mut carry = self.buf[self.pos..self.len].to_vec();
        let mut carry_base = self.offset();
        self.pos = self.len;
        let mut eof = false;

        // Workers borrow the work queue, so it outlives the scope; the sender moves into the
        // scope and is dropped when it ends, which is what lets the workers stop.
        let (work_tx, work_rx) = mpsc::channel::<(u64, Block)>();
        let work_rx = Mutex::new(work_rx);
        std::thread::scope(|scope| {
            let work_tx = work_tx;
            let (done_tx, done_rx) = mpsc::channel::<Done>();
            for _ in 0..options.workers {
                let (work_rx, done_tx) = (&work_rx, done_tx.clone());
                scope.spawn(move || {
                    loop {
                        let next = work_rx.lock().map(|rx| rx.recv());
                        let Ok(Ok((seq, block))) = next else { break };
                        let mut values = Vec::with_capacity(block.text.len() / 4);
                        let result = bulk::tokenize(&block.text, &mut values);
                        if done_tx.send((seq, block, values, result)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(done_tx);

            let mut record = [0u64; MAX_FIELDS];
            let mut field = 0;
            // Where the current record starts, when that is in an earlier block.
            let mut record_start = 0u64;
            let mut count: u64 = 0;
            let (mut sent, mut next, mut in_flight) = (0u64, 0u64, 0usize);
            let mut ready: std::collections::BTreeMap<u64, Done> = Default::default();
            loop {
                while in_flight < in_flight_max && !(eof && carry.is_empty()) {
                    let block = self.next_block(&mut carry, &mut carry_base, &mut eof, options)?;
                    work_tx.send((sent, block)).expect("workers wait for work");
                    sent += 1;
                    in_flight += 1;
                }
                if in_flight == 0 && ready.is_empty() {
                    return self.eof();
                }
                let done = done_rx.recv().expect("a worker answers every block");
                in_flight -= 1;
                ready.insert(done.0, done);
                while let Some((_, block, values, result)) = ready.remove(&next) {
                    next += 1;
                    for (k, &value) in values.iter().enumerate() {
                        record[field] = value;
                        field += 1;
                        if field == fields {
                            field = 0;
                            if let Err(message) = sink(&record) {
                                let at = match (k + 1).checked_sub(fields) {
                                    Some(first) => {
                                        block.base + bulk::value_offset(&block.text, first) as u64
                                    }
                                    None => record_start,
                                };
                                return Err(ParseError::Syntax {
                                    offset: at,
                                    message: message.into(),
                                });
                            }
                        }
                    }
                    if field > 0 && field <= values.len() {
                        // The record goes on in the next block: note where it started while
                        // this block's text is at hand.
                        record_start =
                            block.base + bulk::record_start_from_end(&block.text, field) as u64;
                    }
                    count += values.len() as u64;
                    match result {
                        Ok(None) => {}
                        Err((at, message)) => {
                            return Err(ParseError::Syntax {
                                offset: block.base + at as u64,
                                message,
                            });
                        }
                        Ok(Some(end)) => {
                            // Hand back everything read past the `]`, in order.
                            let mut rest = block.text[end..].to_vec();
                            while in_flight > 0 {
                                let done = done_rx.recv().expect("a worker answers every block");
                                in_flight -= 1;
                                ready.insert(done.0, done);
                            }
                            for (_, (_, later, ..)) in std::mem::take(&mut ready) {
                                rest.extend_from_slice(&later.text);
                            }
                            rest.extend_from_slice(&carry);
                            rest.extend_from_slice(&self.replay[self.replay_pos..]);
                            self.base = block.base + end as u64;
                            self.pos = 0;
                            self.len = 0;
                            self.replay = rest;
                            self.replay_pos = 0;
                            return Ok(count);
                        }
                    }
                }
            }
        })
    }

    /// The next block of array text: at least `block_size` bytes where the input has them,
    /// ending just after a comma (or holding the closing `]`, or the end of the input).
    fn next_block(
        &mut self,
        carry: &mut Vec<u8>,
        carry_base: &mut u64,
        eof: &mut bool,
        options: &ParseOptions,
    ) -> Result<Block, ParseError> {
        let mut text = std::mem::take(carry);
        let base = *carry_base;
        let mut searched = 0;
        loop {
            if text.len() >= options.block_size || *eof {
                if let Some(cut) = memchr::memrchr(b',', &text[searched..]) {
                    let cut = searched + cut + 1;
                    *carry = text[cut..].to_vec();
                    text.truncate(cut);
                    break;
                }
                if *eof || memchr::memchr(b']', &text[searched..]).is_some() {
                    break;
                }
                searched = text.len();
            }
            let want = options.block_size.max(1);
            let start = text.len();
            text.resize(start + want, 0);
            let n = self.read_more(&mut text[start..])?;
            text.truncate(start + n);
            if n == 0 {
                *eof = true;
            }
        }
        *carry_base = base + text.len() as u64;
        Ok(Block { base, text })
    }

    /// Reads raw bytes, from text handed back first, then from the reader.
    fn read_more(&mut self, out: &mut [u8]) -> Result<usize, ParseError> {
        if self.replay_pos < self.replay.len() {
            let n = (self.replay.len() - self.replay_pos).min(out.len());
            out[..n].copy_from_slice(&self.replay[self.replay_pos..self.replay_pos + n]);
            self.replay_pos += n;
            return Ok(n);
        }
        loop {
            match self.reader.read(out) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads `ws* digits ws* (',' | ']')` from the buffer without refilling, when it surely
    /// fits; `None` (nothing consumed) when it does not, or when the text is not that simple.
    #[inline(always)]
    fn fast_value(&mut self) -> Option<(u64, u8)> {
        const FITS: usize = 48;
        let buf = self.buf.get(self.pos..self.len)?;
        if buf.len() < FITS {
            return None;
        }
        let mut i = 0;
        while is_space(buf[i]) {
            i += 1;
            if i > 8 {
                return None;
            }
        }
        let first = i;
        // Up to 8 digits at a time; snapshot values rarely have more than 9.
        let (mut acc, n) = eight_digits(&buf[i..i + 8]);
        i += n;
        if n == 8 {
            let (rest, m) = eight_digits(&buf[i..i + 8]);
            if m == 8 {
                // 16 digits or more: rare enough for the careful path.
                return None;
            }
            acc = acc * POW10[m] + rest;
            i += m;
        }
        if i == first {
            return None;
        }
        while is_space(buf[i]) {
            i += 1;
            if i >= FITS - 1 {
                return None;
            }
        }
        let separator = buf[i];
        if separator != b',' && separator != b']' {
            return None;
        }
        self.pos += i + 1;
        Some((acc, separator))
    }

    /// One value and its separator, byte by byte across buffer refills, with precise errors.
    fn slow_value(&mut self) -> Result<(u64, u8), ParseError> {
        let b = self.peek_token()?;
        if !b.is_ascii_digit() {
            return self.error(format!("expected an unsigned integer but found {}", describe(b)));
        }
        let mut acc: u64 = 0;
        while let Some(b) = self.peek()? {
            if !b.is_ascii_digit() {
                break;
            }
            acc = match acc.checked_mul(10).and_then(|a| a.checked_add((b - b'0') as u64)) {
                Some(a) => a,
                None => return self.error("integer too large"),
            };
            self.pos += 1;
        }
        match self.peek_token()? {
            separator @ (b',' | b']') => {
                self.pos += 1;
                Ok((acc, separator))
            }
            b if b.is_ascii_digit() => self.error("expected ',' between numbers"),
            other => self.error(format!("expected ',' or ']' but found {}", describe(other))),
        }
    }
}

/// `v / n` when `v` is a multiple of `n`, else `None`. The field counts V8 writes (6 and 7
/// node fields) get constant divisors, which compile to multiplications: a division per edge
/// was a measurable share of parse time.
#[inline(always)]
fn exact_div(v: u64, n: u64) -> Option<u64> {
    let q = match n {
        6 => v / 6,
        7 => v / 7,
        n => v / n,
    };
    (q * n == v).then_some(q)
}

/// Appends raw string bytes. V8 writes ASCII only, but other writers (`JSON.stringify`,
/// serde_json) write raw UTF-8, and a read can end inside a character: with `more` (the string
/// goes on past these bytes), a character cut at the end waits in `carry` for the next call.
/// Invalid bytes are kept lossily rather than failing the whole snapshot.
fn push_utf8(
    out: &mut String,
    bytes: &[u8],
    high: &mut Option<u16>,
    carry: &mut Vec<u8>,
    more: bool,
) {
    if bytes.is_empty() && carry.is_empty() {
        return;
    }
    flush_surrogate(out, high);
    let joined;
    let mut bytes = bytes;
    if !carry.is_empty() {
        carry.extend_from_slice(bytes);
        joined = std::mem::take(carry);
        bytes = &joined;
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        out.push_str(s);
        return;
    }
    let keep = if more { cut_char_len(bytes) } else { 0 };
    let (now, later) = bytes.split_at(bytes.len() - keep);
    out.push_str(&String::from_utf8_lossy(now));
    carry.extend_from_slice(later);
}

/// Length of a UTF-8 character cut short at the end of `bytes` (its lead byte and the
/// continuation bytes present), or 0.
fn cut_char_len(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let needed = match bytes[bytes.len() - back] {
            0x80..=0xBF => continue,
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

fn push_utf16(out: &mut String, unit: u16, high: &mut Option<u16>) {
    match unit {
        0xD800..=0xDBFF => {
            flush_surrogate(out, high);
            *high = Some(unit);
        }
        0xDC00..=0xDFFF => match high.take() {
            Some(h) => {
                let c = 0x10000 + (((h as u32) - 0xD800) << 10) + (unit as u32 - 0xDC00);
                out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            None => out.push(char::REPLACEMENT_CHARACTER),
        },
        _ => {
            flush_surrogate(out, high);
            out.push(char::from_u32(unit as u32).unwrap_or(char::REPLACEMENT_CHARACTER));
        }
    }
}

fn flush_surrogate(out: &mut String, high: &mut Option<u16>) {
    if high.take().is_some() {
        out.push(char::REPLACEMENT_CHARACTER);
    }
}

/// `snapshot` as V8 writes it; only the parts leakcheck needs.
#[derive(Deserialize)]
struct RawHeader {
    meta: RawMeta,
    node_count: u64,
    edge_count: u64,
    #[serde(default)]
    root_index: Option<u64>,
    #[serde(default)]
    extra_native_bytes: Option<u64>,
}

#[derive(Deserialize)]
struct RawMeta {
    node_fields: Vec<String>,
    node_types: Vec<serde_json::Value>,
    edge_fields: Vec<String>,
    edge_types: Vec<serde_json::Value>,
}

/// What each node field is used for.
#[derive(Clone, Copy, PartialEq)]
enum NodeField {
    Type,
    Name,
    Id,
    SelfSize,
    EdgeCount,
    Ignored,
}

#[derive(Clone, Copy, PartialEq)]
enum EdgeField {
    Type,
    NameOrIndex,
    ToNode,
    Ignored,
}

/// The resolved layout from `snapshot.meta`.
struct Layout {
    node_fields: Vec<NodeField>,
    edge_fields: Vec<EdgeField>,
    node_kinds: Vec<NodeKind>,
    edge_kinds: Vec<EdgeKind>,
    node_count: u64,
    edge_count: u64,
    root_index: u64,
}

fn type_names(types: &[serde_json::Value], what: &str) -> Result<Vec<String>, String> {
    let Some(serde_json::Value::Array(list)) = types.first() else {
        return Err(format!("snapshot.meta.{what} must start with a list of type names"));
    };
    list.iter()
        .map(|v| {
            v.as_str().map(str::to_owned).ok_or_else(|| format!("a {what} entry is not a string"))
        })
        .collect()
}

impl Layout {
    fn from_header(header: RawHeader, info: &mut SnapshotInfo) -> Result<Layout, String> {
        let meta = header.meta;
        let node_types = type_names(&meta.node_types, "node_types")?;
        let edge_types = type_names(&meta.edge_types, "edge_types")?;
        let node_fields: Vec<NodeField> = meta
            .node_fields
            .iter()
            .map(|f| match f.as_str() {
                "type" => NodeField::Type,
                "name" => NodeField::Name,
                "id" => NodeField::Id,
                "self_size" => NodeField::SelfSize,
                "edge_count" => NodeField::EdgeCount,
                _ => NodeField::Ignored,
            })
            .collect();
        let edge_fields: Vec<EdgeField> = meta
            .edge_fields
            .iter()
            .map(|f| match f.as_str() {
                "type" => EdgeField::Type,
                "name_or_index" => EdgeField::NameOrIndex,
                "to_node" => EdgeField::ToNode,
                _ => EdgeField::Ignored,
            })
            .collect();
        // A field named twice would push two values per node into one column.
        for (i, field) in node_fields.iter().enumerate() {
            if *field != NodeField::Ignored && node_fields[..i].contains(field) {
                return Err(format!(
                    "snapshot.meta.node_fields names {:?} twice",
                    meta.node_fields[i]
                ));
            }
        }
        for required in [NodeField::Type, NodeField::Name, NodeField::Id, NodeField::SelfSize] {
            if !node_fields.contains(&required) {
                return Err("snapshot.meta.node_fields lacks type, name, id or self_size".into());
            }
        }
        if !node_fields.contains(&NodeField::EdgeCount) {
            return Err("snapshot.meta.node_fields lacks edge_count".into());
        }
        for required in [EdgeField::Type, EdgeField::NameOrIndex, EdgeField::ToNode] {
            if !edge_fields.contains(&required) {
                return Err("snapshot.meta.edge_fields lacks type, name_or_index or to_node".into());
            }
        }
        if node_fields.len() > MAX_FIELDS || edge_fields.len() > MAX_FIELDS {
            return Err(format!("snapshot.meta lists more than {MAX_FIELDS} node or edge fields"));
        }
        if header.node_count as usize > MAX_NODES {
            return Err(format!(
                "snapshot has {} nodes, more than leakcheck supports",
                header.node_count
            ));
        }
        if header.edge_count > u32::MAX as u64 {
            return Err(format!(
                "snapshot has {} edges, more than leakcheck supports",
                header.edge_count
            ));
        }
        let root_index = header.root_index.unwrap_or(0);
        let nf = node_fields.len() as u64;
        if header.node_count > 0
            && (!root_index.is_multiple_of(nf) || root_index / nf >= header.node_count)
        {
            return Err(format!("snapshot.root_index {root_index} is not a node"));
        }
        let layout = Layout {
            node_kinds: node_types.iter().map(|t| NodeKind::from_v8_name(t)).collect(),
            edge_kinds: edge_types.iter().map(|t| EdgeKind::from_v8_name(t)).collect(),
            node_fields,
            edge_fields,
            node_count: header.node_count,
            edge_count: header.edge_count,
            root_index: root_index / nf,
        };
        *info = SnapshotInfo {
            node_fields: meta.node_fields,
            edge_fields: meta.edge_fields,
            node_types,
            edge_types,
            extra_native_bytes: header.extra_native_bytes,
        };
        Ok(layout)
    }
}

struct Parser<R> {
    scan: Scanner<R>,
    options: ParseOptions,
    graph: HeapGraph,
    layout: Option<Layout>,
    seen_nodes: bool,
    seen_edges: bool,
    seen_strings: bool,
}

impl<R: Read> Parser<R> {
    fn new(reader: R, options: ParseOptions) -> Self {
        Parser {
            scan: Scanner {
                reader,
                buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
                pos: 0,
                len: 0,
                base: 0,
                replay: Vec::new(),
                replay_pos: 0,
            },
            options,
            graph: HeapGraph::default(),
            layout: None,
            seen_nodes: false,
            seen_edges: false,
            seen_strings: false,
        }
    }

    fn run(mut self) -> Result<HeapGraph, ParseError> {
        // Reader errors (a directory, a dead stream) are reported as they are; only true end
        // of input means the snapshot is empty.
        loop {
            match self.scan.peek()? {
                None => return Err(ParseError::Empty),
                Some(b) if is_space(b) => self.scan.pos += 1,
                Some(_) => break,
            }
        }
        self.scan.expect(b'{')?;
        let mut key = String::new();
        if self.scan.peek_token()? != b'}' {
            loop {
                key.clear();
                self.scan.read_string(&mut key)?;
                self.scan.expect(b':')?;
                match key.as_str() {
                    "snapshot" => self.read_header()?,
                    "nodes" => self.read_nodes()?,
                    "edges" => self.read_edges()?,
                    "strings" => self.read_strings()?,
                    _ => self.scan.skip_value(None)?,
                }
                if !self.scan.comma_or(b'}')? {
                    break;
                }
            }
        } else {
            self.scan.pos += 1;
        }
        if self.scan.peek_token().is_ok() {
            return self.scan.error("unexpected text after the end of the snapshot");
        }
        self.finish()
    }

    fn read_header(&mut self) -> Result<(), ParseError> {
        if self.layout.is_some() {
            // A second header could change the counts the nodes were checked against.
            return self.scan.error("`snapshot` appears twice");
        }
        let start = self.scan.offset();
        let mut text = Vec::new();
        self.scan.skip_value(Some(&mut text))?;
        let header: RawHeader = serde_json::from_slice(&text).map_err(|e| ParseError::Syntax {
            offset: start,
            message: format!("invalid snapshot header: {e}"),
        })?;
        let layout = Layout::from_header(header, &mut self.graph.info)
            .map_err(|message| ParseError::Syntax { offset: start, message })?;
        let g = &mut self.graph;
        let nodes = (layout.node_count as usize).min(MAX_RESERVE);
        let edges = (layout.edge_count as usize).min(MAX_RESERVE * 4);
        g.kinds.reserve_exact(nodes);
        g.names.reserve_exact(nodes);
        g.ids.reserve_exact(nodes);
        g.self_sizes.reserve_exact(nodes);
        g.first_edge.reserve_exact(nodes + 1);
        g.edge_targets.reserve_exact(edges);
        g.edge_names.reserve_exact(edges);
        g.root = layout.root_index as u32;
        self.layout = Some(layout);
        Ok(())
    }

    fn read_nodes(&mut self) -> Result<(), ParseError> {
        if self.seen_nodes {
            return self.scan.error("`nodes` appears twice");
        }
        self.seen_nodes = true;
        let Some(layout) = &self.layout else {
            return self.scan.error("`nodes` comes before the `snapshot` header");
        };
        let at = |f: NodeField| layout.node_fields.iter().position(|&x| x == f).expect("checked");
        let (type_at, name_at, id_at) =
            (at(NodeField::Type), at(NodeField::Name), at(NodeField::Id));
        let (size_at, edges_at) = (at(NodeField::SelfSize), at(NodeField::EdgeCount));
        let kinds = &layout.node_kinds;
        let nf = layout.node_fields.len();
        let node_count = layout.node_count;
        let keep_ids = self.options.keep_ids;
        let g = &mut self.graph;
        if !keep_ids {
            g.ids = Vec::new();
        }
        g.first_edge.push(0);
        let mut edge_total: u64 = 0;
        let mut nodes_seen: u64 = 0;
        let parallel = self.options.bulk_for(node_count * nf as u64);
        let values = self.scan.read_records(nf, parallel, |r| {
            if nodes_seen >= node_count {
                return Err("more nodes than snapshot.node_count");
            }
            nodes_seen += 1;
            g.kinds.push(*kinds.get(r[type_at] as usize).ok_or("node type out of range")?);
            g.names.push(u32::try_from(r[name_at]).map_err(|_| "node name index too large")?);
            let id = u32::try_from(r[id_at]).map_err(|_| "node id too large")?;
            if keep_ids {
                g.ids.push(id);
            }
            let size = r[size_at];
            if size >= u32::MAX as u64 {
                g.big_self_sizes.push((g.self_sizes.len() as u32, size));
                g.self_sizes.push(u32::MAX);
            } else {
                g.self_sizes.push(size as u32);
            }
            edge_total += r[edges_at];
            if edge_total > u32::MAX as u64 {
                return Err("edge counts overflow");
            }
            g.first_edge.push(edge_total as u32);
            Ok(())
        })?;
        if values != node_count * nf as u64 {
            return self.scan.error(format!(
                "`nodes` has {values} values but snapshot.node_count {node_count} × {nf} fields = {}",
                node_count * nf as u64
            ));
        }
        if edge_total != layout.edge_count {
            return self.scan.error(format!(
                "the nodes' edge counts add up to {edge_total} but snapshot.edge_count is {}",
                layout.edge_count
            ));
        }
        Ok(())
    }

    fn read_edges(&mut self) -> Result<(), ParseError> {
        if self.seen_edges {
            return self.scan.error("`edges` appears twice");
        }
        self.seen_edges = true;
        let Some(layout) = &self.layout else {
            return self.scan.error("`edges` comes before the `snapshot` header");
        };
        let at = |f: EdgeField| layout.edge_fields.iter().position(|&x| x == f).expect("checked");
        let (type_at, name_at, to_at) =
            (at(EdgeField::Type), at(EdgeField::NameOrIndex), at(EdgeField::ToNode));
        let kinds = &layout.edge_kinds;
        let nf = layout.node_fields.len() as u64;
        let node_count = layout.node_count;
        let edge_count = layout.edge_count;
        let ef = layout.edge_fields.len();
        let g = &mut self.graph;
        let mut edges_seen: u64 = 0;
        let parallel = self.options.bulk_for(edge_count * ef as u64);
        let values = self.scan.read_records(ef, parallel, |r| {
            if edges_seen >= edge_count {
                return Err("more edges than snapshot.edge_count");
            }
            edges_seen += 1;
            let kind = *kinds.get(r[type_at] as usize).ok_or("edge type out of range")?;
            let name = u32::try_from(r[name_at]).map_err(|_| "edge name index too large")?;
            let target = match exact_div(r[to_at], nf) {
                Some(ordinal) if ordinal < node_count => ordinal as u32,
                _ => return Err("edge to_node is not a node"),
            };
            g.edge_targets.push(HeapGraph::pack_target(kind, target));
            g.edge_names.push(name);
            Ok(())
        })?;
        if values != edge_count * ef as u64 {
            return self.scan.error(format!(
                "`edges` has {values} values but snapshot.edge_count {edge_count} × {ef} fields = {}",
                edge_count * ef as u64
            ));
        }
        Ok(())
    }

    fn read_strings(&mut self) -> Result<(), ParseError> {
        if self.seen_strings {
            return self.scan.error("`strings` appears twice");
        }
        self.seen_strings = true;
        self.scan.expect(b'[')?;
        if self.scan.peek_token()? == b']' {
            self.scan.pos += 1;
            return Ok(());
        }
        loop {
            self.scan.read_string(self.graph.strings.text_mut())?;
            if !self.graph.strings.close_string() {
                return self.scan.error("strings add up to more than 4 GiB");
            }
            if !self.scan.comma_or(b']')? {
                return Ok(());
            }
        }
    }

    /// Checks what can only be checked once everything is read: sections present, and every
    /// name index resolving to a string.
    fn finish(mut self) -> Result<HeapGraph, ParseError> {
        let end = self.scan.offset();
        let fail = |message: String| Err(ParseError::Syntax { offset: end, message });
        if self.layout.is_none() {
            return fail("the snapshot has no `snapshot` header".into());
        }
        if !self.seen_nodes || !self.seen_edges {
            return fail("the snapshot has no `nodes` or `edges` section".into());
        }
        if !self.seen_strings {
            return fail("the snapshot has no `strings` section".into());
        }
        let g = &mut self.graph;
        if g.kinds.is_empty() {
            // V8 always writes at least the root; without it no analysis has a start.
            return fail("the snapshot has no nodes".into());
        }
        let strings = g.strings.len() as u32;
        if let Some(n) = g.names.iter().position(|&s| s >= strings) {
            return fail(format!("node {n} names string {} of {strings}", g.names[n]));
        }
        for e in 0..g.edge_targets.len() as u32 {
            if !g.edge_kind(e).has_index_name() && g.edge_names[e as usize] >= strings {
                return fail(format!(
                    "edge {e} names string {} of {strings}",
                    g.edge_names[e as usize]
                ));
            }
        }
        g.kinds.shrink_to_fit();
        g.names.shrink_to_fit();
        g.ids.shrink_to_fit();
        g.self_sizes.shrink_to_fit();
        g.first_edge.shrink_to_fit();
        g.edge_targets.shrink_to_fit();
        g.edge_names.shrink_to_fit();
        Ok(self.graph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const TINY: &str = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"]},"node_count":3,"edge_count":2,"trace_function_count":0},
"nodes":[9,0,1,0,1,0,0
,3,1,3,32,1,0,0
,2,2,5,16,0,0,0],
"edges":[2,3,7
,1,0,14],
"trace_function_infos":[],"trace_tree":[],"samples":[],"locations":[],
"strings":["","Task","hello \"w\" \u00e9\ud83d\ude00","tasks"]}"#;

    fn parse_str(s: &str) -> Result<HeapGraph, ParseError> {
        parse(s.as_bytes())
    }

    #[test]
    fn parses_a_small_snapshot() {
        let g = parse_str(TINY).unwrap();
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.edge_count(), 2);
        assert_eq!(g.kind(1), NodeKind::Object);
        assert_eq!(g.name(1), "Task");
        assert_eq!(g.id(2), 5);
        assert_eq!(g.self_size(1), 32);
        assert_eq!(g.edges(0), 0..1);
        assert_eq!(g.edge_target(0), 1);
        assert_eq!(g.edge_kind(0), EdgeKind::Property);
        assert_eq!(g.edge_name(0), super::super::EdgeName::Name("tasks"));
        assert_eq!(g.edge_kind(1), EdgeKind::Element);
        assert_eq!(g.edge_name(1), super::super::EdgeName::Index(0));
        assert_eq!(g.name(2), "hello \"w\" é😀");
    }

    /// A reader that hands out one byte at a time, like the worst possible chunking.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn chunk_boundaries_anywhere_give_the_same_graph() {
        let whole = parse_str(TINY).unwrap();
        let trickled = parse(Trickle(TINY.as_bytes())).unwrap();
        assert_eq!(whole.ids, trickled.ids);
        assert_eq!(whole.edge_targets, trickled.edge_targets);
        assert_eq!(whole.name(2), trickled.name(2));
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset() {
        for cut in 0..TINY.len() - 1 {
            let err = parse_str(&TINY[..cut]).expect_err("truncated snapshot must fail");
            let offset = err.offset().expect("syntax error");
            assert!(offset <= cut as u64, "offset {offset} past the cut {cut}");
        }
    }

    #[test]
    fn counts_that_disagree_are_errors() {
        let bad = TINY.replace("\"node_count\":3", "\"node_count\":4");
        let err = parse_str(&bad).unwrap_err().to_string();
        assert!(err.contains("node_count"), "{err}");
        let bad = TINY.replace(",1,0,14]", ",1,0,15]");
        let err = parse_str(&bad).unwrap_err().to_string();
        assert!(err.contains("to_node"), "{err}");
    }

    #[test]
    fn garbage_in_numbers_is_an_error_at_its_byte() {
        let bad = TINY.replace("[9,0,1", "[9,x,1");
        let err = parse_str(&bad).unwrap_err();
        assert_eq!(err.offset(), Some(bad.find("x,1").unwrap() as u64));
    }

    /// Options that send even the smallest arrays through the parallel path, in tiny blocks.
    fn tiny_blocks(block_size: usize) -> ParseOptions {
        ParseOptions { workers: 2, parallel_min_values: 0, block_size, keep_ids: true }
    }

    #[test]
    fn ids_can_be_left_out() {
        let options = ParseOptions { keep_ids: false, ..ParseOptions::default() };
        let g = parse_with(TINY.as_bytes(), &options).unwrap();
        assert_eq!(g.node_count(), 3);
        assert_eq!(g.id(2), 0);
        assert_eq!(g.self_size(1), 32);
        assert!(g.heap_bytes() < parse_str(TINY).unwrap().heap_bytes());
    }

    #[test]
    fn the_parallel_path_gives_the_same_graph() {
        let whole = parse_str(TINY).unwrap();
        for block in [1, 2, 3, 5, 8, 64, 4096] {
            let g = parse_with(TINY.as_bytes(), &tiny_blocks(block)).unwrap();
            assert_eq!(whole.ids, g.ids, "block {block}");
            assert_eq!(whole.kinds, g.kinds);
            assert_eq!(whole.first_edge, g.first_edge);
            assert_eq!(whole.edge_targets, g.edge_targets);
            assert_eq!(whole.edge_names, g.edge_names);
            assert_eq!(whole.name(2), g.name(2));
            let trickled = parse_with(Trickle(TINY.as_bytes()), &tiny_blocks(block)).unwrap();
            assert_eq!(whole.edge_targets, trickled.edge_targets);
        }
    }

    #[test]
    fn the_parallel_path_reports_the_same_errors() {
        for block in [1, 3, 16] {
            for cut in 0..TINY.len() - 1 {
                let err = parse_with(&TINY.as_bytes()[..cut], &tiny_blocks(block))
                    .expect_err("truncated snapshot must fail");
                let offset = err.offset().expect("syntax error");
                assert!(offset <= cut as u64, "offset {offset} past the cut {cut}");
            }
            let bad = TINY.replace("[9,0,1", "[9,x,1");
            let err = parse_with(bad.as_bytes(), &tiny_blocks(block)).unwrap_err();
            assert_eq!(err.offset(), Some(bad.find("x,1").unwrap() as u64), "block {block}");
            let bad = TINY.replace(",1,0,14]", ",1,0,15]");
            let err = parse_with(bad.as_bytes(), &tiny_blocks(block)).unwrap_err().to_string();
            assert!(err.contains("to_node"), "{err}");
        }
    }

    #[test]
    fn eight_digits_reads_leading_digits() {
        assert_eq!(eight_digits(b"12345678"), (12_345_678, 8));
        assert_eq!(eight_digits(b"0,1,2,3,"), (0, 1));
        assert_eq!(eight_digits(b"907\n,3,4"), (907, 3));
        assert_eq!(eight_digits(b",1234567"), (0, 0));
        assert_eq!(eight_digits(b"9999999]"), (9_999_999, 7));
        for v in [0u64, 7, 42, 1000, 65535, 1_048_576, 99_999_999] {
            let mut text = v.to_string().into_bytes();
            text.resize(8, b',');
            assert_eq!(eight_digits(&text), (v, v.to_string().len()), "{v}");
        }
    }

    #[test]
    fn long_numbers_and_odd_spacing_parse_the_same() {
        let spaced = TINY.replace("[9,0,1,0,1,0,0", "[ 9 , 0 ,\t1,  0,1,0,0 ");
        let g = parse_str(&spaced).unwrap();
        assert_eq!(g.id(0), 1);
        let big = TINY.replace(",3,1,3,32,", ",3,1,3,0000000000000000032,");
        assert_eq!(parse_str(&big).unwrap().self_size(1), 32);
    }

    #[test]
    fn six_field_layout_of_newer_v8_is_read_from_meta() {
        let six = TINY
            .replace(
                r#""edge_count","trace_node_id","detachedness"]"#,
                r#""edge_count","detachedness"]"#,
            )
            .replace(
                "[9,0,1,0,1,0,0\n,3,1,3,32,1,0,0\n,2,2,5,16,0,0,0]",
                "[9,0,1,0,1,0,3,1,3,32,1,0,2,2,5,16,0,0]",
            )
            .replace("[2,3,7\n,1,0,14]", "[2,3,6,1,0,12]");
        let g = parse_str(&six).unwrap();
        assert_eq!(g.edge_target(0), 1);
        assert_eq!(g.edge_target(1), 2);
        assert_eq!(g.self_size(1), 32);
    }
}
