//! Table-driven malformed input for every parser: truncated, over-long, wrong tag,
//! indefinite length where DER is required, deeply nested, trailing garbage. Each gives a
//! typed error, never a panic; the table pins which error.

use embedded_enroll::asn1::ber;
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::enveloped_data::EnvelopedDataRef;
use embedded_enroll::asn1::cms::signed_data::SignedDataRef;
use embedded_enroll::asn1::csr::CsrRef;
use embedded_enroll::asn1::name::NameRef;
use embedded_enroll::asn1::spki::SpkiRef;
use embedded_enroll::error::DecodeError;
use std::path::Path;

fn vector(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/scep").join(rel)).unwrap()
}

type Parser = fn(&[u8]) -> Result<(), DecodeError>;

fn parsers() -> Vec<(&'static str, Parser, Vec<u8>)> {
    let cert = vector("micromdm-scepclient-rsa/GetCACert-response.der");
    let csr = vector("micromdm-scepclient-rsa/PKCSReq.decrypted-csr.der");
    let signed = vector("micromdm-scepclient-rsa/PKCSReq.der");
    let enveloped = vector("micromdm-scepclient-rsa/PKCSReq.inner-envelopedData.der");
    let c = CertificateRef::parse(&cert).unwrap();
    let spki = c.spki().as_der().to_vec();
    let name = c.subject().as_der().to_vec();
    vec![
        ("certificate", (|b| CertificateRef::parse(b).map(|_| ())) as Parser, cert),
        ("csr", |b| CsrRef::parse(b).map(|_| ()), csr),
        ("signed data", |b| SignedDataRef::parse(b).map(|_| ()), signed),
        ("enveloped data", |b| EnvelopedDataRef::parse(b).map(|_| ()), enveloped),
        ("spki", |b| SpkiRef::parse(b).map(|_| ()), spki),
        ("name", |b| NameRef::parse(b).map(|_| ()), name),
    ]
}

/// Rewrites the outer length of `der` as `len`, minimally encoded or (with `padded`) in a
/// non-minimal three-octet form.
fn with_outer_len(der: &[u8], len: usize, padded: bool) -> Vec<u8> {
    let hdr = if der[1] & 0x80 != 0 { 2 + (der[1] & 0x7f) as usize } else { 2 };
    let mut v = vec![der[0]];
    match (padded, len) {
        (true, _) => v.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
        (false, 0..=0x7f) => v.push(len as u8),
        (false, 0x80..=0xff) => v.extend_from_slice(&[0x81, len as u8]),
        (false, _) => v.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
    v.extend_from_slice(&der[hdr..]);
    v
}

#[test]
fn malformed_inputs_give_the_expected_typed_errors() {
    for (name, parse, good) in parsers() {
        parse(&good).unwrap_or_else(|e| panic!("{name}: the valid input must parse: {e}"));
        let content_len = good.len() - if good[1] & 0x80 != 0 { 2 + (good[1] & 0x7f) as usize } else { 2 };
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0x05, 0x00]);
        let mut wrong_tag = good.clone();
        wrong_tag[0] = 0x31;
        let mut indefinite = vec![good[0], 0x80];
        indefinite.extend_from_slice(&good[if good[1] & 0x80 != 0 { 2 + (good[1] & 0x7f) as usize } else { 2 }..]);
        indefinite.extend_from_slice(&[0, 0]);
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 500).flatten().chain(std::iter::repeat_n(0u8, 1000)).collect();
        let table: Vec<(&str, Vec<u8>, Option<DecodeError>)> = vec![
            ("empty", vec![], Some(DecodeError::Truncated)),
            ("truncated by one byte", good[..good.len() - 1].to_vec(), Some(DecodeError::Truncated)),
            ("truncated to the header", good[..4].to_vec(), Some(DecodeError::Truncated)),
            ("over-long outer length", with_outer_len(&good, content_len + 1, false), Some(DecodeError::Truncated)),
            ("non-minimal outer length", with_outer_len(&good, content_len, true), Some(DecodeError::InvalidLength)),
            ("length of five octets", [&[0x30u8, 0x85, 0, 0, 0, 1, 0][..], &good[4..]].concat(), Some(DecodeError::InvalidLength)),
            ("wrong outer tag", wrong_tag, Some(DecodeError::UnexpectedTag { expected: 0x30, found: 0x31 })),
            ("indefinite length", indefinite, Some(DecodeError::IndefiniteLength)),
            ("trailing garbage", trailing, Some(DecodeError::TrailingData)),
            // Nesting: the schema stops at the first element that is not what it wants.
            ("deeply nested", deep, None),
        ];
        for (case, input, expected) in table {
            let got = parse(&input);
            assert!(got.is_err(), "{name} / {case}: accepted");
            if let Some(e) = expected {
                assert_eq!(got.unwrap_err(), e, "{name} / {case}");
            }
        }
        // Every prefix fails cleanly.
        for n in 0..good.len() {
            assert!(parse(&good[..n]).is_err(), "{name}: prefix of {n} bytes accepted");
        }
    }
}

#[test]
fn ber_normalizer_bounds_depth_and_rejects_garbage() {
    let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 500).flatten().chain(std::iter::repeat_n(0u8, 1000)).collect();
    let mut out = vec![0u8; 8192];
    assert_eq!(ber::normalize(&deep, &mut out), Err(DecodeError::TooDeep));
    // A normalized captured message parses as DER and is unchanged (it was definite already).
    let msg = vector("micromdm-scepclient-rsa/CertRep.der");
    let n = ber::normalize(&msg, &mut out).unwrap();
    assert_eq!(n, &msg[..]);
}

/// A certificate version of 0xFFFFFFFF once overflowed `version + 1` (a panic with overflow
/// checks, a wrap without): it is an unsupported version, like every other out-of-range one.
#[test]
fn certificate_versions_out_of_range_are_refused_without_overflow() {
    // Certificate { tbs { [0] { INTEGER v } }, ecdsa-with-SHA256, BIT STRING {} }
    let cert_with_version = |v: &[u8]| {
        let int = [&[0x02, v.len() as u8][..], v].concat();
        let explicit = [&[0xa0, int.len() as u8][..], &int].concat();
        let tbs = [&[0x30, explicit.len() as u8][..], &explicit].concat();
        let alg = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let body = [&tbs[..], &alg, &[0x03, 0x01, 0x00]].concat();
        [&[0x30, body.len() as u8][..], &body].concat()
    };
    for v in [&[0x00, 0xff, 0xff, 0xff, 0xff][..], &[0x7f, 0xff, 0xff, 0xff], &[0x03], &[0x00, 0xfe]] {
        assert_eq!(
            CertificateRef::parse(&cert_with_version(v)).unwrap_err(),
            DecodeError::Unsupported { what: "certificate version" },
            "version {v:02x?}"
        );
    }
}
