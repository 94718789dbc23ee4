//! The EST codecs on real and OpenSSL-made input, with the OpenSSL CLI as the oracle:
//!
//! - `/csrattrs` ([`csrattrs`], feature `csrattrs`): libest's captured responses (default, with its trailing NUL;
//!   custom, with an extensionRequest), the RFC 7030 and RFC 9908 examples, and RFC 9908
//!   templates built with `openssl asn1parse -genconf`. Each item is compared with what
//!   `openssl asn1parse` sees; the hints are applied to a CSR that `openssl req -verify`
//!   checks.
//! - `/serverkeygen` ([`multipart`], feature `serverkeygen`): libest's captured response (a PKCS#1 key labelled
//!   `application/pkcs8`), and responses built here from OpenSSL-made keys and certs-only
//!   messages (`openssl genpkey`, `req -x509`, `crl2pkcs7 -nocrl`), in CRLF and LF framing;
//!   then truncations, mutations and malformed framing, which must fail with a typed error and
//!   never panic.
#![cfg(any(feature = "csrattrs", feature = "serverkeygen"))]

mod common;

use common::{openssl, s, vector_path};
#[cfg(feature = "csrattrs")]
use der::asn1::ObjectIdentifier;
#[cfg(feature = "serverkeygen")]
use embedded_enroll::asn1::ber;
#[cfg(feature = "serverkeygen")]
use embedded_enroll::asn1::cms::signed_data::SignedDataRef;
use embedded_enroll::asn1::oid;
#[cfg(feature = "csrattrs")]
use embedded_enroll::crypto::HashAlgorithm;
#[cfg(feature = "csrattrs")]
use embedded_enroll::est::csrattrs::{CsrAttr, CsrAttrs, CsrHints, EcCurve, KeyRequest};
#[cfg(feature = "serverkeygen")]
use embedded_enroll::est::multipart::{self, KeyFormat, MultipartError, ServerKeyGen};
#[cfg(all(feature = "csrattrs", feature = "soft-keys"))]
use embedded_enroll::hal::oneshot::sign_csr;
use embedded_enroll::http::ResponseParser;
#[cfg(feature = "serverkeygen")]
use rand::{Rng, SeedableRng};
use std::path::Path;

/// Content-Type and body of a captured response (`tests/vectors/est/<case>/response.http`).
fn captured(case: &str) -> (String, Vec<u8>) {
    let raw = std::fs::read(vector_path(&format!("est/{case}/response.http"))).unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    let mut p = ResponseParser::new(&mut buf);
    p.feed(&raw).unwrap();
    if !p.is_done() {
        p.finish().unwrap();
    }
    let head = p.head().unwrap().clone();
    assert_eq!(head.status, 200, "{case}");
    (head.content_type.to_string(), p.body().to_vec())
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    s(&p).to_owned()
}

/// The OID OpenSSL means by a name it prints (`openssl asn1parse -genstr OBJECT:<name>`).
#[cfg(feature = "csrattrs")]
fn openssl_oid(dir: &Path, name: &str) -> ObjectIdentifier {
    let out = dir.join("oid.der");
    openssl(&["asn1parse", "-genstr", &format!("OBJECT:{name}"), "-noout", "-out", s(&out)]);
    let der = std::fs::read(&out).unwrap();
    ObjectIdentifier::from_bytes(&der[2..]).unwrap()
}

/// What OpenSSL sees at the top level of a CsrAttrs: each item as (is an attribute, OID).
#[cfg(feature = "csrattrs")]
fn openssl_items(dir: &Path, der: &[u8]) -> Vec<(bool, ObjectIdentifier)> {
    let path = write(dir, "attrs.der", der);
    let text = String::from_utf8(openssl(&["asn1parse", "-inform", "DER", "-in", &path])).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut items = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.contains("d=1 ") {
            continue;
        }
        let (attribute, object_line) = if line.contains("cons: SEQUENCE") { (true, lines[i + 1]) } else { (false, *line) };
        assert!(object_line.contains("prim: OBJECT"), "{object_line}");
        let name = object_line.rsplit_once(':').unwrap().1.trim();
        items.push((attribute, openssl_oid(dir, name)));
    }
    items
}

#[cfg(feature = "csrattrs")]
fn our_items(attrs: &CsrAttrs<'_>) -> Vec<(bool, ObjectIdentifier)> {
    attrs.items().map(|i| (matches!(i, CsrAttr::Attribute { .. }), i.oid())).collect()
}

#[cfg(feature = "csrattrs")]
const MAC_ADDRESS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.1.1.1.22");

#[cfg(feature = "csrattrs")]
#[test]
fn libest_csrattrs_captures_match_openssl() {
    let dir = tempfile::tempdir().unwrap();

    // Default: 56 base64 characters and a NUL byte, Content-Type application/csrattrs.
    let (ct, body) = captured("libest/csrattrs-default");
    assert_eq!(ct, "application/csrattrs");
    assert_eq!(body.last(), Some(&0), "the capture ends with libest's NUL");
    let mut out = [0u8; 256];
    let attrs = CsrAttrs::from_base64(&body, &mut out).unwrap();
    let stripped = write(dir.path(), "default.b64", &body[..body.len() - 1]);
    let oracle_der = openssl(&["base64", "-d", "-A", "-in", &stripped]);
    assert_eq!(attrs.as_der(), &oracle_der[..]);
    assert_eq!(our_items(&attrs), openssl_items(dir.path(), &oracle_der));
    assert_eq!(our_items(&attrs), [(false, MAC_ADDRESS), (false, oid::EMAIL_ADDRESS), (false, oid::SECP384R1), (false, oid::SHA384)]);
    let h = attrs.hints();
    assert!(!h.challenge_password);
    assert_eq!(h.hash, Some(HashAlgorithm::Sha384));
    assert_eq!(h.key, Some(KeyRequest::Ec { curve: Some(EcCurve::P384) }));
    assert!(h.extensions.is_empty() && h.to_fill.is_empty());
    assert_eq!((h.not_understood, h.ignored, h.from_template), (2, 0, false));

    // Custom: EST_CSR_ATTR verbatim, the DER kept next to it.
    let (ct, body) = captured("libest/csrattrs-custom");
    assert_eq!(ct, "application/csrattrs");
    let mut out = [0u8; 256];
    let attrs = CsrAttrs::from_base64(&body, &mut out).unwrap();
    let file_der = std::fs::read(vector_path("est/libest/csrattrs-custom/csrattrs.der")).unwrap();
    assert_eq!(attrs.as_der(), &file_der[..]);
    assert_eq!(our_items(&attrs), openssl_items(dir.path(), &file_der));
    assert_eq!(
        our_items(&attrs),
        [(false, oid::CHALLENGE_PASSWORD), (true, oid::EC_PUBLIC_KEY), (true, oid::EXTENSION_REQUEST), (false, oid::ECDSA_WITH_SHA256)]
    );
    assert!(attrs.challenge_password_requested());
    let h = attrs.hints();
    check_custom_hints(&h);
}

#[cfg(feature = "csrattrs")]
fn check_custom_hints(h: &CsrHints<'_>) {
    assert!(h.challenge_password);
    assert_eq!(h.hash, Some(HashAlgorithm::Sha256));
    assert_eq!(h.key, Some(KeyRequest::Ec { curve: Some(EcCurve::P256) }));
    let oids: Vec<ObjectIdentifier> = h.extensions.iter().map(|e| e.oid).collect();
    assert_eq!(oids, [oid::SUBJECT_ALT_NAME, oid::KEY_USAGE, oid::EXT_KEY_USAGE]);
    assert_eq!(h.extensions[0].value, b"\x30\x14\x82\x12device.example.com");
    assert!(!h.extensions[0].critical && h.extensions[1].critical && !h.extensions[2].critical);
    assert_eq!(h.extensions[2].value, [0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02]);
    assert!(h.requests_subject_alt_name() && h.requests_ext_key_usage());
    assert_eq!((h.not_understood, h.ignored), (0, 0));
}

#[cfg(feature = "csrattrs")]
#[test]
fn rfc_examples_match_openssl() {
    let dir = tempfile::tempdir().unwrap();
    // RFC 7030 section 4.5.2, and two examples of RFC 9908 (from its draft's repository).
    let cases: [(&str, &[(bool, ObjectIdentifier)]); 3] = [
        (
            "MEEGCSqGSIb3DQEJBzASBgcqhkjOPQIBMQcGBSuBBAAiMBYGCSqGSIb3DQEJDjEJBgcrBgEBAQEWBggqhkjOPQQDAw==",
            &[
                (false, oid::CHALLENGE_PASSWORD),
                (true, oid::EC_PUBLIC_KEY),
                (true, oid::EXTENSION_REQUEST),
                (false, oid::ECDSA_WITH_SHA384),
            ],
        ),
        (
            "MCkGCSqGSIb3DQEJBzARBgkqhkiG9w0BAQExBAICEAAGCSqG\nSIb3DQEBCw==\n",
            &[(false, oid::CHALLENGE_PASSWORD), (true, oid::RSA_ENCRYPTION), (false, oid::SHA256_WITH_RSA)],
        ),
        (
            "MGQwYgYJKoZIhvcNAQkOMVUwUwYDVR0RAQH/BEmgRzBFBggr\nBgEFBQcICgw5cmZjODk5NCtmZDczOWZjMjNjMzQ0MDExMjIz\nMzQ0NTUwMDAwMDAwMCtAYWNwLmV4YW1wbGUuY29t\n",
            &[(true, oid::EXTENSION_REQUEST)],
        ),
    ];
    let mut out = [0u8; 256];
    for (b64, expected) in cases {
        let attrs = CsrAttrs::from_base64(b64.as_bytes(), &mut out).unwrap();
        let der = attrs.as_der().to_vec();
        assert_eq!(our_items(&attrs), openssl_items(dir.path(), &der));
        assert_eq!(our_items(&attrs), expected);
    }
    // RSA-4096 with SHA-256.
    let h = CsrAttrs::from_base64(cases[1].0.as_bytes(), &mut out).unwrap().hints();
    assert!(h.challenge_password);
    assert_eq!((h.key, h.hash, h.not_understood), (Some(KeyRequest::Rsa { bits: Some(4096) }), Some(HashAlgorithm::Sha256), 0));
    // RFC 8994 ACP: a critical subjectAltName with an otherName, in a SET of one bare Extension.
    let mut out = [0u8; 256];
    let h = CsrAttrs::from_base64(cases[2].0.as_bytes(), &mut out).unwrap().hints();
    assert_eq!(h.extensions.len(), 1);
    assert!(h.extensions[0].critical && h.extensions[0].oid == oid::SUBJECT_ALT_NAME);
    assert_eq!(h.extensions[0].value.len(), 73);
}

/// The RFC 9908 example template, plus an `ecdsa-with-SHA384` OID and a challengePassword
/// OID next to it (to be ignored), as `openssl asn1parse -genconf` input. `spki` is the
/// section of the `[0]` subjectPKInfo.
#[cfg(feature = "csrattrs")]
fn template_genconf(spki: &str) -> String {
    format!(
        "asn1 = SEQUENCE:csrattrs
[csrattrs]
a1 = OID:ecdsa-with-SHA384
a2 = SEQUENCE:tmplAttr
a3 = OID:challengePassword
[tmplAttr]
type = OID:1.2.840.113549.1.9.16.2.61
values = SET:tmplVals
[tmplVals]
t = SEQUENCE:template
[template]
version = INTEGER:0
subject = SEQUENCE:subject
spki = IMPLICIT:0,SEQUENCE:spki
attrs = IMPLICIT:1,SET:attrs
[subject]
r1 = SET:rdnCN
r2 = SET:rdnOU1
r3 = SET:rdnOU2
[rdnCN]
a = SEQUENCE:atvCN
[atvCN]
type = OID:commonName
[rdnOU1]
a = SEQUENCE:atvOU1
[atvOU1]
type = OID:organizationalUnitName
value = UTF8:myDept
[rdnOU2]
a = SEQUENCE:atvOU2
[atvOU2]
type = OID:organizationalUnitName
value = UTF8:myGroup
[spki]
{spki}
[attrs]
c = SEQUENCE:challengeAttr
e = SEQUENCE:extTmplAttr
[challengeAttr]
type = OID:challengePassword
values = SET:challengeVals
[challengeVals]
v = UTF8:x
[extTmplAttr]
type = OID:1.2.840.113549.1.9.16.2.62
values = SET:extVals
[extVals]
exts = SEQUENCE:exts
[exts]
san = SEQUENCE:sanExt
ku = SEQUENCE:kuExt
eku = SEQUENCE:ekuExt
[sanExt]
id = OID:subjectAltName
v = OCTWRAP,SEQUENCE:sanVal
[sanVal]
dns = IMPLICIT:2,IA5STRING:www.myServer.com
ip = IMPLICIT:7,OCTETSTRING:
[kuExt]
id = OID:keyUsage
critical = BOOLEAN:TRUE
v = OCTWRAP,FORMAT:BITLIST,BITSTRING:0,4
[ekuExt]
id = OID:extendedKeyUsage
"
    )
}

#[cfg(feature = "csrattrs")]
fn genconf(dir: &Path, conf: &str) -> Vec<u8> {
    let cnf = write(dir, "attrs.cnf", conf.as_bytes());
    let out = dir.join("attrs-gen.der");
    openssl(&["asn1parse", "-genconf", &cnf, "-noout", "-out", s(&out)]);
    std::fs::read(out).unwrap()
}

#[cfg(feature = "csrattrs")]
#[test]
fn rfc9908_templates_built_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let der = genconf(dir.path(), &template_genconf("alg = SEQUENCE:alg\n[alg]\na = OID:id-ecPublicKey\nc = OID:prime256v1\n"));
    let attrs = CsrAttrs::parse(&der).unwrap();
    assert_eq!(our_items(&attrs), openssl_items(dir.path(), &der));
    assert_eq!(our_items(&attrs)[1], (true, oid::CERTIFICATION_REQUEST_INFO_TEMPLATE));
    let h = attrs.hints();
    assert!(h.from_template);
    assert_eq!((h.ignored, h.not_understood), (2, 0));
    assert!(h.challenge_password, "the template's own challengePassword attribute");
    assert_eq!(h.hash, None);
    assert_eq!(h.key, Some(KeyRequest::Ec { curve: Some(EcCurve::P256) }));
    let subject: Vec<(ObjectIdentifier, Option<&str>)> = h.subject.unwrap().attributes().map(|a| (a.oid, a.as_str())).collect();
    assert_eq!(
        subject,
        [(oid::COMMON_NAME, None), (oid::ORGANIZATIONAL_UNIT, Some("myDept")), (oid::ORGANIZATIONAL_UNIT, Some("myGroup"))]
    );
    assert_eq!(
        h.extensions.iter().map(|e| (e.oid, e.critical, e.value)).collect::<Vec<_>>(),
        [(oid::KEY_USAGE, true, &[3, 2, 3, 0x88][..])]
    );
    assert_eq!(
        h.to_fill.iter().map(|e| (e.oid, e.value.is_some())).collect::<Vec<_>>(),
        [(oid::SUBJECT_ALT_NAME, true), (oid::EXT_KEY_USAGE, false)]
    );
    #[cfg(feature = "soft-keys")]
    template_hints_make_a_csr_openssl_accepts(&h);

    // An RSA template: the size is the length of the dummy modulus OpenSSL made.
    let key = dir.path().join("rsa.pem");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", s(&key)]);
    let rsa_pub = openssl(&["rsa", "-in", s(&key), "-RSAPublicKey_out", "-outform", "DER"]);
    let spki =
        format!("alg = SEQUENCE:alg\nkey = FORMAT:HEX,BITSTRING:{}\n[alg]\na = OID:rsaEncryption\nn = NULL\n", common::hex(&rsa_pub));
    let der = genconf(dir.path(), &template_genconf(&spki));
    let attrs = CsrAttrs::parse(&der).unwrap();
    assert_eq!(attrs.hints().key, Some(KeyRequest::Rsa { bits: Some(3072) }));
    assert_eq!(attrs.template().unwrap().key_algorithm().unwrap().oid, oid::RSA_ENCRYPTION);
}

#[cfg(feature = "csrattrs")]
#[cfg(feature = "soft-keys")]
fn template_hints_make_a_csr_openssl_accepts(h: &CsrHints<'_>) {
    use embedded_enroll::asn1::cert::GeneralName;
    use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute, SubjectAltName};
    use embedded_enroll::hal::Signer;
    use embedded_enroll::hal::soft::SoftP256Key;

    let mut key = SoftP256Key::generate(&mut common::rng(9908));
    assert!(h.key.unwrap().accepts(key.key_type()));
    let subject: heapless::Vec<NameAttribute<'_>, 8> =
        h.subject.unwrap().fill(|o| (*o == oid::COMMON_NAME).then_some("device-9908")).unwrap();
    // The subjectAltName to complete: its DNS name as given, our address for the empty one.
    let mut sans: Vec<SubjectAltName<'_>> = Vec::new();
    for name in h.to_fill[0].subject_alt_names() {
        match name {
            GeneralName::Dns(d) => sans.push(SubjectAltName::Dns(d)),
            GeneralName::Ip(&[]) => sans.push(SubjectAltName::Ip(&[192, 0, 2, 99])),
            other => panic!("unexpected {other:?}"),
        }
    }
    let eku = [oid::KP_CLIENT_AUTH];
    let builder = CsrBuilder::new(&subject)
        .subject_alt_names(&sans)
        .extended_key_usage(&eku)
        .extensions(&h.extensions)
        .challenge_password(ChallengePassword::Printable("tls-unique-value"));
    let mut out = [0u8; 1024];
    let csr = sign_csr(&builder, &mut key, HashAlgorithm::Sha256, &mut out).unwrap();
    let (ok, text) = common::openssl_stdin(&["req", "-verify", "-inform", "DER", "-noout", "-text"], csr);
    assert!(ok, "{text}");
    for needle in [
        "CN = device-9908, OU = myDept, OU = myGroup",
        "DNS:www.myServer.com, IP Address:192.0.2.99",
        "X509v3 Key Usage: critical",
        "Digital Signature, Key Agreement",
        "TLS Web Client Authentication",
        "challengePassword",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[cfg(feature = "csrattrs")]
#[cfg(feature = "soft-keys")]
#[test]
fn libest_custom_hints_make_a_csr_openssl_accepts() {
    use embedded_enroll::asn1::csr::{ChallengePassword, CsrBuilder, NameAttribute};
    use embedded_enroll::hal::soft::SoftP256Key;

    let (_, body) = captured("libest/csrattrs-custom");
    let mut der = [0u8; 256];
    let h = CsrAttrs::from_base64(&body, &mut der).unwrap().hints();
    check_custom_hints(&h);
    let mut key = SoftP256Key::generate(&mut common::rng(7030));
    let subject = [NameAttribute::common_name("device.example.com")];
    let builder = CsrBuilder::new(&subject).extensions(&h.extensions).challenge_password(ChallengePassword::Printable("PzKh8F0zAjbZGeSx"));
    let mut out = [0u8; 1024];
    let csr = sign_csr(&builder, &mut key, h.hash.unwrap(), &mut out).unwrap();
    let (ok, text) = common::openssl_stdin(&["req", "-verify", "-inform", "DER", "-noout", "-text"], csr);
    assert!(ok, "{text}");
    for needle in [
        "ecdsa-with-SHA256",
        "DNS:device.example.com",
        "X509v3 Key Usage: critical",
        "Digital Signature",
        "TLS Web Client Authentication",
        "PzKh8F0zAjbZGeSx",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

/// The certificates of a certs-only message, as DER.
#[cfg(feature = "serverkeygen")]
fn certs_of(p7: &[u8]) -> Vec<Vec<u8>> {
    let mut normalized = vec![0u8; p7.len() + 64];
    let der = if ber::is_definite(p7) { p7.to_vec() } else { ber::normalize(p7, &mut normalized).unwrap().to_vec() };
    SignedDataRef::parse(&der).unwrap().certificates().map(|c| c.as_der().to_vec()).collect()
}

#[cfg(feature = "serverkeygen")]
#[test]
fn libest_serverkeygen_capture() {
    let dir = tempfile::tempdir().unwrap();
    let (ct, body) = captured("libest/serverkeygen");
    assert_eq!(ct, "multipart/mixed; boundary=est-server-boundary");
    let r = ServerKeyGen::parse(&ct, &body).unwrap();
    assert_eq!(r.key_part().content_type(), Some("application/pkcs8"));
    assert_eq!(r.key_part().transfer_encoding(), Some("base64"));
    assert_eq!(r.certificates_part().content_type(), Some("application/pkcs7-mime; smime-type=certs-only"));
    assert!(!r.key_is_encrypted());
    assert_eq!(r.key_part().body().len(), 3181, "49 lines of base64, each with its LF; the CRLF is the delimiter's");

    // The key: PKCS#1 RSA-4096 under the PKCS#8 label, the same key OpenSSL reads.
    let key_pem = vector_path("est/libest/serverkeygen/server-generated.key.pem");
    let pkcs1 = openssl(&["rsa", "-in", s(&key_pem), "-outform", "DER", "-traditional"]);
    let mut key_buf = [0u8; 4096];
    {
        let key = r.decode_key(&mut key_buf).unwrap();
        assert_eq!(key.format(), KeyFormat::Pkcs1Rsa);
        assert_eq!(key.der(), &pkcs1[..]);
    }
    assert!(key_buf.iter().all(|b| *b == 0), "dropping the key wipes the buffer");

    // The certificate: the issued one, for the server-made key.
    let mut p7 = [0u8; 2048];
    let certs = certs_of(r.decode_certificates(&mut p7).unwrap());
    assert_eq!(certs, [common::vector_cert_der("est/libest/serverkeygen/issued.pem")]);
    let cert_path = write(dir.path(), "issued.der", &certs[0]);
    let cert_pub = openssl(&["x509", "-inform", "DER", "-in", &cert_path, "-pubkey", "-noout"]);
    let key_pub = openssl(&["rsa", "-in", s(&key_pem), "-pubout"]);
    assert_eq!(cert_pub, key_pub);

    // Wiping the key part in the body leaves the rest intact.
    let mut wiped = body.clone();
    multipart::wipe_key_part(&ct, &mut wiped).unwrap();
    let key_range = r.key_range();
    assert!(wiped[key_range.clone()].iter().all(|b| *b == 0));
    assert_eq!(wiped[..key_range.start], body[..key_range.start]);
    assert_eq!(wiped[key_range.end..], body[key_range.end..]);
    let again = ServerKeyGen::parse(&ct, &wiped).unwrap();
    assert_eq!(again.certificates_part().body(), r.certificates_part().body());
}

/// An OpenSSL-made key (DER; `kind` ec and rsa: PKCS#8, sec1: SEC1) and a certs-only message holding its
/// self-signed certificate (DER), and the certificate.
#[cfg(feature = "serverkeygen")]
struct Made {
    key: Vec<u8>,
    p7: Vec<u8>,
    cert: Vec<u8>,
}

#[cfg(feature = "serverkeygen")]
fn make(dir: &Path, kind: &str) -> Made {
    let pem = dir.join(format!("{kind}.pem"));
    match kind {
        "ec" | "sec1" => openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", s(&pem)]),
        _ => openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", s(&pem)]),
    };
    let key = match kind {
        "sec1" => openssl(&["ec", "-in", s(&pem), "-outform", "DER"]),
        _ => openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(&pem), "-outform", "DER"]),
    };
    let cert = dir.join(format!("{kind}.crt"));
    openssl(&["req", "-x509", "-new", "-key", s(&pem), "-subj", &format!("/CN=skg-{kind}"), "-days", "2", "-out", s(&cert)]);
    let p7 = openssl(&["crl2pkcs7", "-nocrl", "-certfile", s(&cert), "-outform", "DER"]);
    Made { key, p7, cert: common::cert_der(&cert) }
}

/// `openssl base64` (64 columns, LF) of `data`, with `nl` line ends.
#[cfg(feature = "serverkeygen")]
fn b64(dir: &Path, data: &[u8], nl: &str) -> String {
    let path = write(dir, "b64.in", data);
    String::from_utf8(openssl(&["base64", "-in", &path])).unwrap().replace('\n', nl)
}

/// A serverkeygen body in the style of RFC 7030 appendix A.4, with a preamble and an epilogue.
#[cfg(feature = "serverkeygen")]
fn skg_body(key_b64: &str, p7_b64: &str, boundary: &str, nl: &str) -> String {
    format!(
        "This is the preamble.{nl}--{boundary}{nl}Content-Type: application/pkcs8{nl}Content-Transfer-Encoding: base64{nl}{nl}{key_b64}\
         --{boundary}\t {nl}CONTENT-TYPE: application/pkcs7-mime;{nl} smime-type=certs-only{nl}{nl}{p7_b64}{nl}--{boundary}--{nl}This is the epilogue.{nl}"
    )
}

#[cfg(feature = "serverkeygen")]
#[test]
fn openssl_made_responses_in_crlf_and_lf() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["ec", "rsa", "sec1"] {
        let m = make(dir.path(), kind);
        let expected_format = match kind {
            "ec" => KeyFormat::Pkcs8 { algorithm: oid::EC_PUBLIC_KEY },
            "rsa" => KeyFormat::Pkcs8 { algorithm: oid::RSA_ENCRYPTION },
            _ => KeyFormat::Sec1Ec,
        };
        for nl in ["\r\n", "\n"] {
            let key_b64 = b64(dir.path(), &m.key, nl);
            let p7_b64 = b64(dir.path(), &m.p7, nl);
            for (ct, boundary) in [
                ("multipart/mixed; boundary=est-boundary_1", "est-boundary_1"),
                ("multipart/mixed; boundary=\"=_quoted boundary:'(x)'\"", "=_quoted boundary:'(x)'"),
                ("Multipart/Mixed;charset=utf-8;Boundary=Zz", "Zz"),
            ] {
                let body = skg_body(&key_b64, &p7_b64, boundary, nl);
                let r = ServerKeyGen::parse(ct, body.as_bytes()).unwrap_or_else(|e| panic!("{kind} {nl:?} {ct}: {e}"));
                assert_eq!(r.certificates_part().parameter("smime-type"), Some("certs-only"));
                let mut buf = [0u8; 2048];
                {
                    let key = r.decode_key(&mut buf).unwrap();
                    assert_eq!(key.format(), expected_format);
                    assert_eq!(key.der(), &m.key[..]);
                }
                assert!(buf.iter().all(|b| *b == 0));
                let mut p7 = [0u8; 2048];
                let decoded = r.decode_certificates(&mut p7).unwrap();
                assert_eq!(decoded, &m.p7[..]);
                assert_eq!(certs_of(decoded), std::slice::from_ref(&m.cert));
            }
        }
    }
}

#[cfg(feature = "serverkeygen")]
#[test]
fn malformed_serverkeygen_responses_fail_typed_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let m = make(dir.path(), "ec");
    let ct = "multipart/mixed; boundary=b0";
    let (key_b64, p7_b64) = (b64(dir.path(), &m.key, "\r\n"), b64(dir.path(), &m.p7, "\r\n"));
    let good = skg_body(&key_b64, &p7_b64, "b0", "\r\n");
    let close = good.find("--b0--").unwrap();
    assert!(ServerKeyGen::parse(ct, good.as_bytes()).is_ok());

    // Truncated anywhere before the close delimiter: a typed error, never a panic.
    for cut in 0..good.len() {
        let r = ServerKeyGen::parse(ct, &good.as_bytes()[..cut]);
        if cut < close + "--b0--".len() {
            assert!(r.is_err(), "cut at {cut}");
        }
    }
    let no_close = good.replace("--b0--", "--b0");
    assert_eq!(ServerKeyGen::parse(ct, no_close.as_bytes()), Err(MultipartError::MissingCloseDelimiter));
    assert_eq!(ServerKeyGen::parse(ct, &good.as_bytes()[..close]), Err(MultipartError::MissingCloseDelimiter));

    // The Content-Type.
    assert_eq!(ServerKeyGen::parse("multipart/mixed", good.as_bytes()), Err(MultipartError::MissingBoundary));
    assert_eq!(ServerKeyGen::parse("multipart/mixed; boundary=\"b0", good.as_bytes()), Err(MultipartError::InvalidBoundary));
    assert_eq!(ServerKeyGen::parse("multipart/mixed; boundary=\"b0\"", good.as_bytes()).map(|_| ()), Ok(()));
    assert_eq!(ServerKeyGen::parse("application/pkcs7-mime", good.as_bytes()), Err(MultipartError::NotMultipart));
    let long = format!("multipart/mixed; boundary={}", "b".repeat(71));
    assert_eq!(ServerKeyGen::parse(&long, good.as_bytes()), Err(MultipartError::InvalidBoundary));
    assert_eq!(ServerKeyGen::parse("multipart/mixed; boundary=other", good.as_bytes()), Err(MultipartError::MissingOpeningDelimiter));

    // Huge headers, in a part and as one line; a huge part content is fine.
    let huge = good.replace("Content-Transfer-Encoding: base64", &format!("X-Filler: {}", "x".repeat(64 * 1024)));
    assert_eq!(ServerKeyGen::parse(ct, huge.as_bytes()), Err(MultipartError::HeaderTooLarge));
    let no_blank_line = format!("--b0\r\nContent-Type: application/pkcs8{}\r\n--b0--\r\n", "y".repeat(4096));
    assert_eq!(ServerKeyGen::parse(ct, no_blank_line.as_bytes()), Err(MultipartError::HeaderTooLarge));
    let garbage = good.replace("Content-Transfer-Encoding: base64", "\u{e9}t\u{e9}: x");
    assert_eq!(ServerKeyGen::parse(ct, garbage.as_bytes()), Err(MultipartError::MalformedHeader));
    let missing_cert = good.replace("application/pkcs7-mime", "text/plain");
    assert_eq!(ServerKeyGen::parse(ct, missing_cert.as_bytes()), Err(MultipartError::MissingCertificatePart));
    let missing_key = good.replace("application/pkcs8", "application/octet-stream");
    assert_eq!(ServerKeyGen::parse(ct, missing_key.as_bytes()), Err(MultipartError::MissingKeyPart));

    // Bad content: base64 and DER errors, and a buffer too small (wiped all the same).
    let bad_b64 = skg_body(&format!("*{key_b64}"), &p7_b64, "b0", "\r\n");
    let r = ServerKeyGen::parse(ct, bad_b64.as_bytes()).unwrap();
    let mut buf = [0x55u8; 512];
    assert!(matches!(r.decode_key(&mut buf), Err(MultipartError::Decode(_))));
    assert!(buf.iter().all(|b| *b == 0));
    let r = ServerKeyGen::parse(ct, good.as_bytes()).unwrap();
    let mut small = [0x55u8; 16];
    assert!(matches!(r.decode_key(&mut small), Err(MultipartError::Decode(embedded_enroll::error::DecodeError::OutputTooSmall { .. }))));
    assert!(small.iter().all(|b| *b == 0));

    // Random damage: never a panic.
    let mut rng = rand::rngs::StdRng::seed_from_u64(2046);
    let mut out = [0u8; 2048];
    for _ in 0..3000 {
        let mut m = good.clone().into_bytes();
        for _ in 0..rng.gen_range(1..6) {
            let i = rng.gen_range(0..m.len());
            match rng.gen_range(0..4) {
                0 => m[i] = rng.r#gen(),
                1 => m[i] = *b"\r\n-:;\" ".get(rng.gen_range(0..7)).unwrap(),
                2 => {
                    m.remove(i);
                }
                _ => m.insert(i, b'\n'),
            }
        }
        if let Ok(r) = ServerKeyGen::parse(ct, &m) {
            let _ = r.decode_key(&mut out).map(|k| k.format());
            let _ = r.decode_certificates(&mut out);
        }
        let _ = multipart::parts(ct, &m).map(|p| p.count());
    }
}
