//! RSA private-key operations for software keys (feature `soft-keys`).
//!
//! - CRT exponentiation with half-size primes (`H` limbs for `L`-limb moduli), on the
//!   in-place Montgomery arithmetic of [`super::mont`], with the Montgomery parameters of `n`,
//!   `p` and `q` computed once, when the key is built.
//! - Blinding of every private operation by `r^e` (and unblinding by `r^-1`), `r` drawn from
//!   the caller's RNG when the key is built, both values squared after each use (Kocher's
//!   update): no inversion per operation.
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

use super::arith::{uint_from_be, uint_to_be};
use super::mont::{self, Limb, Modulus, head, head_mut};
use super::{MAX_MODULUS_LEN, RsaPublicKey, check_signature_hash, padding};
use crate::CryptoError;
use crate::crypto::digest::HashAlgorithm;
use crypto_bigint::{Integer, NonZero, RandomMod, U1024, U1536, U2048, U3072, U4096, Uint, WideWord};
use hmac::{Hmac, Mac};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroize;

/// Wipes the secret it borrows when it goes out of scope (early returns included):
/// `let mut t = [..]; let mut t = Wipe(&mut t);`. Not `Zeroizing::new`, which takes its
/// value as an argument: for the kilobyte-sized limb arrays here the compiler kept both the
/// argument and the wrapper on the stack (the exponentiation's window table: 5.6 KiB of
/// frame instead of 2.8).
struct Wipe<'a, T: Zeroize>(&'a mut T);

impl<T: Zeroize> Drop for Wipe<'_, T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> core::ops::Deref for Wipe<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0
    }
}

impl<T: Zeroize> core::ops::DerefMut for Wipe<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0
    }
}

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
    /// The public exponent (at most 2^32, as every key this crate accepts).
    e: u32,
    p: Uint<H>,
    q: Uint<H>,
    dp: Uint<H>,
    dq: Uint<H>,
    /// `q^-1 * R mod p` (Montgomery form, so one multiplication gives `x * q^-1 mod p`).
    qinv_m: Uint<H>,
    /// Montgomery parameters: `R^2 mod n`, `R^2 mod p`, `R^2 mod q`, and `-m^-1 mod 2^w`.
    rr_n: Uint<L>,
    rr_p: Uint<H>,
    rr_q: Uint<H>,
    n0: [Limb; 3],
    /// Limbs of `n`, and of `p` and `q` (equal).
    len_n: usize,
    len_h: usize,
    /// Blinding: `r^e * R mod n` and `r^-1 * R mod n`, squared after each use.
    blind_e: Uint<L>,
    blind_inv: Uint<L>,
    /// Modulus length in bytes.
    k: usize,
    /// SHA-256 of the private exponent: the key-derivation key for implicit rejection.
    kdk: [u8; 32],
}

impl<const L: usize, const H: usize> Drop for RsaPrivateKey<L, H> {
    fn drop(&mut self) {
        self.p.zeroize();
        self.q.zeroize();
        self.dp.zeroize();
        self.dq.zeroize();
        self.qinv_m.zeroize();
        self.rr_p.zeroize();
        self.rr_q.zeroize();
        self.n0.zeroize();
        self.blind_e.zeroize();
        self.blind_inv.zeroize();
        self.kdk.zeroize();
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
            let mut phi = wide_mul(&p.wrapping_sub(&Uint::ONE), &q.wrapping_sub(&Uint::ONE));
            let phi = Wipe(&mut phi);
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
        let mut slot = None;
        Self::load_components(&mut slot, n, e, d, p, q, rng)?;
        slot.ok_or(CryptoError::InvalidKey)
    }

    /// [`Self::from_components`] built in `slot` (caller-owned storage, a static on a device):
    /// the key (2 KiB for RSA-2048) is never on the stack, neither while its checks run nor
    /// when it is returned. On error `slot` is `None` (a partly built key is dropped, and
    /// wiped).
    pub fn load_components<'s>(
        slot: &'s mut Option<Self>,
        n: &[u8],
        e: &[u8],
        d: &[u8],
        p: &[u8],
        q: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<&'s mut Self, CryptoError> {
        let () = Self::SIZE_CHECK;
        *slot = None;
        let public = RsaPublicKey::new(n, e)?;
        if public.modulus_len() > L * crypto_bigint::Limb::BYTES {
            return Err(CryptoError::UnsupportedKeySize { bits: public.bits() });
        }
        let key = slot.insert(Self::EMPTY);
        let built = Self::fill(key, public, d, p, q, rng);
        if let Err(e) = built {
            *slot = None;
            return Err(e);
        }
        slot.as_mut().ok_or(CryptoError::InvalidKey)
    }

    /// Parses a DER `RSAPrivateKey` (PKCS#1, RFC 8017 appendix A.1.2; two-prime keys only).
    pub fn from_pkcs1_der(der_bytes: &[u8], rng: &mut impl CryptoRngCore) -> Result<Self, CryptoError> {
        let mut slot = None;
        Self::load_pkcs1_der(&mut slot, der_bytes, rng)?;
        slot.ok_or(CryptoError::InvalidKey)
    }

    /// [`Self::from_pkcs1_der`] built in `slot` (see [`Self::load_components`]).
    pub fn load_pkcs1_der<'s>(
        slot: &'s mut Option<Self>,
        der_bytes: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<&'s mut Self, CryptoError> {
        use der::Decode;
        *slot = None;
        let k = pkcs1::RsaPrivateKey::from_der(der_bytes).map_err(|_| CryptoError::InvalidKey)?;
        if k.other_prime_infos.is_some() {
            return Err(CryptoError::InvalidKey);
        }
        Self::load_components(
            slot,
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
        let mut slot = None;
        Self::load_pkcs8_der(&mut slot, der_bytes, rng)?;
        slot.ok_or(CryptoError::InvalidKey)
    }

    /// [`Self::from_pkcs8_der`] built in `slot` (see [`Self::load_components`]).
    pub fn load_pkcs8_der<'s>(
        slot: &'s mut Option<Self>,
        der_bytes: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<&'s mut Self, CryptoError> {
        *slot = None;
        let info = pkcs8::PrivateKeyInfo::try_from(der_bytes).map_err(|_| CryptoError::InvalidKey)?;
        if info.algorithm.oid != pkcs1::ALGORITHM_OID {
            return Err(CryptoError::InvalidKey);
        }
        Self::load_pkcs1_der(slot, info.private_key, rng)
    }

    /// A key with every value zero: only ever the starting point of [`Self::fill`], never
    /// returned to a caller.
    const EMPTY: Self = Self {
        n: Uint::ZERO,
        e: 0,
        p: Uint::ZERO,
        q: Uint::ZERO,
        dp: Uint::ZERO,
        dq: Uint::ZERO,
        qinv_m: Uint::ZERO,
        rr_n: Uint::ZERO,
        rr_p: Uint::ZERO,
        rr_q: Uint::ZERO,
        n0: [0; 3],
        len_n: 0,
        len_h: 0,
        blind_e: Uint::ZERO,
        blind_inv: Uint::ZERO,
        k: 0,
        kdk: [0; 32],
    };

    /// Fills `key` (in place) from the checked public part and the big-endian `d`, `p`, `q`.
    fn fill(
        key: &mut Self,
        public: RsaPublicKey<'_>,
        d: &[u8],
        p: &[u8],
        q: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<(), CryptoError> {
        let bad = |_| CryptoError::InvalidKey;
        key.n = uint_from_be::<L>(public.modulus()).map_err(bad)?;
        key.p = uint_from_be::<H>(p).map_err(bad)?;
        key.q = uint_from_be::<H>(q).map_err(bad)?;
        let mut dd = uint_from_be::<L>(d).map_err(bad)?;
        let dd = Wipe(&mut dd);
        if wide_mul(&key.p, &key.q) != key.n || *dd >= key.n {
            return Err(CryptoError::InvalidKey);
        }
        let e = uint_from_be::<L>(public.exponent()).map_err(bad)?;
        Self::assemble_in(key, &e, &dd, rng)
    }

    fn assemble(n: Uint<L>, e: Uint<L>, d: Uint<L>, p: Uint<H>, q: Uint<H>, rng: &mut impl CryptoRngCore) -> Result<Self, CryptoError> {
        let mut d = d;
        let d = Wipe(&mut d);
        let mut key = Self::EMPTY;
        key.n = n;
        key.p = p;
        key.q = q;
        Self::assemble_in(&mut key, &e, &d, rng)?;
        Ok(key)
    }

    /// Completes `key`, whose `n`, `p` and `q` are set: the exponents, the Montgomery
    /// parameters, the blinding pair and the implicit-rejection key, then the pairwise check.
    fn assemble_in(key: &mut Self, e: &Uint<L>, d: &Uint<L>, rng: &mut impl CryptoRngCore) -> Result<(), CryptoError> {
        let e32 = u32::try_from(e.bits_vartime()).ok().filter(|b| *b <= 32).and_then(|_| {
            let mut be = [0u8; 4];
            uint_to_be(e, &mut be).ok().map(|()| u32::from_be_bytes(be))
        });
        key.e = e32.ok_or(CryptoError::InvalidKey)?;
        let nz = |x: Uint<H>| Option::<NonZero<Uint<H>>>::from(NonZero::new(x)).ok_or(CryptoError::InvalidKey);
        let p1 = nz(key.p.wrapping_sub(&Uint::ONE))?;
        let q1 = nz(key.q.wrapping_sub(&Uint::ONE))?;
        // d mod (p-1), d mod (q-1), on the wide value reduced through the widened modulus.
        key.dp = d.rem(&widen_nz(&p1)?).resize::<H>();
        key.dq = d.rem(&widen_nz(&q1)?).resize::<H>();
        if !bool::from(key.p.is_odd()) || !bool::from(key.q.is_odd()) {
            return Err(CryptoError::InvalidKey);
        }
        // The CRT halves run at the primes' common limb length; n fits in twice that.
        let len_n = significant(key.n.as_words());
        let len_h = significant(key.p.as_words());
        if len_h != significant(key.q.as_words()) || len_n > 2 * len_h || len_h > mont::MAX_HALF_LIMBS {
            return Err(CryptoError::UnsupportedKeySize { bits: u16::try_from(key.n.bits_vartime()).unwrap_or(u16::MAX) });
        }
        key.len_n = len_n;
        key.len_h = len_h;
        let mut d_bytes = [[0u8; mont::LIMB_BYTES]; L];
        let mut d_bytes = Wipe(&mut d_bytes);
        key.k = key.n.bits_vartime().div_ceil(8);
        let d_be = d_bytes.as_flattened_mut().get_mut(..key.k).ok_or(CryptoError::InvalidKey)?;
        uint_to_be(d, d_be)?;
        key.kdk.copy_from_slice(HashAlgorithm::Sha256.digest(d_be)?.as_bytes());
        key.montgomery_parameters()?;
        key.set_qinv()?;
        key.draw_blinding(rng)?;
        // Pairwise consistency: the private operation's fault check (`m^e == c`) must pass.
        let mut check = Uint::<L>::ZERO;
        let mut check = Wipe(&mut check);
        key.raw_private(&Uint::<L>::from_u32(0x5eed_cafe), &mut check).map_err(|_| CryptoError::InvalidKey)?;
        Ok(())
    }

    /// `-m^-1 mod 2^w` and `R^2 mod m` for `n`, `p` and `q`. A frame of its own (stack).
    #[inline(never)]
    fn montgomery_parameters(&mut self) -> Result<(), CryptoError> {
        let (len_n, len_h) = (self.len_n, self.len_h);
        // Twice the modulus' length (R^2's computation).
        let mut t = [[0 as Limb; H]; 4];
        let t = t.as_flattened_mut();
        self.n0 = [
            mont::n0_of(head(self.n.as_words(), len_n))?,
            mont::n0_of(head(self.p.as_words(), len_h))?,
            mont::n0_of(head(self.q.as_words(), len_h))?,
        ];
        mont::r_squared(head(self.n.as_words(), len_n), self.n0[0], head_mut(self.rr_n.as_words_mut(), len_n), t)?;
        mont::r_squared(head(self.p.as_words(), len_h), self.n0[1], head_mut(self.rr_p.as_words_mut(), len_h), t)?;
        mont::r_squared(head(self.q.as_words(), len_h), self.n0[2], head_mut(self.rr_q.as_words_mut(), len_h), t)?;
        Ok(())
    }

    /// `q^-1 mod p = q^(p-2) mod p` (p is prime), kept in Montgomery form; an error if the
    /// check `q * q^-1 = 1 mod p` fails (p is no prime). A frame of its own (stack).
    #[inline(never)]
    fn set_qinv(&mut self) -> Result<(), CryptoError> {
        let len_h = self.len_h;
        let mut t = [[0 as Limb; H]; 3];
        let mut t = Wipe(&mut t);
        let t = t.as_flattened_mut();
        let mut halves = [[0 as Limb; H]; 3];
        let mut halves = Wipe(&mut halves);
        let [qinv, qinv_m, check] = &mut *halves;
        self.inverse_mod_prime(head(self.q.as_words(), len_h), true, head_mut(qinv, len_h))?;
        let pm = self.modulus_p();
        mont::mont_mul(head_mut(qinv_m, len_h), head(qinv, len_h), pm.rr, &pm, t);
        // q * q^-1 = 1 mod p, or p is no prime.
        let mut qp = [0 as Limb; H];
        let mut qp = Wipe(&mut qp);
        reduce::<L, H>(head(self.q.as_words(), len_h), &pm, head_mut(qp.as_mut_slice(), len_h), t);
        mont::mont_mul(head_mut(check, len_h), head(qinv_m, len_h), head(qp.as_slice(), len_h), &pm, t);
        if !is_one(head(check, len_h)) {
            return Err(CryptoError::InvalidKey);
        }
        head_mut(self.qinv_m.as_words_mut(), len_h).copy_from_slice(head(qinv_m, len_h));
        Ok(())
    }

    /// Draws the blinding pair from `rng`: `r^e` and `r^-1`, the inverse by Fermat's little
    /// theorem modulo each prime and the CRT (no general inversion, no large stack).
    #[inline(never)]
    fn draw_blinding(&mut self, rng: &mut impl CryptoRngCore) -> Result<(), CryptoError> {
        let n_nz = Option::<NonZero<Uint<L>>>::from(NonZero::new(self.n)).ok_or(CryptoError::InvalidKey)?;
        let (ln, lh) = (self.len_n, self.len_h);
        let e_be = self.e.to_be_bytes();
        let e_be = e_be.as_slice();
        let mut t = [[0 as Limb; H]; 3];
        let mut t = Wipe(&mut t);
        let t = t.as_flattened_mut();
        for _ in 0..BLINDING_ATTEMPTS {
            let mut r = Uint::<L>::random_mod(rng, &n_nz);
            let r = Wipe(&mut r);
            let mut halves = [[0 as Limb; H]; 4];
            let mut halves = Wipe(&mut halves);
            let [rp, rq, ip, iq] = &mut *halves;
            reduce::<L, H>(head(r.as_words(), ln), &self.modulus_p(), head_mut(rp, lh), t);
            reduce::<L, H>(head(r.as_words(), ln), &self.modulus_q(), head_mut(rq, lh), t);
            if is_zero(head(rp, lh)) || is_zero(head(rq, lh)) {
                continue; // r shares a factor with n
            }
            self.inverse_mod_prime(head(rp, lh), true, head_mut(ip, lh))?;
            self.inverse_mod_prime(head(rq, lh), false, head_mut(iq, lh))?;
            // Straight into the key's own storage (a refused key is dropped, and wiped).
            let mut spare = [0 as Limb; L];
            let mut spare = Wipe(&mut spare);
            let nm = Modulus { n: head(self.n.as_words(), ln), n0: self.n0[0], rr: head(self.rr_n.as_words(), ln) };
            // r^e, then its Montgomery form
            head_mut(spare.as_mut_slice(), ln).copy_from_slice(head(r.as_words(), ln));
            mont::pow_public(head_mut(spare.as_mut_slice(), ln), e_be, &nm)?;
            mont::mont_mul(head_mut(self.blind_e.as_words_mut(), ln), head(spare.as_slice(), ln), nm.rr, &nm, t);
            // r^-1 (CRT of the two halves), then its Montgomery form
            self.crt_combine(head(ip, lh), head(iq, lh), head_mut(spare.as_mut_slice(), ln), t);
            let nm = Modulus { n: head(self.n.as_words(), ln), n0: self.n0[0], rr: head(self.rr_n.as_words(), ln) };
            mont::mont_mul(head_mut(self.blind_inv.as_words_mut(), ln), head(spare.as_slice(), ln), nm.rr, &nm, t);
            // r * r^-1 = 1 mod n (in Montgomery form: their product is R mod n).
            mont::mont_mul(head_mut(spare.as_mut_slice(), ln), head(r.as_words(), ln), head(self.blind_inv.as_words(), ln), &nm, t);
            if !is_one(head(spare.as_slice(), ln)) {
                return Err(CryptoError::InvalidKey);
            }
            return Ok(());
        }
        Err(CryptoError::KeyGenerationFailed)
    }

    /// `out = x^-1 mod p` (`first`) or `mod q`, for `0 < x` below the prime: `x^(prime - 2)`.
    fn inverse_mod_prime(&self, x: &[Limb], first: bool, out: &mut [Limb]) -> Result<(), CryptoError> {
        let m = if first { self.modulus_p() } else { self.modulus_q() };
        let lh = self.len_h;
        let mut exp = [0 as Limb; H];
        let mut exp = Wipe(&mut exp);
        let exp = head_mut(exp.as_mut_slice(), lh);
        exp.copy_from_slice(m.n);
        // prime - 2 (the prime is odd and above 2: no borrow out of the top limb)
        let mut borrow: Limb = 2;
        for l in exp.iter_mut() {
            let (d, b) = l.overflowing_sub(borrow);
            *l = d;
            borrow = Limb::from(b);
        }
        let mut work = [[0 as Limb; H]; 21];
        let mut work = Wipe(&mut work);
        mont::pow_secret(out, x, exp, &m, work.as_flattened_mut())
    }

    /// Garner's recombination: `out = m2 + q * ((m1 - m2 mod p) * q^-1 mod p)`, the value
    /// mod n that is `m1` mod p and `m2` mod q (`out` twice the primes' length).
    fn crt_combine(&self, m1: &[Limb], m2: &[Limb], out: &mut [Limb], t: &mut [Limb]) {
        let lh = self.len_h;
        let pm = self.modulus_p();
        let mut halves = [[0 as Limb; H]; 3];
        let mut halves = Wipe(&mut halves);
        let [m2p, diff, h] = &mut *halves;
        reduce::<L, H>(m2, &pm, head_mut(m2p, lh), t);
        sub_mod(m1, head(m2p, lh), pm.n, head_mut(diff, lh));
        mont::mont_mul(head_mut(h, lh), head(diff, lh), head(self.qinv_m.as_words(), lh), &pm, t);
        let mut wide = [0 as Limb; L];
        let mut wide = Wipe(&mut wide);
        mul_add(head(self.q.as_words(), lh), head(h, lh), m2, head_mut(wide.as_mut_slice(), 2 * lh));
        for (o, w) in out.iter_mut().zip(wide.iter()) {
            *o = *w;
        }
    }

    fn modulus_n(&self) -> Modulus<'_> {
        Modulus { n: head(self.n.as_words(), self.len_n), n0: self.n0[0], rr: head(self.rr_n.as_words(), self.len_n) }
    }

    fn modulus_p(&self) -> Modulus<'_> {
        Modulus { n: head(self.p.as_words(), self.len_h), n0: self.n0[1], rr: head(self.rr_p.as_words(), self.len_h) }
    }

    fn modulus_q(&self) -> Modulus<'_> {
        Modulus { n: head(self.q.as_words(), self.len_h), n0: self.n0[2], rr: head(self.rr_q.as_words(), self.len_h) }
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
        let e = self.e.to_be_bytes();
        RsaPublicKey::new(n, &e)?.to_pkcs1_der(out)
    }

    /// RSASSA-PKCS1-v1_5 signature over `digest` into `out` (`k` bytes). SHA-1 needs
    /// `legacy-crypto`.
    pub fn sign_pkcs1v15<'o>(&mut self, hash: HashAlgorithm, digest: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
        check_signature_hash(hash)?;
        let k = self.k;
        let out = out.get_mut(..k).ok_or(CryptoError::BufferTooSmall { needed: k })?;
        // The encoded message goes through `out`, which the signature then overwrites.
        padding::emsa_pkcs1v15_encode(hash, digest, out)?;
        let m = uint_from_be::<L>(out)?;
        self.private_to_be(&m, out)?;
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
        let mut em = [[0u8; mont::LIMB_BYTES]; L];
        let mut em = Wipe(&mut em);
        let em = em.as_flattened_mut().get_mut(..k).ok_or(CryptoError::InvalidKey)?;
        self.private_to_be(&c, em)?;
        // The synthetic message first, into `out`; the real one replaces it if the padding is
        // valid (constant time).
        self.synthetic_message(ciphertext, out)?;
        padding::eme_pkcs1v15_decode_implicit(em, out)
    }

    /// `c^d mod n` as big-endian bytes into `out` (a frame of its own, so the private
    /// operation's temporaries are not on the stack beside the caller's buffers).
    #[inline(never)]
    fn private_to_be(&mut self, c: &Uint<L>, out: &mut [u8]) -> Result<(), CryptoError> {
        let mut m = Uint::<L>::ZERO;
        let mut m = Wipe(&mut m);
        self.raw_private(c, &mut m)?;
        uint_to_be(&m, out)
    }

    /// The implicit-rejection message: `KDK' = HMAC-SHA256(SHA-256(d), C)`, then
    /// `HMAC-SHA256(KDK', i || "message" || bitlen)` blocks. (A frame of its own: its HMAC
    /// states are not on the stack during the private operation.)
    #[inline(never)]
    fn synthetic_message(&self, ciphertext: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.kdk).map_err(|_| CryptoError::InvalidKey)?;
        mac.update(ciphertext);
        let mut kdk = mac.finalize().into_bytes();
        let kdk = Wipe(&mut kdk);
        let bitlen = u16::try_from(out.len() * 8).map_err(|_| CryptoError::InvalidLength { what: "expected plaintext" })?;
        for (i, chunk) in (0u16..).zip(out.chunks_mut(32)) {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&kdk).map_err(|_| CryptoError::InvalidKey)?;
            mac.update(&i.to_be_bytes());
            mac.update(b"message");
            mac.update(&bitlen.to_be_bytes());
            let mut block = mac.finalize().into_bytes();
            let block = Wipe(&mut block);
            for (d, s) in chunk.iter_mut().zip(block.iter()) {
                *d = *s;
            }
        }
        Ok(())
    }

    /// `c^d mod n`, blinded, by the CRT, fault-checked. `c` must be below `n`. Every
    /// temporary is sized to this key type (`L`, `H` limbs) and wiped on return.
    fn raw_private(&mut self, c: &Uint<L>, out: &mut Uint<L>) -> Result<(), CryptoError> {
        let (ln, lh) = (self.len_n, self.len_h);
        let mut t = [[0 as Limb; H]; 3];
        let mut t = Wipe(&mut t);
        let t = t.as_flattened_mut();
        // Blind: c * r^e mod n (normal form, from the Montgomery-form r^e).
        let mut blinded = Uint::<L>::ZERO;
        let mut blinded = Wipe(&mut blinded);
        {
            let nm = self.modulus_n();
            mont::mont_mul(head_mut(blinded.as_words_mut(), ln), head(c.as_words(), ln), head(self.blind_e.as_words(), ln), &nm, t);
        }
        // The two halves: c mod p (through a reduction of the double-length value), ^dp.
        let mut halves = [[0 as Limb; H]; 6];
        let mut halves = Wipe(&mut halves);
        let [m1, m2, ..] = &mut *halves;
        let (m1, m2) = (head_mut(m1, lh), head_mut(m2, lh));
        self.half(head(blinded.as_words(), ln), true, m1, t)?;
        self.half(head(blinded.as_words(), ln), false, m2, t)?;
        // Garner: m = m2 + q * ((m1 - m2 mod p) * q^-1 mod p).
        let mut m = [0 as Limb; L];
        let mut m = Wipe(&mut m);
        self.crt_combine(m1, m2, head_mut(m.as_mut_slice(), 2 * lh), t);
        // Unblind: m * r^-1 mod n.
        *out = Uint::<L>::ZERO;
        let nm = self.modulus_n();
        mont::mont_mul(head_mut(out.as_words_mut(), ln), head(m.as_slice(), ln), head(self.blind_inv.as_words(), ln), &nm, t);
        // Fault check: out^e must give c back.
        let e_be = self.e.to_be_bytes();
        let e_be = e_be.as_slice();
        head_mut(m.as_mut_slice(), ln).copy_from_slice(head(out.as_words(), ln));
        mont::pow_public_in(head_mut(m.as_mut_slice(), ln), e_be, &nm, halves.as_flattened_mut())?;
        if head(m.as_slice(), ln) != head(c.as_words(), ln) {
            out.zeroize();
            return Err(CryptoError::IntegrityCheckFailed);
        }
        // Next blinding pair: both squared (through `m` and `blinded`, no longer needed).
        mont::mont_mul(head_mut(m.as_mut_slice(), ln), head(self.blind_e.as_words(), ln), head(self.blind_e.as_words(), ln), &nm, t);
        mont::mont_mul(
            head_mut(blinded.as_words_mut(), ln),
            head(self.blind_inv.as_words(), ln),
            head(self.blind_inv.as_words(), ln),
            &nm,
            t,
        );
        head_mut(self.blind_e.as_words_mut(), ln).copy_from_slice(head(m.as_slice(), ln));
        head_mut(self.blind_inv.as_words_mut(), ln).copy_from_slice(head(blinded.as_words(), ln));
        Ok(())
    }

    /// `x^dp mod p` (`first`) or `x^dq mod q` into `out`, for `x < n`.
    fn half(&self, x: &[Limb], first: bool, out: &mut [Limb], t: &mut [Limb]) -> Result<(), CryptoError> {
        let (m, exp) = if first { (self.modulus_p(), &self.dp) } else { (self.modulus_q(), &self.dq) };
        let mut xr = [0 as Limb; H];
        let mut xr = Wipe(&mut xr);
        reduce::<L, H>(x, &m, head_mut(xr.as_mut_slice(), self.len_h), t);
        // The window table and temporaries: 16 + 5 limb vectors of the primes' size.
        let mut work = [[0 as Limb; H]; 21];
        mont::pow_secret(out, head(xr.as_slice(), self.len_h), head(exp.as_words(), self.len_h), &m, work.as_flattened_mut())
    }
}

/// `out = x mod m` for `x` of at most twice `m`'s length and below `m * R` (`x < n = p * q`
/// with `q < R`): a Montgomery reduction, then a multiplication by `R^2` to undo its `R^-1`.
fn reduce<const L: usize, const H: usize>(x: &[Limb], m: &Modulus<'_>, out: &mut [Limb], t: &mut [Limb]) {
    let len = m.n.len();
    let mut wide = [0 as Limb; L];
    let mut wide = Wipe(&mut wide);
    let wide = head_mut(wide.as_mut_slice(), 2 * len);
    for (w, v) in wide.iter_mut().zip(x) {
        *w = *v;
    }
    let mut r = [0 as Limb; H];
    let mut r = Wipe(&mut r);
    mont::redc(head_mut(r.as_mut_slice(), len), wide, m);
    mont::mont_mul(out, head(r.as_slice(), len), m.rr, m, t);
}

/// `out = (a - b) mod m` for `a, b < m`, in constant time.
fn sub_mod(a: &[Limb], b: &[Limb], m: &[Limb], out: &mut [Limb]) {
    use subtle::{Choice, ConditionallySelectable};
    let mut borrow: Limb = 0;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        let w = WideWord::from(*x).wrapping_sub(WideWord::from(*y)).wrapping_sub(WideWord::from(borrow));
        *o = w as Limb;
        borrow = ((w >> mont::LIMB_BITS) as Limb) & 1;
    }
    // Add m back when it borrowed (masked, no branch).
    let add = Choice::from(borrow as u8);
    let mut carry: WideWord = 0;
    for (o, mj) in out.iter_mut().zip(m) {
        let addend = Limb::conditional_select(&0, mj, add);
        let w = WideWord::from(*o) + WideWord::from(addend) + carry;
        *o = w as Limb;
        carry = w >> mont::LIMB_BITS;
    }
}

/// `out = q * h + m2` (schoolbook; `out` twice the halves' length; no overflow as the result
/// is below `n`).
fn mul_add(q: &[Limb], h: &[Limb], m2: &[Limb], out: &mut [Limb]) {
    out.fill(0);
    for (o, v) in out.iter_mut().zip(m2) {
        *o = *v;
    }
    for (i, hi) in h.iter().enumerate() {
        let mut carry: WideWord = 0;
        for (j, qj) in q.iter().enumerate() {
            if let Some(o) = out.get_mut(i + j) {
                let w = WideWord::from(*hi) * WideWord::from(*qj) + WideWord::from(*o) + carry;
                *o = w as Limb;
                carry = w >> mont::LIMB_BITS;
            }
        }
        let mut k = i + q.len();
        while carry != 0 {
            let Some(o) = out.get_mut(k) else { break };
            let w = WideWord::from(*o) + carry;
            *o = w as Limb;
            carry = w >> mont::LIMB_BITS;
            k += 1;
        }
    }
}

/// Whether `x` is 1.
fn is_one(x: &[Limb]) -> bool {
    x.split_first().is_some_and(|(first, rest)| *first == 1 && rest.iter().all(|l| *l == 0))
}

/// Whether `x` is 0.
fn is_zero(x: &[Limb]) -> bool {
    x.iter().all(|l| *l == 0)
}

/// Limbs up to the highest non-zero one.
fn significant(words: &[Limb]) -> usize {
    words.iter().rposition(|w| *w != 0).map_or(0, |i| i + 1)
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
        let digest = HashAlgorithm::Sha256.digest(b"hello").unwrap();
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
