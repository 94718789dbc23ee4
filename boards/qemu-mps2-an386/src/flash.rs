//! This image's flash: a file on the host, reached through semihosting and used as a NOR flash
//! device (`board_common::flash` keeps the layout on it).
//!
//! QEMU's `mps2-an386` has no flash device that keeps what the guest writes: its "flash" is
//! ZBT SSRAM that QEMU loads the image into, and neither pflash nor a drive can be attached.
//! The candidates on it are the SPI controllers (PL022: an `m25p80` flash could sit on their
//! bus, but nothing drives its chip select on this machine, so no command could ever end) and
//! the two free I2C buses of the shield connectors (an `at24c-eeprom` with a drive: at most
//! 64 KiB, bit-banged through SBCon, and QEMU rewrites the whole file at each transaction). The
//! image instead opens the file that `run.sh` names on QEMU's command line
//! (`-append "flash=FILE"`, read back with SYS_GET_CMDLINE) with semihosting (QEMU
//! `-semihosting-config enable=on,target=native`, which run.sh already uses for the console) and
//! makes it behave as NOR flash: [`HostFlash`] erases in 4 KiB sectors to 0xFF and programs
//! 4-byte words with AND semantics (a program only clears bits), so the layout code runs on
//! the same rules as on the riscv32 image's CFI pflash or a real device. Each semihosting
//! write reaches the file at once (QEMU writes it to the host file descriptor), so a run that is
//! killed keeps every write made before: a torn store is what an interrupted sequence of
//! program calls leaves, at the granularity of one call (at most 512 bytes).
//!
//! The file is exactly [`FILE_SIZE`] bytes (run.sh makes it, all 0xFF).

use crate::hw;
use board_common::println;
use embedded_storage::nor_flash::{self, ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use static_cell::ConstStaticCell;

/// The flash file's size: 256 KiB (64 sectors; the layout uses the first 92 KiB).
pub const FILE_SIZE: usize = 256 * 1024;
/// Bytes per semihosting call, and of the scratch buffer (a static).
const CHUNK: usize = 512;
/// What run.sh appends to QEMU's command line before the file's path.
const PATH_KEY: &[u8] = b" flash=";

static SCRATCH: ConstStaticCell<[u8; CHUNK]> = ConstStaticCell::new([0; CHUNK]);

/// The host file as a NOR flash device: 4 KiB erase sectors, 4-byte program words.
#[derive(Debug)]
pub struct HostFlash {
    handle: usize,
    /// The buffer of the read-AND-write of a program (and of the command line at open).
    scratch: &'static mut [u8; CHUNK],
}

/// Why there is no flash file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The command line does not name one (`-append "flash=FILE"`).
    NoPath,
    /// The host could not open the file (it must exist).
    Open,
    /// The file is not [`FILE_SIZE`] bytes.
    Size(usize),
    /// Opened before.
    Taken,
}

impl core::fmt::Display for OpenError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoPath => f.write_str("no flash file on the command line (run.sh passes -append \"flash=FILE\")"),
            Self::Open => f.write_str("the host cannot open the flash file"),
            Self::Size(n) => write!(f, "the flash file has {n} bytes, {FILE_SIZE} expected"),
            Self::Taken => f.write_str("the flash file is open already"),
        }
    }
}

/// A failed flash operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFlashError {
    /// An offset or length off the erase sector or program word.
    NotAligned,
    /// Beyond the file.
    OutOfBounds,
    /// A semihosting seek, read or write failed.
    Host,
}

impl NorFlashError for HostFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::Host => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for HostFlashError {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => Self::NotAligned,
            NorFlashErrorKind::OutOfBounds => Self::OutOfBounds,
            _ => Self::Host,
        }
    }
}

impl HostFlash {
    /// Opens the file named by `flash=PATH` at the end of the semihosting command line and
    /// prints which (once: the scratch buffer is a static taken here).
    pub fn open() -> Result<Self, OpenError> {
        let scratch = SCRATCH.try_take().ok_or(OpenError::Taken)?;
        let n = hw::host_cmdline(scratch).ok_or(OpenError::NoPath)?;
        let line = scratch.get(..n).ok_or(OpenError::NoPath)?;
        let start = line.windows(PATH_KEY.len()).rposition(|w| w == PATH_KEY).ok_or(OpenError::NoPath)? + PATH_KEY.len();
        let len = n - start;
        // The path, moved to the buffer's start and NUL-terminated.
        if len == 0 || len >= CHUNK {
            return Err(OpenError::NoPath);
        }
        scratch.copy_within(start..n, 0);
        scratch[len] = 0;
        let handle = hw::host_open(&scratch[..=len]).ok_or(OpenError::Open)?;
        let path = core::str::from_utf8(&scratch[..len]).unwrap_or("(not UTF-8)");
        println!("flash: host file {} (semihosting), emulated NOR flash: 4 KiB sectors, 4-byte words", path);
        match hw::host_flen(handle) {
            Some(FILE_SIZE) => Ok(Self { handle, scratch }),
            Some(n) => Err(OpenError::Size(n)),
            None => Err(OpenError::Open),
        }
    }

    fn seek(&mut self, offset: usize) -> Result<(), HostFlashError> {
        if hw::host_seek(self.handle, offset) { Ok(()) } else { Err(HostFlashError::Host) }
    }
}

impl ErrorType for HostFlash {
    type Error = HostFlashError;
}

impl ReadNorFlash for HostFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), HostFlashError> {
        nor_flash::check_read(self, offset, bytes.len())?;
        if bytes.is_empty() {
            return Ok(());
        }
        self.seek(offset as usize)?;
        if hw::host_read(self.handle, bytes) { Ok(()) } else { Err(HostFlashError::Host) }
    }

    fn capacity(&self) -> usize {
        FILE_SIZE
    }
}

impl NorFlash for HostFlash {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    /// Sets `[from, to)` to 0xFF.
    fn erase(&mut self, from: u32, to: u32) -> Result<(), HostFlashError> {
        nor_flash::check_erase(self, from, to)?;
        self.scratch.fill(0xFF);
        let mut at = from as usize;
        self.seek(at)?;
        while at < to as usize {
            let n = (to as usize - at).min(CHUNK);
            if !hw::host_write(self.handle, &self.scratch[..n]) {
                return Err(HostFlashError::Host);
            }
            at += n;
        }
        Ok(())
    }

    /// Programs `bytes` at `offset` as NOR flash does: each bit can only go from 1 to 0 (the
    /// file's bytes are ANDed with `bytes`).
    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), HostFlashError> {
        nor_flash::check_write(self, offset, bytes.len())?;
        let mut at = offset as usize;
        for chunk in bytes.chunks(CHUNK) {
            let cell = &mut self.scratch[..chunk.len()];
            if !(hw::host_seek(self.handle, at) && hw::host_read(self.handle, cell)) {
                return Err(HostFlashError::Host);
            }
            for (old, new) in cell.iter_mut().zip(chunk) {
                *old &= *new;
            }
            if !(hw::host_seek(self.handle, at) && hw::host_write(self.handle, cell)) {
                return Err(HostFlashError::Host);
            }
            at += chunk.len();
        }
        Ok(())
    }
}
