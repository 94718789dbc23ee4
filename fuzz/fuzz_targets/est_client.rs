//! The whole EST client on arbitrary server replies: an enrollment with a P-256 device key,
//! `/csrattrs` first, Basic/Digest credentials, channel binding when asked; every reply comes
//! from the input, as for `scep_client`: records `[length u16 BE][chunk size u8][bytes]`,
//! and the connection fails when the input runs out.
//!
//! Properties: never panics; finishes within 64 steps; a finished client reports an outcome;
//! a waiting client never asks to wait into the past.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::est_client(data));
