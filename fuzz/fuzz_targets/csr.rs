//! `asn1::csr::CsrRef::parse` (the PKCS#10 view the tests and servers use).
//!
//! Properties: never panics; accessors and the signature check never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::csr(data));
