use core::fmt::Write as _;

use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::chain::verify_chain;
use embedded_enroll::asn1::path::{self, HostName, Options, Usage, ValidationTime};

use crate::support::FmtCount;

/// `asn1::cert::CertificateRef::parse` and everything a parsed certificate offers, plus path
/// validation with the certificate as its own anchor (every usage, with and without trusted
/// time), its name constraints applied to itself, and host-name matching.
///
/// Properties: never panics; a parsed certificate's getters and extension iterators never
/// panic; its DER is exactly the input.
pub fn certificate(data: &[u8]) {
    let Ok(c) = CertificateRef::parse(data) else { return };
    assert_eq!(c.as_der(), data);
    let _ = c.basic_constraints();
    let _ = c.key_usage();
    let _ = c.ext_key_usage().count();
    let _ = c.subject_alt_names().count();
    let _ = c.subject_key_identifier();
    let _ = c.authority_key_identifier();
    let _ = c.unknown_critical_extension();
    // `format!` without the heap: it panics when a `Display` implementation fails, and so
    // does this (the sink itself never fails).
    write!(FmtCount::default(), "{} {}", c.subject(), c.issuer())
        .expect("a formatting trait implementation returned an error when the underlying stream did not");
    let _ = c.fingerprint_sha256();
    let _ = verify_chain(&c, &[], &c, Some(c.not_before()));
    let anchors = [c];
    for usage in [Usage::TlsServer, Usage::TlsClient, Usage::EndEntity, Usage::Any] {
        for time in [ValidationTime::At(c.not_after()), ValidationTime::Floor(c.not_before())] {
            let _ = path::validate(&c, &anchors[..], &anchors[..], &Options::new(usage, time));
        }
    }
    let _ = path::check_name_constraints(&c, &c);
    for host in ["example.com", "a.example.com", "127.0.0.1", "::1", "[2001:db8::1]"] {
        let host = HostName::parse(host).expect("a valid host");
        let _ = path::names_host(&c, &host);
    }
}
