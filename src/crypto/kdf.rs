//! Key-derivation functions for CMS recipients.
//!
//! - ANSI X9.63 KDF (SEC 1 v2 section 3.6.1), used by KeyAgreeRecipientInfo with the
//!   `dhSinglePass-stdDH-sha*kdf` schemes (RFC 5753 section 7.2). It is written here because the
//!   RustCrypto `ansi-x963-kdf` crate is of a newer `digest` generation than the rest of the
//!   firmware graph; the function is a dozen lines over [`Hasher`].
//! - PBKDF2 (RFC 8018 section 5.2) with HMAC-SHA1 or HMAC-SHA256, used by
//!   PasswordRecipientInfo (RFC 3211), from the `pbkdf2` crate.
//!
//! Hashes that are not in the build ([`HashAlgorithm::is_available`]: SHA-1 needs feature
//! `sha1`, SHA-384 and SHA-512 feature `sha512`) are refused with
//! [`CryptoError::UnsupportedAlgorithm`].

use crate::CryptoError;
use crate::crypto::digest::{HashAlgorithm, Hasher};

/// ANSI X9.63 KDF: fills `out` with `Hash(Z || counter || SharedInfo)` blocks, the 32-bit
/// big-endian counter starting at 1.
///
/// `hash` may be SHA-1, SHA-256 or SHA-384 (the RFC 5753 schemes) or SHA-512, if the build
/// has it.
pub fn x963_kdf(hash: HashAlgorithm, shared_secret: &[u8], shared_info: &[u8], out: &mut [u8]) -> Result<(), CryptoError> {
    if out.is_empty() {
        return Err(CryptoError::InvalidLength { what: "derived key" });
    }
    if !hash.is_available() {
        return Err(CryptoError::UnsupportedAlgorithm);
    }
    for (i, chunk) in out.chunks_mut(hash.output_len()).enumerate() {
        // `out` is a slice, so the block count is far below 2^32 - 1.
        let counter = u32::try_from(i + 1).map_err(|_| CryptoError::InvalidLength { what: "derived key" })?;
        let mut h = Hasher::new(hash)?;
        h.update(shared_secret);
        h.update(&counter.to_be_bytes());
        h.update(shared_info);
        let block = h.finalize();
        for (d, s) in chunk.iter_mut().zip(block.as_bytes()) {
            *d = *s;
        }
    }
    Ok(())
}

/// PBKDF2 with HMAC-`hash` (SHA-256, or SHA-1 with feature `sha1`): fills `out` from
/// `password`, `salt` and `iterations` (at least 1).
///
/// The work is proportional to `iterations`: a caller taking the count from a message must
/// cap it first.
pub fn pbkdf2_hmac(hash: HashAlgorithm, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) -> Result<(), CryptoError> {
    if iterations == 0 {
        return Err(CryptoError::InvalidLength { what: "PBKDF2 iteration count" });
    }
    if out.is_empty() {
        return Err(CryptoError::InvalidLength { what: "derived key" });
    }
    match hash {
        #[cfg(feature = "sha1")]
        HashAlgorithm::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, out),
        HashAlgorithm::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out),
        _ => return Err(CryptoError::UnsupportedAlgorithm),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// NIST CAVS `ansx963_2001.rsp`, [SHA-256], shared secret 192 bits, key data 128 bits.
    #[test]
    fn x963_matches_nist_cavs_sha256_vectors() {
        let mut out = [0u8; 16];
        x963_kdf(HashAlgorithm::Sha256, &hex!("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08"), &[], &mut out).unwrap();
        assert_eq!(out, hex!("443024c3dae66b95e6f5670601558f71"));
        x963_kdf(HashAlgorithm::Sha256, &hex!("96f600b73ad6ac5629577eced51743dd2c24c21b1ac83ee4"), &[], &mut out).unwrap();
        assert_eq!(out, hex!("b6295162a7804f5667ba9070f82fa522"));
    }

    /// The worked example used by several X9.63 implementations: Z = "input key",
    /// SharedInfo = "ANSI X9.63 Example", 99 bytes of SHA-256 output (spans four blocks,
    /// the last one partial).
    #[test]
    fn x963_multi_block_output_with_shared_info() {
        let mut out = [0u8; 99];
        x963_kdf(HashAlgorithm::Sha256, b"input key", b"ANSI X9.63 Example", &mut out).unwrap();
        assert_eq!(
            out,
            hex!(
                "e232c1da499317cdc90bece39e37cadc2322eb32c3c921fb24283dde34794ff5342b73c495ea7d036a7c708fe98d50f2b56b7033e5f2e2df7361208aa01f008b7403e057cf735ca39f2af77a84766c2a82d7f6376d2c4b83e73b889ff73c2e83d1f4a5"
            )
        );
    }

    /// RFC 6070 PBKDF2-HMAC-SHA1 vectors.
    #[cfg(feature = "sha1")]
    #[test]
    fn pbkdf2_sha1_matches_rfc6070() {
        let mut out = [0u8; 20];
        for (c, expect) in [
            (1, hex!("0c60c80f961f0e71f3a9b524af6012062fe037a6")),
            (2, hex!("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957")),
            (4096, hex!("4b007901b765489abead49d926f721d065a429c1")),
        ] {
            pbkdf2_hmac(HashAlgorithm::Sha1, b"password", b"salt", c, &mut out).unwrap();
            assert_eq!(out, expect, "c = {c}");
        }
        let mut out = [0u8; 25];
        pbkdf2_hmac(HashAlgorithm::Sha1, b"passwordPASSWORDpassword", b"saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, &mut out).unwrap();
        assert_eq!(out, hex!("3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"));
    }

    /// RFC 7914 section 11, PBKDF2-HMAC-SHA256 with P = "passwd", S = "salt", c = 1.
    #[test]
    fn pbkdf2_sha256_matches_rfc7914() {
        let mut out = [0u8; 64];
        pbkdf2_hmac(HashAlgorithm::Sha256, b"passwd", b"salt", 1, &mut out).unwrap();
        assert_eq!(
            out,
            hex!(
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
            )
        );
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        let mut out = [0u8; 16];
        assert!(pbkdf2_hmac(HashAlgorithm::Sha256, b"p", b"s", 0, &mut out).is_err());
        assert_eq!(pbkdf2_hmac(HashAlgorithm::Sha384, b"p", b"s", 1, &mut out), Err(CryptoError::UnsupportedAlgorithm));
        assert!(pbkdf2_hmac(HashAlgorithm::Sha256, b"p", b"s", 1, &mut []).is_err());
        assert!(x963_kdf(HashAlgorithm::Sha1, b"z", b"", &mut []).is_err());
    }

    /// A hash the build lacks is refused before anything is derived (and `out` is untouched).
    #[test]
    fn hashes_outside_the_build_are_unsupported() {
        for h in [HashAlgorithm::Sha1, HashAlgorithm::Sha384, HashAlgorithm::Sha512] {
            let mut out = [0xa5u8; 16];
            let x963 = x963_kdf(h, b"z", b"info", &mut out);
            if h.is_available() {
                assert!(x963.is_ok(), "{h:?}");
            } else {
                assert_eq!(x963, Err(CryptoError::UnsupportedAlgorithm), "{h:?}");
                assert_eq!(out, [0xa5; 16]);
            }
        }
        let mut out = [0u8; 16];
        assert_eq!(pbkdf2_hmac(HashAlgorithm::Sha1, b"p", b"s", 1, &mut out).is_ok(), cfg!(feature = "sha1"));
    }
}
