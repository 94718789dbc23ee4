//! Where a result lies inside one of the caller's buffers: the protocol clients keep spans,
//! not borrows, so the buffers stay theirs to reuse between steps.

/// A byte range of a buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Span {
    /// The range `inner` occupies in `outer`, if it lies inside it.
    #[cfg_attr(not(any(feature = "scep", feature = "est")), allow(dead_code))]
    pub(crate) fn of(outer: &[u8], inner: &[u8]) -> Option<Self> {
        let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
        let end = start.checked_add(inner.len())?;
        (end <= outer.len()).then_some(Self { start, end })
    }

    /// The bytes of `buf` in this range (empty if out of range).
    pub(crate) fn get<'x>(&self, buf: &'x [u8]) -> &'x [u8] {
        buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// Whether the range is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}
