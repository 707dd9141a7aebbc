//! The pages of the graph's growing columns, made resident by the parse's workers a little
//! ahead of the reading thread's appends.
//!
//! The columns are reserved at the header's counts and filled in order by the reading thread,
//! which sets the pace of a parse; left to itself it takes a page fault for every 4 KiB it
//! appends (37,000 per 300 MB snapshot, about 2.8 µs each on CI's virtual machines: 0.1 s of
//! its time). Asking the kernel to populate a range (`MADV_POPULATE_WRITE`, Linux 5.14) does
//! the same work without the faults, 25% cheaper, and the workers, which wait on the reading
//! thread half the time, do it. At most [`AHEAD`] + [`CHUNK`] bytes past a column's end are
//! asked for, so the columns do not become resident before they are filled (which would
//! raise `diff`'s peak, when one file is parsed beside the previous one's dominator tree).

/// How far past a column's end its pages are asked for, at most.
const AHEAD: usize = 512 << 10;
/// How much of a column one request covers.
const CHUNK: usize = 256 << 10;
const PAGE: usize = 4096;
/// Columns a sink may ask for.
const COLUMNS: usize = 6;

/// Page ranges `(address, length)` for a worker to populate, as asked by [`Ahead::column`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Ranges {
    ranges: [(usize, usize); COLUMNS],
    len: usize,
}

impl Ranges {
    /// Makes the ranges' pages resident, for writing. Errors are ignored: this only saves
    /// page faults, and a kernel without the call (before 5.14) or a range the column has
    /// since left (it moved when grown past a corrupt header's count) is no harm.
    pub(super) fn populate(&self) {
        for &(address, length) in &self.ranges[..self.len] {
            populate(address, length);
        }
    }
}

/// Up to where each column's pages were asked for, by the column's slot in its sink.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    asked: [usize; COLUMNS],
}

impl Ahead {
    /// Adds the next range of `column` to `out` when less than [`AHEAD`] bytes past its end
    /// have been asked for.
    pub(super) fn column<T>(&mut self, slot: usize, column: &Vec<T>, out: &mut Ranges) {
        let start = column.as_ptr() as usize;
        let end = start + column.len() * size_of::<T>();
        let reserved = start + column.capacity() * size_of::<T>();
        let asked = &mut self.asked[slot];
        if *asked < end || *asked > reserved {
            // The first request, or the appends overtook the requests (or the column moved):
            // on from the first page not yet written.
            *asked = end.next_multiple_of(PAGE);
        }
        if *asked >= reserved || *asked > end + AHEAD || out.len == COLUMNS {
            return;
        }
        let to = (*asked + CHUNK).min(reserved);
        out.ranges[out.len] = (*asked, to - *asked);
        out.len += 1;
        *asked = to;
    }
}

#[cfg(target_os = "linux")]
fn populate(address: usize, length: usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Set when the kernel does not know the call, which then is not made again.
    static UNKNOWN: AtomicBool = AtomicBool::new(false);
    if UNKNOWN.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: `MADV_POPULATE_WRITE` faults pages in as a write would, without writing: no
    // byte of memory changes, present pages are left as they are and absent ones come in
    // zeroed, so it races with nothing the reading thread does in the same pages. The range
    // is the spare capacity of a column the parse owns; should the column have moved since,
    // the call fails or populates pages that are ours and unchanged, never more.
    #[allow(unsafe_code)]
    let done =
        unsafe { nix::libc::madvise(address as *mut _, length, nix::libc::MADV_POPULATE_WRITE) };
    if done != 0 && std::io::Error::last_os_error().raw_os_error() == Some(nix::libc::EINVAL) {
        UNKNOWN.store(true, Ordering::Relaxed);
    }
}

#[cfg(not(target_os = "linux"))]
fn populate(_: usize, _: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests start at the first page past the written part, stay within [`AHEAD`] of it
    /// and within the reservation, and begin again past the end when the appends overtake
    /// them.
    #[test]
    fn ranges_stay_ahead_of_the_appends_and_inside_the_reservation() {
        let mut column: Vec<u32> = Vec::with_capacity(1 << 20);
        let (start, reserved) = (column.as_ptr() as usize, column.as_ptr() as usize + (4 << 20));
        let mut ahead = Ahead::default();
        let mut asked = Vec::new();
        for _ in 0..40 {
            let mut out = Ranges::default();
            ahead.column(0, &column, &mut out);
            let end = start + column.len() * 4;
            for &(address, length) in &out.ranges[..out.len] {
                assert!(address >= end && address <= end + AHEAD, "{address} past {end}");
                assert!(address.is_multiple_of(PAGE) && address + length <= reserved);
                asked.push((address, length));
            }
            out.populate();
            column.extend(std::iter::repeat_n(7, 20_000));
        }
        assert!(asked.len() > 5, "{asked:?}");
        // In order, and never the same page twice.
        assert!(asked.windows(2).all(|w| w[1].0 >= w[0].0 + w[0].1));
        assert!(column.iter().all(|&v| v == 7));
    }

    /// A column filled to its reservation asks for nothing more.
    #[test]
    fn a_full_column_asks_for_nothing() {
        let column: Vec<u8> = vec![1; 100];
        let mut out = Ranges::default();
        Ahead::default().column(0, &column, &mut out);
        assert_eq!(out.len, 0);
    }
}
