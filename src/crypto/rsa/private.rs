//! RSA private-key operations for software keys (feature `soft-keys`).
//!
//! - CRT exponentiation with half-size primes (`H` limbs for `L`-limb moduli).
//! - Blinding of every private operation with a fresh `r^e` from a ChaCha20 generator seeded
//!   from the caller's RNG at construction.
//! - A fault check: the result is re-encrypted with `e` and compared before it is released.
//! - PKCS#1 v1.5 decryption with implicit rejection (draft-irtf-cfrg-rsa-guidance, the Marvin
//!   attack mitigation): bad padding yields a pseudo-random message derived from the key and the
//!   ciphertext, through the same code path and with no distinguishable error.
//!
//! All secret integers are zeroized on drop: the key's own, and the named intermediates of
//! every private operation (the CRT halves, the blinding values, the blinded input and
//! result) when the operation returns. crypto-bigint's values are `Copy` and moved by value,
//! so copies the compiler makes inside the arithmetic (register spills, by-value arguments)
//! are outside this; issue 14's in-place arithmetic reduces them.

use super::arith::{params, uint_from_be, uint_to_be};
use super::{MAX_MODULUS_LEN, RsaPublicKey, check_signature_hash, padding};
use crate::CryptoError;
use crate::crypto::digest::HashAlgorithm;
use crypto_bigint::modular::runtime_mod::DynResidue;
use crypto_bigint::{Integer, NonZero, RandomMod, U1024, U1536, U2048, U3072, U4096, Uint};
use hmac::{Hmac, Mac};
use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRngCore, SeedableRng};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

/// A 2048-bit RSA private key.
pub type RsaPrivateKey2048 = RsaPrivateKey<{ U2048::LIMBS }, { U1024::LIMBS }>;
/// A 3072-bit RSA private key.
pub type RsaPrivateKey3072 = RsaPrivateKey<{ U3072::LIMBS }, { U1536::LIMBS }>;
/// A 4096-bit RSA private key.
pub type RsaPrivateKey4096 = RsaPrivateKey<{ U4096::LIMBS }, { U2048::LIMBS }>;

/// Attempts at finding a prime pair before key generation gives up.
const KEYGEN_ATTEMPTS: usize = 64;
/// Attempts at drawing an invertible blinding factor (a failure has probability ~2^-1000).
const BLINDING_ATTEMPTS: usize = 8;

/// An RSA private key with an `L`-limb modulus and `H = L / 2`-limb primes. Use the aliases
/// [`RsaPrivateKey2048`], [`RsaPrivateKey3072`], [`RsaPrivateKey4096`].
///
/// Moduli with fewer bits than the type's size (say a 2047-bit key in the 2048 type) are
/// accepted on import.
pub struct RsaPrivateKey<const L: usize, const H: usize> {
    n: Uint<L>,
    e: Uint<L>,
    d: Uint<L>,
    p: Uint<H>,
    q: Uint<H>,
    dp: Uint<H>,
    dq: Uint<H>,
    qinv: Uint<H>,
    /// Modulus length in bytes.
    k: usize,
    /// SHA-256 of the private exponent: the key-derivation key for implicit rejection.
    kdk: [u8; 32],
    blinding: ChaCha20Rng,
}

impl<const L: usize, const H: usize> Drop for RsaPrivateKey<L, H> {
    fn drop(&mut self) {
        self.d.zeroize();
        self.p.zeroize();
        self.q.zeroize();
        self.dp.zeroize();
        self.dq.zeroize();
        self.qinv.zeroize();
        self.kdk.zeroize();
        self.blinding = ChaCha20Rng::from_seed([0; 32]);
    }
}

impl<const L: usize, const H: usize> core::fmt::Debug for RsaPrivateKey<L, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "RsaPrivateKey({} bits, secret parts not shown)", self.n.bits_vartime())
    }
}

impl<const L: usize, const H: usize> RsaPrivateKey<L, H> {
    const SIZE_CHECK: () = assert!(L == 2 * H, "RsaPrivateKey needs H = L / 2");

    /// The modulus size of this key type in bits.
    pub const BITS: usize = Uint::<L>::BITS;

    /// Generates a key of [`Self::BITS`] bits with `e = 65537`. Slow on microcontrollers
    /// (seconds to minutes): generate once and persist, or use a secure element.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Result<Self, CryptoError> {
        let () = Self::SIZE_CHECK;
        let e = Uint::<L>::from_u32(65537);
        let e_half = Uint::<H>::from_u32(65537);
        for _ in 0..KEYGEN_ATTEMPTS {
            let p: Uint<H> = super::prime::generate_prime(rng)?;
            let q: Uint<H> = super::prime::generate_prime(rng)?;
            if p == q {
                continue;
            }
            let n = wide_mul(&p, &q);
            if n.bits_vartime() != Self::BITS {
                continue;
            }
            let (_, p_ok) = e_half.inv_mod(&p.wrapping_sub(&Uint::ONE));
            let (_, q_ok) = e_half.inv_mod(&q.wrapping_sub(&Uint::ONE));
            if !(bool::from(p_ok) && bool::from(q_ok)) {
                continue;
            }
            let phi = Zeroizing::new(wide_mul(&p.wrapping_sub(&Uint::ONE), &q.wrapping_sub(&Uint::ONE)));
            let (d, d_ok) = e.inv_mod(&phi);
            if !bool::from(d_ok) {
                continue;
            }
            return Self::assemble(n, e, d, p, q, rng);
        }
        Err(CryptoError::KeyGenerationFailed)
    }

    /// Builds a key from its big-endian components. The CRT values are recomputed from `d`,
    /// and the key is checked: `n = p * q`, and a test value survives sign-then-verify.
    pub fn from_components(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8], rng: &mut impl CryptoRngCore) -> Result<Self, CryptoError> {
        let () = Self::SIZE_CHECK;
        let bad = |_| CryptoError::InvalidKey;
        let public = RsaPublicKey::new(n, e)?;
        if public.modulus_len() > L * crypto_bigint::Limb::BYTES {
            return Err(CryptoError::UnsupportedKeySize { bits: public.bits() });
        }
        let n = uint_from_be::<L>(public.modulus()).map_err(bad)?;
        let e = uint_from_be::<L>(public.exponent()).map_err(bad)?;
        let d = uint_from_be::<L>(d).map_err(bad)?;
        let p = uint_from_be::<H>(p).map_err(bad)?;
        let q = uint_from_be::<H>(q).map_err(bad)?;
        if wide_mul(&p, &q) != n || d >= n {
            return Err(CryptoError::InvalidKey);
        }
        Self::assemble(n, e, d, p, q, rng)
    }

    /// Parses a DER `RSAPrivateKey` (PKCS#1, RFC 8017 appendix A.1.2; two-prime keys only).
    pub fn from_pkcs1_der(der_bytes: &[u8], rng: &mut impl CryptoRngCore) -> Result<Self, CryptoError> {
        use der::Decode;
        let k = pkcs1::RsaPrivateKey::from_der(der_bytes).map_err(|_| CryptoError::InvalidKey)?;
        if k.other_prime_infos.is_some() {
            return Err(CryptoError::InvalidKey);
        }
        Self::from_components(
            k.modulus.as_bytes(),
            k.public_exponent.as_bytes(),
            k.private_exponent.as_bytes(),
            k.prime1.as_bytes(),
            k.prime2.as_bytes(),
            rng,
        )
    }

    /// Parses an unencrypted DER PKCS#8 `PrivateKeyInfo` holding an rsaEncryption key.
    pub fn from_pkcs8_der(der_bytes: &[u8], rng: &mut impl CryptoRngCore) -> Result<Self, CryptoError> {
        let info = pkcs8::PrivateKeyInfo::try_from(der_bytes).map_err(|_| CryptoError::InvalidKey)?;
        if info.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(CryptoError::InvalidKey);
        }
        Self::from_pkcs1_der(info.private_key, rng)
    }

    fn assemble(n: Uint<L>, e: Uint<L>, d: Uint<L>, p: Uint<H>, q: Uint<H>, rng: &mut impl CryptoRngCore) -> Result<Self, CryptoError> {
        let nz = |x: Uint<H>| Option::<NonZero<Uint<H>>>::from(NonZero::new(x)).ok_or(CryptoError::InvalidKey);
        let p1 = nz(p.wrapping_sub(&Uint::ONE))?;
        let q1 = nz(q.wrapping_sub(&Uint::ONE))?;
        // d mod (p-1), d mod (q-1), on the wide value reduced through the widened modulus.
        let dp = d.rem(&widen_nz(&p1)?).resize::<H>();
        let dq = d.rem(&widen_nz(&q1)?).resize::<H>();
        let (qinv, ok) = q.rem(&nz(p)?).inv_odd_mod(&p);
        if !bool::from(ok) || !bool::from(p.is_odd()) || !bool::from(q.is_odd()) {
            return Err(CryptoError::InvalidKey);
        }
        let mut d_bytes = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
        let k = n.bits_vartime().div_ceil(8);
        let d_be = d_bytes.get_mut(..k).ok_or(CryptoError::InvalidKey)?;
        uint_to_be(&d, d_be)?;
        let mut kdk = [0u8; 32];
        kdk.copy_from_slice(HashAlgorithm::Sha256.digest(d_be).as_bytes());
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let mut key = Self { n, e, d, p, q, dp, dq, qinv, k, kdk, blinding: ChaCha20Rng::from_seed(*seed) };
        // Pairwise consistency: the private operation's fault check (`m^e == c`) must pass.
        key.raw_private(&Uint::<L>::from_u32(0x5eed_cafe)).map_err(|_| CryptoError::InvalidKey)?;
        Ok(key)
    }

    /// The modulus length in bytes (signature and ciphertext length).
    pub fn modulus_len(&self) -> usize {
        self.k
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> u16 {
        u16::try_from(self.n.bits_vartime()).unwrap_or(u16::MAX)
    }

    /// Writes the public key as a DER `RSAPublicKey` (PKCS#1) into `out`.
    pub fn public_key_pkcs1_der<'o>(&self, out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
        let mut n = [0u8; MAX_MODULUS_LEN];
        let n = n.get_mut(..self.k).ok_or(CryptoError::InvalidKey)?;
        uint_to_be(&self.n, n)?;
        let e_len = self.e.bits_vartime().div_ceil(8);
        let mut e = [0u8; MAX_MODULUS_LEN];
        let e = e.get_mut(..e_len).ok_or(CryptoError::InvalidKey)?;
        uint_to_be(&self.e, e)?;
        RsaPublicKey::new(n, e)?.to_pkcs1_der(out)
    }

    /// RSASSA-PKCS1-v1_5 signature over `digest` into `out` (`k` bytes). SHA-1 needs
    /// `legacy-crypto`.
    pub fn sign_pkcs1v15<'o>(&mut self, hash: HashAlgorithm, digest: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
        check_signature_hash(hash)?;
        let k = self.k;
        let out = out.get_mut(..k).ok_or(CryptoError::BufferTooSmall { needed: k })?;
        let mut em = [0u8; MAX_MODULUS_LEN];
        let em = em.get_mut(..k).ok_or(CryptoError::InvalidKey)?;
        padding::emsa_pkcs1v15_encode(hash, digest, em)?;
        let m = uint_from_be::<L>(em)?;
        let s = self.raw_private(&m)?;
        uint_to_be(&s, out)?;
        Ok(out)
    }

    /// RSAES-PKCS1-v1_5 decryption of an `out.len()`-byte message (a content-encryption key)
    /// with implicit rejection: if the padding is invalid or the message has another length,
    /// `out` receives pseudo-random bytes derived from the key and the ciphertext, and the call
    /// still succeeds. Errors come only from public facts (ciphertext length, value not below
    /// the modulus, `out` too long for the modulus).
    pub fn decrypt_pkcs1v15_implicit(&mut self, ciphertext: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
        let k = self.k;
        if ciphertext.len() != k {
            return Err(CryptoError::InvalidLength { what: "ciphertext" });
        }
        if out.len() + 11 > k || out.len() > 255 {
            return Err(CryptoError::InvalidLength { what: "expected plaintext" });
        }
        let c = uint_from_be::<L>(ciphertext)?;
        if c >= self.n {
            return Err(CryptoError::InvalidLength { what: "RSA input not below the modulus" });
        }
        let mut m = self.raw_private(&c)?;
        let mut em = Zeroizing::new([0u8; MAX_MODULUS_LEN]);
        let em = em.get_mut(..k).ok_or(CryptoError::InvalidKey)?;
        let written = uint_to_be(&m, em);
        m.zeroize();
        written?;
        let mut synthetic = Zeroizing::new([0u8; 255]);
        let synthetic = synthetic.get_mut(..out.len()).ok_or(CryptoError::InvalidKey)?;
        self.synthetic_message(ciphertext, synthetic)?;
        padding::eme_pkcs1v15_decode_implicit(em, synthetic, out)
    }

    /// The implicit-rejection message: `KDK' = HMAC-SHA256(SHA-256(d), C)`, then
    /// `HMAC-SHA256(KDK', i || "message" || bitlen)` blocks.
    fn synthetic_message(&self, ciphertext: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.kdk).map_err(|_| CryptoError::InvalidKey)?;
        mac.update(ciphertext);
        let kdk = Zeroizing::new(mac.finalize().into_bytes());
        let bitlen = u16::try_from(out.len() * 8).map_err(|_| CryptoError::InvalidLength { what: "expected plaintext" })?;
        for (i, chunk) in (0u16..).zip(out.chunks_mut(32)) {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&kdk).map_err(|_| CryptoError::InvalidKey)?;
            mac.update(&i.to_be_bytes());
            mac.update(b"message");
            mac.update(&bitlen.to_be_bytes());
            let block = Zeroizing::new(mac.finalize().into_bytes());
            for (d, s) in chunk.iter_mut().zip(block.iter()) {
                *d = *s;
            }
        }
        Ok(())
    }

    /// `c^d mod n`, blinded, by the CRT, fault-checked. `c` must be below `n`.
    fn raw_private(&mut self, c: &Uint<L>) -> Result<Uint<L>, CryptoError> {
        let pn = params(&self.n)?;
        let n_nz = Option::<NonZero<Uint<L>>>::from(NonZero::new(self.n)).ok_or(CryptoError::InvalidKey)?;
        let e_bits = self.e.bits_vartime();
        let mut blind = None;
        for _ in 0..BLINDING_ATTEMPTS {
            let r = Zeroizing::new(Uint::<L>::random_mod(&mut self.blinding, &n_nz));
            let (r_inv, ok) = DynResidue::new(&r, pn).invert();
            if bool::from(ok) && *r != Uint::ZERO {
                blind = Some((DynResidue::new(&r, pn).pow_bounded_exp(&self.e, e_bits), r_inv));
                break;
            }
        }
        let (r_e, r_inv) = blind.ok_or(CryptoError::KeyGenerationFailed)?;
        let (r_e, r_inv) = (Zeroizing::new(r_e), Zeroizing::new(r_inv));
        let blinded = Zeroizing::new((DynResidue::new(c, pn) * *r_e).retrieve());
        let m_blinded = Zeroizing::new(self.crt(&blinded)?);
        let m = (DynResidue::new(&m_blinded, pn) * *r_inv).retrieve();
        let check = DynResidue::new(&m, pn).pow_bounded_exp(&self.e, e_bits).retrieve();
        if check != *c {
            return Err(CryptoError::IntegrityCheckFailed);
        }
        Ok(m)
    }

    /// Garner's CRT recombination: `m = m2 + q * (qinv * (m1 - m2) mod p)`.
    fn crt(&self, c: &Uint<L>) -> Result<Uint<L>, CryptoError> {
        let pp = params(&self.p)?;
        let pq = params(&self.q)?;
        let p_wide = widen_nz(&Option::<NonZero<Uint<H>>>::from(NonZero::new(self.p)).ok_or(CryptoError::InvalidKey)?)?;
        let q_wide = widen_nz(&Option::<NonZero<Uint<H>>>::from(NonZero::new(self.q)).ok_or(CryptoError::InvalidKey)?)?;
        // Every intermediate is a function of the secret exponents: named, and wiped on return.
        let cp = Zeroizing::new(c.rem(&p_wide).resize::<H>());
        let cq = Zeroizing::new(c.rem(&q_wide).resize::<H>());
        let m1 = Zeroizing::new(DynResidue::new(&cp, pp).pow(&self.dp));
        let m2 = Zeroizing::new(DynResidue::new(&cq, pq).pow(&self.dq).retrieve());
        let m2_mod_p = Zeroizing::new(m2.resize::<L>().rem(&p_wide).resize::<H>());
        let h = Zeroizing::new(((*m1 - DynResidue::new(&m2_mod_p, pp)) * DynResidue::new(&self.qinv, pp)).retrieve());
        Ok(wide_mul(&h, &self.q).wrapping_add(&m2.resize::<L>()))
    }
}

/// The full product of two half-size integers.
fn wide_mul<const L: usize, const H: usize>(a: &Uint<H>, b: &Uint<H>) -> Uint<L> {
    let (lo, hi) = a.mul_wide(b);
    hi.resize::<L>().shl_vartime(Uint::<H>::BITS).bitor(&lo.resize::<L>())
}

fn widen_nz<const L: usize, const H: usize>(x: &NonZero<Uint<H>>) -> Result<NonZero<Uint<L>>, CryptoError> {
    Option::from(NonZero::new(x.as_ref().resize::<L>())).ok_or(CryptoError::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_2048_bit_key_signs_verifies_and_round_trips_encryption() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut key = RsaPrivateKey2048::generate(&mut rng).unwrap();
        assert_eq!(key.bits(), 2048);
        let mut der = [0u8; 600];
        let der = key.public_key_pkcs1_der(&mut der).unwrap();
        let mut der_copy = [0u8; 600];
        der_copy[..der.len()].copy_from_slice(der);
        let public = RsaPublicKey::from_pkcs1_der(&der_copy[..der.len()]).unwrap();
        let digest = HashAlgorithm::Sha256.digest(b"hello");
        let mut sig = [0u8; 256];
        key.sign_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), &mut sig).unwrap();
        public.verify_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), &sig).unwrap();
        sig[100] ^= 1;
        assert_eq!(public.verify_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), &sig), Err(CryptoError::SignatureInvalid));

        let cek = [0x5au8; 32];
        let mut ct = [0u8; 256];
        public.encrypt_pkcs1v15(&mut rng, &cek, &mut ct).unwrap();
        let mut out = [0u8; 32];
        key.decrypt_pkcs1v15_implicit(&ct, &mut out).unwrap();
        assert_eq!(out, cek);
        // Asking for another length is indistinguishable from bad padding: no error, and
        // a deterministic substitute.
        let mut out16 = [0u8; 16];
        key.decrypt_pkcs1v15_implicit(&ct, &mut out16).unwrap();
        let mut again = [0u8; 16];
        key.decrypt_pkcs1v15_implicit(&ct, &mut again).unwrap();
        assert_eq!(out16, again);
        assert_ne!(&out16[..], &cek[..16]);
    }

    #[test]
    fn inconsistent_components_are_rejected() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        // p = 61, q = 53 are far too small for the size check, which comes first.
        assert!(matches!(
            RsaPrivateKey2048::from_components(&[0x0c, 0xa1], &[0x11], &[0x0a, 0xc1], &[61], &[53], &mut rng),
            Err(CryptoError::UnsupportedKeySize { .. })
        ));
        assert_eq!(RsaPrivateKey2048::from_pkcs1_der(&[0x30, 0x00], &mut rng).unwrap_err(), CryptoError::InvalidKey);
        assert_eq!(RsaPrivateKey2048::from_pkcs8_der(&[0x30, 0x00], &mut rng).unwrap_err(), CryptoError::InvalidKey);
    }
}
