//! What the board images keep across reboots, on a NOR flash region: the library's
//! [`StateStore`] slots (the lifecycle records, A/B per profile), device keys, and a boot
//! counter.
//!
//! Generic over [`embedded_storage::nor_flash::NorFlash`] (what a real board's HAL implements);
//! each board gives only the device access: the riscv32 image CFI pflash, the mps2-an386 image
//! a file on the host emulated as NOR flash (see the boards' `flash.rs`). The flash semantics
//! this module relies on: an erase sets a whole erase block to 0xFF, a program only clears bits,
//! and no unit of [`NorFlash::WRITE_SIZE`] bytes is programmed twice between erases.
//!
//! # Layout
//!
//! Offsets from the region's start; `E` is the erase size, each area starts on an erase block:
//!
//! | area | size | what |
//! |---|---|---|
//! | descriptor | `E` | 16 bytes: `"EEFLASH"`, layout version, slot counts, slot capacity |
//! | boot log | `2 E` | two blocks of 16-byte entries, appended once per boot |
//! | key slots | [`KEY_SLOTS`] × `round_up(32 + 64, E)` | one device key each (33-byte records) |
//! | state slots | [`STATE_SLOTS`] × `round_up(32 + SLOT_CAPACITY, E)` | one record each |
//!
//! With 4 KiB erase blocks (mps2-an386) that is 92 KiB; with the 256 KiB blocks of QEMU's
//! `virt` pflash, 11 blocks (2.75 MiB). [`Flash::mount`] formats (erases) the region when its
//! descriptor is not this layout's: a blank device, one that never held this format, or an older
//! layout (a change of slot count or size starts the device over).
//!
//! # Slots
//!
//! A slot (state or key) is erased, then written in three steps: a 16-byte *begin* unit
//! (`"EEsl"`, length, its complement), the record (from byte 32), then a 16-byte *commit* unit
//! (`"EEok"`, length, complement). [`Flash::slot_state`] reads it back as:
//!
//! - [`SlotState::Empty`]: both units erased (0xFF): never written, or erased;
//! - [`SlotState::Written`]: begin and commit agree;
//! - [`SlotState::Torn`]: anything else: a write or erase that power loss (or a killed
//!   emulator) interrupted. With a valid begin unit the length is known; otherwise it is not.
//!
//! A store cut short while it erases leaves the slot torn or (once the begin unit is erased)
//! empty; cut short later, torn with its length known; the A/B lifecycle records keep the
//! previous record in the other slot either way. [`StateStore::load`] returns 0 only for an
//! empty slot. A torn slot is returned as bytes that the lifecycle record's checksum then
//! refuses (the record layer counts it as damaged rather than empty, so a device that had an
//! identity never starts over silently): its begun length if the begin unit is valid, else the
//! whole slot (up to `out`'s length). A length beyond the slot's capacity is never returned.
//!
//! # Boot counter
//!
//! [`Flash::next_boot`] appends `count + 1` to the boot log and reads it back before returning
//! it: an entry is `"EEbt"`, the count, its complement, then 0xFF. The count is the highest valid
//! entry of the two blocks; when the block that holds it is full, the other block is erased and
//! the entry goes there (the old block keeps the previous count until then, so a torn erase or
//! program never loses more than the boot that was interrupted, and never gives a count twice
//! to boots that used it). The images use it as the stream of the NOT SECURE demo RNG
//! ([`crate::rng::NotSecureDemoRng::for_boot`]) so consecutive boots do not repeat its output.
//!
//! # Device keys: NOT SECURE
//!
//! A key slot keeps a P-256 private key as its 32-byte scalar, in the clear, in the same flash
//! file as everything else: anyone who reads the file (or the emulator's memory) has the key.
//! This is an emulator demo; a device keeps its keys in a secure element (or at least in
//! read-protected, encrypted storage) and never lets the private scalar leave it.

use crate::println;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{self, ErrorKind, ErrorType, StateStore};
pub use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use rand_core::CryptoRngCore;
use static_cell::{ConstStaticCell, StaticCell};
use zeroize::Zeroize;

/// Number of [`StateStore`] slots (two profiles × A/B).
pub const STATE_SLOTS: u8 = 4;
/// Bytes of a slot's header (the begin and commit units) before its record.
pub const SLOT_HEADER_LEN: usize = 32;
/// The largest record a state slot holds ([`StateStore::capacity`]): 16 KiB less the header
/// (the lifecycle record is at most `embedded_enroll::lifecycle::record::MAX_RECORD_LEN`).
pub const SLOT_CAPACITY: usize = 16 * 1024 - SLOT_HEADER_LEN;
/// Number of device key slots (two profiles × key slots A/B).
pub const KEY_SLOTS: u8 = 4;
/// The largest record a key slot holds.
const KEY_CAPACITY: usize = 64;
/// A key record: its kind, then the key.
const KEY_P256: u8 = 1;
const P256_RECORD_LEN: usize = 1 + 32;

/// The unit of the descriptor, slot headers and boot entries (a multiple of every supported
/// [`NorFlash::WRITE_SIZE`]).
const UNIT: usize = 16;
const DESCRIPTOR_MAGIC: &[u8; 7] = b"EEFLASH";
const LAYOUT_VERSION: u8 = 1;
const BEGIN_MAGIC: &[u8; 4] = b"EEsl";
const COMMIT_MAGIC: &[u8; 4] = b"EEok";
const BOOT_MAGIC: &[u8; 4] = b"EEbt";
/// Bytes read per step when verifying a write (on the stack).
const VERIFY_CHUNK: usize = 64;

/// What went wrong with the flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashError<E> {
    /// The device failed a read, erase or program.
    Device(E),
    /// No such slot.
    NoSuchSlot(u8),
    /// The record is larger than the slot.
    TooLarge {
        /// The record's length.
        len: usize,
        /// The slot's capacity.
        capacity: usize,
    },
    /// The caller's buffer is smaller than the record.
    BufferTooSmall {
        /// The record's length.
        needed: usize,
    },
    /// The region does not fit the device, or is not aligned to its erase blocks.
    Layout,
    /// What was read back after a write is not what was written.
    Verify,
    /// A key slot whose last write did not complete.
    Torn,
    /// A key slot holds something that is not a valid P-256 key.
    BadKey,
}

impl<E: core::fmt::Debug> core::fmt::Display for FlashError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Device(e) => write!(f, "the flash device failed: {e:?}"),
            Self::NoSuchSlot(s) => write!(f, "there is no slot {s}"),
            Self::TooLarge { len, capacity } => write!(f, "a {len}-byte record does not fit a {capacity}-byte slot"),
            Self::BufferTooSmall { needed } => write!(f, "the buffer is smaller than the {needed}-byte record"),
            Self::Layout => f.write_str("the flash region does not fit the device or its erase blocks"),
            Self::Verify => f.write_str("the flash does not read back what was written"),
            Self::Torn => f.write_str("the key slot's last write did not complete"),
            Self::BadKey => f.write_str("the key slot does not hold a valid P-256 key"),
        }
    }
}

impl<E: core::fmt::Debug> hal::Error for FlashError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoSuchSlot(_) => ErrorKind::NotFound,
            Self::TooLarge { .. } | Self::BufferTooSmall { .. } => ErrorKind::BufferTooSmall,
            Self::BadKey => ErrorKind::InvalidInput,
            Self::Device(_) | Self::Layout | Self::Verify | Self::Torn => ErrorKind::Storage,
        }
    }
}

/// What a slot holds (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Erased: never written, or emptied.
    Empty,
    /// A complete record of this many bytes.
    Written(usize),
    /// An interrupted write or erase; the begun record's length, if its begin unit is intact.
    Torn(Option<usize>),
}

impl core::fmt::Display for SlotState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => f.write_str("empty"),
            Self::Written(n) => write!(f, "{n} bytes"),
            Self::Torn(Some(n)) => write!(f, "torn ({n} bytes begun)"),
            Self::Torn(None) => f.write_str("torn"),
        }
    }
}

/// What [`Flash::mount`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mounted {
    /// The region holds this layout.
    Existing,
    /// The region was formatted now: it was blank (all 0xFF, `blank`) or held something else
    /// (another layout, a zero-filled device).
    Formatted {
        /// The descriptor was erased (a new flash file).
        blank: bool,
    },
}

/// The board images' persistent storage on a region of a NOR flash device: [`StateStore`]
/// slots, device key slots and the boot counter (see the module docs for the layout).
#[derive(Debug)]
pub struct Flash<F> {
    dev: F,
    base: u32,
}

type Result<T, F> = core::result::Result<T, FlashError<<F as embedded_storage::nor_flash::ErrorType>::Error>>;

impl<F: NorFlash> Flash<F> {
    /// Checks the flash semantics this module needs from `F` (at compile time).
    const SUPPORTED: () = {
        assert!(F::READ_SIZE == 1, "board_common::flash reads byte-addressable flash only");
        assert!(F::WRITE_SIZE > 0 && F::WRITE_SIZE <= UNIT && UNIT.is_multiple_of(F::WRITE_SIZE), "WRITE_SIZE must divide 16");
        assert!(F::ERASE_SIZE >= 256 && F::ERASE_SIZE.is_multiple_of(UNIT), "ERASE_SIZE must be a multiple of 16, 256 or more");
    };

    /// Bytes of one slot of `capacity` bytes, in whole erase blocks.
    const fn span(capacity: usize) -> usize {
        (SLOT_HEADER_LEN + capacity).div_ceil(F::ERASE_SIZE) * F::ERASE_SIZE
    }

    /// Bytes of the whole layout (from the region's start).
    pub const LEN: usize =
        3 * F::ERASE_SIZE + KEY_SLOTS as usize * Self::span(KEY_CAPACITY) + STATE_SLOTS as usize * Self::span(SLOT_CAPACITY);

    /// Opens the layout at byte `base` of `dev` (a multiple of the erase size), formatting the
    /// region if it does not hold this layout yet.
    pub fn mount(dev: F, base: u32) -> Result<(Self, Mounted), F> {
        let () = Self::SUPPORTED;
        let fits = (base as usize).is_multiple_of(F::ERASE_SIZE)
            && (base as usize).checked_add(Self::LEN).is_some_and(|end| end <= dev.capacity());
        if !fits {
            return Err(FlashError::Layout);
        }
        let mut flash = Self { dev, base };
        let unit = flash.read_unit(0)?;
        if unit == descriptor() {
            return Ok((flash, Mounted::Existing));
        }
        let blank = unit.iter().all(|&b| b == 0xFF);
        flash.erase(0, Self::LEN)?;
        flash.program(0, &descriptor())?;
        flash.verify(0, &descriptor())?;
        Ok((flash, Mounted::Formatted { blank }))
    }

    /// The device (e.g. to close it).
    pub fn device(&mut self) -> &mut F {
        &mut self.dev
    }

    /// Counts this boot: appends the next count to the boot log, reads it back, returns it
    /// (1 on the first boot after formatting).
    pub fn next_boot(&mut self) -> Result<u32, F> {
        let per_block = F::ERASE_SIZE / UNIT;
        let mut best: Option<(u32, usize)> = None;
        let mut free = [per_block; 2];
        for (block, free) in free.iter_mut().enumerate() {
            for i in 0..per_block {
                let unit = self.read_unit(Self::boot_entry(block, i))?;
                if unit.iter().all(|&b| b == 0xFF) {
                    *free = i;
                    break;
                }
                if let Some(count) = parse_boot_entry(&unit)
                    && best.is_none_or(|(b, _)| count > b)
                {
                    best = Some((count, block));
                }
            }
        }
        let (last, block) = best.unwrap_or((0, 0));
        let next = last.wrapping_add(1).max(1);
        let (block, index) = match free.get(block) {
            Some(&i) if i < per_block => (block, i),
            _ => {
                let other = 1 - block;
                self.erase(Self::boot_entry(other, 0), F::ERASE_SIZE)?;
                (other, 0)
            }
        };
        let entry = boot_entry(next);
        self.program(Self::boot_entry(block, index), &entry)?;
        self.verify(Self::boot_entry(block, index), &entry)?;
        Ok(next)
    }

    fn boot_entry(block: usize, index: usize) -> usize {
        (1 + block) * F::ERASE_SIZE + index * UNIT
    }

    fn key_slot(slot: u8) -> Option<usize> {
        (slot < KEY_SLOTS).then(|| 3 * F::ERASE_SIZE + usize::from(slot) * Self::span(KEY_CAPACITY))
    }

    fn state_slot(slot: u8) -> Option<usize> {
        let keys = 3 * F::ERASE_SIZE + KEY_SLOTS as usize * Self::span(KEY_CAPACITY);
        (slot < STATE_SLOTS).then(|| keys + usize::from(slot) * Self::span(SLOT_CAPACITY))
    }

    /// What state slot `slot` holds.
    pub fn slot_state(&mut self, slot: u8) -> Result<SlotState, F> {
        let at = Self::state_slot(slot).ok_or(FlashError::NoSuchSlot(slot))?;
        self.state_at(at, SLOT_CAPACITY)
    }

    /// What key slot `slot` holds ([`SlotState::Written`] with 33 bytes for a P-256 key).
    pub fn key_state(&mut self, slot: u8) -> Result<SlotState, F> {
        let at = Self::key_slot(slot).ok_or(FlashError::NoSuchSlot(slot))?;
        self.state_at(at, KEY_CAPACITY)
    }

    /// The P-256 key in key slot `slot` (`None` if the slot is empty). NOT SECURE: the scalar
    /// is kept in the clear (see the module docs).
    pub fn load_p256(&mut self, slot: u8) -> Result<Option<SoftP256Key>, F> {
        let at = Self::key_slot(slot).ok_or(FlashError::NoSuchSlot(slot))?;
        match self.state_at(at, KEY_CAPACITY)? {
            SlotState::Empty => Ok(None),
            SlotState::Torn(_) => Err(FlashError::Torn),
            SlotState::Written(P256_RECORD_LEN) => {
                let mut record = [0u8; P256_RECORD_LEN];
                self.read(at + SLOT_HEADER_LEN, &mut record)?;
                let key = match record {
                    [KEY_P256, ref scalar @ ..] => SoftP256Key::from_bytes(scalar).map_err(|_| FlashError::BadKey),
                    _ => Err(FlashError::BadKey),
                };
                record.zeroize();
                key.map(Some)
            }
            SlotState::Written(_) => Err(FlashError::BadKey),
        }
    }

    /// Generates a P-256 key, stores its scalar in key slot `slot` (replacing what was there)
    /// and returns it. NOT SECURE: the scalar is kept in the clear (see the module docs).
    pub fn generate_p256(&mut self, slot: u8, rng: &mut impl CryptoRngCore) -> Result<SoftP256Key, F> {
        let at = Self::key_slot(slot).ok_or(FlashError::NoSuchSlot(slot))?;
        let mut record = [0u8; P256_RECORD_LEN];
        record[0] = KEY_P256;
        // Rejection sampling, as p256's own generation: a scalar of 0 or >= n (probability
        // about 2^-32) is drawn again.
        let mut key = None;
        for _ in 0..8 {
            rng.fill_bytes(&mut record[1..]);
            if let Ok(k) = SoftP256Key::from_bytes(&record[1..]) {
                key = Some(k);
                break;
            }
        }
        let stored = match key {
            Some(_) => self.store_at(at, KEY_CAPACITY, &record),
            None => Err(FlashError::BadKey),
        };
        record.zeroize();
        stored?;
        key.ok_or(FlashError::BadKey)
    }

    /// Empties key slot `slot`.
    pub fn erase_key(&mut self, slot: u8) -> Result<(), F> {
        let at = Self::key_slot(slot).ok_or(FlashError::NoSuchSlot(slot))?;
        self.erase(at, Self::span(KEY_CAPACITY))
    }

    /// Prints what the slots hold, two lines:
    /// `flash: slot 0: 123 bytes, slot 1: empty, ...` and `flash: key 0: P-256 04:..., key 1: empty, ...`.
    pub fn print_summary(&mut self) {
        let mut states = [SlotState::Empty; STATE_SLOTS as usize];
        for (slot, state) in (0..STATE_SLOTS).zip(states.iter_mut()) {
            match self.slot_state(slot) {
                Ok(s) => *state = s,
                Err(e) => return println!("flash: slot {}: {}", slot, e),
            }
        }
        println!("flash: {}", StateList(&states));
        let mut keys = [KeyView::Empty; KEY_SLOTS as usize];
        for (slot, view) in (0..KEY_SLOTS).zip(keys.iter_mut()) {
            *view = match self.load_p256(slot) {
                Ok(None) => KeyView::Empty,
                Ok(Some(key)) => {
                    let public = key.public_key_sec1();
                    let mut head = [0u8; 4];
                    head.copy_from_slice(public.get(1..5).unwrap_or(&[0; 4]));
                    KeyView::P256(head)
                }
                Err(FlashError::Torn) => KeyView::Torn,
                Err(_) => KeyView::Bad,
            };
        }
        println!("flash: {} (P-256 scalars in the clear: NOT SECURE, emulator demo only)", KeyList(&keys));
    }

    // Slots.

    fn state_at(&mut self, at: usize, capacity: usize) -> Result<SlotState, F> {
        let begin = self.read_unit(at)?;
        let commit = self.read_unit(at + UNIT)?;
        let erased = |u: &[u8; UNIT]| u.iter().all(|&b| b == 0xFF);
        if erased(&begin) && erased(&commit) {
            return Ok(SlotState::Empty);
        }
        let Some(len) = parse_len(&begin, BEGIN_MAGIC).filter(|&n| n <= capacity) else { return Ok(SlotState::Torn(None)) };
        if parse_len(&commit, COMMIT_MAGIC) == Some(len) { Ok(SlotState::Written(len)) } else { Ok(SlotState::Torn(Some(len))) }
    }

    fn load_at(&mut self, at: usize, capacity: usize, out: &mut [u8]) -> Result<usize, F> {
        let len = match self.state_at(at, capacity)? {
            SlotState::Empty => return Ok(0),
            SlotState::Written(n) | SlotState::Torn(Some(n)) => n,
            // Torn before its length was known: the slot's bytes, for the record's checksum to
            // refuse (never more than the slot holds).
            SlotState::Torn(None) => match out.len().min(capacity) {
                0 => return Err(FlashError::BufferTooSmall { needed: capacity }),
                n => n,
            },
        };
        let dest = out.get_mut(..len).ok_or(FlashError::BufferTooSmall { needed: len })?;
        self.read(at + SLOT_HEADER_LEN, dest)?;
        Ok(len)
    }

    fn store_at(&mut self, at: usize, capacity: usize, record: &[u8]) -> Result<(), F> {
        if record.len() > capacity {
            return Err(FlashError::TooLarge { len: record.len(), capacity });
        }
        self.erase(at, Self::span(capacity))?;
        if record.is_empty() {
            return Ok(());
        }
        let begin = len_unit(BEGIN_MAGIC, record.len());
        self.program(at, &begin)?;
        self.program(at + SLOT_HEADER_LEN, record)?;
        self.verify(at + SLOT_HEADER_LEN, record)?;
        let commit = len_unit(COMMIT_MAGIC, record.len());
        self.program(at + UNIT, &commit)?;
        match self.state_at(at, capacity)? {
            SlotState::Written(n) if n == record.len() => Ok(()),
            _ => Err(FlashError::Verify),
        }
    }

    // Device access, offsets from the region's start.

    fn offset(&self, at: usize) -> u32 {
        self.base.saturating_add(u32::try_from(at).unwrap_or(u32::MAX))
    }

    fn read(&mut self, at: usize, out: &mut [u8]) -> Result<(), F> {
        self.dev.read(self.offset(at), out).map_err(FlashError::Device)
    }

    fn read_unit(&mut self, at: usize) -> Result<[u8; UNIT], F> {
        let mut unit = [0u8; UNIT];
        self.read(at, &mut unit)?;
        Ok(unit)
    }

    fn erase(&mut self, at: usize, len: usize) -> Result<(), F> {
        let from = self.offset(at);
        let to = self.offset(at + len);
        self.dev.erase(from, to).map_err(FlashError::Device)
    }

    /// Programs `bytes` at `at` (a multiple of [`UNIT`]); a last partial write unit is padded
    /// with 0xFF (which programs nothing).
    fn program(&mut self, at: usize, bytes: &[u8]) -> Result<(), F> {
        let whole = bytes.len() - bytes.len() % F::WRITE_SIZE;
        let (head, tail) = bytes.split_at(whole);
        if !head.is_empty() {
            self.dev.write(self.offset(at), head).map_err(FlashError::Device)?;
        }
        if !tail.is_empty() {
            let mut unit = [0xFFu8; UNIT];
            unit.get_mut(..tail.len()).ok_or(FlashError::Layout)?.copy_from_slice(tail);
            let padded = unit.get(..F::WRITE_SIZE).ok_or(FlashError::Layout)?;
            self.dev.write(self.offset(at + whole), padded).map_err(FlashError::Device)?;
        }
        Ok(())
    }

    /// Reads back `bytes` at `at` and compares.
    fn verify(&mut self, at: usize, bytes: &[u8]) -> Result<(), F> {
        let mut chunk = [0u8; VERIFY_CHUNK];
        for (i, expected) in bytes.chunks(VERIFY_CHUNK).enumerate() {
            let got = chunk.get_mut(..expected.len()).ok_or(FlashError::Verify)?;
            self.read(at + i * VERIFY_CHUNK, got)?;
            if got != expected {
                return Err(FlashError::Verify);
            }
        }
        Ok(())
    }
}

impl<F: NorFlash> ErrorType for Flash<F> {
    type Error = FlashError<F::Error>;
}

/// The [`STATE_SLOTS`] state slots, [`SLOT_CAPACITY`] bytes each.
impl<F: NorFlash> StateStore for Flash<F> {
    fn slots(&self) -> u8 {
        STATE_SLOTS
    }

    fn capacity(&self) -> usize {
        SLOT_CAPACITY
    }

    fn load(&mut self, slot: u8, out: &mut [u8]) -> Result<usize, F> {
        let at = Self::state_slot(slot).ok_or(FlashError::NoSuchSlot(slot))?;
        self.load_at(at, SLOT_CAPACITY, out)
    }

    fn store(&mut self, slot: u8, record: &[u8]) -> Result<(), F> {
        let at = Self::state_slot(slot).ok_or(FlashError::NoSuchSlot(slot))?;
        self.store_at(at, SLOT_CAPACITY, record)
    }
}

/// Mounts the layout at byte `base` of `dev`, moves it into `cell`, counts this boot and prints
/// the flash lines (`flash: ...`, `flash: boot N`, the slots' summary). `None` (and the reason
/// printed) if the flash cannot be used: the image then runs without persistence.
pub fn start<F: NorFlash>(dev: F, base: u32, cell: &'static StaticCell<Flash<F>>) -> Option<(&'static mut Flash<F>, u32)> {
    let flash = match Flash::mount(dev, base) {
        Ok((flash, mounted)) => {
            match mounted {
                Mounted::Existing => println!("flash: {} bytes at offset {}: this layout, kept", Flash::<F>::LEN, base),
                Mounted::Formatted { blank: true } => println!("flash: {} bytes at offset {}: blank, formatted", Flash::<F>::LEN, base),
                Mounted::Formatted { blank: false } => {
                    println!(
                        "flash: {} bytes at offset {}: not this layout (another version, or never formatted): erased and formatted",
                        Flash::<F>::LEN,
                        base
                    )
                }
            }
            cell.init(flash)
        }
        Err(e) => {
            println!("flash: cannot mount: {}", e);
            return None;
        }
    };
    let boot = match flash.next_boot() {
        Ok(n) => n,
        Err(e) => {
            println!("flash: cannot count this boot: {}", e);
            return None;
        }
    };
    println!("flash: boot {}", boot);
    flash.print_summary();
    Some((flash, boot))
}

/// The record of [`self_test`]: 12 KiB (larger than a lifecycle record will be).
const SELF_TEST_LEN: usize = 12 * 1024;
static SELF_TEST_BUF: ConstStaticCell<[u8; SELF_TEST_LEN]> = ConstStaticCell::new([0; SELF_TEST_LEN]);

/// A check of the flash device for the images built with `BOARD_FLASH_ONLY`: a second copy of
/// the layout at byte `base` of the same device (past [`Flash::LEN`]; the real layout is not
/// touched). It reads what the previous run's check left there (a 12 KiB record in state slot 0
/// and a P-256 key in key slot 0, each made from that run's boot number) and says whether it
/// read back intact, then writes this boot's and reads them back. True if every step passed.
pub fn self_test<F: NorFlash>(flash: &mut Flash<F>, base: u32, boot: u32) -> bool {
    let Some(buf) = SELF_TEST_BUF.try_take() else { return false };
    let (mut scratch, mounted) = match Flash::mount(flash.device(), base) {
        Ok(m) => m,
        Err(e) => {
            println!("flash self-test: cannot mount a layout at offset {}: {}", base, e);
            return false;
        }
    };
    println!("flash self-test: a second layout at offset {}: {:?}", base, mounted);
    let mut ok = true;
    // The previous run's record and key. A torn one (that run was cut short while storing it)
    // is reported, not a failure: its length must still be in range.
    match (scratch.slot_state(0), scratch.load(0, buf)) {
        (_, Ok(0)) => println!("flash self-test: no record from a previous run"),
        (Ok(SlotState::Torn(_)), Ok(n)) => {
            println!("flash self-test: the previous record is torn (a run cut short while storing it); load gave {} bytes", n);
            ok &= n <= SLOT_CAPACITY;
        }
        (_, Ok(n)) => {
            let writer = buf.get(..4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let intact = n == SELF_TEST_LEN && buf.iter().enumerate().skip(4).all(|(i, &b)| b == pattern(writer, i));
            ok &= intact;
            println!("flash self-test: the record of boot {} ({} bytes): {}", writer, n, if intact { "intact" } else { "DAMAGED" });
        }
        (_, Err(e)) => {
            ok = false;
            println!("flash self-test: reading the previous record failed: {}", e);
        }
    }
    match scratch.load_p256(0) {
        Ok(Some(key)) => {
            println!("flash self-test: the previous run's key: public x {}...", crate::Hex(key.public_key_sec1().get(1..5).unwrap_or(&[])))
        }
        Ok(None) => println!("flash self-test: no key from a previous run"),
        Err(FlashError::Torn) => println!("flash self-test: the previous key is torn (a run cut short while storing it)"),
        Err(e) => {
            ok = false;
            println!("flash self-test: reading the previous key failed: {}", e);
        }
    }
    // This boot's.
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(boot, i);
    }
    buf[..4].copy_from_slice(&boot.to_le_bytes());
    let stored = scratch.store(0, buf).and_then(|()| scratch.slot_state(0));
    let mut rng = crate::rng::NotSecureDemoRng::for_boot(crate::config::RNG_SEED, boot);
    let key = scratch.generate_p256(0, &mut rng).and_then(|k| Ok((k.public_key_sec1(), scratch.load_p256(0)?)));
    match (&stored, &key) {
        (Ok(SlotState::Written(SELF_TEST_LEN)), Ok((made, Some(loaded)))) if *made == loaded.public_key_sec1() => {
            println!(
                "flash self-test: stored and read back a {}-byte record and a P-256 key (public x {}...)",
                SELF_TEST_LEN,
                crate::Hex(made.get(1..5).unwrap_or(&[]))
            );
        }
        _ => {
            ok = false;
            println!("flash self-test: store FAILED: {:?} / {:?}", stored, key.as_ref().map(|_| ()));
        }
    }
    ok
}

fn pattern(boot: u32, i: usize) -> u8 {
    (i as u32).wrapping_mul(2_654_435_761).wrapping_add(boot.wrapping_mul(40_503)).to_le_bytes()[1]
}

/// The descriptor: magic, layout version, slot counts, state slot capacity.
fn descriptor() -> [u8; UNIT] {
    let [c0, c1, c2, c3] = u32::try_from(SLOT_CAPACITY).unwrap_or(u32::MAX).to_le_bytes();
    let [m0, m1, m2, m3, m4, m5, m6] = *DESCRIPTOR_MAGIC;
    [m0, m1, m2, m3, m4, m5, m6, LAYOUT_VERSION, STATE_SLOTS, KEY_SLOTS, c0, c1, c2, c3, 0xFF, 0xFF]
}

/// A unit of `magic`, `len` and its complement (little-endian), padded with 0xFF.
fn len_unit(magic: &[u8; 4], len: usize) -> [u8; UNIT] {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let [l0, l1, l2, l3] = len.to_le_bytes();
    let [c0, c1, c2, c3] = (!len).to_le_bytes();
    let [m0, m1, m2, m3] = *magic;
    [m0, m1, m2, m3, l0, l1, l2, l3, c0, c1, c2, c3, 0xFF, 0xFF, 0xFF, 0xFF]
}

/// The length of a unit made by [`len_unit`] with `magic`, if it is one.
fn parse_len(unit: &[u8; UNIT], magic: &[u8; 4]) -> Option<usize> {
    match unit {
        [m0, m1, m2, m3, l0, l1, l2, l3, c0, c1, c2, c3, ..] if [*m0, *m1, *m2, *m3] == *magic => {
            let len = u32::from_le_bytes([*l0, *l1, *l2, *l3]);
            (!len == u32::from_le_bytes([*c0, *c1, *c2, *c3])).then(|| usize::try_from(len).ok()).flatten()
        }
        _ => None,
    }
}

fn boot_entry(count: u32) -> [u8; UNIT] {
    len_unit(BOOT_MAGIC, usize::try_from(count).unwrap_or(usize::MAX))
}

fn parse_boot_entry(unit: &[u8; UNIT]) -> Option<u32> {
    parse_len(unit, BOOT_MAGIC).and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0)
}

/// A key slot as the summary shows it.
#[derive(Clone, Copy)]
enum KeyView {
    Empty,
    /// The first bytes of the public key's x coordinate.
    P256([u8; 4]),
    Torn,
    Bad,
}

/// `slot 0: 123 bytes, slot 1: empty, ...`
struct StateList<'a>(&'a [SlotState]);

impl core::fmt::Display for StateList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, state) in self.0.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            write!(f, "{sep}slot {i}: {state}")?;
        }
        Ok(())
    }
}

/// `key 0: P-256 (public x 12:34:56:78...), key 1: empty, ...`
struct KeyList<'a>(&'a [KeyView]);

impl core::fmt::Display for KeyList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, key) in self.0.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            write!(f, "{sep}key {i}: ")?;
            match key {
                KeyView::Empty => f.write_str("empty")?,
                KeyView::P256(x) => write!(f, "P-256 (public x {}...)", crate::Hex(x))?,
                KeyView::Torn => f.write_str("torn")?,
                KeyView::Bad => f.write_str("not a P-256 key")?,
            }
        }
        Ok(())
    }
}
