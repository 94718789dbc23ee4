//! ECDSA and ECDH on NIST P-256 (secp256r1), over the `p256` crate.
//!
//! Public keys are SEC1 encoded points (65-byte uncompressed form, as in SubjectPublicKeyInfo;
//! the 33-byte compressed form is accepted on input). Signatures come in two encodings:
//! *raw* `r || s` (64 bytes, what secure elements produce, IEEE P1363) and *DER*
//! `ECDSA-Sig-Value` (RFC 5480 section 2.2 / RFC 3279 section 2.2.3, what X.509, CMS and TLS
//! carry).

use crate::CryptoError;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

/// Length of an uncompressed SEC1 P-256 public key.
pub const PUBLIC_KEY_LEN: usize = 65;
/// Length of a raw `r || s` P-256 signature.
pub const RAW_SIGNATURE_LEN: usize = 64;
/// Largest DER `ECDSA-Sig-Value` for P-256.
pub const MAX_DER_SIGNATURE_LEN: usize = 72;
/// Length of an ECDH shared secret (the x-coordinate).
pub const SHARED_SECRET_LEN: usize = 32;

/// The DER header of a P-256 SubjectPublicKeyInfo (RFC 5480): SEQUENCE { SEQUENCE {
/// id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) }, followed by the 65-byte point.
pub(crate) const SPKI_HEADER: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00,
];

/// Length of a P-256 SubjectPublicKeyInfo (uncompressed point).
pub const SPKI_LEN: usize = SPKI_HEADER.len() + PUBLIC_KEY_LEN;

/// The DER SubjectPublicKeyInfo (RFC 5480) of the P-256 public key `public_key_sec1` (what a
/// secure element reports, uncompressed or compressed), for [`Signer::public_key_der`] of a
/// hardware key (no `soft-keys` needed). The point is checked (on the curve, not the
/// identity) and written uncompressed: [`SPKI_LEN`] bytes of `out`.
///
/// [`Signer::public_key_der`]: crate::hal::Signer::public_key_der
pub fn spki_der<'o>(public_key_sec1: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
    let point = normalize_public_key(public_key_sec1)?;
    let out = out.get_mut(..SPKI_LEN).ok_or(CryptoError::BufferTooSmall { needed: SPKI_LEN })?;
    let (head, tail) = out.split_at_mut(SPKI_HEADER.len());
    head.copy_from_slice(&SPKI_HEADER);
    tail.copy_from_slice(&point);
    Ok(out)
}

/// Verifies a DER `ECDSA-Sig-Value` over a message digest (any SHA-2 length; SHA-1 only with
/// `legacy-crypto`, checked by the caller that knows the algorithm identifier).
pub fn verify_prehash(public_key_sec1: &[u8], digest: &[u8], signature_der: &[u8]) -> Result<(), CryptoError> {
    verify_prehash_raw(public_key_sec1, digest, &signature_der_to_raw(signature_der)?)
}

/// Verifies a raw `r || s` signature over a message digest.
pub fn verify_prehash_raw(public_key_sec1: &[u8], digest: &[u8], signature_raw: &[u8]) -> Result<(), CryptoError> {
    let sig = Signature::from_slice(signature_raw).map_err(|_| CryptoError::SignatureInvalid)?;
    verify(public_key_sec1, digest, &sig)
}

// A frame of its own (stack): inlined into a caller that also verifies RSA (the path
// validation's `SpkiRef::verify_digest`), its points added to the RSA branch's frame.
#[inline(never)]
fn verify(public_key_sec1: &[u8], digest: &[u8], sig: &Signature) -> Result<(), CryptoError> {
    let key = VerifyingKey::from_sec1_bytes(public_key_sec1).map_err(|_| CryptoError::InvalidKey)?;
    if digest.len() < 20 || digest.len() > 64 {
        return Err(CryptoError::InvalidLength { what: "digest" });
    }
    key.verify_prehash(digest, sig).map_err(|_| CryptoError::SignatureInvalid)
}

/// Converts a raw `r || s` signature to DER, written into `out` (at most
/// [`MAX_DER_SIGNATURE_LEN`] bytes).
///
/// The encoding `ecdsa`'s `Signature::to_der` gives (minimal INTEGERs, a zero octet before a
/// set top bit), written with the crate's DER writer.
pub fn signature_raw_to_der<'o>(raw: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
    // The range checks (r and s not zero, below the order; 64 bytes).
    Signature::from_slice(raw).map_err(|_| CryptoError::SignatureInvalid)?;
    let (r, s) = raw.split_at_checked(RAW_SIGNATURE_LEN / 2).ok_or(CryptoError::SignatureInvalid)?;
    crate::asn1::writer::encode(out, |w| {
        w.sequence(|w| {
            w.unsigned_integer(r)?;
            w.unsigned_integer(s)
        })
    })
    .map_err(|e| match e {
        crate::error::EncodeError::BufferTooSmall { needed } => CryptoError::BufferTooSmall { needed },
        _ => CryptoError::SignatureInvalid,
    })
}

/// Converts a DER signature to raw `r || s`.
///
/// The rules of the `ecdsa` crate's DER decoder (which this replaces, with the crate's strict
/// DER walker): `SEQUENCE { r INTEGER, s INTEGER }` and nothing after it, each integer minimal
/// and not negative, at most 32 bytes, and `r` and `s` in `1..n`.
pub fn signature_der_to_raw(der: &[u8]) -> Result<[u8; RAW_SIGNATURE_LEN], CryptoError> {
    use crate::asn1::tlv::{Tlv, tag};
    let mut out = [0u8; RAW_SIGNATURE_LEN];
    let parsed = (|| {
        let mut c = Tlv::parse_exact(der)?.with_tag(tag::SEQUENCE)?.children();
        let r = c.expect_next(tag::INTEGER)?.unsigned_integer()?;
        let s = c.expect_next(tag::INTEGER)?.unsigned_integer()?;
        c.finish()?;
        Ok::<_, crate::error::DecodeError>((r, s))
    })();
    let (r, s) = parsed.map_err(|_| CryptoError::SignatureInvalid)?;
    let (r_out, s_out) = out.split_at_mut(RAW_SIGNATURE_LEN / 2);
    for (v, dst) in [(r, r_out), (s, s_out)] {
        // Right-aligned: `v` is the big-endian magnitude without leading zeros.
        let at = dst.len().checked_sub(v.len()).ok_or(CryptoError::SignatureInvalid)?;
        dst.get_mut(at..).ok_or(CryptoError::SignatureInvalid)?.copy_from_slice(v);
    }
    // The range checks (r and s not zero, below the order).
    Signature::from_slice(&out).map_err(|_| CryptoError::SignatureInvalid)?;
    Ok(out)
}

/// Checks that `public_key_sec1` is a valid point on P-256 (not the identity) and writes its
/// uncompressed form into `out`.
pub fn normalize_public_key(public_key_sec1: &[u8]) -> Result<[u8; PUBLIC_KEY_LEN], CryptoError> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let key = p256::PublicKey::from_sec1_bytes(public_key_sec1).map_err(|_| CryptoError::InvalidKey)?;
    let point = key.to_encoded_point(false);
    let mut out = [0u8; PUBLIC_KEY_LEN];
    let bytes = point.as_bytes();
    out.get_mut(..bytes.len()).ok_or(CryptoError::InvalidKey)?.copy_from_slice(bytes);
    Ok(out)
}

/// ECDH with a P-256 secret scalar held in software: writes the shared x-coordinate.
///
/// Hardware keys implement [`KeyAgreement`](crate::hal::KeyAgreement) instead.
pub fn ecdh(secret: &p256::SecretKey, peer_public_sec1: &[u8], out: &mut [u8; SHARED_SECRET_LEN]) -> Result<(), CryptoError> {
    let peer = p256::PublicKey::from_sec1_bytes(peer_public_sec1).map_err(|_| CryptoError::InvalidKey)?;
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    out.copy_from_slice(shared.raw_secret_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER signatures, well-formed and not: the decoder here must agree with the `ecdsa`
    /// crate's `Signature::from_der` (which it replaced) on every one.
    #[test]
    fn der_signatures_decode_as_the_ecdsa_crate_does() {
        let n = hex_literal::hex!("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        let mut cases: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
        let int = |v: &[u8]| {
            let mut t = std::vec![0x02, v.len() as u8];
            t.extend_from_slice(v);
            t
        };
        let seq = |parts: &[std::vec::Vec<u8>]| {
            let body: std::vec::Vec<u8> = parts.concat();
            let mut t = std::vec![0x30, body.len() as u8];
            t.extend_from_slice(&body);
            t
        };
        let values: [&[u8]; 12] = [
            &[1],
            &[0],
            &[],
            &[0x7f; 32],
            &[0x00, 0x80],
            &[0x00, 0x7f],
            &[0x80],
            &[0x00, 0xff, 0x01],
            &n,
            &[0x01; 33],
            &[0x55; 31],
            &[0x00, 0x00, 0x01],
        ];
        let mut n_int = std::vec![0x00];
        n_int.extend_from_slice(&n);
        for r in values.iter().map(|v| v.to_vec()).chain([n_int.clone()]) {
            for s in values.iter().map(|v| v.to_vec()).chain([n_int.clone()]) {
                cases.push(seq(&[int(&r), int(&s)]));
            }
        }
        let good = seq(&[int(&[1]), int(&[2])]);
        cases.push([good.clone(), std::vec![0]].concat());
        cases.push(seq(&[int(&[1]), int(&[2]), int(&[3])]));
        cases.push(seq(&[int(&[1])]));
        cases.push(good[..good.len() - 1].to_vec());
        let mut wrong_tag = good.clone();
        wrong_tag[0] = 0x31;
        cases.push(wrong_tag);
        cases.push(std::vec![0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]);
        cases.push(std::vec![0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00]);
        cases.push(std::vec![]);
        for c in &cases {
            let theirs = Signature::from_der(c).ok().map(|s| s.to_bytes().to_vec());
            let ours = signature_der_to_raw(c).ok().map(|r| r.to_vec());
            assert_eq!(ours, theirs, "{c:02x?}");
        }
        assert!(cases.iter().any(|c| signature_der_to_raw(c).is_ok()));
    }

    /// Raw signatures to DER: the bytes `ecdsa`'s `to_der` (which this replaced) gives.
    #[test]
    fn raw_to_der_encodes_as_the_ecdsa_crate_does() {
        let mut raws = std::vec::Vec::new();
        for (hi_r, hi_s) in [(0x00u8, 0x00u8), (0x7f, 0x80), (0x80, 0x7f), (0xff, 0x00), (0x00, 0xff)] {
            for zeros in [0usize, 1, 2, 31] {
                let mut raw = [0x5au8; 64];
                raw[0] = hi_r;
                raw[32] = hi_s;
                raw[1..1 + zeros.min(30)].fill(0);
                raw[33..33 + zeros.min(30)].fill(0);
                if zeros == 31 {
                    raw[..31].fill(0);
                }
                raws.push(raw);
            }
        }
        raws.push([0; 64]);
        raws.push([0xff; 64]);
        for raw in &raws {
            let theirs = Signature::from_slice(raw).ok().map(|s| s.to_der().as_bytes().to_vec());
            let mut out = [0u8; MAX_DER_SIGNATURE_LEN];
            let ours = signature_raw_to_der(raw, &mut out).ok().map(|d| d.to_vec());
            assert_eq!(ours, theirs, "{raw:02x?}");
            if let Some(der) = theirs {
                let mut small = [0u8; MAX_DER_SIGNATURE_LEN];
                let small = &mut small[..der.len() - 1];
                assert_eq!(signature_raw_to_der(raw, small), Err(CryptoError::BufferTooSmall { needed: der.len() }));
            }
        }
        let mut out = [0u8; MAX_DER_SIGNATURE_LEN];
        assert_eq!(signature_raw_to_der(&[1; 63], &mut out), Err(CryptoError::SignatureInvalid));
    }
    use hex_literal::hex;

    // RFC 6979 appendix A.2.5: P-256 key, SHA-256, message "sample".
    const X: [u8; 32] = hex!("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
    const PUB: [u8; 65] = hex!(
        "04 60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6 7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
    );
    const SIG_R: [u8; 32] = hex!("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716");
    const SIG_S: [u8; 32] = hex!("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");

    fn raw_sig() -> [u8; 64] {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&SIG_R);
        s[32..].copy_from_slice(&SIG_S);
        s
    }

    #[test]
    fn verifies_rfc6979_sample_signature_raw_and_der() {
        let digest = crate::crypto::HashAlgorithm::Sha256.digest(b"sample").unwrap();
        verify_prehash_raw(&PUB, digest.as_bytes(), &raw_sig()).unwrap();
        let mut der = [0u8; 72];
        let der = signature_raw_to_der(&raw_sig(), &mut der).unwrap();
        verify_prehash(&PUB, digest.as_bytes(), der).unwrap();
        assert_eq!(signature_der_to_raw(der).unwrap(), raw_sig());
        let other = crate::crypto::HashAlgorithm::Sha256.digest(b"samplf").unwrap();
        assert_eq!(verify_prehash(&PUB, other.as_bytes(), der), Err(CryptoError::SignatureInvalid));
    }

    #[test]
    fn public_key_of_rfc6979_secret_matches() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let sk = p256::SecretKey::from_slice(&X).unwrap();
        assert_eq!(sk.public_key().to_encoded_point(false).as_bytes(), &PUB[..]);
        assert_eq!(normalize_public_key(&PUB).unwrap(), PUB);
    }

    #[test]
    fn ecdh_agrees_both_ways() {
        let a = p256::SecretKey::from_slice(&X).unwrap();
        let b = p256::SecretKey::from_slice(&hex!("0F56DB78CA460B055C500064824BED999A25AAF48EBB519AC201537B85479813")).unwrap();
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let (mut s1, mut s2) = ([0u8; 32], [0u8; 32]);
        ecdh(&a, b.public_key().to_encoded_point(false).as_bytes(), &mut s1).unwrap();
        ecdh(&b, a.public_key().to_encoded_point(true).as_bytes(), &mut s2).unwrap();
        assert_eq!(s1, s2);
        assert_ne!(s1, [0; 32]);
    }

    #[test]
    fn malformed_inputs_are_typed_errors() {
        let d = [0u8; 32];
        let mut bad_point = PUB;
        bad_point[64] ^= 1;
        assert_eq!(verify_prehash_raw(&bad_point, &d, &raw_sig()), Err(CryptoError::InvalidKey));
        assert_eq!(verify_prehash_raw(&PUB[..64], &d, &raw_sig()), Err(CryptoError::InvalidKey));
        assert_eq!(verify_prehash_raw(&PUB, &d, &raw_sig()[..63]), Err(CryptoError::SignatureInvalid));
        assert_eq!(verify_prehash(&PUB, &d, &[0x30, 0x02, 0x02, 0x00]), Err(CryptoError::SignatureInvalid));
        assert_eq!(verify_prehash_raw(&PUB, &d[..10], &raw_sig()), Err(CryptoError::InvalidLength { what: "digest" }));
        assert_eq!(verify_prehash_raw(&PUB, &d, &[0u8; 64]), Err(CryptoError::SignatureInvalid));
        let mut out = [0u8; 8];
        assert!(matches!(signature_raw_to_der(&raw_sig(), &mut out), Err(CryptoError::BufferTooSmall { .. })));
        let a = p256::SecretKey::from_slice(&X).unwrap();
        let mut s = [0u8; 32];
        assert_eq!(ecdh(&a, &[0u8], &mut s), Err(CryptoError::InvalidKey));
        assert_eq!(normalize_public_key(&[4u8; 65]), Err(CryptoError::InvalidKey));
    }
}
