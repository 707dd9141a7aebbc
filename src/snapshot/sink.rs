//! Where the records of an integer array go: the reading thread's [`Sink`], and the
//! [`Convert`] step the parallel path's workers run on a block's whole records. Kept apart
//! from the scanner, which calls them, and from `records.rs`, which gives them meaning.

use super::prefault::Ranges;

/// Where the records of an integer array go, on the reading thread.
pub(super) trait Sink {
    /// What the parallel path's workers make of a block's whole records.
    type Converter: Convert;
    /// The converter the workers share for this array.
    fn converter(&self) -> Self::Converter;
    /// Takes the next record; an error message stops the parse there.
    fn record(&mut self, r: &[u64]) -> Result<(), &'static str>;
    /// Takes the next records, converted by a worker, or returns false having changed nothing
    /// when a check that spans blocks (too many records, a running total's overflow) fails
    /// in them: the reading thread then hands the block's records to [`Sink::record`] one by
    /// one, which reports the failure where it is.
    fn append(&mut self, batch: &<Self::Converter as Convert>::Batch) -> bool;
    /// The ranges of its columns for a worker to make resident ahead of the appends (see
    /// `snapshot/prefault.rs`); none by default.
    fn ahead(&mut self, _out: &mut Ranges) {}
}

/// The record work a worker does after tokenising a block, so that the reading thread, which
/// sets the pace of parsing, only appends (see docs/speed.md).
pub(super) trait Convert: Sync {
    /// A block's whole records in the sink's columns.
    type Batch: Send;
    /// An empty batch with room for `records` records.
    fn batch(&self, records: usize) -> Self::Batch;
    /// Converts whole records (`values` is a multiple of the record length) into `batch`,
    /// emptied first, assuming the block starts a record. False when a record fails a check:
    /// the reading thread then takes the block record by record, which reports it.
    fn convert(&self, values: &[u64], batch: &mut Self::Batch) -> bool;
}

impl<C: Convert> Convert for &C {
    type Batch = C::Batch;
    fn batch(&self, records: usize) -> C::Batch {
        (**self).batch(records)
    }
    fn convert(&self, values: &[u64], batch: &mut C::Batch) -> bool {
        (**self).convert(values, batch)
    }
}

/// A closure is a sink whose records are all taken on the reading thread.
impl<F: FnMut(&[u64]) -> Result<(), &'static str>> Sink for F {
    type Converter = NoConversion;
    fn converter(&self) -> NoConversion {
        NoConversion
    }
    #[inline(always)]
    fn record(&mut self, r: &[u64]) -> Result<(), &'static str> {
        self(r)
    }
    fn append(&mut self, _: &()) -> bool {
        false
    }
}

/// The converter of a sink that takes every record itself.
pub(super) struct NoConversion;

impl Convert for NoConversion {
    type Batch = ();
    fn batch(&self, _: usize) {}
    fn convert(&self, _: &[u64], _: &mut ()) -> bool {
        false
    }
}
