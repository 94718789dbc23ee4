//! Bad input to every public crypto and HAL function gives a typed error, never a panic.
//!
//! Inputs are random lengths and bytes from a seeded generator, plus truncations and bit
//! flips of valid encodings; loops are bounded. A panic anywhere fails the test.
#![cfg(all(feature = "soft-keys", feature = "legacy-crypto"))]

use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::digest::Digest;
use embedded_enroll::crypto::rsa::{PssParams, RsaPrivateKey2048, RsaPrivateKey4096, RsaPublicKey};
use embedded_enroll::crypto::{HashAlgorithm, kdf, keywrap, p256 as ec};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, KeyAgreement, RamStore, Signer, StateStore};
use rand::{Rng, RngCore, SeedableRng};

const HASHES: [HashAlgorithm; 4] = [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512];
const CIPHERS: [CbcCipher; 5] = [CbcCipher::Aes128, CbcCipher::Aes192, CbcCipher::Aes256, CbcCipher::DesEde3, CbcCipher::Des];

fn bytes(r: &mut impl RngCore, max: usize) -> Vec<u8> {
    let len = (r.next_u32() as usize) % (max + 1);
    let mut v = vec![0u8; len];
    r.fill_bytes(&mut v);
    v
}

/// Every prefix and a few bit flips of `valid`.
fn mutations(valid: &[u8], r: &mut impl RngCore) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..valid.len()).map(|n| valid[..n].to_vec()).collect();
    for _ in 0..64 {
        let mut m = valid.to_vec();
        let i = (r.next_u32() as usize) % m.len();
        m[i] ^= 1 << (r.next_u32() % 8);
        out.push(m);
    }
    let mut long = valid.to_vec();
    long.extend_from_slice(&[0, 0, 0]);
    out.push(long);
    out
}

#[test]
fn symmetric_primitives_take_random_lengths_without_panicking() {
    let mut r = rand::rngs::StdRng::seed_from_u64(100);
    for _ in 0..3000 {
        let h = HASHES[r.gen_range(0..4)];
        let data = bytes(&mut r, 200);
        let _ = Digest::from_bytes(h, &data[..data.len().min(70)]);
        let c = CIPHERS[r.gen_range(0..5)];
        let key = bytes(&mut r, 40);
        let iv = bytes(&mut r, 20);
        let mut buf = bytes(&mut r, 80);
        let msg_len = r.gen_range(0..100);
        if let Err(e) = c.encrypt(&key, &iv, &mut buf, msg_len) {
            let _ = e.to_string();
        }
        let _ = c.decrypt(&key, &iv, &mut buf);
        let _ = c.encrypt_blocks(&key, &iv, &mut buf);
        let _ = c.decrypt_blocks(&key, &iv, &mut buf);
        let mut out = bytes(&mut r, 60);
        let _ = keywrap::wrap(&key, &data[..data.len().min(50)], &mut out);
        let _ = keywrap::unwrap(&key, &data[..data.len().min(50)], &mut out);
        let _ = kdf::x963_kdf(h, &key, &iv, &mut out);
        let _ = kdf::pbkdf2_hmac(h, &key, &iv, r.gen_range(0..3), &mut out);
    }
}

#[test]
fn p256_functions_reject_garbage_with_typed_errors() {
    let mut r = rand::rngs::StdRng::seed_from_u64(101);
    let mut key = SoftP256Key::generate(&mut r);
    let public = key.public_key_sec1();
    let d = HashAlgorithm::Sha256.digest(b"m").unwrap();
    let mut raw = [0u8; 64];
    key.sign_prehash(&d, &mut raw).unwrap();
    let mut der = [0u8; 72];
    let der = ec::signature_raw_to_der(&raw, &mut der).unwrap().to_vec();
    for m in mutations(&public, &mut r) {
        let _ = ec::verify_prehash(&m, d.as_bytes(), &der);
        let _ = ec::normalize_public_key(&m);
        let mut shared = [0u8; 32];
        let _ = key.agree(&m, &mut shared);
    }
    for m in mutations(&der, &mut r) {
        let res = ec::verify_prehash(&public, d.as_bytes(), &m);
        if m != der {
            assert!(res.is_err(), "a mutated signature must not verify");
        }
        let _ = ec::signature_der_to_raw(&m);
    }
    for m in mutations(&raw, &mut r) {
        let _ = ec::verify_prehash_raw(&public, d.as_bytes(), &m);
        let mut out = [0u8; 72];
        let _ = ec::signature_raw_to_der(&m, &mut out);
    }
    for _ in 0..500 {
        let junk = bytes(&mut r, 140);
        let _ = SoftP256Key::from_bytes(&junk);
        let _ = SoftP256Key::from_pkcs8_der(&junk);
        let _ = SoftP256Key::from_sec1_der(&junk);
        let _ = ec::verify_prehash(&junk, &junk, &junk);
        let mut out = bytes(&mut r, 100);
        let _ = key.public_key_der(&mut out);
        let _ = key.sign_prehash(&d, &mut out);
    }
}

#[test]
fn rsa_functions_reject_garbage_with_typed_errors() {
    let mut r = rand::rngs::StdRng::seed_from_u64(102);
    let mut key = RsaPrivateKey2048::generate(&mut r).unwrap();
    let mut pkcs1 = [0u8; 600];
    let pkcs1 = key.public_key_pkcs1_der(&mut pkcs1).unwrap().to_vec();
    let public = RsaPublicKey::from_pkcs1_der(&pkcs1).unwrap();
    for m in mutations(&pkcs1, &mut r) {
        if let Ok(k) = RsaPublicKey::from_pkcs1_der(&m) {
            let _ = k.verify_pkcs1v15(HashAlgorithm::Sha256, &[0; 32], &[1; 256]);
        }
        let _ = RsaPrivateKey2048::from_pkcs1_der(&m, &mut r);
        let _ = RsaPrivateKey2048::from_pkcs8_der(&m, &mut r);
    }
    for _ in 0..300 {
        let n = bytes(&mut r, 520);
        let e = bytes(&mut r, 8);
        let sig = bytes(&mut r, 520);
        let h = HASHES[r.gen_range(0..4)];
        if let Ok(k) = RsaPublicKey::new(&n, &e) {
            let _ = k.verify_pkcs1v15(h, &sig[..sig.len().min(h.output_len())], &sig);
            let _ = k.verify_pss(PssParams { hash: h, mgf_hash: h, salt_len: r.gen_range(0..600) }, &sig[..sig.len().min(64)], &sig);
            let mut out = bytes(&mut r, 520);
            let _ = k.encrypt_pkcs1v15(&mut r, &e, &mut out);
        }
        let _ = public.verify_pss(PssParams { hash: h, mgf_hash: h, salt_len: r.gen_range(0..300) }, &sig[..sig.len().min(64)], &sig);
        let mut out = bytes(&mut r, 300);
        let _ = key.decrypt_pkcs1v15(&sig, &mut out);
        let _ = key.sign_pkcs1v15(h, &sig[..sig.len().min(64)], &mut out);
        let _ = RsaPrivateKey4096::from_components(&n, &e, &sig, &e, &e, &mut r);
    }
}

#[test]
fn ram_store_rejects_out_of_range_slots_and_oversized_records() {
    let mut r = rand::rngs::StdRng::seed_from_u64(103);
    let mut store = RamStore::<2, 64>::new();
    for _ in 0..500 {
        let slot = r.gen_range(0..5u8);
        let rec = bytes(&mut r, 100);
        let stored = store.store(slot, &rec);
        assert_eq!(stored.is_ok(), slot < 2 && rec.len() <= 64);
        let mut out = bytes(&mut r, 100);
        if let Ok(n) = store.load(slot, &mut out) {
            assert!(n <= 64 && n <= out.len());
        }
    }
}
