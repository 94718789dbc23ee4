//! HAL: the state store in NOR flash.
//!
//! The board hands over the flash partition set aside for enrollment state (offset 0 is its
//! start), as an `embedded-storage` [`NorFlash`]. Each store slot is a run of erase sectors
//! large enough for the largest lifecycle record: a header (the record's length and its
//! complement, in one write unit), then the record. A store erases the slot, writes the
//! record, and writes the header last, so a write cut by power loss leaves a header that is
//! erased or does not check: the slot reads as empty, and the other slot of the profile's
//! A/B pair still holds the previous record (the records are checksummed as well).
//!
//! Wear: one erase per record written. The runner writes a few records per enrollment or
//! renewal (and one per SCEP PENDING poll), so a sector rated for 10 000 cycles lasts for
//! decades of yearly renewals.

use embedded_enroll::hal::{ErrorKind, ErrorType, StateStore};
use embedded_enroll::lifecycle::record::MAX_RECORD_LEN;
use embedded_storage::nor_flash::NorFlash;

/// Bytes read or written at a time: a multiple of the flash's read and write units.
const CHUNK: usize = 256;
/// The header: the record's length and its complement (little-endian `u32`s).
const HEADER: usize = 8;

/// [`StateStore`] slots in a NOR flash partition.
#[derive(Debug)]
pub struct FlashStore<F> {
    flash: F,
    /// Bytes per slot (whole erase sectors).
    slot_size: u32,
    slots: u8,
    /// The header's bytes, rounded up to the write unit.
    header: usize,
}

impl<F: NorFlash> FlashStore<F> {
    /// A store over the whole of `flash`: as many slots as it holds of the sectors one
    /// [`MAX_RECORD_LEN`] record needs (two 16 KiB slots in 32 KiB with 8 KiB sectors). At
    /// least two, and the flash's read and write units must divide 256 bytes.
    pub fn new(flash: F) -> Result<Self, ErrorKind> {
        let unit = F::WRITE_SIZE.max(F::READ_SIZE);
        if unit == 0 || !CHUNK.is_multiple_of(unit) || F::ERASE_SIZE == 0 || !F::ERASE_SIZE.is_multiple_of(unit) {
            return Err(ErrorKind::Unsupported);
        }
        let header = HEADER.next_multiple_of(unit);
        let slot_size = (header + MAX_RECORD_LEN).next_multiple_of(F::ERASE_SIZE);
        let slots = u8::try_from(flash.capacity() / slot_size).unwrap_or(u8::MAX);
        if slots < 2 {
            return Err(ErrorKind::Storage);
        }
        let slot_size = u32::try_from(slot_size).map_err(|_| ErrorKind::Unsupported)?;
        Ok(Self { flash, slot_size, slots, header })
    }

    /// Where `slot` begins.
    fn start(&self, slot: u8) -> Result<u32, ErrorKind> {
        if slot >= self.slots {
            return Err(ErrorKind::NotFound);
        }
        Ok(u32::from(slot) * self.slot_size)
    }
}

fn flash_error<E>(_: E) -> ErrorKind {
    ErrorKind::Storage
}

/// `n` as a flash offset.
fn offset(n: usize) -> Result<u32, ErrorKind> {
    u32::try_from(n).map_err(|_| ErrorKind::Storage)
}

impl<F> ErrorType for FlashStore<F> {
    type Error = ErrorKind;
}

impl<F: NorFlash> StateStore for FlashStore<F> {
    fn slots(&self) -> u8 {
        self.slots
    }

    fn capacity(&self) -> usize {
        self.slot_size as usize - self.header
    }

    fn load(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, ErrorKind> {
        let start = self.start(slot)?;
        let mut buf = [0u8; CHUNK];
        let head = buf.get_mut(..self.header).ok_or(ErrorKind::Other)?;
        self.flash.read(start, head).map_err(flash_error)?;
        let word = |at: usize| head.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map(u32::from_le_bytes);
        let (Some(len), Some(check)) = (word(0), word(4)) else { return Err(ErrorKind::Other) };
        // Erased, or a write cut before its last step: an empty slot.
        if check != !len || len as usize > self.capacity() {
            return Ok(0);
        }
        let out = out.get_mut(..len as usize).ok_or(ErrorKind::BufferTooSmall)?;
        let mut at = start + offset(self.header)?;
        for part in out.chunks_mut(CHUNK) {
            let padded = buf.get_mut(..part.len().next_multiple_of(F::READ_SIZE)).ok_or(ErrorKind::Other)?;
            self.flash.read(at, padded).map_err(flash_error)?;
            part.copy_from_slice(padded.get(..part.len()).ok_or(ErrorKind::Other)?);
            at += offset(padded.len())?;
        }
        Ok(len as usize)
    }

    fn store(&mut self, slot: u8, record: &[u8]) -> Result<(), ErrorKind> {
        if record.len() > self.capacity() {
            return Err(ErrorKind::BufferTooSmall);
        }
        let start = self.start(slot)?;
        self.flash.erase(start, start + self.slot_size).map_err(flash_error)?;
        if record.is_empty() {
            return Ok(()); // erased is empty
        }
        let mut buf = [0xffu8; CHUNK];
        let mut at = start + offset(self.header)?;
        for part in record.chunks(CHUNK) {
            buf.fill(0xff);
            buf.get_mut(..part.len()).ok_or(ErrorKind::Other)?.copy_from_slice(part);
            let padded = buf.get(..part.len().next_multiple_of(F::WRITE_SIZE)).ok_or(ErrorKind::Other)?;
            self.flash.write(at, padded).map_err(flash_error)?;
            at += offset(padded.len())?;
        }
        // The header last: until it is written the slot reads as empty.
        let len = offset(record.len())?;
        buf.fill(0xff);
        buf.get_mut(..4).ok_or(ErrorKind::Other)?.copy_from_slice(&len.to_le_bytes());
        buf.get_mut(4..HEADER).ok_or(ErrorKind::Other)?.copy_from_slice(&(!len).to_le_bytes());
        self.flash.write(start, buf.get(..self.header).ok_or(ErrorKind::Other)?).map_err(flash_error)
    }
}

#[cfg(test)]
mod tests {
    //! On the host: `cargo test --target x86_64-unknown-linux-gnu` (or the host's triple).
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    extern crate std;
    use super::*;
    use embedded_storage::nor_flash::{ErrorType as FlashErrorType, NorFlashErrorKind, ReadNorFlash, check_erase, check_read, check_write};
    use std::vec::Vec;

    /// 32 KiB of NOR flash in 8 KiB sectors, 16-byte write units (STM32U5-like): a write may
    /// only clear bits, and `cut` stops a write after that many bytes (a power cut).
    struct Nor {
        bytes: Vec<u8>,
        cut: Option<usize>,
    }
    impl FlashErrorType for Nor {
        type Error = NorFlashErrorKind;
    }
    impl ReadNorFlash for Nor {
        const READ_SIZE: usize = 1;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorFlashErrorKind> {
            check_read(self, offset, bytes.len())?;
            bytes.copy_from_slice(&self.bytes[offset as usize..][..bytes.len()]);
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.bytes.len()
        }
    }
    impl NorFlash for Nor {
        const WRITE_SIZE: usize = 16;
        const ERASE_SIZE: usize = 8192;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), NorFlashErrorKind> {
            check_erase(self, from, to)?;
            self.bytes[from as usize..to as usize].fill(0xff);
            Ok(())
        }
        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NorFlashErrorKind> {
            check_write(self, offset, bytes.len())?;
            for (i, b) in bytes.iter().enumerate() {
                if self.cut == Some(0) {
                    return Err(NorFlashErrorKind::Other);
                }
                self.cut = self.cut.map(|n| n - 1);
                self.bytes[offset as usize + i] &= b;
            }
            Ok(())
        }
    }

    fn load(store: &mut FlashStore<&mut Nor>, slot: u8) -> Vec<u8> {
        let mut out = [0u8; MAX_RECORD_LEN];
        let n = store.load(slot, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn records_round_trip_and_a_cut_write_reads_as_empty() {
        let mut nor = Nor { bytes: std::vec![0xff; 32 * 1024], cut: None };
        let mut store = FlashStore::new(&mut nor).unwrap();
        assert_eq!((store.slots(), store.capacity()), (2, 16 * 1024 - 16));
        assert_eq!(load(&mut store, 0), b"");
        let record: Vec<u8> = (0..MAX_RECORD_LEN).map(|i| i as u8).collect();
        store.store(0, &record).unwrap();
        store.store(1, b"short").unwrap();
        assert_eq!(load(&mut store, 0), record);
        assert_eq!(load(&mut store, 1), b"short");
        store.store(1, b"").unwrap();
        assert_eq!(load(&mut store, 1), b"");
        assert_eq!(store.store(2, b"x"), Err(ErrorKind::NotFound));
        assert_eq!(store.store(0, &[0; 16 * 1024]), Err(ErrorKind::BufferTooSmall));
        // A power cut anywhere in a write: the slot reads as empty, never as a partial record.
        for cut in [0, 1, 300, record.len(), record.len() + 7, record.len().next_multiple_of(16) + 3] {
            nor.cut = Some(cut);
            let mut store = FlashStore::new(&mut nor).unwrap();
            assert!(store.store(0, &record).is_err());
            assert_eq!(load(&mut store, 0), b"", "cut after {cut} bytes");
        }
        assert_eq!(FlashStore::new(&mut Nor { bytes: std::vec![0xff; 16 * 1024], cut: None }).err(), Some(ErrorKind::Storage));
    }
}
