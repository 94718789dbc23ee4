//! The bodies of `embedded-enroll`'s fuzz targets, as plain functions.
//!
//! Each `pub fn <target>(data: &[u8])` feeds `data` to the library and checks the properties
//! stated in its documentation; a violated property panics (`assert!`, `assert_eq!`,
//! `panic!`, `expect`), and a panic is a finding. The cargo-fuzz targets in `fuzz/fuzz_targets/`
//! are thin wrappers around these functions; a firmware can replay the same inputs on a 32-bit
//! target through [`TARGETS`].
//!
//! `no_std` and allocation-free: every buffer is a fixed-size piece of one static scratch pool
//! (`support::with_scratch`, zeroed for each use), the same sizes the heap-using versions had
//! (the largest set, `scep_client`'s client buffers, is 22 KiB). A firmware keeps such buffers
//! in statics, so the stack a body uses is the library's, which is what the 32-bit replay
//! measures. The final binary provides the `critical-section` implementation behind the pool
//! (its `std` feature under cargo-fuzz).
#![no_std]
#![deny(missing_docs)]

mod support;

mod acme_client;
mod ber_normalize;
mod cbc_decrypt;
mod certificate;
mod csr;
mod enveloped_data;
mod est_client;
mod http_response;
mod lifecycle_record;
mod p256_keys_and_signatures;
mod rsa_private_key;
mod rsa_public_key;
mod scep_certrep;
mod scep_client;
mod scep_snapshot;
mod signed_data;

pub use acme_client::acme_client;
pub use ber_normalize::ber_normalize;
pub use cbc_decrypt::cbc_decrypt;
pub use certificate::certificate;
pub use csr::csr;
pub use enveloped_data::enveloped_data;
pub use est_client::est_client;
pub use http_response::http_response;
pub use lifecycle_record::lifecycle_record;
pub use p256_keys_and_signatures::p256_keys_and_signatures;
pub use rsa_private_key::rsa_private_key;
pub use rsa_public_key::rsa_public_key;
pub use scep_certrep::scep_certrep;
pub use scep_client::scep_client;
pub use scep_snapshot::scep_snapshot;
pub use signed_data::signed_data;

/// A target's body: feeds the input to the library and panics on a violated property.
pub type Body = fn(&[u8]);

/// Every target as `(name, body)`, the name being the cargo-fuzz target's (and its seed
/// folder's, `fuzz/seeds/<name>/`).
pub const TARGETS: &[(&str, Body)] = &[
    ("acme_client", acme_client),
    ("ber_normalize", ber_normalize),
    ("cbc_decrypt", cbc_decrypt),
    ("certificate", certificate),
    ("csr", csr),
    ("enveloped_data", enveloped_data),
    ("est_client", est_client),
    ("http_response", http_response),
    ("lifecycle_record", lifecycle_record),
    ("p256_keys_and_signatures", p256_keys_and_signatures),
    ("rsa_private_key", rsa_private_key),
    ("rsa_public_key", rsa_public_key),
    ("scep_certrep", scep_certrep),
    ("scep_client", scep_client),
    ("scep_snapshot", scep_snapshot),
    ("signed_data", signed_data),
];
