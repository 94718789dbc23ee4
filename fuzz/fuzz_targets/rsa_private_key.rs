//! `crypto::rsa::RsaPrivateKey2048::{from_pkcs1_der, from_pkcs8_der}` on arbitrary bytes.
//!
//! Properties: never panics; a key that imports exports a public key that parses, and a
//! signature it returns verifies under that public key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::rsa_private_key(data));
