use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::rsa::{MAX_MODULUS_LEN, RsaPrivateKey2048, RsaPublicKey};
use rand_core::{CryptoRng, RngCore};

use crate::support::with_scratch;

/// A deterministic xorshift64* generator, so a crash reproduces from its input alone. Not a
/// cryptographic RNG: the `CryptoRng` marker is only there to satisfy the key API (blinding).
struct XorShift(u64);

impl RngCore for XorShift {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let n = chunk.len();
            chunk.copy_from_slice(&self.next_u64().to_le_bytes()[..n]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for XorShift {}

fn check(key: Result<RsaPrivateKey2048, embedded_enroll::CryptoError>) {
    let Ok(mut key) = key else { return };
    with_scratch(MAX_MODULUS_LEN + 32 + MAX_MODULUS_LEN, |pool| {
        let (public_der, signature) = pool.split_at_mut(MAX_MODULUS_LEN + 32);
        let public_der = key.public_key_pkcs1_der(public_der).expect("an imported key must export its public key");
        let public = RsaPublicKey::from_pkcs1_der(public_der).expect("the exported public key must parse");
        assert_eq!(public.modulus_len(), key.modulus_len());
        assert_eq!(public.bits(), key.bits());

        let digest = HashAlgorithm::Sha256.digest(b"embedded-enroll fuzz").expect("SHA-256 is always built in");
        // Signing may refuse (its fault check catches a key that is inconsistent for this
        // message but passed the import self-test); a signature it does return must verify.
        if let Ok(signature) = key.sign_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), signature) {
            public.verify_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), signature).expect("a signature the key returns must verify");
        }
    })
}

/// `crypto::rsa::RsaPrivateKey2048::{from_pkcs1_der, from_pkcs8_der}` on arbitrary bytes.
///
/// Properties: never panics; a key that imports exports a public key that parses, and a
/// signature it returns verifies under that public key.
pub fn rsa_private_key(data: &[u8]) {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    check(RsaPrivateKey2048::from_pkcs1_der(data, &mut rng));
    check(RsaPrivateKey2048::from_pkcs8_der(data, &mut rng));
}
