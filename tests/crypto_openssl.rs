//! Known-answer and oracle tests of the crypto adapters against the OpenSSL CLI.
//!
//! Every key here is made fresh by `openssl genpkey` in a temporary directory, so the tests
//! check behaviour, not stored answers. They need `openssl` (3.x) on the PATH; `.ci/run`
//! installs it. Run with `--features soft-keys,legacy-crypto`.
#![cfg(all(feature = "soft-keys", feature = "legacy-crypto"))]

mod common;

use common::{hex, openssl, openssl_ok, rng, s};
use embedded_enroll::CryptoError;
use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::kdf::{pbkdf2_hmac, x963_kdf};
use embedded_enroll::crypto::rsa::{PssParams, RsaPrivateKey2048, RsaPrivateKey3072, RsaPrivateKey4096, RsaPublicKey};
use embedded_enroll::crypto::{HashAlgorithm, p256 as ec};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{Decrypter, KeyAgreement, Signer};
use std::path::PathBuf;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

/// An RSA key made by OpenSSL: its PKCS#8 DER, PKCS#1 DER, and the public PKCS#1 DER.
struct OpensslRsa {
    pem: PathBuf,
    pub_pem: PathBuf,
    pkcs8: Vec<u8>,
    pkcs1: Vec<u8>,
    public_pkcs1: Vec<u8>,
}

fn openssl_rsa(dir: &Dir, bits: u32) -> OpensslRsa {
    let pem = dir.path(&format!("rsa{bits}.pem"));
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &format!("rsa_keygen_bits:{bits}"), "-out", s(&pem)]);
    let pub_pem = dir.path(&format!("rsa{bits}.pub.pem"));
    openssl(&["pkey", "-in", s(&pem), "-pubout", "-out", s(&pub_pem)]);
    let pkcs8 = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&pem), "-outform", "DER"]);
    let pkcs1 = openssl(&["rsa", "-in", s(&pem), "-outform", "DER", "-traditional"]);
    let public_pkcs1 = openssl(&["rsa", "-in", s(&pem), "-outform", "DER", "-RSAPublicKey_out"]);
    OpensslRsa { pem, pub_pem, pkcs8, pkcs1, public_pkcs1 }
}

fn dgst_flag(h: HashAlgorithm) -> &'static str {
    match h {
        HashAlgorithm::Sha1 => "-sha1",
        HashAlgorithm::Sha256 => "-sha256",
        HashAlgorithm::Sha384 => "-sha384",
        HashAlgorithm::Sha512 => "-sha512",
        _ => unreachable!(),
    }
}

const HASHES: [HashAlgorithm; 4] = [HashAlgorithm::Sha1, HashAlgorithm::Sha256, HashAlgorithm::Sha384, HashAlgorithm::Sha512];

/// The hashes of `list` this build computes (SHA-384 and SHA-512 need feature `sha512`).
fn built_in<const N: usize>(list: [HashAlgorithm; N]) -> impl Iterator<Item = HashAlgorithm> {
    list.into_iter().filter(|h| h.is_available())
}

#[test]
fn openssl_pkcs1v15_and_pss_signatures_verify_for_2048_3072_4096() {
    let dir = Dir::new();
    let msg = dir.write("msg.bin", b"a message signed by openssl dgst");
    for bits in [2048u32, 3072, 4096] {
        let key = openssl_rsa(&dir, bits);
        let public = RsaPublicKey::from_pkcs1_der(&key.public_pkcs1).unwrap();
        assert_eq!(u32::from(public.bits()), bits);
        for h in built_in(HASHES) {
            let sig_path = dir.path("sig.bin");
            openssl(&["dgst", dgst_flag(h), "-sign", s(&key.pem), "-out", s(&sig_path), s(&msg)]);
            let sig = std::fs::read(&sig_path).unwrap();
            let digest = h.digest(&std::fs::read(&msg).unwrap()).unwrap();
            public.verify_pkcs1v15(h, digest.as_bytes(), &sig).unwrap_or_else(|e| panic!("{bits} {h:?}: {e}"));
            // The same signature must not verify for another message or hash.
            let other = h.digest(b"another message").unwrap();
            assert_eq!(public.verify_pkcs1v15(h, other.as_bytes(), &sig), Err(CryptoError::SignatureInvalid));
            let mut bad = sig.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x40;
            assert_eq!(public.verify_pkcs1v15(h, digest.as_bytes(), &bad), Err(CryptoError::SignatureInvalid));
        }
        for h in built_in([HashAlgorithm::Sha256, HashAlgorithm::Sha384]) {
            let sig_path = dir.path("pss.bin");
            openssl(&[
                "dgst",
                dgst_flag(h),
                "-sign",
                s(&key.pem),
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:digest",
                "-out",
                s(&sig_path),
                s(&msg),
            ]);
            let sig = std::fs::read(&sig_path).unwrap();
            let digest = h.digest(&std::fs::read(&msg).unwrap()).unwrap();
            public.verify_pss(PssParams::new(h), digest.as_bytes(), &sig).unwrap_or_else(|e| panic!("PSS {bits} {h:?}: {e}"));
            let other = h.digest(b"x").unwrap();
            assert_eq!(public.verify_pss(PssParams::new(h), other.as_bytes(), &sig), Err(CryptoError::SignatureInvalid));
            // A PKCS#1 v1.5 check of a PSS signature fails, and vice versa.
            assert_eq!(public.verify_pkcs1v15(h, digest.as_bytes(), &sig), Err(CryptoError::SignatureInvalid));
        }
    }
}

#[test]
fn pss_with_non_default_salt_and_mgf_hash_verifies() {
    let dir = Dir::new();
    let key = openssl_rsa(&dir, 2048);
    let public = RsaPublicKey::from_pkcs1_der(&key.public_pkcs1).unwrap();
    let msg = dir.write("m", b"pss with salt 20 and mgf1-sha1");
    let sig_path = dir.path("sig");
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        s(&key.pem),
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:20",
        "-sigopt",
        "rsa_mgf1_md:sha1",
        "-out",
        s(&sig_path),
        s(&msg),
    ]);
    let sig = std::fs::read(&sig_path).unwrap();
    let digest = HashAlgorithm::Sha256.digest(&std::fs::read(&msg).unwrap()).unwrap();
    let params = PssParams { hash: HashAlgorithm::Sha256, mgf_hash: HashAlgorithm::Sha1, salt_len: 20 };
    public.verify_pss(params, digest.as_bytes(), &sig).unwrap();
    assert!(public.verify_pss(PssParams::new(HashAlgorithm::Sha256), digest.as_bytes(), &sig).is_err());
}

/// Without `sha512` nothing hashes with SHA-384: OpenSSL's RSA-PSS SHA-384 signature (whose
/// verification hashes) is refused with the typed error, while a PKCS#1 v1.5 signature over a
/// SHA-384 digest computed elsewhere (no hashing here) still verifies.
#[cfg(not(feature = "sha512"))]
#[test]
fn sha384_hashing_is_refused_without_the_sha512_feature() {
    let dir = Dir::new();
    let key = openssl_rsa(&dir, 2048);
    let public = RsaPublicKey::from_pkcs1_der(&key.public_pkcs1).unwrap();
    let msg = dir.write("m", b"signed with SHA-384");
    let digest = openssl(&["dgst", "-sha384", "-binary", s(&msg)]);
    assert_eq!(HashAlgorithm::Sha384.digest(b"signed with SHA-384"), Err(CryptoError::UnsupportedAlgorithm));
    let pss = dir.path("pss");
    openssl(&[
        "dgst",
        "-sha384",
        "-sign",
        s(&key.pem),
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
        "-out",
        s(&pss),
        s(&msg),
    ]);
    let pss = std::fs::read(&pss).unwrap();
    assert_eq!(public.verify_pss(PssParams::new(HashAlgorithm::Sha384), &digest, &pss), Err(CryptoError::UnsupportedAlgorithm));
    let pkcs1 = dir.path("pkcs1");
    openssl(&["dgst", "-sha384", "-sign", s(&key.pem), "-out", s(&pkcs1), s(&msg)]);
    public.verify_pkcs1v15(HashAlgorithm::Sha384, &digest, &std::fs::read(&pkcs1).unwrap()).unwrap();
}

#[test]
fn our_rsa_signatures_verify_with_openssl_for_imported_and_generated_keys() {
    let dir = Dir::new();
    let msg_bytes = b"signed by embedded-enroll";
    let msg = dir.write("msg", msg_bytes);
    // Imported from OpenSSL, PKCS#8 and PKCS#1, three sizes.
    let k2 = openssl_rsa(&dir, 2048);
    let k3 = openssl_rsa(&dir, 3072);
    let k4 = openssl_rsa(&dir, 4096);
    let mut r = rng(10);
    let mut keys: Vec<(Box<dyn Signer<Error = CryptoError>>, PathBuf)> = vec![
        (Box::new(RsaPrivateKey2048::from_pkcs8_der(&k2.pkcs8, &mut r).unwrap()), k2.pub_pem.clone()),
        (Box::new(RsaPrivateKey3072::from_pkcs1_der(&k3.pkcs1, &mut r).unwrap()), k3.pub_pem.clone()),
        (Box::new(RsaPrivateKey4096::from_pkcs8_der(&k4.pkcs8, &mut r).unwrap()), k4.pub_pem.clone()),
    ];
    for (key, pub_pem) in keys.iter_mut() {
        for h in built_in(HASHES) {
            let mut sig = [0u8; 512];
            let n = key.sign_prehash(&h.digest(msg_bytes).unwrap(), &mut sig).unwrap();
            let sig_path = dir.write("sig", &sig[..n]);
            assert!(
                openssl_ok(&["dgst", dgst_flag(h), "-verify", s(pub_pem), "-signature", s(&sig_path), s(&msg)]),
                "openssl rejects our {h:?} signature"
            );
            let wrong = dir.write("wrong", b"other");
            assert!(!openssl_ok(&["dgst", dgst_flag(h), "-verify", s(pub_pem), "-signature", s(&sig_path), s(&wrong)]));
        }
    }
    // Generated by us: openssl checks the signature against the SPKI we export.
    let mut key = RsaPrivateKey2048::generate(&mut r).unwrap();
    let mut spki = [0u8; 600];
    let n = key.public_key_der(&mut spki).unwrap();
    let spki_path = dir.write("gen.spki.der", &spki[..n]);
    let text = String::from_utf8(openssl(&["pkey", "-pubin", "-inform", "DER", "-in", s(&spki_path), "-text", "-noout"])).unwrap();
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    let pem_path = dir.path("gen.pub.pem");
    openssl(&["pkey", "-pubin", "-inform", "DER", "-in", s(&spki_path), "-out", s(&pem_path)]);
    let mut sig = [0u8; 256];
    let d = HashAlgorithm::Sha256.digest(msg_bytes).unwrap();
    key.sign_prehash(&d, &mut sig).unwrap();
    let sig_path = dir.write("gensig", &sig);
    assert!(openssl_ok(&["dgst", "-sha256", "-verify", s(&pem_path), "-signature", s(&sig_path), s(&msg)]));
}

#[test]
fn openssl_decrypts_what_we_encrypt_and_we_decrypt_what_openssl_encrypts() {
    let dir = Dir::new();
    let mut r = rng(11);
    for bits in [2048u32, 3072, 4096] {
        let key = openssl_rsa(&dir, bits);
        let public = RsaPublicKey::from_pkcs1_der(&key.public_pkcs1).unwrap();
        // Us -> OpenSSL.
        let cek = [0x3cu8; 32];
        let mut ct = [0u8; 512];
        let ct = public.encrypt_pkcs1v15(&mut r, &cek, &mut ct).unwrap();
        assert_eq!(ct.len() * 8, bits as usize);
        let ct_path = dir.write("ct", ct);
        let pt = openssl(&["pkeyutl", "-decrypt", "-inkey", s(&key.pem), "-in", s(&ct_path), "-pkeyopt", "rsa_padding_mode:pkcs1"]);
        assert_eq!(pt, cek);
        // OpenSSL -> us, for each CEK size CMS uses.
        for len in [8usize, 16, 24, 32] {
            let cek: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37).wrapping_add(1)).collect();
            let pt_path = dir.write("cek", &cek);
            let ct_path = dir.path("ct2");
            openssl(&["pkeyutl", "-encrypt", "-pubin", "-inkey", s(&key.pub_pem), "-in", s(&pt_path), "-out", s(&ct_path)]);
            let ct = std::fs::read(&ct_path).unwrap();
            let mut out = vec![0u8; len];
            match bits {
                2048 => RsaPrivateKey2048::from_pkcs8_der(&key.pkcs8, &mut r).unwrap().decrypt_pkcs1v15(&ct, &mut out),
                3072 => RsaPrivateKey3072::from_pkcs8_der(&key.pkcs8, &mut r).unwrap().decrypt_pkcs1v15(&ct, &mut out),
                _ => RsaPrivateKey4096::from_pkcs8_der(&key.pkcs8, &mut r).unwrap().decrypt_pkcs1v15(&ct, &mut out),
            }
            .unwrap();
            assert_eq!(out, cek, "{bits}-bit, {len}-byte CEK");
        }
    }
}

/// A ciphertext whose padding is wrong must take the same path as a good one: `Ok`, the
/// expected length, a value that does not depend on anything but the key and ciphertext.
#[test]
fn bad_padding_ciphertexts_are_implicitly_rejected() {
    let dir = Dir::new();
    let key = openssl_rsa(&dir, 2048);
    let mut r = rng(12);
    let mut ours = RsaPrivateKey2048::from_pkcs8_der(&key.pkcs8, &mut r).unwrap();
    // Raw blocks encrypted with no padding: each breaks PKCS#1 v1.5 in its own way.
    let mut good = vec![0u8; 256];
    good[1] = 2;
    good[2..256 - 17].fill(0x55);
    good[256 - 16..].copy_from_slice(&[0xaa; 16]);
    let mut wrong_type = good.clone();
    wrong_type[1] = 1;
    let mut short_ps = good.clone();
    short_ps[5] = 0;
    let mut no_separator = good.clone();
    no_separator[256 - 17] = 0x55;
    let mut wrong_len = good.clone();
    wrong_len[256 - 25] = 0;
    let mut results = Vec::new();
    for (name, block) in
        [("good", &good), ("type 1", &wrong_type), ("short PS", &short_ps), ("no separator", &no_separator), ("24-byte msg", &wrong_len)]
    {
        let pt = dir.write("raw", block);
        let ct_path = dir.path("raw.ct");
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            s(&key.pub_pem),
            "-pkeyopt",
            "rsa_padding_mode:none",
            "-in",
            s(&pt),
            "-out",
            s(&ct_path),
        ]);
        let ct = std::fs::read(&ct_path).unwrap();
        let mut out = [0u8; 16];
        let r1 = ours.decrypt_pkcs1v15(&ct, &mut out);
        let mut again = [0u8; 16];
        let r2 = ours.decrypt_pkcs1v15(&ct, &mut again);
        assert_eq!(r1, Ok(()), "{name}: no distinguishable error");
        assert_eq!(r2, Ok(()));
        assert_eq!(out, again, "{name}: deterministic for the same ciphertext");
        results.push((name, out));
    }
    assert_eq!(results[0].1, [0xaa; 16], "the well-formed block decrypts");
    for (name, out) in &results[1..] {
        assert_ne!(*out, [0xaa; 16], "{name}: substitute, not the embedded message");
    }
    // Different bad ciphertexts give different substitutes.
    assert_ne!(results[1].1, results[2].1);
}

#[test]
fn cbc_ciphers_match_openssl_enc_both_ways() {
    let dir = Dir::new();
    let cases: [(CbcCipher, &str, &[&str]); 5] = [
        (CbcCipher::Aes128, "-aes-128-cbc", &[]),
        (CbcCipher::Aes192, "-aes-192-cbc", &[]),
        (CbcCipher::Aes256, "-aes-256-cbc", &[]),
        (CbcCipher::DesEde3, "-des-ede3-cbc", &[]),
        (CbcCipher::Des, "-des-cbc", &["-provider", "legacy", "-provider", "default"]),
    ];
    for (cipher, name, extra) in cases {
        let key: Vec<u8> = (0..cipher.key_len() as u8).map(|i| i ^ 0xa5).collect();
        let iv: Vec<u8> = (0..cipher.block_len() as u8).map(|i| i.wrapping_mul(7)).collect();
        for len in [0usize, 1, 15, 16, 17, 100] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
            let pt_path = dir.write("pt", &msg);
            let ct_path = dir.path("ct");
            let mut args = vec!["enc", name, "-K", &*Box::leak(hex(&key).into_boxed_str()), "-iv", &*Box::leak(hex(&iv).into_boxed_str())];
            args.extend_from_slice(extra);
            let mut enc_args = args.clone();
            enc_args.extend_from_slice(&["-in", s(&pt_path), "-out", s(&ct_path)]);
            openssl(&enc_args);
            let theirs = std::fs::read(&ct_path).unwrap();
            let mut buf = theirs.clone();
            assert_eq!(cipher.decrypt(&key, &iv, &mut buf).unwrap(), &msg[..], "{name} decrypt, {len} bytes");
            if cipher.can_encrypt() {
                let mut buf = vec![0u8; cipher.padded_len(len)];
                buf[..len].copy_from_slice(&msg);
                let ours = cipher.encrypt(&key, &iv, &mut buf, len).unwrap().to_vec();
                assert_eq!(ours, theirs, "{name} encrypt, {len} bytes");
            }
        }
    }
}

#[test]
fn x963_kdf_matches_openssl_for_sha1_sha256_sha384() {
    for (h, name) in [(HashAlgorithm::Sha1, "SHA1"), (HashAlgorithm::Sha256, "SHA256"), (HashAlgorithm::Sha384, "SHA384")]
        .into_iter()
        .filter(|(h, _)| h.is_available())
    {
        for (secret, info, len) in [
            (&[0x11u8; 32][..], &b""[..], 16usize),
            (&[0x22u8; 32][..], &b"\x30\x0a shared info"[..], 32),
            (&[0x33u8; 32][..], &b"info"[..], 75),
        ] {
            let out = openssl(&[
                "kdf",
                "-keylen",
                &len.to_string(),
                "-kdfopt",
                &format!("digest:{name}"),
                "-kdfopt",
                &format!("hexsecret:{}", hex(secret)),
                "-kdfopt",
                &format!("hexinfo:{}", hex(info)),
                "X963KDF",
            ]);
            let expected = String::from_utf8(out).unwrap().trim().replace(':', "").to_lowercase();
            let mut ours = vec![0u8; len];
            x963_kdf(h, secret, info, &mut ours).unwrap();
            assert_eq!(hex(&ours), expected, "{name} {len}");
        }
    }
}

#[test]
fn pbkdf2_matches_openssl() {
    for (h, name) in [(HashAlgorithm::Sha1, "SHA1"), (HashAlgorithm::Sha256, "SHA256")] {
        for (iters, len) in [(1u32, 16usize), (2048, 24), (5, 40)] {
            let out = openssl(&[
                "kdf",
                "-keylen",
                &len.to_string(),
                "-kdfopt",
                &format!("digest:{name}"),
                "-kdfopt",
                "pass:device challenge",
                "-kdfopt",
                "hexsalt:0102030405060708",
                "-kdfopt",
                &format!("iter:{iters}"),
                "PBKDF2",
            ]);
            let expected = String::from_utf8(out).unwrap().trim().replace(':', "").to_lowercase();
            let mut ours = vec![0u8; len];
            pbkdf2_hmac(h, b"device challenge", &[1, 2, 3, 4, 5, 6, 7, 8], iters, &mut ours).unwrap();
            assert_eq!(hex(&ours), expected, "{name} iter {iters}");
        }
    }
}

#[test]
fn ecdsa_p256_interoperates_with_openssl_both_ways() {
    let dir = Dir::new();
    let pem = dir.path("ec.pem");
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&pem)]);
    let pkcs8 = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&pem), "-outform", "DER"]);
    let sec1 = openssl(&["ec", "-in", s(&pem), "-outform", "DER"]);
    let pub_pem = dir.path("ec.pub.pem");
    openssl(&["pkey", "-in", s(&pem), "-pubout", "-out", s(&pub_pem)]);
    let spki = openssl(&["pkey", "-in", s(&pem), "-pubout", "-outform", "DER"]);
    let mut key = SoftP256Key::from_pkcs8_der(&pkcs8).unwrap();
    assert_eq!(key.public_key_sec1(), SoftP256Key::from_sec1_der(&sec1).unwrap().public_key_sec1());
    let mut our_spki = [0u8; 91];
    key.public_key_der(&mut our_spki).unwrap();
    assert_eq!(&our_spki[..], &spki[..], "our SPKI is byte-identical to OpenSSL's");

    let msg_bytes = b"ecdsa between us and openssl";
    let msg = dir.write("msg", msg_bytes);
    for (h, flag) in [(HashAlgorithm::Sha256, "-sha256"), (HashAlgorithm::Sha384, "-sha384")].into_iter().filter(|(h, _)| h.is_available())
    {
        // OpenSSL signs, we verify.
        let sig_path = dir.path("sig.der");
        openssl(&["dgst", flag, "-sign", s(&pem), "-out", s(&sig_path), s(&msg)]);
        let sig = std::fs::read(&sig_path).unwrap();
        let d = h.digest(msg_bytes).unwrap();
        ec::verify_prehash(&key.public_key_sec1(), d.as_bytes(), &sig).unwrap();
        assert!(ec::verify_prehash(&key.public_key_sec1(), h.digest(b"other").unwrap().as_bytes(), &sig).is_err());
        // We sign, OpenSSL verifies.
        let mut raw = [0u8; 64];
        key.sign_prehash(&d, &mut raw).unwrap();
        let mut der = [0u8; 72];
        let der = ec::signature_raw_to_der(&raw, &mut der).unwrap();
        let ours = dir.write("ours.der", der);
        assert!(openssl_ok(&["dgst", flag, "-verify", s(&pub_pem), "-signature", s(&ours), s(&msg)]));
    }
}

#[test]
fn ecdh_matches_openssl_pkeyutl_derive() {
    let dir = Dir::new();
    let ours_pem = dir.path("a.pem");
    let peer_pem = dir.path("b.pem");
    for p in [&ours_pem, &peer_pem] {
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(p)]);
    }
    let peer_pub = dir.path("b.pub.pem");
    openssl(&["pkey", "-in", s(&peer_pem), "-pubout", "-out", s(&peer_pub)]);
    let expected = openssl(&["pkeyutl", "-derive", "-inkey", s(&ours_pem), "-peerkey", s(&peer_pub)]);
    let mut key = SoftP256Key::from_pkcs8_der(&openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&ours_pem), "-outform", "DER"])).unwrap();
    let peer_spki = openssl(&["pkey", "-in", s(&peer_pem), "-pubout", "-outform", "DER"]);
    let mut shared = [0u8; 32];
    key.agree(&peer_spki[26..], &mut shared).unwrap();
    assert_eq!(&shared[..], &expected[..]);
}

/// The in-place loaders (`load_pkcs1_der`, `load_pkcs8_der`: the key built in the caller's
/// storage, as a device keeps it in a static) give the same key as the by-value ones, and a
/// refused key leaves the slot empty (the key that was there is dropped, not kept half-built).
#[test]
fn keys_loaded_in_place_sign_as_the_by_value_ones_and_refusals_empty_the_slot() {
    let dir = Dir::new();
    let key = openssl_rsa(&dir, 2048);
    let digest = HashAlgorithm::Sha256.digest(b"loaded in place").unwrap();
    let mut by_value = RsaPrivateKey2048::from_pkcs1_der(&key.pkcs1, &mut rng(21)).unwrap();
    let mut expected = [0u8; 256];
    let expected = by_value.sign_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), &mut expected).unwrap().to_vec();

    let mut slot = None;
    for (name, der, pkcs8) in [("PKCS#1", &key.pkcs1, false), ("PKCS#8", &key.pkcs8, true)] {
        let loaded = if pkcs8 {
            RsaPrivateKey2048::load_pkcs8_der(&mut slot, der, &mut rng(22))
        } else {
            RsaPrivateKey2048::load_pkcs1_der(&mut slot, der, &mut rng(22))
        };
        let loaded = loaded.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let mut sig = [0u8; 256];
        // PKCS#1 v1.5 signatures are deterministic: blinding must not change them.
        assert_eq!(loaded.sign_pkcs1v15(HashAlgorithm::Sha256, digest.as_bytes(), &mut sig).unwrap(), &expected[..], "{name}");
        assert!(slot.is_some());
    }
    // OpenSSL agrees with the signature.
    let sig_path = dir.write("inplace.sig", &expected);
    let msg_path = dir.write("inplace.msg", b"loaded in place");
    assert!(openssl_ok(&["dgst", "-sha256", "-verify", s(&key.pub_pem), "-signature", s(&sig_path), s(&msg_path)]));

    // Refusals: not DER, a PKCS#8 wrapper read as PKCS#1, a modulus that is not p * q (a byte
    // of n changed: its DER header ends before offset 20).
    let mut broken = key.pkcs1.clone();
    broken[20] ^= 0x55;
    for (name, der) in [("junk", &[0x30u8, 0x00][..]), ("PKCS#8 as PKCS#1", &key.pkcs8[..]), ("damaged", &broken[..])] {
        assert!(slot.is_some());
        assert!(RsaPrivateKey2048::load_pkcs1_der(&mut slot, der, &mut rng(23)).is_err(), "{name}");
        assert!(slot.is_none(), "{name}: the slot must be empty after a refusal");
        RsaPrivateKey2048::load_pkcs1_der(&mut slot, &key.pkcs1, &mut rng(24)).unwrap();
    }
}
