//! Fixed-size integer plumbing for RSA: byte conversions and the public operation.
//!
//! Moduli are held in `crypto_bigint::Uint<LIMBS>` of the smallest standard size that fits
//! (2048, 3072 or 4096 bits), chosen at run time by [`with_size!`]. Nothing allocates; the
//! largest working set (a 4096-bit exponentiation with its 16-entry window table) is about
//! 10 KiB of stack.

use crate::CryptoError;
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Integer, Limb, Uint, Word};

/// Largest modulus in bytes (4096 bits).
pub const MAX_MODULUS_LEN: usize = 512;
/// Smallest modulus in bits.
pub const MIN_MODULUS_BITS: usize = 2048;

/// Runs `$body` with `$L` bound to the limb count of the smallest of U2048/U3072/U4096 that
/// holds a `$len`-byte value; evaluates `$too_big` when none does.
macro_rules! with_size {
    ($len:expr, |$L:ident| $body:expr, $too_big:expr) => {{
        let len: usize = $len;
        if len <= 256 {
            const $L: usize = crypto_bigint::U2048::LIMBS;
            $body
        } else if len <= 384 {
            const $L: usize = crypto_bigint::U3072::LIMBS;
            $body
        } else if len <= 512 {
            const $L: usize = crypto_bigint::U4096::LIMBS;
            $body
        } else {
            $too_big
        }
    }};
}
pub(crate) use with_size;

/// Reads a big-endian integer of at most `LIMBS` words.
pub fn uint_from_be<const LIMBS: usize>(bytes: &[u8]) -> Result<Uint<LIMBS>, CryptoError> {
    let mut words = [0 as Word; LIMBS];
    if bytes.len() > LIMBS * Limb::BYTES {
        // Leading zero bytes are harmless; anything else does not fit.
        let (extra, _) = bytes.split_at(bytes.len() - LIMBS * Limb::BYTES);
        if extra.iter().any(|b| *b != 0) {
            return Err(CryptoError::InvalidLength { what: "integer" });
        }
    }
    for (i, b) in bytes.iter().rev().take(LIMBS * Limb::BYTES).enumerate() {
        if let Some(w) = words.get_mut(i / Limb::BYTES) {
            *w |= (*b as Word) << (8 * (i % Limb::BYTES));
        }
    }
    Ok(Uint::from_words(words))
}

/// Writes the low `out.len()` bytes of `x`, big-endian. Fails if `x` does not fit.
pub fn uint_to_be<const LIMBS: usize>(x: &Uint<LIMBS>, out: &mut [u8]) -> Result<(), CryptoError> {
    let words = x.as_words();
    let n = out.len();
    for (i, dst) in out.iter_mut().rev().enumerate() {
        *dst = match words.get(i / Limb::BYTES) {
            Some(w) => (*w >> (8 * (i % Limb::BYTES))) as u8,
            None => 0,
        };
    }
    // Any remaining non-zero byte means truncation.
    let fits = (n..LIMBS * Limb::BYTES).all(|i| words.get(i / Limb::BYTES).is_none_or(|w| (*w >> (8 * (i % Limb::BYTES))) as u8 == 0));
    if fits { Ok(()) } else { Err(CryptoError::BufferTooSmall { needed: x.bits().div_ceil(8) }) }
}

/// Montgomery parameters for an odd modulus, without the panic of `DynResidueParams::new`.
pub fn params<const LIMBS: usize>(modulus: &Uint<LIMBS>) -> Result<DynResidueParams<LIMBS>, CryptoError> {
    if !bool::from(modulus.is_odd()) {
        return Err(CryptoError::InvalidKey);
    }
    Ok(DynResidueParams::new(modulus))
}

/// `x^e mod n` for public values (time may depend on the bit length of `e`).
/// `x` must be below `n`; the result is written as `out.len()` big-endian bytes.
pub fn public_op<const LIMBS: usize>(n: &[u8], e: &[u8], x: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    let n = uint_from_be::<LIMBS>(n)?;
    let e = uint_from_be::<LIMBS>(e)?;
    let x = uint_from_be::<LIMBS>(x)?;
    if x >= n {
        return Err(CryptoError::InvalidLength { what: "RSA input not below the modulus" });
    }
    let p = params(&n)?;
    let y = DynResidue::new(&x, p).pow_bounded_exp(&e, e.bits_vartime()).retrieve();
    uint_to_be(&y, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_bigint::U2048;

    #[test]
    fn byte_conversions_round_trip_and_reject_overflow() {
        let mut bytes = [0u8; 256];
        bytes[0] = 0x80;
        bytes[255] = 0x01;
        let x = uint_from_be::<{ U2048::LIMBS }>(&bytes).unwrap();
        let mut back = [0u8; 256];
        uint_to_be(&x, &mut back).unwrap();
        assert_eq!(back, bytes);
        let mut short = [0u8; 255];
        assert!(matches!(uint_to_be(&x, &mut short), Err(CryptoError::BufferTooSmall { needed: 256 })));
        let mut long = [0u8; 258];
        long[2] = 0x80;
        assert!(uint_from_be::<{ U2048::LIMBS }>(&long).is_ok());
        long[0] = 1;
        assert!(uint_from_be::<{ U2048::LIMBS }>(&long).is_err());
        assert_eq!(uint_from_be::<{ U2048::LIMBS }>(&[]).unwrap(), U2048::ZERO);
    }

    #[test]
    fn public_op_computes_small_powers_and_rejects_bad_moduli() {
        // 3^3 mod 35 = 27
        let mut out = [0u8; 1];
        public_op::<{ U2048::LIMBS }>(&[35], &[3], &[3], &mut out).unwrap();
        assert_eq!(out, [27]);
        assert_eq!(public_op::<{ U2048::LIMBS }>(&[34], &[3], &[3], &mut out), Err(CryptoError::InvalidKey));
        assert!(public_op::<{ U2048::LIMBS }>(&[35], &[3], &[35], &mut out).is_err());
    }
}
