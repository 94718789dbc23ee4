//! Wire layer 1: DER/BER codecs, with no protocol logic.
//!
//! Parsed input is held in borrowed views (`*Ref<'a>`) that never copy and never panic;
//! strict DER is required except where [`ber::normalize`] is applied first (CMS replies
//! from real servers).
//!
//! | module | what |
//! |---|---|
//! | [`tlv`] | strict DER tag-length-value walker |
//! | [`ber`] | BER to definite-length rewriting |
//! | [`oid`] | object identifiers |
//! | [`algorithm`] | AlgorithmIdentifier, signature schemes |
//! | [`name`] | X.501 Name view and display |
//! | [`spki`] | SubjectPublicKeyInfo, signature verification |
//! | [`cert`] | X.509 certificate view, extensions, fingerprints |
//! | [`path`] | certificate path validation (RFC 5280 section 6, name constraints, host names) |
//! | [`chain`] | the earlier single-anchor entry point, now over [`path`] |
//! | [`csr`] | PKCS#10 and self-signed certificate builders |
//! | [`cms`] | CMS SignedData, certs-only, EnvelopedData (KTRI, KARI, PWRI) |
//! | [`writer`] | two-pass DER writer for everything emitted |

pub mod algorithm;
pub mod ber;
pub mod cert;
pub mod chain;
pub(crate) mod civil;
pub mod cms;
pub mod csr;
pub mod name;
pub mod oid;
pub mod path;
pub mod spki;
pub mod tlv;
pub mod writer;
