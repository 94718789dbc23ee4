//! The lifecycle manager's persisted record and restore on arbitrary bytes (what two flash
//! slots may hold after power loss or corruption).
//!
//! Input: `Record::parse` on the whole input; then the input as two slots (a mode byte, a
//! 16-bit length, slot A, the rest slot B) given to `Manager::restore`, and a few manager
//! steps answered mechanically.
//!
//! Properties: never panics; a record that parses re-encodes to exactly its bytes; restore
//! either fails with a typed error or yields a manager whose steps can be answered.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::lifecycle_record(data));
