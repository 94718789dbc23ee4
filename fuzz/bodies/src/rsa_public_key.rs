use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::rsa::{MAX_MODULUS_LEN, MIN_MODULUS_BITS, PssParams, RsaPublicKey};

use crate::support::with_scratch;

const HASHES: [HashAlgorithm; 4] = [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512];

/// `crypto::rsa::RsaPublicKey::from_pkcs1_der` on arbitrary bytes, then signature
/// verification with the parsed key.
///
/// Properties: never panics; a key that parses re-encodes to the same DER (the parser is
/// strict DER) and re-parses to an equal key; verification of a signature cut from the input
/// returns (it must not panic; whether it verifies is not asserted).
pub fn rsa_public_key(data: &[u8]) {
    let Ok(key) = RsaPublicKey::from_pkcs1_der(data) else { return };
    let bits = usize::from(key.bits());
    assert!((MIN_MODULUS_BITS..=MAX_MODULUS_LEN * 8).contains(&bits), "key size outside the supported range: {bits}");
    assert_eq!(key.modulus_len(), key.modulus().len());

    with_scratch(MAX_MODULUS_LEN * 2 + 32, |der| {
        let encoded = key.to_pkcs1_der(der).expect("a parsed key must re-encode");
        assert_eq!(encoded, data, "re-encoding differs from the strict-DER input");
        let reparsed = RsaPublicKey::from_pkcs1_der(encoded).expect("the re-encoding must parse");
        assert_eq!(reparsed, key);
    });

    // A modulus-length signature cut from the end of the input (or the whole input if shorter).
    let k = key.modulus_len();
    let signature = &data[data.len().saturating_sub(k)..];
    let hash = HASHES[data.len() % HASHES.len()];
    let digest = hash.digest(b"embedded-enroll fuzz").expect("the fuzz build has every hash");
    let _ = key.verify_pkcs1v15(hash, digest.as_bytes(), signature);
    let _ = key.verify_pss(PssParams::new(hash), digest.as_bytes(), signature);
}
