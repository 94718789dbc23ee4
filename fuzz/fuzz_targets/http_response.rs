//! `http::ResponseParser` on arbitrary bytes, fed whole and in two pieces split at the first
//! input byte's position.
//!
//! Properties: never panics; the body never exceeds the buffer; both feeding patterns agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::http_response(data));
