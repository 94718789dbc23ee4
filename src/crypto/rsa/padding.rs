//! RSA encodings from RFC 8017: EMSA-PKCS1-v1_5 (section 9.2), EMSA-PSS verification
//! (section 9.1.2) with MGF1 (appendix B.2.1), EME-PKCS1-v1_5 (section 7.2), and the
//! constant-time, implicitly rejecting EME-PKCS1-v1_5 decoding used for CMS key transport.

use crate::CryptoError;
use crate::crypto::digest::{HashAlgorithm, Hasher};
use rand_core::CryptoRngCore;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The DER `DigestInfo` prefix (RFC 8017 section 9.2, note 1), with the NULL parameters.
fn digest_info_prefix(hash: HashAlgorithm) -> &'static [u8] {
    match hash {
        HashAlgorithm::Sha1 => &[0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14],
        HashAlgorithm::Sha256 => {
            &[0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20]
        }
        HashAlgorithm::Sha384 => {
            &[0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30]
        }
        HashAlgorithm::Sha512 => {
            &[0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40]
        }
    }
}

/// The same prefix with the parameters absent, which some signers emit (RFC 8017 section 9.2
/// note 2 says verifiers should accept it).
fn digest_info_prefix_no_null(hash: HashAlgorithm, out: &mut [u8; 19]) -> &[u8] {
    let full = digest_info_prefix(hash);
    // Drop the `05 00` before the final OCTET STRING header and shrink both SEQUENCE lengths.
    let n = full.len() - 2;
    for (i, (d, s)) in out.iter_mut().zip(full.iter().take(n - 2).chain(full.iter().skip(n))).enumerate() {
        *d = match i {
            1 | 3 => s.wrapping_sub(2),
            _ => *s,
        };
    }
    out.get(..n).unwrap_or(&[])
}

/// EMSA-PKCS1-v1_5-ENCODE into `em` (the modulus length), with NULL parameters.
pub fn emsa_pkcs1v15_encode(hash: HashAlgorithm, digest: &[u8], em: &mut [u8]) -> Result<(), CryptoError> {
    encode_with_prefix(digest_info_prefix(hash), hash, digest, em)
}

fn encode_with_prefix(prefix: &[u8], hash: HashAlgorithm, digest: &[u8], em: &mut [u8]) -> Result<(), CryptoError> {
    if digest.len() != hash.output_len() {
        return Err(CryptoError::InvalidLength { what: "digest" });
    }
    let t_len = prefix.len() + digest.len();
    let k = em.len();
    if k < t_len + 11 {
        return Err(CryptoError::MessageTooLong);
    }
    let (head, t) = em.split_at_mut(k - t_len);
    let (t_prefix, t_digest) = t.split_at_mut(prefix.len());
    t_prefix.copy_from_slice(prefix);
    t_digest.copy_from_slice(digest);
    head.fill(0xff);
    if let [first, second, .., last] = head {
        *first = 0;
        *second = 1;
        *last = 0;
    }
    Ok(())
}

/// Checks an EMSA-PKCS1-v1_5 block against `digest`, accepting both DigestInfo spellings.
/// Compared in place (no second block on the stack; the block is public).
pub fn emsa_pkcs1v15_verify(hash: HashAlgorithm, digest: &[u8], em: &[u8]) -> Result<(), CryptoError> {
    if digest.len() != hash.output_len() {
        return Err(CryptoError::InvalidLength { what: "digest" });
    }
    let with_null = digest_info_prefix(hash);
    if em.len() < with_null.len() + digest.len() + 11 {
        return Err(CryptoError::MessageTooLong);
    }
    let mut prefix = [0u8; 19];
    let without_null = digest_info_prefix_no_null(hash, &mut prefix);
    if pkcs1v15_block_is(em, with_null, digest) || pkcs1v15_block_is(em, without_null, digest) {
        Ok(())
    } else {
        Err(CryptoError::SignatureInvalid)
    }
}

/// Whether `em` is `00 01 FF..FF 00 || prefix || digest` (at least eight FF bytes).
fn pkcs1v15_block_is(em: &[u8], prefix: &[u8], digest: &[u8]) -> bool {
    let Some(pad_end) = em.len().checked_sub(prefix.len() + digest.len() + 1) else { return false };
    let (Some(head), Some(t)) = (em.get(..pad_end), em.get(pad_end..)) else { return false };
    let (Some(sep), Some(body)) = (t.first(), t.get(1..)) else { return false };
    let (Some(p), Some(d)) = (body.get(..prefix.len()), body.get(prefix.len()..)) else { return false };
    matches!(head, [0, 1, pad @ ..] if pad.len() >= 8 && pad.iter().all(|b| *b == 0xff)) && *sep == 0 && p == prefix && d == digest
}

/// MGF1 (RFC 8017 appendix B.2.1): XORs the mask generated from `seed` into `out`
/// ([`CryptoError::UnsupportedAlgorithm`], `out` untouched, when `hash` is not in the build).
pub fn mgf1_xor(hash: HashAlgorithm, seed: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(hash.output_len())) {
        let mut h = Hasher::new(hash)?;
        h.update(seed);
        h.update(&counter.to_be_bytes());
        for (d, m) in chunk.iter_mut().zip(h.finalize().as_bytes()) {
            *d ^= *m;
        }
    }
    Ok(())
}

/// RSASSA-PSS parameters (RFC 8017 appendix A.2.3 `RSASSA-PSS-params`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PssParams {
    /// The message hash (also hashes `M'`).
    pub hash: HashAlgorithm,
    /// The hash inside MGF1.
    pub mgf_hash: HashAlgorithm,
    /// Salt length in bytes.
    pub salt_len: usize,
}

impl PssParams {
    /// The usual parameters: MGF1 with the same hash, salt as long as the digest.
    pub const fn new(hash: HashAlgorithm) -> Self {
        Self { hash, mgf_hash: hash, salt_len: hash.output_len() }
    }
}

/// EMSA-PSS-VERIFY. `em` is the full `k`-byte RSA output; `mod_bits` the modulus size. A hash
/// or MGF1 hash the build lacks is [`CryptoError::UnsupportedAlgorithm`].
// A frame of its own (stack): not under the RSA operation's frames with the caller's.
#[inline(never)]
pub fn emsa_pss_verify(params: PssParams, digest: &[u8], em: &[u8], mod_bits: usize) -> Result<(), CryptoError> {
    if !params.hash.is_available() || !params.mgf_hash.is_available() {
        return Err(CryptoError::UnsupportedAlgorithm);
    }
    let h_len = params.hash.output_len();
    if digest.len() != h_len {
        return Err(CryptoError::InvalidLength { what: "digest" });
    }
    let em_bits = mod_bits.checked_sub(1).ok_or(CryptoError::SignatureInvalid)?;
    let em_len = em_bits.div_ceil(8);
    // When emLen < k the RSA output has one extra leading byte, which must be zero.
    let em = match em.len().checked_sub(em_len) {
        Some(0) => em,
        Some(1) if em.first() == Some(&0) => em.get(1..).ok_or(CryptoError::SignatureInvalid)?,
        _ => return Err(CryptoError::SignatureInvalid),
    };
    // sLen comes from the signature's AlgorithmIdentifier (attacker-chosen, up to u32::MAX):
    // hLen + sLen + 2 must not wrap on a 32-bit target.
    let s_len = params.salt_len;
    let needed = h_len.checked_add(s_len).and_then(|n| n.checked_add(2)).ok_or(CryptoError::SignatureInvalid)?;
    if em_len < needed || em.last() != Some(&0xbc) {
        return Err(CryptoError::SignatureInvalid);
    }
    // em_len >= hLen + sLen + 2, so neither subtraction below can underflow.
    let db_len = em_len.checked_sub(h_len + 1).ok_or(CryptoError::SignatureInvalid)?;
    let (masked_db, rest) = em.split_at_checked(db_len).ok_or(CryptoError::SignatureInvalid)?;
    let h = rest.get(..h_len).ok_or(CryptoError::SignatureInvalid)?;
    let unused_bits = em_len.checked_mul(8).and_then(|b| b.checked_sub(em_bits)).ok_or(CryptoError::SignatureInvalid)?;
    let top_mask: u8 = 0xffu8.checked_shr(u32::try_from(unused_bits).map_err(|_| CryptoError::SignatureInvalid)?).unwrap_or(0);
    if masked_db.first().is_some_and(|b| b & !top_mask != 0) {
        return Err(CryptoError::SignatureInvalid);
    }
    let mut db_buf = [0u8; super::MAX_MODULUS_LEN];
    let db = db_buf.get_mut(..db_len).ok_or(CryptoError::SignatureInvalid)?;
    db.copy_from_slice(masked_db);
    mgf1_xor(params.mgf_hash, h, db)?;
    if let Some(first) = db.first_mut() {
        *first &= top_mask;
    }
    let ps_len = db_len.checked_sub(s_len).and_then(|n| n.checked_sub(1)).ok_or(CryptoError::SignatureInvalid)?;
    let (ps, rest) = db.split_at_checked(ps_len).ok_or(CryptoError::SignatureInvalid)?;
    let (one, salt) = rest.split_first().ok_or(CryptoError::SignatureInvalid)?;
    if ps.iter().any(|b| *b != 0) || *one != 0x01 {
        return Err(CryptoError::SignatureInvalid);
    }
    let mut hh = Hasher::new(params.hash)?;
    hh.update(&[0u8; 8]);
    hh.update(digest);
    hh.update(salt);
    if bool::from(hh.finalize().as_bytes().ct_eq(h)) { Ok(()) } else { Err(CryptoError::SignatureInvalid) }
}

/// EME-PKCS1-v1_5 encoding (RFC 8017 section 7.2.1 step 2) of `msg` into `em`.
pub fn eme_pkcs1v15_encode(rng: &mut impl CryptoRngCore, msg: &[u8], em: &mut [u8]) -> Result<(), CryptoError> {
    let k = em.len();
    if msg.len() + 11 > k {
        return Err(CryptoError::MessageTooLong);
    }
    let ps_len = k - msg.len() - 3;
    let (head, m) = em.split_at_mut(k - msg.len());
    m.copy_from_slice(msg);
    let (prefix, rest) = head.split_at_mut(2);
    prefix.copy_from_slice(&[0x00, 0x02]);
    let (ps, sep) = rest.split_at_mut(ps_len);
    sep.fill(0);
    rng.fill_bytes(ps);
    for b in ps.iter_mut() {
        // Redraw zero bytes; each draw is zero with probability 1/256, so the bound is never
        // reached by a working RNG.
        let mut tries = 0;
        while *b == 0 {
            tries += 1;
            if tries > 64 {
                return Err(CryptoError::KeyGenerationFailed);
            }
            let mut one = [0u8; 1];
            rng.fill_bytes(&mut one);
            *b = one[0];
        }
    }
    Ok(())
}

/// Constant-time EME-PKCS1-v1_5 decoding with implicit rejection, in place: `out` holds the
/// synthetic message on entry (`out.len()` bytes derived from the secret key and the
/// ciphertext) and keeps it unless `em` is a valid encoding of an `out.len()`-byte message,
/// which then replaces it. No branch or memory access depends on the padding's validity, and
/// no error tells it apart.
pub fn eme_pkcs1v15_decode_implicit(em: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    let k = em.len();
    let m_len = out.len();
    if m_len + 11 > k {
        return Err(CryptoError::InvalidLength { what: "expected plaintext" });
    }
    let sep = k - m_len - 1;
    let mut good = em.first().map_or(0u8, |b| *b).ct_eq(&0) & em.get(1).map_or(0u8, |b| *b).ct_eq(&2);
    for b in em.iter().take(sep).skip(2) {
        good &= !b.ct_eq(&0);
    }
    good &= em.get(sep).map_or(1u8, |b| *b).ct_eq(&0);
    for (o, m) in out.iter_mut().zip(em.iter().skip(sep + 1)) {
        o.conditional_assign(m, good);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    #[test]
    fn no_null_prefix_is_the_rfc8017_variant() {
        let mut buf = [0u8; 19];
        assert_eq!(
            digest_info_prefix_no_null(HashAlgorithm::Sha256, &mut buf),
            &[0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20]
        );
        assert_eq!(
            digest_info_prefix_no_null(HashAlgorithm::Sha1, &mut buf),
            &[0x30, 0x1f, 0x30, 0x07, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x04, 0x14]
        );
    }

    #[test]
    fn pkcs1v15_verify_checks_every_byte_and_both_spellings() {
        let d = [0x5au8; 32];
        let mut em = [0u8; 256];
        emsa_pkcs1v15_encode(HashAlgorithm::Sha256, &d, &mut em).unwrap();
        for i in 0..em.len() {
            let mut bad = em;
            bad[i] ^= 0x01;
            assert_eq!(emsa_pkcs1v15_verify(HashAlgorithm::Sha256, &d, &bad), Err(CryptoError::SignatureInvalid), "byte {i}");
        }
        // The DigestInfo without NULL parameters (RFC 8017 section 9.2 note 1) is accepted too.
        let mut buf = [0u8; 19];
        let prefix = digest_info_prefix_no_null(HashAlgorithm::Sha256, &mut buf).to_vec();
        let mut alt = [0u8; 256];
        encode_with_prefix(&prefix, HashAlgorithm::Sha256, &d, &mut alt).unwrap();
        emsa_pkcs1v15_verify(HashAlgorithm::Sha256, &d, &alt).unwrap();
        alt[255] ^= 1;
        assert!(emsa_pkcs1v15_verify(HashAlgorithm::Sha256, &d, &alt).is_err());
        // Seven padding bytes (RFC 8017 needs eight): refused although the rest matches.
        let mut short = vec![0u8, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0];
        short.extend_from_slice(digest_info_prefix(HashAlgorithm::Sha256));
        short.extend_from_slice(&d);
        assert!(emsa_pkcs1v15_verify(HashAlgorithm::Sha256, &d, &short).is_err());
        assert!(!pkcs1v15_block_is(&short, digest_info_prefix(HashAlgorithm::Sha256), &d));
    }

    #[test]
    fn pkcs1v15_encoding_has_the_rfc_layout() {
        let d = [0xabu8; 32];
        let mut em = [0u8; 256];
        emsa_pkcs1v15_encode(HashAlgorithm::Sha256, &d, &mut em).unwrap();
        assert_eq!(&em[..2], &[0, 1]);
        assert!(em[2..256 - 51 - 1].iter().all(|b| *b == 0xff));
        assert_eq!(em[256 - 52], 0);
        assert_eq!(&em[256 - 32..], &d);
        emsa_pkcs1v15_verify(HashAlgorithm::Sha256, &d, &em).unwrap();
        assert!(emsa_pkcs1v15_verify(HashAlgorithm::Sha384, &[0xab; 48], &em).is_err());
        assert!(emsa_pkcs1v15_encode(HashAlgorithm::Sha256, &d[..31], &mut em).is_err());
        assert_eq!(emsa_pkcs1v15_encode(HashAlgorithm::Sha512, &[0; 64], &mut em[..80]), Err(CryptoError::MessageTooLong));
    }

    #[test]
    fn implicit_rejection_picks_message_or_synthetic_without_error() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        use rand::SeedableRng;
        let msg = [0x11u8; 16];
        let synth = [0x22u8; 16];
        let mut em = [0u8; 256];
        eme_pkcs1v15_encode(&mut rng, &msg, &mut em).unwrap();
        assert!(em[2..256 - 17].iter().all(|b| *b != 0));
        let mut out = [0u8; 16];
        out.copy_from_slice(&synth);
        eme_pkcs1v15_decode_implicit(&em, &mut out).unwrap();
        assert_eq!(out, msg);
        // Each way of breaking the padding yields the synthetic message, and no error.
        let breakers: [fn(&mut [u8; 256]); 5] = [
            |e| e[0] = 1,
            |e| e[1] = 1,
            |e| e[5] = 0,
            |e| e[256 - 17] = 0x7f,
            |e| e[256 - 18] = 0, // message would be 17 bytes long: wrong length
        ];
        for brk in breakers {
            let mut bad = em;
            brk(&mut bad);
            let mut out = [0u8; 16];
            out.copy_from_slice(&synth);
            eme_pkcs1v15_decode_implicit(&bad, &mut out).unwrap();
            assert_eq!(out, synth);
        }
    }

    #[test]
    fn pss_rejects_structurally_bad_blocks() {
        let d = [0u8; 32];
        let p = PssParams::new(HashAlgorithm::Sha256);
        assert!(emsa_pss_verify(p, &d, &[0u8; 256], 2048).is_err());
        assert!(emsa_pss_verify(p, &d, &[0xbcu8; 256], 2048).is_err());
        assert!(emsa_pss_verify(p, &d, &[0u8; 10], 2048).is_err());
        assert!(emsa_pss_verify(p, &d[..20], &[0u8; 256], 2048).is_err());
        assert!(emsa_pss_verify(p, &d, &[0u8; 256], 0).is_err());
    }

    /// A saltLength near `u32::MAX` (chosen by whoever made the signature) once wrapped
    /// `hLen + sLen + 2` on 32-bit targets and panicked in `split_at`: now an invalid signature.
    #[test]
    fn pss_huge_salt_lengths_are_invalid_not_a_panic() {
        let d = [0u8; 32];
        let mut em = [0u8; 256];
        em[255] = 0xbc;
        for salt_len in [u32::MAX as usize, u32::MAX as usize - 33, u32::MAX as usize - 34, usize::MAX, usize::MAX - 33, 223, 222] {
            let p = PssParams { salt_len, ..PssParams::new(HashAlgorithm::Sha256) };
            assert_eq!(emsa_pss_verify(p, &d, &em, 2048), Err(CryptoError::SignatureInvalid), "sLen {salt_len}");
        }
    }
}
