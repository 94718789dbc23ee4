use embedded_enroll::crypto::p256::{
    PUBLIC_KEY_LEN, RAW_SIGNATURE_LEN, normalize_public_key, signature_der_to_raw, signature_raw_to_der, verify_prehash, verify_prehash_raw,
};
use embedded_enroll::crypto::{Digest, HashAlgorithm};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{KeyAgreement, Signer};

use crate::support::take;

/// A key that imported: its public key is a valid point, and what it signs verifies.
fn check_key(key: &mut SoftP256Key, digest: &Digest, peer: &[u8]) {
    let public = key.public_key_sec1();
    assert_eq!(normalize_public_key(&public).expect("an imported key's public key must be valid"), public);

    let mut raw = [0u8; RAW_SIGNATURE_LEN];
    let len = key.sign_prehash(digest, &mut raw).expect("an imported key must sign a SHA-256 digest");
    assert_eq!(len, RAW_SIGNATURE_LEN);
    verify_prehash_raw(&public, digest.as_bytes(), &raw).expect("a fresh raw signature must verify");
    // DER verification is the same check after `signature_der_to_raw`; the round trip is
    // enough (a second verification would halve the run rate).
    let mut der = [0u8; 80];
    let der = signature_raw_to_der(&raw, &mut der).expect("a fresh signature must encode as DER");
    assert_eq!(signature_der_to_raw(der), Ok(raw), "raw -> DER -> raw changed a fresh signature");

    let mut shared = [0u8; 32];
    let _ = key.agree(peer, &mut shared);
}

/// P-256 key import (`SoftP256Key::{from_pkcs8_der, from_sec1_der, from_bytes}`) and the
/// `crypto::p256` helpers (`verify_prehash`, `verify_prehash_raw`, `signature_der_to_raw`,
/// `normalize_public_key`) on arbitrary bytes.
///
/// Input layout, after the whole input has been tried as each encoding:
/// `[flags] [public key length % 66] [digest length % 65] public key || digest || DER signature`.
/// If bit 0 of `flags` is set, input bytes 0..32 and 32..64 are also taken as two scalars
/// for an ECDH check (slow: two key derivations and two ECDH runs, so only on request).
///
/// Properties: never panics; a normalized public key normalizes to itself; a DER signature
/// survives DER -> raw -> DER -> raw; a key that imports signs a digest that then verifies, and
/// ECDH between two imported keys gives one shared secret.
pub fn p256_keys_and_signatures(data: &[u8]) {
    let digest = HashAlgorithm::Sha256.digest(data).expect("SHA-256 is always built in");

    // The whole input as each encoding.
    let imported = [SoftP256Key::from_pkcs8_der(data), SoftP256Key::from_sec1_der(data), SoftP256Key::from_bytes(data)];
    for mut key in imported.into_iter().flatten() {
        check_key(&mut key, &digest, data);
    }
    if let Ok(point) = normalize_public_key(data) {
        assert_eq!(point[0], 0x04, "normalized points are uncompressed");
        assert_eq!(normalize_public_key(&point), Ok(point), "normalize_public_key is not idempotent");
    }
    if let Ok(raw) = signature_der_to_raw(data) {
        let mut der = [0u8; 80];
        let der = signature_raw_to_der(&raw, &mut der).expect("a parsed signature must re-encode");
        assert_eq!(signature_der_to_raw(der), Ok(raw), "DER -> raw -> DER -> raw changed the signature");
    }

    // Public key, digest and signature cut from the input.
    let mut rest = data;
    let (flags, pk_len, digest_len) = match *take(&mut rest, 3) {
        [f, a, b] => (f, usize::from(a) % (PUBLIC_KEY_LEN + 1), usize::from(b) % 65),
        _ => return,
    };
    let public = take(&mut rest, pk_len);
    let prehash = take(&mut rest, digest_len);
    let signature = rest;
    let _ = verify_prehash(public, prehash, signature);
    let _ = verify_prehash_raw(public, prehash, signature);

    // Two scalars cut from the input: ECDH must agree both ways.
    if flags & 1 == 0 {
        return;
    }
    let (Some(a), Some(b)) = (data.get(..32), data.get(32..64)) else { return };
    let (Ok(mut a), Ok(mut b)) = (SoftP256Key::from_bytes(a), SoftP256Key::from_bytes(b)) else { return };
    let (mut ab, mut ba) = ([0u8; 32], [0u8; 32]);
    a.agree(&b.public_key_sec1(), &mut ab).expect("ECDH with a valid public key must succeed");
    b.agree(&a.public_key_sec1(), &mut ba).expect("ECDH with a valid public key must succeed");
    assert_eq!(ab, ba, "ECDH is not symmetric");
}
