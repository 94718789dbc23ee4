//! The whole SCEP client on arbitrary server replies: an enrollment with a P-256 device key
//! against the micromdm CA (pinned by fingerprint), where every reply comes from the input.
//!
//! Input: records `[length u16 BE][chunk size u8][length bytes]`, one per request the client
//! sends, fed in chunks of that size; when the input runs out, the connection fails.
//!
//! Properties: never panics; finishes within 64 steps; a finished client reports an outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::scep_client(data));
