//! AES key wrap (RFC 3394), as used by CMS KeyAgreeRecipientInfo (RFC 5753 section 7.2,
//! RFC 3565 section 2.3.2) to wrap the content-encryption key.

use crate::CryptoError;
use aes_kw::{KekAes128, KekAes192, KekAes256};

/// Wraps `key` (a multiple of 8 bytes, at least 16) under `kek` (16, 24 or 32 bytes) into
/// `out`, which needs `key.len() + 8` bytes. Returns the wrapped key.
pub fn wrap<'o>(kek: &[u8], key: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
    if key.len() < 16 || !key.len().is_multiple_of(8) {
        return Err(CryptoError::InvalidLength { what: "key to wrap" });
    }
    let needed = key.len() + 8;
    let out = out.get_mut(..needed).ok_or(CryptoError::BufferTooSmall { needed })?;
    let r = match kek.len() {
        16 => KekAes128::try_from(kek).map_err(|_| bad_kek())?.wrap(key, out),
        24 => KekAes192::try_from(kek).map_err(|_| bad_kek())?.wrap(key, out),
        32 => KekAes256::try_from(kek).map_err(|_| bad_kek())?.wrap(key, out),
        _ => return Err(bad_kek()),
    };
    r.map_err(|_| CryptoError::InvalidLength { what: "key to wrap" })?;
    Ok(out)
}

/// Unwraps `wrapped` (a multiple of 8 bytes, at least 24) under `kek` into `out`, which needs
/// `wrapped.len() - 8` bytes. Fails with [`CryptoError::IntegrityCheckFailed`] when the
/// RFC 3394 integrity check value does not match (wrong KEK or tampered input).
pub fn unwrap<'o>(kek: &[u8], wrapped: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], CryptoError> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::InvalidLength { what: "wrapped key" });
    }
    let needed = wrapped.len() - 8;
    let out = out.get_mut(..needed).ok_or(CryptoError::BufferTooSmall { needed })?;
    let r = match kek.len() {
        16 => KekAes128::try_from(kek).map_err(|_| bad_kek())?.unwrap(wrapped, out),
        24 => KekAes192::try_from(kek).map_err(|_| bad_kek())?.unwrap(wrapped, out),
        32 => KekAes256::try_from(kek).map_err(|_| bad_kek())?.unwrap(wrapped, out),
        _ => return Err(bad_kek()),
    };
    if r.is_err() {
        zeroize::Zeroize::zeroize(out);
        return Err(CryptoError::IntegrityCheckFailed);
    }
    Ok(out)
}

fn bad_kek() -> CryptoError {
    CryptoError::InvalidLength { what: "KEK" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    const KEY_DATA_128: [u8; 16] = hex!("00112233445566778899AABBCCDDEEFF");
    const KEY_DATA_256: [u8; 32] = hex!("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
    const KEK256: [u8; 32] = hex!("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");

    /// RFC 3394 section 4: all six published test vectors.
    #[test]
    fn matches_all_rfc3394_vectors() {
        let cases: [(&[u8], &[u8], &[u8]); 6] = [
            (&KEK256[..16], &KEY_DATA_128, &hex!("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")),
            (&KEK256[..24], &KEY_DATA_128, &hex!("96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D")),
            (&KEK256, &KEY_DATA_128, &hex!("64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7")),
            (&KEK256[..24], &KEY_DATA_256[..24], &hex!("031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2")),
            (&KEK256, &KEY_DATA_256[..24], &hex!("A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1")),
            (&KEK256, &KEY_DATA_256, &hex!("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")),
        ];
        for (kek, key, wrapped) in cases {
            let mut out = [0u8; 40];
            assert_eq!(wrap(kek, key, &mut out).unwrap(), wrapped);
            let mut back = [0u8; 32];
            assert_eq!(unwrap(kek, wrapped, &mut back).unwrap(), key);
        }
    }

    #[test]
    fn tampered_or_wrong_kek_fails_integrity_check() {
        let wrapped = hex!("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
        let mut out = [0u8; 16];
        let mut bad = wrapped;
        bad[5] ^= 1;
        assert_eq!(unwrap(&KEK256[..16], &bad, &mut out), Err(CryptoError::IntegrityCheckFailed));
        assert_eq!(out, [0; 16], "output is wiped on failure");
        assert_eq!(unwrap(&KEK256[1..17], &wrapped, &mut out), Err(CryptoError::IntegrityCheckFailed));
    }

    #[test]
    fn bad_lengths_are_typed_errors() {
        let mut out = [0u8; 64];
        assert!(matches!(wrap(&KEK256[..15], &KEY_DATA_128, &mut out), Err(CryptoError::InvalidLength { what: "KEK" })));
        assert!(matches!(wrap(&KEK256[..16], &KEY_DATA_128[..12], &mut out), Err(CryptoError::InvalidLength { .. })));
        assert_eq!(wrap(&KEK256[..16], &KEY_DATA_128, &mut out[..23]), Err(CryptoError::BufferTooSmall { needed: 24 }));
        assert!(matches!(unwrap(&KEK256[..16], &[0; 16], &mut out), Err(CryptoError::InvalidLength { .. })));
        assert!(matches!(unwrap(&KEK256[..16], &[0; 25], &mut out), Err(CryptoError::InvalidLength { .. })));
        assert_eq!(unwrap(&KEK256[..16], &[0; 24], &mut out[..15]), Err(CryptoError::BufferTooSmall { needed: 16 }));
    }
}
