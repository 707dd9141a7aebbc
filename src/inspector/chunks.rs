//! A `std::io::Read` over snapshot chunks arriving on a channel, so a synchronous parser can
//! consume a snapshot while it is still being transferred.
//!
//! The async side pushes chunks with a [`ChunkSender`] (it never blocks; the channel is
//! unbounded because the parser reads far faster than V8 writes), the parser reads a
//! [`ChunkReader`] on a blocking thread:
//!
//! ```no_run
//! # use leakcheck::inspector::Inspector;
//! # async fn demo(inspector: &Inspector) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use leakcheck::inspector::chunk_channel;
//!
//! let (tx, reader) = chunk_channel();
//! let parsing = tokio::task::spawn_blocking(move || leakcheck::snapshot::parse(reader));
//! let transfer = inspector
//!     .take_heap_snapshot(&mut |chunk| tx.send(chunk), Duration::from_secs(60))
//!     .await;
//! drop(tx); // end of input for the parser
//! // A failed transfer also fails the parse: report the transfer's error first.
//! let graph = parsing.await??;
//! let transfer = transfer?;
//! println!("{} nodes, {} bytes in {:?}", graph.node_count(), transfer.bytes, transfer.elapsed);
//! # Ok(()) }
//! ```

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, Sender, channel};

/// A new channel: chunks sent on the [`ChunkSender`] are read, in order, from the
/// [`ChunkReader`], which reports end of input once every sender is dropped.
pub fn chunk_channel() -> (ChunkSender, ChunkReader) {
    let (tx, rx) = channel();
    (ChunkSender { tx }, ChunkReader::new(rx))
}

/// The sending half of [`chunk_channel`]. Clone it to send from several places.
#[derive(Clone, Debug)]
pub struct ChunkSender {
    tx: Sender<Vec<u8>>,
}

impl ChunkSender {
    /// Queues a copy of `chunk`. Fails with `BrokenPipe` when the reader is gone (the parser
    /// stopped early, for instance on a syntax error), which ends a snapshot transfer.
    pub fn send(&self, chunk: &[u8]) -> io::Result<()> {
        self.tx
            .send(chunk.to_vec())
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the snapshot reader is gone"))
    }
}

/// Reads the concatenation of the chunks received on a channel; blocks while the channel is
/// empty and returns end of input once every sender is dropped. Read it on a blocking thread
/// (`tokio::task::spawn_blocking`), never on an async one.
#[derive(Debug)]
pub struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    /// Reads the chunks sent on the other end of `rx`.
    pub fn new(rx: Receiver<Vec<u8>>) -> ChunkReader {
        ChunkReader { rx, current: Vec::new(), pos: 0 }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_concatenation_then_eof() {
        let (tx, mut reader) = chunk_channel();
        tx.send(b"{\"a\":").unwrap();
        tx.send(b"").unwrap();
        tx.send(b"12").unwrap();
        tx.send(b"3}").unwrap();
        drop(tx);
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(out, "{\"a\":123}");
    }

    #[test]
    fn small_reads_and_a_reader_on_another_thread() {
        let (tx, mut reader) = chunk_channel();
        let t = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut buf = [0u8; 3];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break out;
                }
                out.extend_from_slice(&buf[..n]);
            }
        });
        for i in 0..100u8 {
            tx.send(&[i; 7]).unwrap();
        }
        drop(tx);
        let out = t.join().unwrap();
        assert_eq!(out.len(), 700);
        assert!(out.chunks(7).enumerate().all(|(i, c)| c.iter().all(|&b| b == i as u8)));
    }

    #[test]
    fn send_fails_once_the_reader_is_gone() {
        let (tx, reader) = chunk_channel();
        drop(reader);
        assert_eq!(tx.send(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
