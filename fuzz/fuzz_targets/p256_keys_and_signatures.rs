//! P-256 key import (`SoftP256Key::{from_pkcs8_der, from_sec1_der, from_bytes}`) and the
//! `crypto::p256` helpers (`verify_prehash`, `verify_prehash_raw`, `signature_der_to_raw`,
//! `normalize_public_key`) on arbitrary bytes.
//!
//! Input layout, after the whole input has been tried as each encoding:
//! `[flags] [public key length % 66] [digest length % 65] public key || digest || DER signature`.
//! If bit 0 of `flags` is set, input bytes 0..32 and 32..64 are also taken as two scalars
//! for an ECDH check (slow: two key derivations and two ECDH runs, so only on request).
//!
//! Properties: never panics; a normalized public key normalizes to itself; a DER signature
//! survives DER -> raw -> DER -> raw; a key that imports signs a digest that then verifies, and
//! ECDH between two imported keys gives one shared secret.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::p256_keys_and_signatures(data));
