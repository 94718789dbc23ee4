//! A SCEP client's response path on arbitrary bytes: GetCACaps parsing and the algorithm
//! choice, then BER normalization and CertRep verification against the micromdm CA with a
//! fixed transaction ID and nonce (the first input byte picks which path runs).
//!
//! Properties: never panics; a SUCCESS CertRep always carries an envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::scep_certrep(data));
