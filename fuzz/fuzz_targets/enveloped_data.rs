//! `asn1::cms::enveloped_data::EnvelopedDataRef::parse`, then the password (PWRI) and key
//! agreement (KARI, with a fixed software key) openings, which walk every RecipientInfo.
//!
//! Properties: never panics; the plaintext never exceeds the encrypted length.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| embedded_enroll_fuzz_bodies::enveloped_data(data));
