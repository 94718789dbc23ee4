//! `asn1::ber::normalize` on arbitrary bytes.
//!
//! Properties: never panics; its output is definite-length DER-style encoding with no
//! constructed OCTET STRING, so normalizing it again is the identity and `is_definite` holds
//! for it; and input that `is_definite` accepts is copied unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::ber_normalize(data));
