//! This image's flash: the `virt` machine's CFI parallel flash, unit 1 (32 MiB at 0x2200_0000,
//! `-drive if=pflash,unit=1,format=raw,file=FILE`), driven with the Intel/Sharp command set as
//! QEMU's `pflash_cfi01` implements it, under `board_common::flash`'s layout.
//!
//! QEMU models it as two 16-bit chips side by side on a 32-bit bus (`width` 4, `device-width`
//! 2, Intel ID 0x89/0x18), 128 erase blocks of 256 KiB. A command is written to both chips at
//! once (the byte in each 16-bit lane); the status register reads back in both lanes. Every
//! program and erase goes through the flash's command interface, and QEMU writes the changed
//! bytes to the drive's file as it carries them out (a block erase, a programmed word), so the
//! file keeps them across runs, and a run killed in the middle of a store leaves what a power
//! cut would: the words programmed so far.
//!
//! Unit 1, not 0: with a drive on unit 0 QEMU's `virt` takes that flash for firmware and boots
//! from it, so this image (loaded into RAM with `-bios none -kernel`) leaves unit 0 alone.
//!
//! The commands used: read array (0xFF), read status (0x70), clear status (0x50), block unlock
//! (0x60, 0xD0), block erase (0x20, 0xD0) and word program (0x40, then the word), each followed
//! by polling the status register for "ready" (bit 7) and checking its error bits (erase 5,
//! program 4, VPP 3, locked 1), then back to read array, where reads are plain memory reads.

use crate::hw;
use core::sync::atomic::{AtomicBool, Ordering};
use embedded_storage::nor_flash::{self, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};

/// Bytes of an erase block.
const BLOCK: usize = 256 * 1024;
/// A command or status byte in both 16-bit lanes of the bus.
const LANES: u32 = 0x0001_0001;
const READ_ARRAY: u32 = 0xFF;
const READ_STATUS: u32 = 0x70;
const CLEAR_STATUS: u32 = 0x50;
const LOCK_SETUP: u32 = 0x60;
const CONFIRM: u32 = 0xD0;
const BLOCK_ERASE: u32 = 0x20;
const WORD_PROGRAM: u32 = 0x40;
const SR_READY: u32 = 0x80 * LANES;
/// Erase error, program error, VPP low, block locked.
const SR_ERRORS: u32 = (0x20 | 0x10 | 0x08 | 0x02) * LANES;
/// Status polls before an operation is given up (QEMU completes each at once).
const POLLS: u32 = 100_000;

static TAKEN: AtomicBool = AtomicBool::new(false);

/// Pflash unit 1 (owned: at most one exists).
#[derive(Debug)]
pub struct Pflash {
    _owned: (),
}

/// A failed flash operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PflashError {
    /// An offset or length off the erase block or program word.
    NotAligned,
    /// Beyond the flash.
    OutOfBounds,
    /// The status register reported an error (both lanes).
    Status(u32),
    /// The flash never became ready.
    Timeout,
}

impl NorFlashError for PflashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::Status(_) | Self::Timeout => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for PflashError {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => Self::NotAligned,
            _ => Self::OutOfBounds,
        }
    }
}

impl Pflash {
    /// Takes unit 1 and puts it in read-array mode. `None` if it was taken before.
    pub fn take() -> Option<Self> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        let mut flash = Self { _owned: () };
        flash.command(0, CLEAR_STATUS);
        flash.command(0, READ_ARRAY);
        Some(flash)
    }

    fn command(&mut self, at: usize, command: u32) {
        hw::pflash_write(at, command * LANES);
    }

    /// Polls the status register at `at` until the flash is ready; its error bits as an error.
    /// Leaves the flash in read-status mode.
    fn wait(&mut self, at: usize) -> Result<(), PflashError> {
        self.command(at, READ_STATUS);
        for _ in 0..POLLS {
            let status = hw::pflash_read(at);
            if status & SR_READY == SR_READY {
                if status & SR_ERRORS != 0 {
                    self.command(at, CLEAR_STATUS);
                    return Err(PflashError::Status(status));
                }
                return Ok(());
            }
        }
        Err(PflashError::Timeout)
    }

    /// Unlocks and erases the block at `at`.
    fn erase_block(&mut self, at: usize) -> Result<(), PflashError> {
        self.command(at, CLEAR_STATUS);
        self.command(at, LOCK_SETUP);
        self.command(at, CONFIRM);
        self.wait(at)?;
        self.command(at, BLOCK_ERASE);
        self.command(at, CONFIRM);
        self.wait(at)
    }

    /// Programs the words of `bytes` from `offset` (all-ones words are skipped: they program
    /// nothing).
    fn program(&mut self, offset: usize, bytes: &[u8]) -> Result<(), PflashError> {
        self.command(offset, CLEAR_STATUS);
        for (i, word) in bytes.chunks_exact(4).enumerate() {
            let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            if value == u32::MAX {
                continue;
            }
            let at = offset + 4 * i;
            self.command(at, WORD_PROGRAM);
            hw::pflash_write(at, value);
            self.wait(at)?;
        }
        Ok(())
    }
}

impl ErrorType for Pflash {
    type Error = PflashError;
}

impl ReadNorFlash for Pflash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), PflashError> {
        nor_flash::check_read(self, offset, bytes.len())?;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = hw::pflash_read_u8(offset as usize + i);
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        hw::PFLASH_SIZE
    }
}

impl NorFlash for Pflash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = BLOCK;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), PflashError> {
        nor_flash::check_erase(self, from, to)?;
        let mut result = Ok(());
        for at in (from as usize..to as usize).step_by(BLOCK) {
            result = self.erase_block(at);
            if result.is_err() {
                break;
            }
        }
        self.command(from as usize, READ_ARRAY);
        result
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), PflashError> {
        nor_flash::check_write(self, offset, bytes.len())?;
        let result = self.program(offset as usize, bytes);
        self.command(offset as usize, READ_ARRAY);
        result
    }
}
