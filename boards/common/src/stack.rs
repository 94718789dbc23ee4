//! Peak stack use by stack painting: at boot the unused part of the stack is filled with a
//! pattern; at the end, the lowest word that no longer holds it marks the deepest use.
//!
//! The board gives the stack's bounds (from its linker script) and the current stack pointer;
//! this is the only module of `board-common` with `unsafe` code (raw reads and writes of the
//! stack region below the live frames).
#![allow(unsafe_code)]

/// The word the unused stack is painted with.
const PAINT: u32 = 0x5AFE_C0DE;
/// Bytes left unpainted just below the stack pointer (the painting function's own frame).
const MARGIN: usize = 256;

/// Paints `[bottom, sp - MARGIN)`. `bottom` must be the lowest address of the stack region
/// and `sp` the current stack pointer: nothing lives below the current frame.
pub fn paint(bottom: usize, sp: usize) {
    let end = sp.saturating_sub(MARGIN) & !3;
    let mut p = (bottom + 3) & !3;
    while p < end {
        // SAFETY: [bottom, sp - MARGIN) is the unused part of the stack region (the caller's
        // bounds): no object lives there, and aligned word writes stay inside it.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Peak stack use in bytes: from `top` down to the lowest word that no longer holds the
/// paint of [`paint`] (call it with the same `bottom`).
pub fn peak(bottom: usize, top: usize) -> usize {
    let mut p = (bottom + 3) & !3;
    // SAFETY: reads aligned words of the stack region from its bottom up; the scan stops at
    // the first overwritten word, at or below the current frame.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top.saturating_sub(p)
}

/// Whether `peak` is within `ceiling`; prints the verdict line either way. Each image holds
/// its measured peak to a ceiling a little above it, so a change that deepens the stack fails
/// the board run in CI (issue 14: the images' stack came down from 27-33 KiB).
pub fn within(peak: usize, ceiling: usize) -> bool {
    if peak > ceiling {
        crate::println!("peak stack {} bytes is over this image's ceiling of {} bytes", peak, ceiling);
        false
    } else {
        crate::println!("peak stack within this image's ceiling of {} bytes", ceiling);
        true
    }
}
