//! `crypto::rsa::RsaPublicKey::from_pkcs1_der` on arbitrary bytes, then signature
//! verification with the parsed key.
//!
//! Properties: never panics; a key that parses re-encodes to the same DER (the parser is
//! strict DER) and re-parses to an equal key; verification of a signature cut from the input
//! returns (it must not panic; whether it verifies is not asserted).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::rsa_public_key(data));
