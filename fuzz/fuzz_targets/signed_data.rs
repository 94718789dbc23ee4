//! `asn1::cms::signed_data::SignedDataRef::parse` + `verify`, after BER normalization, as
//! a SCEP or EST client handles a reply (certs-only replies included).
//!
//! Properties: never panics; iterators over certificates, CRLs and signers never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::signed_data(data));
