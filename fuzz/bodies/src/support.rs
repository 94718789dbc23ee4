//! Helpers shared by several targets.

use rand_core::{CryptoRng, Error, RngCore};

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
