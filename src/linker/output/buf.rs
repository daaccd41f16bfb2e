//! The mapped output file as disjoint slices that parallel workers write into.

/// A writable view of the output that parallel workers carve into disjoint slices.
pub struct OutBuf {
    pub ptr: *mut u8,
    pub len: usize,
}
// SAFETY: workers only ever touch disjoint ranges (each input section has its own range).
unsafe impl Sync for OutBuf {}
unsafe impl Send for OutBuf {}

impl OutBuf {
    #[allow(clippy::mut_from_ref)]
    pub fn slice(&self, off: u64, len: u64) -> &mut [u8] {
        let (off, len) = (off as usize, len as usize);
        assert!(off + len <= self.len, "output range out of bounds");
        // SAFETY: in bounds (checked above); callers hand out non-overlapping ranges.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(off), len) }
    }

    /// Makes every page of the output writable up front, in parallel: one page fault per 4 KiB
    /// page of a fresh file (allocation, zeroing, the fault's own cost) would otherwise come
    /// one at a time as the workers first write each page. Kernels without
    /// MADV_POPULATE_WRITE (before Linux 5.14) just fault as before.
    pub fn prefault(&self) {
        use rayon::prelude::*;
        const CHUNK: usize = 4 << 20;
        let (base, len) = (self.ptr as usize, self.len);
        (0..len.div_ceil(CHUNK)).into_par_iter().for_each(|i| {
            let start = i * CHUNK;
            let n = CHUNK.min(len - start);
            // SAFETY: the range lies inside the mapping; the advice only faults pages in.
            unsafe {
                libc::madvise(
                    (base + start) as *mut libc::c_void,
                    n,
                    libc::MADV_POPULATE_WRITE,
                );
            }
        });
    }
}
