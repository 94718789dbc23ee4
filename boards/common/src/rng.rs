//! The random number generator of this demo: **NOT SECURE**.
//!
//! The MPS2 board (and QEMU's model of it) has no TRNG. This image uses ChaCha20 seeded with
//! 32 bytes fixed at build time (`DEMO_RNG_SEED`, or a built-in constant): everything it
//! "randomly" makes (the P-256 device key, TLS key shares, SCEP nonces and transaction IDs,
//! RSA blinding) is known to whoever knows the seed, and repeats from run to run of the same
//! image. It exists only so the emulator demo can run the real protocol code; a device needs a
//! hardware entropy source behind `rand_core::CryptoRngCore`.

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
