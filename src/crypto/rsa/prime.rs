//! Random probable-prime generation on crypto-bigint 0.5, without allocation.
//!
//! Written here because `crypto-primes` 0.5 (the release for crypto-bigint 0.5) allocates
//! its sieve, and later releases belong to another crypto-bigint generation. The method is the
//! usual one (FIPS 186-5 appendix A.1.3 / B.3): a random odd candidate with its two top bits set
//! (so a product of two such primes has exactly twice the bits), an incremental search that
//! skips multiples of the first 400 odd primes (up to 2749), then Miller-Rabin with random bases.

use crate::CryptoError;
use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Limb, NonZero, Random, RandomMod, Uint};
use rand_core::CryptoRngCore;

/// How many small odd primes the sieve checks.
const SMALL_PRIME_COUNT: usize = 400;

/// The first [`SMALL_PRIME_COUNT`] odd primes, computed at compile time.
// Evaluated at compile time: an out-of-range index is a build error, not a run-time panic.
#[allow(clippy::indexing_slicing)]
const SMALL_PRIMES: [u32; SMALL_PRIME_COUNT] = {
    let mut primes = [0u32; SMALL_PRIME_COUNT];
    let mut count = 0;
    let mut candidate = 3u32;
    while count < SMALL_PRIME_COUNT {
        let mut i = 0;
        let mut is_prime = true;
        while i < count && primes[i] * primes[i] <= candidate {
            if candidate.is_multiple_of(primes[i]) {
                is_prime = false;
                break;
            }
            i += 1;
        }
        if is_prime {
            primes[count] = candidate;
            count += 1;
        }
        candidate += 2;
    }
    primes
};

/// Miller-Rabin rounds. FIPS 186-5 table B.1 asks for 5 (1024-bit) and 4 (1536-bit) rounds
/// after trial division for an error below 2^-100; 8 leaves margin for every size here.
const MILLER_RABIN_ROUNDS: usize = 8;

/// Candidates tried from one random start before drawing a new start.
const SEARCH_SPAN: u32 = 1 << 14;
/// Random starts before giving up (a working RNG needs about one).
const STARTS: usize = 64;

/// A random prime of exactly `Uint::<LIMBS>::BITS` bits whose two top bits are set.
pub fn generate_prime<const LIMBS: usize>(rng: &mut impl CryptoRngCore) -> Result<Uint<LIMBS>, CryptoError> {
    let bits = Uint::<LIMBS>::BITS;
    let top_two = Uint::<LIMBS>::from_u8(3).shl_vartime(bits - 2);
    for _ in 0..STARTS {
        let start = Uint::<LIMBS>::random(rng).bitor(&top_two).bitor(&Uint::ONE);
        let mut residues = [0u32; SMALL_PRIME_COUNT];
        for (r, p) in residues.iter_mut().zip(SMALL_PRIMES) {
            let p = Option::<NonZero<Limb>>::from(NonZero::new(Limb::from_u32(p))).ok_or(CryptoError::KeyGenerationFailed)?;
            // Small primes fit in a u32, so the remainder does too. (A limb is a u32 on 32-bit
            // targets, where the cast is a no-op clippy would flag.)
            #[allow(clippy::unnecessary_cast)]
            {
                *r = start.div_rem_limb(p).1.0 as u32;
            }
        }
        let mut offset = 0u32;
        while offset < SEARCH_SPAN {
            let divisible = residues.iter().zip(SMALL_PRIMES).any(|(r, p)| (r + offset).is_multiple_of(p));
            if !divisible {
                let candidate = start.wrapping_add(&Uint::from_u32(offset));
                // Staying below 2^bits keeps the two top bits (a wrap would clear them).
                if candidate.bits_vartime() == bits && is_probable_prime(&candidate, rng)? {
                    return Ok(candidate);
                }
            }
            offset += 2;
        }
    }
    Err(CryptoError::KeyGenerationFailed)
}

/// Miller-Rabin with [`MILLER_RABIN_ROUNDS`] random bases in `[2, n - 2]`; `n` odd and > 3.
fn is_probable_prime<const LIMBS: usize>(n: &Uint<LIMBS>, rng: &mut impl CryptoRngCore) -> Result<bool, CryptoError> {
    let params = super::arith::params(n)?;
    let n_minus_1 = n.wrapping_sub(&Uint::ONE);
    let s = n_minus_1.trailing_zeros();
    let d = n_minus_1.shr_vartime(s);
    let one = DynResidue::one(params);
    let minus_one = DynResidue::new(&n_minus_1, params);
    // Bases are drawn from [0, n - 3) and shifted up by 2.
    let range =
        Option::<NonZero<Uint<LIMBS>>>::from(NonZero::new(n.wrapping_sub(&Uint::from_u8(3)))).ok_or(CryptoError::KeyGenerationFailed)?;
    for _ in 0..MILLER_RABIN_ROUNDS {
        let a = Uint::<LIMBS>::random_mod(rng, &range).wrapping_add(&Uint::from_u8(2));
        if !witness_passes(&a, &d, s, params, one, minus_one) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One Miller-Rabin round: does base `a` fail to prove `n` composite?
fn witness_passes<const LIMBS: usize>(
    a: &Uint<LIMBS>,
    d: &Uint<LIMBS>,
    s: usize,
    params: DynResidueParams<LIMBS>,
    one: DynResidue<LIMBS>,
    minus_one: DynResidue<LIMBS>,
) -> bool {
    let mut x = DynResidue::new(a, params).pow(d);
    if x == one || x == minus_one {
        return true;
    }
    for _ in 1..s {
        x = x.square();
        if x == minus_one {
            return true;
        }
        if x == one {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_bigint::{U64, U256};
    use rand::SeedableRng;

    #[test]
    fn small_prime_table_lists_every_odd_prime_in_order() {
        let is_prime = |n: u32| n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| !n.is_multiple_of(d));
        let expected: std::vec::Vec<u32> = (3..).step_by(2).filter(|n| is_prime(*n)).take(SMALL_PRIME_COUNT).collect();
        assert_eq!(&SMALL_PRIMES[..], &expected[..]);
        assert_eq!(&SMALL_PRIMES[..6], &[3, 5, 7, 11, 13, 17]);
    }

    #[test]
    fn miller_rabin_separates_known_primes_and_composites() {
        let mut r = rand::rngs::StdRng::seed_from_u64(9);
        // 2^61 - 1 is prime; 2^61 + 1 is divisible by 3; 3215031751 is a strong
        // pseudoprime to bases 2, 3, 5 and 7, caught by random bases.
        assert!(is_probable_prime(&U64::from_u64((1 << 61) - 1), &mut r).unwrap());
        assert!(!is_probable_prime(&U64::from_u64((1 << 61) + 1), &mut r).unwrap());
        assert!(!is_probable_prime(&U64::from_u64(3_215_031_751), &mut r).unwrap());
        // The Carmichael number 561 = 3 * 11 * 17.
        assert!(!is_probable_prime(&U64::from_u64(561), &mut r).unwrap());
        // 2^255 - 19 is prime.
        let p25519 = U256::ONE.shl_vartime(255).wrapping_sub(&U256::from_u8(19));
        assert!(is_probable_prime(&p25519, &mut r).unwrap());
        assert!(!is_probable_prime(&p25519.wrapping_add(&U256::from_u8(2)), &mut r).unwrap());
    }

    #[test]
    fn generated_primes_have_the_top_two_bits_and_pass_a_second_test() {
        let mut r = rand::rngs::StdRng::seed_from_u64(10);
        for _ in 0..4 {
            let p: U256 = generate_prime(&mut r).unwrap();
            assert_eq!(p.bits_vartime(), 256);
            assert!(p.shr_vartime(254) == U256::from_u8(3));
            assert!(is_probable_prime(&p, &mut r).unwrap());
        }
    }
}
