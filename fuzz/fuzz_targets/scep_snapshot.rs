//! `scep::snapshot::PendingTransaction::decode` on arbitrary bytes (what a flash sector may
//! hold after power loss).
//!
//! Properties: never panics; a record that decodes re-encodes to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::scep_snapshot(data));
