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
}
