//! In-place Montgomery arithmetic for RSA on caller- or key-owned limb slices.
//!
//! Every function works on `&[Limb]` / `&mut [Limb]` of the modulus' length (little-endian
//! limbs, [`Limb`] is the machine word: `u32` on 32-bit targets, `u64` on 64-bit ones), so
//! one copy of the code serves every key size and nothing 256 bytes long is moved by value.
//! The Montgomery parameters of a modulus ([`Modulus`]: `-n^-1 mod 2^w` and `R^2 mod n`) are
//! computed once per key and kept with it.
//!
//! Constant time: for secret operands (private exponentiation, CRT), no branch and no memory
//! index depends on a secret value. Montgomery multiplication always runs its full loops and
//! ends with a masked conditional subtraction; the fixed-window exponentiation always
//! squares four times and multiplies once per window, with the table entry chosen by a
//! masked scan of all sixteen entries; exponents are processed over their full limb length,
//! not their bit length. Checked by reading the code paths (only public lengths drive the
//! loops) and by the tests comparing results with crypto-bigint; the variable-time
//! [`pow_public`] is used only with public exponents.

// Word arithmetic here is on double words that cannot overflow (`a * b + c + d` with each
// below 2^w is at most 2^2w - 1); lengths are the key's, not input-derived.

use crate::CryptoError;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// A machine word: the limb of every number here.
pub type Limb = crypto_bigint::Word;
type Wide = crypto_bigint::WideWord;
/// Bits per limb.
pub const LIMB_BITS: usize = Limb::BITS as usize;
/// Bytes per limb.
pub const LIMB_BYTES: usize = LIMB_BITS / 8;
/// Limbs of the largest modulus (4096 bits).
pub const MAX_LIMBS: usize = 4096 / LIMB_BITS;
/// Limbs of the largest CRT prime (2048 bits).
pub const MAX_HALF_LIMBS: usize = MAX_LIMBS / 2;
/// Window width of the secret exponentiation.
const WINDOW: usize = 4;
const TABLE: usize = 1 << WINDOW;

/// The first `len` limbs (empty if there are fewer: lengths here are the key's, checked when
/// it was built).
#[inline(always)]
#[cfg_attr(not(feature = "soft-keys"), allow(dead_code))]
pub(crate) fn head(x: &[Limb], len: usize) -> &[Limb] {
    x.get(..len).unwrap_or(&[])
}

/// The first `len` limbs, mutably (see [`head`]).
#[inline(always)]
#[cfg_attr(not(feature = "soft-keys"), allow(dead_code))]
pub(crate) fn head_mut(x: &mut [Limb], len: usize) -> &mut [Limb] {
    x.get_mut(..len).unwrap_or(&mut [])
}

/// `a * b + c + d` as (low, high): never overflows the double word.
#[inline(always)]
fn mac(a: Limb, b: Limb, c: Limb, d: Limb) -> (Limb, Limb) {
    let w = Wide::from(a) * Wide::from(b) + Wide::from(c) + Wide::from(d);
    (w as Limb, (w >> LIMB_BITS) as Limb)
}

/// `a + b + carry` as (sum, carry).
#[inline(always)]
fn adc(a: Limb, b: Limb, carry: Limb) -> (Limb, Limb) {
    let w = Wide::from(a) + Wide::from(b) + Wide::from(carry);
    (w as Limb, (w >> LIMB_BITS) as Limb)
}

/// `a - b - borrow` as (difference, borrow 0 or 1).
#[inline(always)]
fn sbb(a: Limb, b: Limb, borrow: Limb) -> (Limb, Limb) {
    let w = Wide::from(a).wrapping_sub(Wide::from(b)).wrapping_sub(Wide::from(borrow));
    (w as Limb, ((w >> LIMB_BITS) as Limb) & 1)
}

/// `-n0^-1 mod 2^w` for odd `n0` (Newton's iteration: each step doubles the correct bits).
fn neg_inv(n0: Limb) -> Limb {
    let mut x = n0; // correct to 3 bits for odd n0
    for _ in 0..5 {
        x = x.wrapping_mul((2 as Limb).wrapping_sub(n0.wrapping_mul(x)));
    }
    x.wrapping_neg()
}

/// The Montgomery parameters of one odd modulus, in key-owned storage.
#[derive(Clone, Copy)]
pub struct Modulus<'a> {
    /// The modulus, `len` limbs, top limb non-zero.
    pub n: &'a [Limb],
    /// `-n^-1 mod 2^w`.
    pub n0: Limb,
    /// `R^2 mod n`, `R = 2^(w * len)`.
    pub rr: &'a [Limb],
}

impl Modulus<'_> {
    fn len(&self) -> usize {
        self.n.len()
    }
}

/// `-n^-1 mod 2^w` for the odd modulus `n` (an error for an even or empty one).
pub fn n0_of(n: &[Limb]) -> Result<Limb, CryptoError> {
    match n.first() {
        Some(n0) if n0 & 1 == 1 => Ok(neg_inv(*n0)),
        _ => Err(CryptoError::InvalidKey),
    }
}

/// Computes `R^2 mod n` into `rr` (the modulus' length; `scratch` at least twice that).
/// Variable time: moduli are public.
pub fn r_squared(n: &[Limb], n0: Limb, rr: &mut [Limb], scratch: &mut [Limb]) -> Result<(), CryptoError> {
    let len = n.len();
    let top = *n.last().ok_or(CryptoError::InvalidKey)?;
    if top == 0 || rr.len() != len || scratch.len() < len.saturating_mul(2) {
        return Err(CryptoError::InvalidKey);
    }
    let bits = len.saturating_mul(LIMB_BITS).saturating_sub(top.leading_zeros() as usize);
    // x = 2^(bits - 1) < n, then doubled to R = 2^(w * len) mod n, then on to 2^j * R.
    rr.fill(0);
    let hi = bits.saturating_sub(1);
    *rr.get_mut(hi / LIMB_BITS).ok_or(CryptoError::InvalidKey)? = 1 << (hi % LIMB_BITS);
    let to_r = len.saturating_mul(LIMB_BITS).saturating_sub(hi);
    // j * 2^5 = w * len: five Montgomery squarings take 2^j * R to 2^(w * len) * R = R^2.
    let j = len.saturating_mul(LIMB_BITS) / 32;
    for _ in 0..to_r.saturating_add(j) {
        double_mod(rr, n);
    }
    let (t, scratch) = scratch.split_at_mut(len);
    let m = Modulus { n, n0, rr: &[] };
    for _ in 0..5 {
        t.copy_from_slice(rr);
        mont_mul(rr, t, t, &m, scratch);
    }
    Ok(())
}

/// `x = 2x mod n` for `x < n` (variable time; public values only).
fn double_mod(x: &mut [Limb], n: &[Limb]) {
    let mut carry = 0;
    for l in x.iter_mut() {
        let next = *l >> (LIMB_BITS - 1);
        *l = (*l << 1) | carry;
        carry = next;
    }
    if carry == 1 || !less_than(x, n) {
        sub_in_place(x, n);
    }
}

/// Whether `a < b` (same length; variable time).
fn less_than(a: &[Limb], b: &[Limb]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` (same length), returning the borrow.
fn sub_in_place(a: &mut [Limb], b: &[Limb]) -> Limb {
    let mut borrow = 0;
    for (x, y) in a.iter_mut().zip(b) {
        let (d, br) = sbb(*x, *y, borrow);
        *x = d;
        borrow = br;
    }
    borrow
}

/// `out = a * b * R^-1 mod n` (CIOS Montgomery multiplication), for `a, b < n`. `out` must
/// not alias `a` or `b`; `t` is scratch of at least `len + 2` limbs. Constant time.
pub fn mont_mul(out: &mut [Limb], a: &[Limb], b: &[Limb], m: &Modulus<'_>, t: &mut [Limb]) {
    let len = m.len();
    let (Some(t), Some(b), Some((&n_first, n_rest))) = (t.get_mut(..len), b.get(..len), m.n.split_first()) else { return };
    t.fill(0);
    // The two limbs above t[len - 1] live in registers.
    let mut top: Limb = 0;
    for ai in a.iter().take(len) {
        // t += a[i] * b
        let mut carry = 0;
        for (tj, bj) in t.iter_mut().zip(b) {
            let (lo, hi) = mac(*ai, *bj, *tj, carry);
            *tj = lo;
            carry = hi;
        }
        let (top_lo, top_hi) = adc(top, carry, 0);
        // t = (t + u * n) / 2^w, u chosen so the low limb vanishes.
        let Some((t0, t_rest)) = t.split_first_mut() else { return };
        let u = t0.wrapping_mul(m.n0);
        let (_, mut carry) = mac(u, n_first, *t0, 0);
        let mut prev: &mut Limb = t0;
        for (tj, nj) in t_rest.iter_mut().zip(n_rest) {
            let (lo, hi) = mac(u, *nj, *tj, carry);
            *prev = lo;
            carry = hi;
            prev = tj;
        }
        let (s, c) = adc(top_lo, carry, 0);
        *prev = s;
        top = top_hi.wrapping_add(c);
    }
    // t < 2n: subtract n once, keep the difference unless it borrowed (and t had no top).
    let mut borrow = 0;
    for ((o, tj), nj) in out.iter_mut().zip(t.iter()).zip(m.n) {
        let (d, br) = sbb(*tj, *nj, borrow);
        *o = d;
        borrow = br;
    }
    let (_, borrow) = sbb(top, 0, borrow);
    // borrow == 1: t < n, keep t.
    let keep_t = Choice::from(borrow as u8);
    for (o, tj) in out.iter_mut().zip(t.iter()) {
        *o = Limb::conditional_select(o, tj, keep_t);
    }
}

/// Montgomery reduction of the double-length `wide` (`2 * len` limbs, value below `n * R`):
/// `out = wide * R^-1 mod n`. `wide` is destroyed. Constant time.
pub fn redc(out: &mut [Limb], wide: &mut [Limb], m: &Modulus<'_>) {
    let len = m.len();
    let mut top_carry: Limb = 0;
    for i in 0..len {
        let wi = wide.get(i).copied().unwrap_or(0);
        let u = wi.wrapping_mul(m.n0);
        let mut carry = 0;
        for j in 0..len {
            let k = i.wrapping_add(j);
            let (lo, hi) = mac(u, m.n.get(j).copied().unwrap_or(0), wide.get(k).copied().unwrap_or(0), carry);
            if let Some(x) = wide.get_mut(k) {
                *x = lo;
            }
            carry = hi;
        }
        // Propagate into the next limb, with the carry of earlier rounds.
        let k = i.wrapping_add(len);
        let (s, c) = adc(wide.get(k).copied().unwrap_or(0), carry, top_carry);
        if let Some(x) = wide.get_mut(k) {
            *x = s;
        }
        top_carry = c;
    }
    let upper = wide.get(len..len.saturating_mul(2)).unwrap_or(&[]);
    let mut borrow = 0;
    for ((o, w), nj) in out.iter_mut().zip(upper).zip(m.n) {
        let (d, br) = sbb(*w, *nj, borrow);
        *o = d;
        borrow = br;
    }
    let (_, borrow) = sbb(top_carry, 0, borrow);
    let keep = Choice::from(borrow as u8);
    for (o, w) in out.iter_mut().zip(upper) {
        *o = Limb::conditional_select(o, w, keep);
    }
}

/// Limbs of work space [`pow_secret`] needs for a modulus of `len` limbs: the 16-entry
/// window table, three temporaries and the multiplication scratch.
pub const fn pow_secret_work(len: usize) -> usize {
    (TABLE + 3) * len + len + 2
}

/// `out = base^exp mod n` for a secret exponent (little-endian limbs, all of them processed)
/// and a base below `n`, by a fixed 4-bit window with a constant-time table scan. `base` and
/// `out` are in normal (not Montgomery) form. `work` (at least [`pow_secret_work`] limbs,
/// the caller's: sized to its key) holds the table and temporaries and is wiped on return.
pub fn pow_secret(out: &mut [Limb], base: &[Limb], exp: &[Limb], m: &Modulus<'_>, work: &mut [Limb]) -> Result<(), CryptoError> {
    let len = m.len();
    if len == 0 || base.len() != len || out.len() != len {
        return Err(CryptoError::InvalidKey);
    }
    let r = pow_window(out, base, exp, m, work, len);
    zeroize::Zeroize::zeroize(work);
    r
}

fn pow_window(out: &mut [Limb], base: &[Limb], exp: &[Limb], m: &Modulus<'_>, work: &mut [Limb], len: usize) -> Result<(), CryptoError> {
    let work = work.get_mut(..pow_secret_work(len)).ok_or(CryptoError::InvalidKey)?;
    let (table, rest) = work.split_at_mut(TABLE.saturating_mul(len));
    let (acc, rest) = rest.split_at_mut(len);
    let (tmp, rest) = rest.split_at_mut(len);
    let (prod, t) = rest.split_at_mut(len);
    // table[0] = R mod n (one), table[1] = base * R, table[i] = table[i-1] * table[1].
    {
        let (t0, rest) = table.split_at_mut(len);
        to_montgomery_one(t0, m, t);
        let (t1, rest) = rest.split_at_mut(len);
        mont_mul(t1, base, m.rr, m, t);
        let mut prev: &[Limb] = t1;
        for chunk in rest.chunks_exact_mut(len) {
            mont_mul(chunk, prev, t1, m, t);
            prev = chunk;
        }
    }
    acc.copy_from_slice(table.get(..len).unwrap_or(&[]));
    let windows = exp.len().saturating_mul(LIMB_BITS) / WINDOW;
    for w in (0..windows).rev() {
        for _ in 0..WINDOW {
            tmp.copy_from_slice(acc);
            mont_mul(acc, tmp, tmp, m, t);
        }
        // The window's digit is secret: every entry is read, the one wanted kept by mask.
        let bit = w.saturating_mul(WINDOW);
        let limb = exp.get(bit / LIMB_BITS).copied().unwrap_or(0);
        let digit = ((limb >> (bit % LIMB_BITS)) & (TABLE as Limb - 1)) as u8;
        tmp.fill(0);
        for (i, entry) in table.chunks_exact(len).enumerate() {
            let hit = (i as u8).ct_eq(&digit);
            for (d, s) in tmp.iter_mut().zip(entry) {
                d.conditional_assign(s, hit);
            }
        }
        mont_mul(prod, acc, tmp, m, t);
        acc.copy_from_slice(prod);
    }
    from_montgomery(out, acc, m, t);
    Ok(())
}

/// `out = R mod n` (Montgomery one).
fn to_montgomery_one(out: &mut [Limb], m: &Modulus<'_>, t: &mut [Limb]) {
    // one * R^2 * R^-1 = R.
    let mut one = [0 as Limb; MAX_LIMBS];
    if let Some(o) = one.first_mut() {
        *o = 1;
    }
    mont_mul(out, one.get(..m.len()).unwrap_or(&[]), m.rr, m, t);
}

/// `out = a * R^-1 mod n`: from Montgomery form.
pub fn from_montgomery(out: &mut [Limb], a: &[Limb], m: &Modulus<'_>, t: &mut [Limb]) {
    let mut one = [0 as Limb; MAX_LIMBS];
    if let Some(o) = one.first_mut() {
        *o = 1;
    }
    mont_mul(out, a, one.get(..m.len()).unwrap_or(&[]), m, t);
}

/// `x = x^e mod n` for a public exponent (variable time in `e`), `x < n` in normal form.
pub fn pow_public(x: &mut [Limb], e: &[u8], m: &Modulus<'_>) -> Result<(), CryptoError> {
    let mut work = [0 as Limb; 3 * MAX_LIMBS];
    pow_public_in(x, e, m, &mut work)
}

/// [`pow_public`] with the caller's work space (at least three times the modulus' length).
pub fn pow_public_in(x: &mut [Limb], e: &[u8], m: &Modulus<'_>, work: &mut [Limb]) -> Result<(), CryptoError> {
    let len = m.len();
    if x.len() != len {
        return Err(CryptoError::InvalidKey);
    }
    let work = work.get_mut(..len.saturating_mul(3)).ok_or(CryptoError::InvalidKey)?;
    let (base, rest) = work.split_at_mut(len);
    let (acc, t) = rest.split_at_mut(len);
    mont_mul(base, x, m.rr, m, t);
    pow_from_base(x, base, acc, t, e, m);
    Ok(())
}

/// `x = base^e mod n` from `base` in Montgomery form (`R^2` is not used: the caller may have
/// spent it); `acc` and `t` are work space of the modulus' length, `base` is spent too.
fn pow_from_base(x: &mut [Limb], base: &mut [Limb], acc: &mut [Limb], t: &mut [Limb], e: &[u8], m: &Modulus<'_>) {
    let e = {
        let first = e.iter().position(|b| *b != 0).unwrap_or(e.len());
        e.get(first..).unwrap_or(&[])
    };
    let bits = e.first().map_or(0, |b| e.len().saturating_mul(8).saturating_sub(b.leading_zeros() as usize));
    if bits == 0 {
        // x^0 = 1.
        x.fill(0);
        if let Some(x0) = x.first_mut() {
            *x0 = 1;
        }
        return;
    }
    // acc and x take turns as the accumulator (a product cannot be written over a factor).
    acc.copy_from_slice(base);
    for i in (0..bits.saturating_sub(1)).rev() {
        mont_mul(x, acc, acc, m, t);
        let byte = e.get(e.len().saturating_sub(1).saturating_sub(i / 8)).copied().unwrap_or(0);
        if (byte >> (i % 8)) & 1 == 1 {
            mont_mul(acc, x, base, m, t);
        } else {
            acc.copy_from_slice(x);
        }
    }
    // Out of Montgomery form: acc * 1 * R^-1, with `base` (no longer needed) as the 1 (not
    // `from_montgomery`, whose own 1 is a 512-byte array in this frame).
    base.fill(0);
    if let Some(b0) = base.first_mut() {
        *b0 = 1;
    }
    mont_mul(x, acc, base, m, t);
}

/// Reads big-endian `bytes` into `out` (little-endian limbs); an error if it does not fit.
pub fn from_be(bytes: &[u8], out: &mut [Limb]) -> Result<(), CryptoError> {
    out.fill(0);
    let cap = out.len().saturating_mul(LIMB_BYTES);
    let skip = bytes.len().saturating_sub(cap);
    let (extra, bytes) = bytes.split_at(skip);
    if extra.iter().any(|b| *b != 0) {
        return Err(CryptoError::InvalidLength { what: "integer" });
    }
    for (i, b) in bytes.iter().rev().enumerate() {
        if let Some(l) = out.get_mut(i / LIMB_BYTES) {
            *l |= Limb::from(*b) << (8 * (i % LIMB_BYTES));
        }
    }
    Ok(())
}

/// Writes `x` as `out.len()` big-endian bytes; an error if it does not fit.
pub fn to_be(x: &[Limb], out: &mut [u8]) -> Result<(), CryptoError> {
    let n = out.len();
    for (i, dst) in out.iter_mut().rev().enumerate() {
        *dst = x.get(i / LIMB_BYTES).map_or(0, |l| (*l >> (8 * (i % LIMB_BYTES))) as u8);
    }
    let cap = x.len().saturating_mul(LIMB_BYTES);
    let fits = (n..cap).all(|i| x.get(i / LIMB_BYTES).is_none_or(|l| (*l >> (8 * (i % LIMB_BYTES))) as u8 == 0));
    if fits { Ok(()) } else { Err(CryptoError::BufferTooSmall { needed: cap }) }
}

/// The number of limbs of a `bytes`-long value.
pub const fn limbs_for(bytes: usize) -> usize {
    bytes.div_ceil(LIMB_BYTES)
}

/// `x^e mod n` for public `n`, `e` and `x` (big-endian bytes; `x < n`), into `out` (`n`'s
/// length): the RSA public operation. Montgomery parameters are computed here (about five
/// multiplications); nothing is kept. The work space is sized for the key: moduli up to
/// 2048 bits use a frame half the size of the 4096-bit one (1.25 KiB instead of 2.5 KiB on
/// 32-bit targets).
pub fn public_op(n: &[u8], e: &[u8], x: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    let first = n.iter().position(|b| *b != 0).unwrap_or(n.len());
    let n_bytes = n.get(first..).unwrap_or(&[]);
    let len = limbs_for(n_bytes.len());
    if len == 0 || len > MAX_LIMBS {
        return Err(CryptoError::InvalidKey);
    }
    if len <= LIMBS_2048 {
        public_op_in::<{ 5 * LIMBS_2048 }>(n_bytes, e, x, out)
    } else {
        public_op_in::<{ 5 * MAX_LIMBS }>(n_bytes, e, x, out)
    }
}

/// Limbs of a 2048-bit modulus.
const LIMBS_2048: usize = 2048 / LIMB_BITS;

/// [`public_op`] with `W` limbs of work space (five times the modulus' limbs at least).
#[inline(never)]
fn public_op_in<const W: usize>(n_bytes: &[u8], e: &[u8], x: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    // n, R^2 (then the accumulator), x, and two vectors of work space (R^2's computation,
    // then the base and the product).
    let mut work = [0 as Limb; W];
    public_op_work(n_bytes, e, x, out, &mut work)
}

/// The body of [`public_op_in`], shared by both work-space sizes (one copy in the image).
#[inline(never)]
fn public_op_work(n_bytes: &[u8], e: &[u8], x: &[u8], out: &mut [u8], work: &mut [Limb]) -> Result<(), CryptoError> {
    let len = limbs_for(n_bytes.len());
    let work = work.get_mut(..len.saturating_mul(5)).ok_or(CryptoError::InvalidKey)?;
    let (nl, rest) = work.split_at_mut(len);
    let (rr, rest) = rest.split_at_mut(len);
    let (xl, scratch) = rest.split_at_mut(len);
    from_be(n_bytes, nl)?;
    from_be(x, xl)?;
    if !less_than(xl, nl) {
        return Err(CryptoError::InvalidLength { what: "RSA input not below the modulus" });
    }
    let n0 = n0_of(nl)?;
    r_squared(nl, n0, rr, scratch)?;
    let (base, t) = scratch.split_at_mut(len);
    mont_mul(base, xl, rr, &Modulus { n: nl, n0, rr }, t);
    // R^2 is spent: its space is the accumulator.
    pow_from_base(xl, base, rr, t, e, &Modulus { n: nl, n0, rr: &[] });
    to_be(xl, out)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
    use crypto_bigint::{NonZero, RandomMod, U1024, U2048, U4096};
    use rand::SeedableRng;
    use std::vec;
    use std::vec::Vec;

    fn odd_modulus(rng: &mut rand::rngs::StdRng, top_bits: u32) -> U2048 {
        let mut b = [0u8; 256];
        rand::RngCore::fill_bytes(rng, &mut b);
        b[0] |= 0x80;
        b[255] |= 1;
        U2048::from_be_slice(&b).shr_vartime(2048 - top_bits as usize)
    }

    #[test]
    fn montgomery_multiplication_and_powers_match_crypto_bigint() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for bits in [2048u32, 2047, 2040, 1025, 1024, 1000] {
            let n = odd_modulus(&mut rng, bits) | U2048::ONE;
            let len = limbs_for((bits as usize).div_ceil(8));
            let nl = head(n.as_words(), len);
            let n0 = n0_of(nl).unwrap();
            let mut rr = vec![0 as Limb; len];
            let mut t = vec![0 as Limb; 2 * len];
            r_squared(nl, n0, &mut rr, &mut t).unwrap();
            let m = Modulus { n: nl, n0, rr: &rr };
            let params = DynResidueParams::new(&n);
            let nz = NonZero::new(n).unwrap();
            for _ in 0..4 {
                let x = U2048::random_mod(&mut rng, &nz);
                let e = U2048::random_mod(&mut rng, &nz);
                // Public power by a short exponent.
                let mut xl = x.as_words()[..len].to_vec();
                pow_public(&mut xl, &[1, 0, 1], &m).unwrap();
                let want = DynResidue::new(&x, params).pow(&U2048::from_u32(65537)).retrieve();
                assert_eq!(xl, head(want.as_words(), len), "{bits} bits, e = 65537");
                // Secret power (moduli up to the half size only).
                if len <= MAX_HALF_LIMBS {
                    let mut out = vec![0 as Limb; len];
                    let mut work = vec![0 as Limb; pow_secret_work(len)];
                    pow_secret(&mut out, head(x.as_words(), len), head(e.as_words(), len), &m, &mut work).unwrap();
                    assert!(work.iter().all(|w| *w == 0), "the work space is wiped");
                    let want = DynResidue::new(&x, params).pow(&e).retrieve();
                    assert_eq!(out, head(want.as_words(), len), "{bits} bits, secret exponent");
                }
                // Reduction of a double-length value below n * R: red * R = wide mod n.
                let y = U2048::random_mod(&mut rng, &nz);
                let mut wide = vec![0 as Limb; 2 * len];
                wide[..len].copy_from_slice(head(x.as_words(), len));
                wide[len..].copy_from_slice(head(y.as_words(), len));
                let mut words = [0 as Limb; U4096::LIMBS];
                words[..2 * len].copy_from_slice(&wide);
                let want = U4096::from_words(words).rem(&NonZero::new(n.resize::<{ U4096::LIMBS }>()).unwrap());
                let mut red = vec![0 as Limb; len];
                redc(&mut red, &mut wide, &m);
                let mut back = vec![0 as Limb; len];
                let mut t2 = vec![0 as Limb; len + 2];
                mont_mul(&mut back, &red, &rr, &m, &mut t2);
                assert_eq!(back, head(want.as_words(), len), "{bits} bits, redc");
            }
        }
    }

    #[test]
    fn byte_conversions_round_trip() {
        let bytes: Vec<u8> = (1..=200u8).collect();
        let mut l = vec![0 as Limb; limbs_for(200)];
        from_be(&bytes, &mut l).unwrap();
        let mut back = vec![0u8; 200];
        to_be(&l, &mut back).unwrap();
        assert_eq!(back, bytes);
        let mut short = vec![0u8; 199];
        assert!(to_be(&l, &mut short).is_err());
        let mut small = vec![0 as Limb; 2];
        assert!(from_be(&bytes, &mut small).is_err());
        let _ = U1024::ZERO;
    }

    #[test]
    fn public_op_computes_small_powers_and_rejects_bad_input() {
        let mut out = [0u8; 1];
        public_op(&[35], &[3], &[3], &mut out).unwrap();
        assert_eq!(out, [27]);
        assert_eq!(public_op(&[34], &[3], &[3], &mut out), Err(CryptoError::InvalidKey));
        assert!(public_op(&[35], &[3], &[35], &mut out).is_err());
    }
}
