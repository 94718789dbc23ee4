//! Wire layer 1: DER/BER codecs, with no protocol logic.
//!
//! Planned contents (issue "Certificate and CMS codecs"): object identifiers, Names,
//! SubjectPublicKeyInfo, a borrowed X.509 certificate view with chain checks, a PKCS#10
//! builder, and CMS ContentInfo / SignedData / EnvelopedData / certs-only. Not yet
//! implemented yet: the BER normalizer is the first piece.

pub mod ber;
