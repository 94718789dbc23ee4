//! The drivers' key adapters (`SignOnly`, `NoKeys`, `ByRole`), the shared key (`SharedKey`,
//! one key for TLS client authentication and the requests) and the P-256 SPKI builder for
//! hardware keys, against the software keys and the OpenSSL CLI as the oracle.

mod common;

use common::{openssl_stdin, rng};
use embedded_enroll::crypto::{Digest, p256 as ec};
use embedded_enroll::hal::soft::{SoftP256Key, SoftRsaKey2048};
use embedded_enroll::hal::{ErrorKind, KeyAgreement, SharedKey, Signer};
use embedded_enroll::transport::blocking::{ByRole, DeviceKeys, EcDevice, KeyRole, NoKeys, RsaDevice, SignOnly};

fn verifies(key: &SoftP256Key, digest: &Digest, sig: &[u8]) -> bool {
    ec::verify_prehash_raw(&key.public_key_sec1(), digest.as_bytes(), sig).is_ok()
}

#[test]
fn by_role_signs_and_agrees_with_the_key_of_each_role() {
    let (mut a, mut b) = (SoftP256Key::generate(&mut rng(1)), SoftP256Key::generate(&mut rng(2)));
    let (pa, pb) = (a.clone(), b.clone());
    let mut keys = ByRole { requested: EcDevice(&mut a), certificate: EcDevice(&mut b) };
    let digest = Digest::sha256(b"by role");
    let mut sig = [0u8; 64];
    assert_eq!(keys.sign(KeyRole::Requested, &digest, &mut sig), Ok(64));
    assert!(verifies(&pa, &digest, &sig) && !verifies(&pb, &digest, &sig), "Requested signs with the requested key");
    assert_eq!(keys.sign(KeyRole::Certificate, &digest, &mut sig), Ok(64));
    assert!(verifies(&pb, &digest, &sig) && !verifies(&pa, &digest, &sig), "Certificate signs with the certificate's key");

    // ECDH by role: each matches the peer's computation with that role's key.
    let mut peer = SoftP256Key::generate(&mut rng(3));
    let (mut z_role, mut z_peer) = ([0u8; 32], [0u8; 32]);
    keys.agree(KeyRole::Certificate, &peer.public_key_sec1(), &mut z_role).unwrap();
    peer.agree(&pb.public_key_sec1(), &mut z_peer).unwrap();
    assert_eq!(z_role, z_peer);
    keys.agree(KeyRole::Requested, &peer.public_key_sec1(), &mut z_role).unwrap();
    peer.agree(&pa.public_key_sec1(), &mut z_peer).unwrap();
    assert_eq!(z_role, z_peer);
    // EC slots do not decrypt.
    assert_eq!(keys.decrypt(KeyRole::Requested, &[0; 256], &mut [0; 16]), Err(ErrorKind::Unsupported));
}

#[test]
fn by_role_mixes_an_rsa_slot_with_a_sign_only_one() {
    let mut rsa = SoftRsaKey2048::generate(&mut rng(4)).unwrap();
    let mut ec_key = SoftP256Key::generate(&mut rng(5));
    let pub_ec = ec_key.clone();
    let mut keys = ByRole { requested: SignOnly(&mut ec_key), certificate: RsaDevice(&mut rsa) };
    let digest = Digest::sha256(b"mixed");
    let mut sig = [0u8; 256];
    assert_eq!(keys.sign(KeyRole::Requested, &digest, &mut sig), Ok(64));
    assert!(verifies(&pub_ec, &digest, &sig[..64]));
    assert_eq!(keys.sign(KeyRole::Certificate, &digest, &mut sig), Ok(256), "an RSA-2048 signature from the certificate slot");
    assert_eq!(keys.agree(KeyRole::Requested, &pub_ec.public_key_sec1(), &mut [0; 32]), Err(ErrorKind::Unsupported), "sign-only");
}

#[test]
fn sign_only_and_no_keys_refuse_what_they_cannot_do() {
    let mut key = SoftP256Key::generate(&mut rng(6));
    let public = key.public_key_sec1();
    let mut only = SignOnly(&mut key);
    let digest = Digest::sha256(b"sign only");
    let mut sig = [0u8; 64];
    assert_eq!(only.sign(KeyRole::Certificate, &digest, &mut sig), Ok(64));
    assert!(ec::verify_prehash_raw(&public, digest.as_bytes(), &sig).is_ok());
    assert_eq!(only.decrypt(KeyRole::Requested, &[0; 256], &mut [0; 16]), Err(ErrorKind::Unsupported));
    assert_eq!(only.agree(KeyRole::Requested, &public, &mut [0; 32]), Err(ErrorKind::Unsupported));

    let mut none = NoKeys;
    for role in [KeyRole::Requested, KeyRole::Certificate] {
        assert_eq!(none.sign(role, &digest, &mut sig), Err(ErrorKind::NotFound));
        assert_eq!(none.decrypt(role, &[0; 256], &mut [0; 16]), Err(ErrorKind::NotFound));
        assert_eq!(none.agree(role, &public, &mut [0; 32]), Err(ErrorKind::NotFound));
    }
}

#[test]
fn a_shared_key_signs_for_two_holders_without_cloning_it() {
    let mut key = SoftP256Key::generate(&mut rng(7));
    let public = key.public_key_sec1();
    let shared = SharedKey::new(&mut key);
    // One holder as the drivers' keys, the other as a TLS connector would hold it.
    let mut tls_holder = &shared;
    let mut driver_keys = EcDevice(&shared);
    let digest = Digest::sha256(b"shared");
    let mut sig = [0u8; 64];
    assert_eq!(tls_holder.sign_prehash(&digest, &mut sig), Ok(64));
    assert!(ec::verify_prehash_raw(&public, digest.as_bytes(), &sig).is_ok());
    assert_eq!(driver_keys.sign(KeyRole::Certificate, &digest, &mut sig), Ok(64));
    assert!(ec::verify_prehash_raw(&public, digest.as_bytes(), &sig).is_ok());
    let mut spki = [0u8; 91];
    assert_eq!(tls_holder.public_key_der(&mut spki), Ok(91));
    assert_eq!(tls_holder.key_type(), embedded_enroll::hal::KeyType::EcP256);
    // Deterministic signatures (RFC 6979): the same key signed for both holders.
    let mut again = [0u8; 64];
    SharedKey::into_inner(shared).sign_prehash(&digest, &mut again).unwrap();
    assert_eq!(sig, again);
}

#[test]
fn p256_spki_from_a_bare_point_is_what_openssl_reads_and_what_the_soft_key_writes() {
    let mut key = SoftP256Key::generate(&mut rng(8));
    let point = key.public_key_sec1();
    let mut ours = [0u8; ec::SPKI_LEN];
    let spki = ec::spki_der(&point, &mut ours).unwrap().to_vec();
    let mut soft = [0u8; ec::SPKI_LEN];
    assert_eq!(key.public_key_der(&mut soft), Ok(ec::SPKI_LEN));
    assert_eq!(spki, soft, "the builder and the soft key agree");
    // The compressed form (what some secure elements report) gives the same SPKI.
    let mut compressed = [0u8; 33];
    compressed[0] = 2 | (point[64] & 1);
    compressed[1..].copy_from_slice(&point[1..33]);
    let mut from_compressed = [0u8; ec::SPKI_LEN];
    assert_eq!(ec::spki_der(&compressed, &mut from_compressed).unwrap(), &spki[..]);
    // OpenSSL reads it as a P-256 public key with this point.
    let (ok, text) = openssl_stdin(&["pkey", "-pubin", "-inform", "DER", "-noout", "-text"], &spki);
    assert!(ok, "openssl refused the SPKI: {text}");
    assert!(text.contains("prime256v1") || text.contains("P-256"), "{text}");
    // Refused: a point off the curve, the identity, a short buffer.
    let mut off = point;
    off[64] ^= 1;
    assert!(ec::spki_der(&off, &mut [0u8; ec::SPKI_LEN]).is_err());
    assert!(ec::spki_der(&[0u8], &mut [0u8; ec::SPKI_LEN]).is_err());
    assert_eq!(
        ec::spki_der(&point, &mut [0u8; ec::SPKI_LEN - 1]).unwrap_err(),
        embedded_enroll::CryptoError::BufferTooSmall { needed: ec::SPKI_LEN }
    );
}
