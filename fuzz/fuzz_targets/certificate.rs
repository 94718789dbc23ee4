//! `asn1::cert::CertificateRef::parse` and everything a parsed certificate offers, plus path
//! validation, name constraints and host names on it.
//!
//! Properties: never panics; a parsed certificate's getters and extension iterators never
//! panic; its DER is exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::certificate(data));
