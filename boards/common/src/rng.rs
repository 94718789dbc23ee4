//! The random number generator of this demo: **NOT SECURE**.
//!
//! The images get no TRNG from their QEMU machines (MPS2 has none; no virtio-rng is attached
//! to `virt`). They use ChaCha20 seeded with 32 bytes fixed at build time (`DEMO_RNG_SEED`, or
//! a built-in constant): everything they "randomly" make (the P-256 device keys, TLS key
//! shares, SCEP nonces, RSA blinding) is known to whoever knows the seed. It exists only so the
//! emulator demo can run the real protocol code; a device needs a hardware entropy source
//! behind `rand_core::CryptoRngCore`.
//!
//! So that consecutive boots of one image do not repeat the same stream (the same device key,
//! the same nonces: a server would see a replay), the images count their boots in their flash
//! ([`crate::flash::Flash::next_boot`], written and read back before the count is used) and
//! take ChaCha20 stream number `boot` under the build-time key ([`NotSecureDemoRng::for_boot`]).
//! That only makes boots differ from each other: it adds no secret, the whole sequence is still
//! known to whoever knows the seed, and a flash file reset to blank replays it from boot 1.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

/// A deterministic generator seeded at build time. NOT SECURE (see the module docs).
#[derive(Debug)]
pub struct NotSecureDemoRng(ChaCha20Rng);

impl NotSecureDemoRng {
    /// The generator from the build-time seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(ChaCha20Rng::from_seed(seed))
    }

    /// The generator from the build-time seed, on ChaCha20 stream `boot` (the boot counter kept
    /// in flash): each boot of the image draws a different sequence. Still NOT SECURE.
    ///
    /// Not inlined: the generator (about 300 bytes) is built in the caller's slot, with no copy
    /// of it in the caller's frame (which sits under every enrollment's stack).
    #[inline(never)]
    pub fn for_boot(seed: [u8; 32], boot: u32) -> Self {
        let mut rng = Self(ChaCha20Rng::from_seed(seed));
        rng.0.set_stream(u64::from(boot));
        rng
    }

    /// [`NotSecureDemoRng::for_boot`] on another part of the stream space: ChaCha20 stream
    /// `part << 32 | boot` (part 0 is `for_boot`'s), so a second consumer of a boot (the
    /// riscv32 image's ACME run: part 1) never repeats what the enrollments draw. Still NOT
    /// SECURE.
    #[inline(never)]
    pub fn for_boot_part(seed: [u8; 32], boot: u32, part: u32) -> Self {
        let mut rng = Self(ChaCha20Rng::from_seed(seed));
        rng.0.set_stream((u64::from(part) << 32) | u64::from(boot));
        rng
    }

    /// An independent stream for another consumer (a protocol client, the TLS connector),
    /// seeded from this one.
    pub fn fork(&mut self) -> Self {
        let mut seed = [0u8; 32];
        self.0.fill_bytes(&mut seed);
        Self(ChaCha20Rng::from_seed(seed))
    }
}

impl RngCore for NotSecureDemoRng {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

/// The crate's APIs ask for `CryptoRngCore`. This marker is a claim this generator does NOT
/// deserve (its seed is public); it is made here only for the emulator demo.
impl CryptoRng for NotSecureDemoRng {}
