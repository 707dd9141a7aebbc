//! The byte level of the parser: a buffered reader that knows its offset (for error messages),
//! JSON strings, skipping and capturing values, and the integer arrays, read on one thread or
//! tokenised on workers ([`super::bulk`]). It knows nothing of what a snapshot means.

use std::io::{self, Read};
use std::sync::{Mutex, mpsc};

use super::bulk::{self, POW10, describe, eight_digits, is_space};
use super::parse::{ParseError, ParseOptions};
use super::prefault::Ranges;
use super::sink::{Convert, Sink};

const BUFFER_SIZE: usize = 1 << 20;
/// A run of array text for a worker, with its offset in the snapshot.
struct Block {
    base: u64,
    /// The text is `buf[..len]`. The buffer past `len` holds whatever an earlier block left:
    /// keeping it initialised spares zeroing a block's worth of bytes before every read.
    buf: Vec<u8>,
    len: usize,
}

impl Block {
    fn text(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Most fields a node or edge record may have (V8 writes 6 or 7 node fields and 3 edge fields).
pub(super) const MAX_FIELDS: usize = 16;
/// Byte-level reader with its own buffer and position tracking.
pub(super) struct Scanner<R> {
    reader: R,
    buf: Box<[u8]>,
    pub(super) pos: usize,
    len: usize,
    /// Bytes consumed before `buf[0]`.
    base: u64,
    /// Text read ahead by the parallel path and handed back, served before the reader.
    replay: Vec<u8>,
    replay_pos: usize,
    /// The parallel path's buffers, kept from one array to the next.
    pool: BlockPool,
}

/// Texts and value buffers for the parallel path's blocks, allocated once per parse at a
/// fixed size and reused for every block of every array, then freed together with the
/// scanner.
///
/// Why not a fresh buffer per block: glibc serves the first large allocations with `mmap`,
/// but once one is freed it raises its threshold and serves the next ones from its heaps,
/// which it does not give back to the system when they are freed in between the graph's
/// columns. Allocating per block left 25–35 MiB of freed blocks resident after parsing the
/// 214 MB snapshot (its peak RSS was 176 MiB; 159 MiB with one thread). A handful of buffers
/// of fixed size, never grown, stay `mmap`ed and are returned when the parse ends.
#[derive(Default)]
struct BlockPool {
    texts: Vec<Vec<u8>>,
    values: Vec<Vec<u64>>,
    /// The text after a block's last comma, which starts the next block.
    carry: Vec<u8>,
    /// The scanner's `replay` buffer of the array before, to build the next one in.
    spare: Vec<u8>,
}

impl BlockPool {
    /// A text buffer that holds a block without growing (its bytes are stale text, or
    /// nothing yet: see [`Block::buf`]).
    fn text(&mut self, block_size: usize) -> Vec<u8> {
        let mut text = self.texts.pop().unwrap_or_default();
        text.reserve_exact((block_size + BLOCK_SLACK).saturating_sub(text.len()));
        text
    }

    /// A value buffer with room for every value of a text of `block_size` bytes (at least two
    /// bytes per value), so [`bulk::tokenize`] never grows it past that; its contents are stale
    /// values of an earlier block, overwritten, not cleared.
    fn values(&mut self, block_size: usize) -> Vec<u64> {
        let mut values = self.values.pop().unwrap_or_default();
        values.reserve_exact(
            ((block_size + BLOCK_SLACK) / 2 + 1 + super::chunks::SLACK)
                .saturating_sub(values.len()),
        );
        values
    }

    fn give_back(&mut self, text: Vec<u8>, values: Vec<u64>) {
        self.texts.push(text);
        self.values.push(values);
    }
}

/// Room in a block's buffer beyond the block size, for the partial value carried over from
/// the block before.
const BLOCK_SLACK: usize = 4096;

impl<R: Read> Scanner<R> {
    /// A scanner over `reader`, with its own buffer.
    pub(super) fn new(reader: R) -> Self {
        Scanner {
            reader,
            buf: vec![0; BUFFER_SIZE].into_boxed_slice(),
            pos: 0,
            len: 0,
            base: 0,
            replay: Vec::new(),
            replay_pos: 0,
            pool: BlockPool::default(),
        }
    }

    pub(super) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(super) fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
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
                // Emptied, not freed: the pool reuses it (see `BlockPool`).
                self.replay.clear();
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

    pub(super) fn peek(&mut self) -> Result<Option<u8>, ParseError> {
        if self.fill()? { Ok(Some(self.buf[self.pos])) } else { Ok(None) }
    }

    fn eof<T>(&self) -> Result<T, ParseError> {
        self.error("unexpected end of input (the snapshot is truncated)")
    }

    /// Next non-whitespace byte, not consumed.
    pub(super) fn peek_token(&mut self) -> Result<u8, ParseError> {
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

    pub(super) fn expect(&mut self, want: u8) -> Result<(), ParseError> {
        let got = self.peek_token()?;
        if got != want {
            return self.error(format!("expected '{}' but found {}", want as char, describe(got)));
        }
        self.pos += 1;
        Ok(())
    }

    /// After a value inside an array or object: consumes ',' (returns true) or `close`
    /// (returns false).
    pub(super) fn comma_or(&mut self, close: u8) -> Result<bool, ParseError> {
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

    /// Reads a string that is whole in the buffer, has no escapes and is valid UTF-8, as most
    /// of a snapshot's `strings` are (420,000 of them in a 300 MB snapshot, 8 bytes long on
    /// average), and appends it; false, having taken nothing but whitespace, when it cannot:
    /// [`Scanner::read_string`] then reads it.
    pub(super) fn plain_string(&mut self, out: &mut String) -> bool {
        let mut i = self.pos;
        while i < self.len && matches!(self.buf[i], b' ' | b'\n' | b'\r' | b'\t') {
            i += 1;
        }
        self.pos = i;
        if i >= self.len || self.buf[i] != b'"' {
            return false;
        }
        let rest = &self.buf[i + 1..self.len];
        let Some(end) = memchr::memchr2(b'"', b'\\', rest) else { return false };
        if rest[end] != b'"' {
            return false;
        }
        let Ok(text) = std::str::from_utf8(&rest[..end]) else { return false };
        out.push_str(text);
        self.pos = i + end + 2;
        true
    }

    /// Reads a JSON string (the opening quote not yet consumed) and appends its decoded text.
    pub(super) fn read_string(&mut self, out: &mut String) -> Result<(), ParseError> {
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
    pub(super) fn skip_value(
        &mut self,
        mut capture: Option<&mut Vec<u8>>,
    ) -> Result<(), ParseError> {
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
    pub(super) fn read_records<S: Sink>(
        &mut self,
        fields: usize,
        parallel: Option<&ParseOptions>,
        sink: &mut S,
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
            // Plain values straight from the buffer, in the loop the workers use.
            let base = self.offset();
            let mut failed = None;
            let used = bulk::simple_values(&self.buf[self.pos..self.len], 0, |value, at| {
                if field == 0 {
                    record_start = base + at as u64;
                }
                record[field] = value;
                field += 1;
                count += 1;
                if field == fields {
                    field = 0;
                    if let Err(message) = sink.record(&record[..fields]) {
                        failed = Some(message);
                        return false;
                    }
                }
                true
            });
            if let Some(message) = failed {
                return Err(ParseError::Syntax { offset: record_start, message: message.into() });
            }
            self.pos += used;
            // The value the loop stopped at: near the buffer's end, long, spaced, or the last.
            if field == 0 {
                record_start = self.offset();
            }
            let (value, separator) = match self.fast_value() {
                Some(found) => found,
                None => self.slow_value()?,
            };
            record[field] = value;
            field += 1;
            count += 1;
            if field == fields {
                if let Err(message) = sink.record(&record[..fields]) {
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
    /// (see [`bulk`]), and the records of each block converted there too ([`Convert`]). The
    /// reading thread reads blocks, cuts each at a record boundary where it can (just after
    /// a comma in any case), and takes the workers' results in order: a block's converted
    /// records when it starts a record and they passed their checks, its values record by
    /// record otherwise. Text read past the closing `]` goes back to the scanner, so parsing
    /// carries on as if nothing happened.
    fn read_records_parallel<S: Sink>(
        &mut self,
        fields: usize,
        options: &ParseOptions,
        sink: &mut S,
    ) -> Result<u64, ParseError> {
        type Batch<S> = <<S as Sink>::Converter as Convert>::Batch;
        /// A worker's answer: the block's number, its text and values, what tokenising found,
        /// and the block's records converted (with whether that succeeded).
        type Done<B> = (u64, Block, Vec<u64>, bulk::Tokens, B, bool);
        // Blocks handed out and not yet turned into records, whether a worker has them or they
        // wait for an earlier one: each holds its text and its values (about 3 bytes per byte
        // of text), so this bounds what the parallel path holds. Counting only the blocks at
        // the workers let finished blocks pile up behind a slow one (a busy machine), and the
        // allocator kept the pile: 25 MiB of the 214 MB snapshot's peak.
        let pending_max = options.workers + 2;
        // What is left of the scanner's buffer starts the first block.
        let mut carry = std::mem::take(&mut self.pool.carry);
        carry.clear();
        carry.extend_from_slice(&self.buf[self.pos..self.len]);
        let mut carry_base = self.offset();
        self.pos = self.len;
        let mut eof = false;
        let converter = sink.converter();
        // Batches are allocated here, at the size of a block's records, and reused: grown on
        // a worker they would come from that thread's allocator arena.
        let batch_records = (options.block_size + BLOCK_SLACK) / 2 / fields + 1;
        let mut batches: Vec<Batch<S>> = Vec::new();

        // Workers borrow the work queue, so it outlives the scope; the sender moves into the
        // scope and is dropped when it ends, which is what lets the workers stop.
        let (work_tx, work_rx) = mpsc::channel::<(u64, Block, Vec<u64>, Batch<S>, Ranges)>();
        let work_rx = Mutex::new(work_rx);
        std::thread::scope(|scope| {
            let work_tx = work_tx;
            let (done_tx, done_rx) = mpsc::channel::<Done<Batch<S>>>();
            for _ in 0..options.workers {
                let (work_rx, done_tx, converter) = (&work_rx, done_tx.clone(), &converter);
                scope.spawn(move || {
                    loop {
                        let next = work_rx.lock().map(|rx| rx.recv());
                        let Ok(Ok((seq, block, mut values, mut batch, ranges))) = next else {
                            break;
                        };
                        let result = bulk::tokenize(block.text(), &mut values);
                        let whole = result.0 - result.0 % fields;
                        let converted = converter.convert(&values[..whole], &mut batch);
                        // Pages the reading thread will append to after this block's records.
                        ranges.populate();
                        let done = (seq, block, values, result, batch, converted);
                        if done_tx.send(done).is_err() {
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
            let (mut sent, mut next) = (0u64, 0u64);
            let mut ready: std::collections::BTreeMap<u64, Done<Batch<S>>> = Default::default();
            loop {
                while sent - next < pending_max as u64 && !(eof && carry.is_empty()) {
                    let text = self.pool.text(options.block_size);
                    let block =
                        self.next_block(text, &mut carry, &mut carry_base, &mut eof, options)?;
                    let values = self.pool.values(block.len);
                    let batch = batches.pop().unwrap_or_else(|| converter.batch(batch_records));
                    let mut ranges = Ranges::default();
                    sink.ahead(&mut ranges);
                    work_tx
                        .send((sent, block, values, batch, ranges))
                        .expect("workers wait for work");
                    sent += 1;
                }
                if sent == next {
                    return self.eof();
                }
                while !ready.contains_key(&next) {
                    let done = done_rx.recv().expect("a worker answers every block");
                    ready.insert(done.0, done);
                }
                let (_, block, values, (found, result), batch, converted) =
                    ready.remove(&next).expect("just checked");
                next += 1;
                let found_values = &values[..found];
                let mut k = 0;
                // The block's whole records at once, when the worker converted them from the
                // block's start and that is where a record starts.
                if field == 0 && converted && sink.append(&batch) {
                    k = found - found % fields;
                }
                batches.push(batch);
                // Else first the end of a record begun in an earlier block.
                while field > 0 && k < found {
                    record[field] = found_values[k];
                    field += 1;
                    k += 1;
                    if field == fields {
                        field = 0;
                        if let Err(message) = sink.record(&record[..fields]) {
                            let message = message.into();
                            return Err(ParseError::Syntax { offset: record_start, message });
                        }
                    }
                }
                // Then whole records, one by one, where the worker wrote them.
                let mut whole = found_values[k..].chunks_exact(fields);
                for (j, r) in whole.by_ref().enumerate() {
                    if let Err(message) = sink.record(r) {
                        let first = k + j * fields;
                        let at = block.base + bulk::value_offset(block.text(), first) as u64;
                        return Err(ParseError::Syntax { offset: at, message: message.into() });
                    }
                }
                // And the start of a record that goes on in the next block.
                for &value in whole.remainder() {
                    record[field] = value;
                    field += 1;
                }
                if field > 0 && field <= found {
                    // The record goes on in the next block: note where it started while this
                    // block's text is at hand.
                    record_start =
                        block.base + bulk::record_start_from_end(block.text(), field) as u64;
                }
                count += found as u64;
                match result {
                    Ok(None) => self.pool.give_back(block.buf, values),
                    Err((at, message)) => {
                        return Err(ParseError::Syntax { offset: block.base + at as u64, message });
                    }
                    Ok(Some(end)) => {
                        // Hand back everything read past the `]`, in order, and every buffer
                        // to the pool for the next array.
                        let mut rest = std::mem::take(&mut self.pool.spare);
                        rest.clear();
                        rest.extend_from_slice(&block.text()[end..]);
                        self.pool.give_back(block.buf, values);
                        while next + (ready.len() as u64) < sent {
                            let done = done_rx.recv().expect("a worker answers every block");
                            ready.insert(done.0, done);
                        }
                        for (_, (_, later, values, ..)) in std::mem::take(&mut ready) {
                            rest.extend_from_slice(later.text());
                            self.pool.give_back(later.buf, values);
                        }
                        rest.extend_from_slice(&carry);
                        rest.extend_from_slice(&self.replay[self.replay_pos..]);
                        self.pool.carry = std::mem::take(&mut carry);
                        self.base = block.base + end as u64;
                        self.pos = 0;
                        self.len = 0;
                        self.pool.spare = std::mem::replace(&mut self.replay, rest);
                        self.replay_pos = 0;
                        return Ok(count);
                    }
                }
            }
        })
    }

    /// The next block of array text: at least `block_size` bytes where the input has them,
    /// ending just after a comma (or holding the closing `]`, or the end of the input).
    /// `buf` is a buffer to fill, new or reused; its old bytes are overwritten, not cleared.
    fn next_block(
        &mut self,
        mut buf: Vec<u8>,
        carry: &mut Vec<u8>,
        carry_base: &mut u64,
        eof: &mut bool,
        options: &ParseOptions,
    ) -> Result<Block, ParseError> {
        let mut len = carry.len();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf[..len].copy_from_slice(carry);
        carry.clear();
        let base = *carry_base;
        let mut searched: usize = 0;
        loop {
            if len >= options.block_size || *eof {
                // V8 ends every record with a newline: after its last `\n,` the block ends
                // with a whole record, and the next starts one, as the workers' conversion
                // assumes. Other text is cut after its last comma.
                let from = searched.saturating_sub(1);
                let cut = match memchr::memmem::rfind(&buf[from..len], b"\n,") {
                    Some(at) => Some(from + at + 1),
                    None => memchr::memrchr(b',', &buf[searched..len]).map(|at| searched + at),
                };
                if let Some(cut) = cut {
                    let cut = cut + 1;
                    carry.extend_from_slice(&buf[cut..len]);
                    len = cut;
                    break;
                }
                if *eof || memchr::memchr(b']', &buf[searched..len]).is_some() {
                    break;
                }
                searched = len;
            }
            let want = options.block_size.max(1);
            if buf.len() < len + want {
                // Zeroed once per buffer; later blocks reuse the bytes.
                buf.resize(len + want, 0);
            }
            let n = self.read_more(&mut buf[len..len + want])?;
            len += n;
            if n == 0 {
                *eof = true;
            }
        }
        *carry_base = base + len as u64;
        Ok(Block { base, buf, len })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `[text]` read as one-value records on one thread, with the whole text in the buffer
    /// and byte by byte, and on workers in blocks of several sizes: all must agree.
    fn read_all_ways(text: &str) -> Vec<u64> {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let read = |reader: &mut dyn Read, options: Option<&ParseOptions>| {
            let mut got = Vec::new();
            let mut scan = Scanner::new(reader);
            let n = scan
                .read_records(1, options, &mut |r: &[u64]| {
                    got.push(r[0]);
                    Ok(())
                })
                .unwrap();
            assert_eq!(n as usize, got.len());
            got
        };
        let whole = read(&mut text.as_bytes(), None);
        assert_eq!(read(&mut Trickle(text.as_bytes()), None), whole);
        for block_size in [1, 7, 64, 4096] {
            let options =
                ParseOptions { workers: 2, parallel_min_values: 0, block_size, keep_ids: true };
            assert_eq!(read(&mut text.as_bytes(), Some(&options)), whole, "blocks of {block_size}");
        }
        whole
    }

    #[test]
    fn both_paths_read_values_of_every_length() {
        let mut text = String::from("[");
        let mut want = Vec::new();
        for round in 0..40u64 {
            for digits in 1..=20u32 {
                let v = 10u64.pow(digits - 1) + round;
                want.push(v);
                text.push_str(&v.to_string());
                text.push_str(if (round + digits as u64).is_multiple_of(3) { "\n," } else { "," });
            }
        }
        text.push_str("5]");
        want.push(5);
        assert_eq!(read_all_ways(&text), want);
        assert_eq!(read_all_ways("[ 1 ,\n 22 ]"), vec![1, 22]);
    }
}
