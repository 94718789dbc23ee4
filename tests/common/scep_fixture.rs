//! The fixture SCEP CA of the transcript tests (`scep_client.rs`, `log_secrets.rs`): not an
//! interop peer. Its CA certificate and the issued certificates are made by the OpenSSL CLI;
//! it reads our requests with the crate's codecs (it must open them to answer) and signs
//! CertReps with them, as a CA would.

use super::{cert_der, openssl, openssl_self_signed_rsa, rng, s};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::cms::enveloped_data::{EnvelopedDataRef, build_for_rsa_recipient};
use embedded_enroll::asn1::cms::signed_data::{Attribute, SignedDataBuilder, SignedDataRef, build_certs_only};
use embedded_enroll::asn1::oid;
use embedded_enroll::asn1::writer::encode;
use embedded_enroll::crypto::HashAlgorithm;
use embedded_enroll::crypto::cbc::CbcCipher;
use embedded_enroll::crypto::rsa::RsaPrivateKey2048;
use embedded_enroll::hal::oneshot::{decrypt_key_transport, sign_signed_data};
use embedded_enroll::scep::message::attr;
use std::path::{Path, PathBuf};

/// What the fixture saw in a PKIOperation.
#[derive(Debug, Clone)]
pub struct Seen {
    /// GET or POST.
    pub method: String,
    pub message_type: String,
    pub transaction_id: String,
    pub nonce: Vec<u8>,
    pub signer: Vec<u8>,
    /// The decrypted messageData (CSR, IssuerAndSubject, IssuerAndSerial).
    pub content: Vec<u8>,
}

pub type Replier = Box<dyn Fn(&mut Fixture, &Seen) -> Vec<u8>>;

pub enum Reply {
    /// A raw HTTP response, whatever was asked.
    Raw(Vec<u8>),
    /// The GetCACert reply (the CA certificate).
    CaCert,
    /// A PKIOperation answered by this closure (it returns the HTTP response).
    Pki(Replier),
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub ca_der: Vec<u8>,
    pub ca_key: RsaPrivateKey2048,
    /// The PKIOperations seen, in order.
    pub seen: Vec<Seen>,
}

pub fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

/// Chunked, as micromdm sends.
pub fn http_chunked(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for c in body.chunks(700) {
        r.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        r.extend_from_slice(c);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Query parameters, decoded.
pub type Query = Vec<(String, Vec<u8>)>;

/// Splits an HTTP request into method, query pairs and body.
pub fn parse_request(req: &[u8]) -> (String, Query, Vec<u8>) {
    let end = req.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head") + 4;
    let head = std::str::from_utf8(&req[..end]).unwrap();
    let line = head.lines().next().unwrap();
    let mut parts = line.split(' ');
    let method = parts.next().unwrap().to_string();
    let target = parts.next().unwrap();
    assert_eq!(parts.next(), Some("HTTP/1.1"));
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), percent_decode(v))
        })
        .collect();
    let body = req[end..].to_vec();
    if method == "POST" {
        let len: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .expect("Content-Length on a POST");
        assert_eq!(len, body.len());
        assert!(head.to_ascii_lowercase().contains("content-type: application/x-pki-message"));
    }
    (method, pairs, body)
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        openssl_self_signed_rsa(&dir.path().join("ca.key"), &dir.path().join("ca.pem"), "/O=Fixture/CN=Fixture SCEP CA");
        let ca_der = cert_der(&dir.path().join("ca.pem"));
        let ca_key = load_rsa(&dir.path().join("ca.key"));
        Self { dir, ca_der, ca_key, seen: Vec::new() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn fingerprint(&self) -> [u8; 32] {
        CertificateRef::parse(&self.ca_der).unwrap().fingerprint_sha256()
    }

    /// Answers one request with `reply`.
    pub fn answer(&mut self, request: &[u8], reply: Reply) -> Vec<u8> {
        let (method, query, body) = parse_request(request);
        let operation = String::from_utf8(query.iter().find(|(k, _)| k == "operation").unwrap().1.clone()).unwrap();
        match reply {
            Reply::Raw(r) => r,
            Reply::CaCert => {
                assert_eq!(operation, "GetCACert");
                http("200 OK", "application/x-x509-ca-cert", &self.ca_der.clone())
            }
            Reply::Pki(f) => {
                assert_eq!(operation, "PKIOperation");
                let msg = if method == "POST" {
                    body
                } else {
                    let b64 = &query.iter().find(|(k, _)| k == "message").unwrap().1;
                    let mut out = vec![0u8; b64.len()];
                    embedded_enroll::http::base64::decode(b64, &mut out).unwrap().to_vec()
                };
                let seen = self.open(&method, &msg);
                self.seen.push(seen.clone());
                f(self, &seen)
            }
        }
    }

    /// Verifies and opens a pkiMessage, as the CA does.
    pub fn open(&mut self, method: &str, msg: &[u8]) -> Seen {
        let sd = SignedDataRef::parse(msg).expect("a SignedData");
        let (si, signer) = sd.verify(None).expect("the request's signature verifies with its own certificate");
        let text = |o| String::from_utf8(si.signed_attribute(&o).unwrap().value.to_vec()).unwrap();
        let env = EnvelopedDataRef::parse(sd.content().unwrap()).unwrap();
        let ca = CertificateRef::parse(&self.ca_der).unwrap();
        let mut plain = vec![0u8; env.encrypted_len()];
        let content = decrypt_key_transport(&env, &ca, &mut self.ca_key, &mut plain).expect("the envelope opens with the CA key").to_vec();
        Seen {
            method: method.to_string(),
            message_type: text(attr::MESSAGE_TYPE),
            transaction_id: text(attr::TRANSACTION_ID),
            nonce: si.signed_attribute(&attr::SENDER_NONCE).unwrap().value.to_vec(),
            signer: signer.as_der().to_vec(),
            content,
        }
    }

    /// A CertRep signed by `key`/`cert` with these attributes around `envelope`.
    pub fn certrep(
        &mut self,
        seen: &Seen,
        status: &str,
        envelope: &[u8],
        extra: &[(der::asn1::ObjectIdentifier, Vec<u8>)],
        other_signer: Option<(&[u8], &mut RsaPrivateKey2048)>,
    ) -> Vec<u8> {
        let ps = |v: &[u8], t: u8| {
            let mut b = [0u8; 300];
            encode(&mut b, |w| w.primitive(t, v)).unwrap().to_vec()
        };
        let os = |v: &[u8]| {
            let mut b = [0u8; 80];
            encode(&mut b, |w| w.octet_string(v)).unwrap().to_vec()
        };
        let values =
            [ps(seen.transaction_id.as_bytes(), 0x13), ps(b"3", 0x13), ps(status.as_bytes(), 0x13), os(&seen.nonce), os(&[7u8; 16])];
        let mut attrs = vec![
            Attribute { oid: attr::TRANSACTION_ID, value: &values[0] },
            Attribute { oid: attr::MESSAGE_TYPE, value: &values[1] },
            Attribute { oid: attr::PKI_STATUS, value: &values[2] },
            Attribute { oid: attr::RECIPIENT_NONCE, value: &values[3] },
            Attribute { oid: attr::SENDER_NONCE, value: &values[4] },
        ];
        // Overrides replace, others are added.
        for (o, v) in extra {
            match attrs.iter_mut().find(|a| a.oid == *o) {
                Some(a) => a.value = v,
                None => attrs.push(Attribute { oid: *o, value: v }),
            }
        }
        let mut out = vec![0u8; 16384];
        let msg = match other_signer {
            Some((cert, key)) => {
                let c = CertificateRef::parse(cert).unwrap();
                let mut b = SignedDataBuilder::new(oid::DATA, envelope, c, HashAlgorithm::Sha256);
                b.attributes = &attrs;
                sign_signed_data(&b, key, &mut out).unwrap().to_vec()
            }
            None => {
                let c = CertificateRef::parse(&self.ca_der).unwrap();
                let mut b = SignedDataBuilder::new(oid::DATA, envelope, c, HashAlgorithm::Sha256);
                b.attributes = &attrs;
                sign_signed_data(&b, &mut self.ca_key, &mut out).unwrap().to_vec()
            }
        };
        http_chunked("application/x-pki-message", &msg)
    }

    /// Issues a certificate with OpenSSL for the CSR in `seen` (PKCSReq/RenewalReq), from this
    /// CA: [`Fixture::issue_by`] with `ca.pem`, `ca.key` and the files named after `serial`
    /// (`req-SERIAL.der`, `issued-SERIAL.pem`).
    pub fn issue(&self, seen: &Seen, serial: u32) -> Vec<u8> {
        // A CertPoll names the transaction: the CSR is the one its PKCSReq/RenewalReq sent.
        let request = self
            .seen
            .iter()
            .find(|r| r.transaction_id == seen.transaction_id && (r.message_type == "19" || r.message_type == "17"))
            .expect("the transaction's request");
        self.issue_by(&request.content, &self.path("ca.pem"), &self.path("ca.key"), serial, &serial.to_string())
    }

    /// Issues a certificate with OpenSSL (`openssl x509 -req`, valid for 30 days) for the DER
    /// CSR `csr_der`, signed by the CA certificate `ca_pem` with its key `ca_key` (PEM files;
    /// any CA, not only this fixture's), with serial number `serial`. The CSR is written to
    /// `req-NAME.der` and the certificate to `issued-NAME.pem` in the fixture's directory;
    /// returns the certificate's DER.
    pub fn issue_by(&self, csr_der: &[u8], ca_pem: &Path, ca_key: &Path, serial: u32, name: &str) -> Vec<u8> {
        let csr = self.path(&format!("req-{name}.der"));
        std::fs::write(&csr, csr_der).unwrap();
        let out = self.path(&format!("issued-{name}.pem"));
        openssl(&[
            "x509",
            "-req",
            "-inform",
            "DER",
            "-in",
            s(&csr),
            "-CA",
            s(ca_pem),
            "-CAkey",
            s(ca_key),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "30",
            "-out",
            s(&out),
        ]);
        cert_der(&out)
    }

    /// certs-only with `certs`, encrypted (KTRI) to the request's signer.
    pub fn ktri_to_signer(&self, seen: &Seen, certs: &[&[u8]], crls: &[&[u8]]) -> Vec<u8> {
        let mut p7 = vec![0u8; 16384];
        let p7 = build_certs_only(certs, crls, &mut p7).unwrap().to_vec();
        let signer = CertificateRef::parse(&seen.signer).unwrap();
        let mut out = vec![0u8; 20000];
        build_for_rsa_recipient(&signer, CbcCipher::Aes128, &p7, &mut rng(5), &mut out).unwrap().to_vec()
    }

    /// certs-only with `certs`, encrypted by `openssl cms -encrypt` with `args` (recipient
    /// file or -pwri_password).
    pub fn openssl_envelope(&self, seen: &Seen, certs: &[&[u8]], args: &[&str]) -> Vec<u8> {
        let mut p7 = vec![0u8; 16384];
        let p7 = build_certs_only(certs, &[], &mut p7).unwrap().to_vec();
        std::fs::write(self.path("certs.p7b"), &p7).unwrap();
        std::fs::write(self.path("signer.der"), &seen.signer).unwrap();
        openssl(&["x509", "-inform", "DER", "-in", s(&self.path("signer.der")), "-out", s(&self.path("signer.pem"))]);
        let input = self.path("certs.p7b");
        let mut a = vec!["cms", "-encrypt", "-binary", "-outform", "DER", "-in", s(&input)];
        a.extend_from_slice(args);
        openssl(&a)
    }
}

pub fn load_rsa(pem: &Path) -> RsaPrivateKey2048 {
    RsaPrivateKey2048::from_pkcs8_der(&openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", s(pem), "-outform", "DER"]), &mut rng(1)).unwrap()
}

pub fn success() -> Reply {
    Reply::Pki(Box::new(|fx, seen| {
        let issued = fx.issue(seen, 1001);
        let ca = fx.ca_der.clone();
        let env = fx.ktri_to_signer(seen, &[&ca, &issued], &[]);
        fx.certrep(seen, "0", &env, &[], None)
    }))
}

pub fn pending() -> Reply {
    Reply::Pki(Box::new(|fx, seen| fx.certrep(seen, "3", &[], &[], None)))
}

pub fn caps(text: &str) -> Reply {
    Reply::Raw(http("200 OK", "text/plain", text.as_bytes()))
}

pub const CAPS: &str = "Renewal\nSHA-256\nAES\nPOSTPKIOperation\nGetNextCACert\n";
