//! The response parser on the byte-exact HTTP responses captured from libest and est-ca
//! (tests/vectors/est): status, content type and body length as each capture's meta.json
//! records them, whole and fed one byte at a time.

mod common;

use embedded_enroll::http::ResponseParser;

fn meta_field<'a>(meta: &'a str, key: &str) -> Option<&'a str> {
    let at = meta.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = meta[at..].trim_start();
    let end = rest.find([',', '\n', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim().trim_matches('"'))
}

fn parse(resp: &[u8], bytewise: bool) -> (u16, String, Vec<u8>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut p = ResponseParser::new(&mut buf);
    if bytewise {
        for b in resp {
            if p.is_done() {
                break;
            }
            p.feed(std::slice::from_ref(b)).unwrap();
        }
    } else {
        p.feed(resp).unwrap();
    }
    if !p.is_done() {
        p.finish().unwrap();
    }
    let h = p.head().unwrap().clone();
    (h.status, h.content_type.to_string(), p.body().to_vec())
}

#[test]
fn every_captured_est_response_parses_as_recorded() {
    let mut seen = 0;
    for server in ["libest", "est-ca"] {
        let dir = common::vector_path(&format!("est/{server}"));
        for case in std::fs::read_dir(&dir).unwrap() {
            let case = case.unwrap().path();
            let resp = std::fs::read(case.join("response.http")).unwrap();
            let meta = std::fs::read_to_string(case.join("meta.json")).unwrap();
            let status: u16 = meta_field(&meta, "status").unwrap().parse().unwrap();
            let body_bytes: usize = meta_field(&meta, "body_bytes").unwrap().parse().unwrap();
            let content_type = meta_field(&meta, "content_type").unwrap_or("");
            for bytewise in [false, true] {
                let (st, ct, body) = parse(&resp, bytewise);
                let name = case.display();
                assert_eq!(st, status, "{name}");
                assert_eq!(body.len(), body_bytes, "{name}");
                assert_eq!(ct, content_type, "{name}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 20, "all captured cases were read ({seen})");
}

#[test]
fn captured_scep_reply_survives_chunked_framing_at_any_chunk_size() {
    let der = std::fs::read(common::vector_path("scep/micromdm-scepclient-rsa/CertRep.der")).unwrap();
    let head = std::fs::read_to_string(common::vector_path("scep/micromdm-scepclient-rsa/CertRep.http-headers.txt")).unwrap();
    assert!(head.contains("Transfer-Encoding: chunked"), "micromdm replies chunked");
    for chunk in [1usize, 7, 100, 4096] {
        let mut resp = head.replace('\r', "").trim_end().replace('\n', "\r\n").into_bytes();
        resp.extend_from_slice(b"\r\n\r\n");
        for c in der.chunks(chunk) {
            resp.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            resp.extend_from_slice(c);
            resp.extend_from_slice(b"\r\n");
        }
        resp.extend_from_slice(b"0\r\n\r\n");
        let (st, ct, body) = parse(&resp, chunk == 7);
        assert_eq!((st, ct.as_str()), (200, "application/x-pki-message"));
        assert_eq!(body, der, "chunk size {chunk}");
    }
}

/// The base64 bodies of every captured EST exchange decode (wrapped, one-line, with a
/// trailing NUL); certs-only replies hold the recorded issued certificate; CSRs parse.
#[test]
fn captured_est_bodies_decode_and_parse() {
    use embedded_enroll::asn1::cms::signed_data::SignedDataRef;
    use embedded_enroll::asn1::csr::CsrRef;
    use embedded_enroll::http::base64;
    let mut certs_checked = 0;
    for server in ["libest", "est-ca"] {
        for case in std::fs::read_dir(common::vector_path(&format!("est/{server}"))).unwrap() {
            let case = case.unwrap().path();
            let resp = std::fs::read(case.join("response.http")).unwrap();
            let (status, ct, body) = parse(&resp, false);
            if status == 200 && ct.starts_with("application/pkcs7-mime") {
                let mut der = vec![0u8; body.len()];
                let der = base64::decode(&body, &mut der).unwrap();
                let sd = SignedDataRef::parse(der).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
                if case.join("issued.pem").exists() {
                    let issued = common::openssl(&["x509", "-in", common::s(&case.join("issued.pem")), "-outform", "DER"]);
                    assert!(sd.certificates().any(|c| c.as_der() == &issued[..]), "{}", case.display());
                    certs_checked += 1;
                }
            }
            if ct == "application/csrattrs" {
                let mut der = vec![0u8; body.len()];
                let der = base64::decode(&body, &mut der).unwrap();
                assert_eq!(der[0], 0x30, "{}: CsrAttrs is a SEQUENCE", case.display());
            }
            // The request bodies: CSRs, whatever the line style.
            let req = std::fs::read(case.join("request.http")).unwrap();
            let head_end = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let req_head = String::from_utf8_lossy(&req[..head_end]).to_lowercase();
            if req_head.contains("content-type: application/pkcs10") {
                let mut der = vec![0u8; req.len()];
                let der = base64::decode(&req[head_end..], &mut der).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
                let csr = CsrRef::parse(der).unwrap_or_else(|e| panic!("{}: {e}", case.display()));
                // libest's bad-signature case is the one whose signature must fail.
                let bad_sig = case.ends_with("simpleenroll-400-bad-csr-signature");
                assert_eq!(csr.verify_signature().is_err(), bad_sig, "{}", case.display());
            }
        }
    }
    assert!(certs_checked >= 6, "issued certificates found in replies: {certs_checked}");
}
