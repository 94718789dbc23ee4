//! Helpers shared by several targets.

use core::cell::RefCell;

use critical_section::Mutex;
use rand_core::{CryptoRng, Error, RngCore};

/// The scratch pool's size: the largest set of buffers one body takes at a time
/// (`scep_client`'s client buffers, 4 + 2 + 8 + 8 KiB).
pub(crate) const SCRATCH_LEN: usize = 22 * 1024;

/// The bodies' buffers (the byte arrays a caller hands the library: client and manager
/// buffers, normalization and decryption outputs), in one static pool instead of on the stack.
///
/// A firmware keeps such buffers in statics (the board images do), not on the stack of the
/// task that calls the library; the 32-bit replay (`fuzz/replay32/`) measures the peak stack
/// of each body against the 16 KiB a firmware task would give it, and with the buffers here
/// that peak is the library's own stack (its frames, its temporaries, the values it returns),
/// not the harness's. Small fixed-size values (a signature, an SPKI, a shared secret: under
/// 100 bytes) stay on the stack, as they would in a firmware.
///
/// Safe code only: a `critical_section::Mutex` around a `RefCell` (cortex-m's single-core
/// implementation on the replay target, critical-section's `std` one under cargo-fuzz). The
/// bodies never nest, so the `RefCell` is never borrowed twice.
static SCRATCH: Mutex<RefCell<[u8; SCRATCH_LEN]>> = Mutex::new(RefCell::new([0; SCRATCH_LEN]));

/// Runs `f` with the first `len` bytes of the scratch pool, zeroed (as a fresh `[0u8; len]`
/// on the stack would be); the body carves its buffers out of it with `split_at_mut`.
///
/// Panics if `len` exceeds [`SCRATCH_LEN`] (at the first input that reaches the call: raise
/// the pool's size with the body's buffers). The body runs inside the critical section
/// (interrupts masked on the replay target, which takes none).
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    assert!(len <= SCRATCH_LEN, "a body asks for {len} bytes of scratch, the pool has {SCRATCH_LEN}");
    critical_section::with(|cs| {
        let mut pool = SCRATCH.borrow_ref_mut(cs);
        let pool = &mut pool[..len];
        pool.fill(0);
        f(pool)
    })
}

/// The micromdm CA certificate (a GetCACert response), used as the SCEP CA and as an
/// enveloped-data recipient.
pub(crate) const MICROMDM_CA: &[u8] = include_bytes!("../../seeds/certificate/micromdm-GetCACert-response.der");

/// Splits `n` bytes off the front of `data` (fewer if it is shorter).
pub(crate) fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

/// A fixed xorshift stream: fuzzing wants reproducible runs, not secrecy.
pub(crate) struct TestRng(pub(crate) u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u32() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for TestRng {}

/// A Weyl sequence (a counter stepping by the golden ratio): reproducible, not secret.
pub(crate) struct Counter(pub(crate) u64);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}

/// A `core::fmt::Write` sink that only counts the bytes written (the allocation-free stand-in
/// for `format!`, to exercise `Display` implementations). It never fails, so an error from
/// `write!` into it can only come from a `Display` implementation, as with `format!`.
#[derive(Default)]
pub(crate) struct FmtCount(pub(crate) usize);

impl core::fmt::Write for FmtCount {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0 = self.0.saturating_add(s.len());
        Ok(())
    }
}
