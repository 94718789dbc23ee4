//! crypto-bigint plumbing for RSA key construction and generation (byte conversions,
//! Montgomery parameters for the primality test). The operations themselves run on
//! [`super::mont`].

use crate::CryptoError;
use crypto_bigint::modular::runtime_mod::DynResidueParams;
use crypto_bigint::{Integer, Limb, Uint, Word};

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
}
