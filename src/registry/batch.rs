//! Running one function over the argument records of a batch (`FN_BATCH`, SPEC §3.3).
//!
//! `export!` gives every function a [`RunBatch`] whose loop is compiled together with that function's
//! decoding, call and encoding, so they inline into it. Calling the type-erased [`Invoke`] once per
//! record instead cost ~28 ns per `add` (a function pointer call, and out-of-line reads and writes).
//!
//! [`Invoke`]: super::Invoke

use crate::codec::{ArgReader, Failure, RetWriter};
use crate::heap::Heap;
use crate::layout::BufRef;

/// The records of a batch and what decoding and encoding them needs.
pub struct Rows<'a> {
    /// How many calls.
    pub count: usize,
    /// The argument records, back to back, `stride` bytes apart (a private copy).
    pub args: &'a [u8],
    /// Bytes from one argument record to the next (0 for a function without parameters).
    pub stride: usize,
    /// Size of one argument record.
    pub args_size: usize,
    /// Bytes from one result record to the next.
    pub rstride: usize,
    /// Size of one result record.
    pub result_size: usize,
    /// Scratch for the readers (unused by fixed-size values).
    pub scratch: &'a crate::codec::Scratch,
    /// Borrows of heap ranges (none, for fixed-size values).
    pub borrows: &'a std::cell::RefCell<Vec<crate::codec::reader::Borrow>>,
    /// The connection's heap, for the writers (unused by fixed-size results).
    pub heap: &'a Heap,
    /// Blocks the writers allocate (none, for fixed-size results).
    pub allocated: &'a mut Vec<BufRef>,
}

/// Runs a function once per argument record of `rows`, writing each result record into `results`
/// (`rstride` bytes apart); on failure, the index of the call that failed and why.
pub type RunBatch = fn(&mut Rows<'_>, &mut [u8]) -> Result<(), (usize, Failure)>;

/// The loop of every [`RunBatch`]: `body` is the function's own decode-call-encode, inlined here.
#[inline(always)]
pub fn run_rows<F>(body: F, rows: &mut Rows<'_>, results: &mut [u8]) -> Result<(), (usize, Failure)>
where
    F: Fn(&ArgReader<'_>, &mut RetWriter<'_>) -> Result<(), Failure>,
{
    let (stride, rstride) = (rows.stride, rows.rstride);
    if rows.args.len() < rows.count.saturating_mul(stride) || results.len() < rows.count.saturating_mul(rstride) {
        return Err((0, Failure::bad("batch records shorter than their count")));
    }
    for i in 0..rows.count {
        let record = &rows.args[i * stride..(i + 1) * stride];
        let reader = ArgReader::new(record, rows.args_size, &[], rows.scratch, rows.borrows).map_err(|e| (i, e))?;
        let mut writer =
            RetWriter::new(&mut results[i * rstride..(i + 1) * rstride], rows.result_size, rows.heap, rows.allocated);
        body(&reader, &mut writer).map_err(|e| (i, e))?;
    }
    Ok(())
}
