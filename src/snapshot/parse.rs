//! Streaming `.heapsnapshot` parser (placeholder while the real one lands).
use super::HeapGraph;
use std::io::Read;
use std::path::Path;

/// A snapshot that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{message} at byte {offset}")]
pub struct ParseError {
    /// Byte offset in the snapshot text where the problem was found.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// Parses a snapshot from any reader.
pub fn parse<R: Read>(_reader: R) -> Result<HeapGraph, ParseError> {
    Err(ParseError { offset: 0, message: "not implemented".into() })
}

/// Parses a snapshot file.
pub fn parse_file(path: &Path) -> Result<HeapGraph, ParseError> {
    let f = std::fs::File::open(path)
        .map_err(|e| ParseError { offset: 0, message: e.to_string() })?;
    parse(f)
}
