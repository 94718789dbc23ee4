use core::fmt::Write as _;

use embedded_enroll::ClientError;
use embedded_enroll::acme::client::{Buffers, Challenges, Client, Config, ExternalAccountBinding, Identifier, Operation, Outcome, Step};
use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{CsrBuilder, SubjectAltName};
use embedded_enroll::hal::KeyRole;
use embedded_enroll::time::{Duration, Instant};
use embedded_enroll::transport::TransportFailure;

use crate::support::{FmtCount, take, with_scratch};

/// The account key of the pebble captures (`tests/vectors/acme/pebble-2.4.0/account-key.pem`),
/// its SubjectPublicKeyInfo: `openssl pkey -in account-key.pem -pubout -outform DER`.
const ACCOUNT_SPKI: [u8; 91] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00, 0x04, 0x62, 0xda, 0xef, 0xab, 0xda, 0xd2, 0x48, 0x08, 0x8f, 0xe6, 0xd0, 0x4c, 0x31, 0x80, 0x5c, 0x28, 0x50,
    0xa3, 0x0b, 0xa4, 0x8b, 0xfe, 0x8d, 0x2b, 0x72, 0xdc, 0xc5, 0xdb, 0xa1, 0x3f, 0xb9, 0x50, 0xc4, 0xa2, 0xf2, 0x4c, 0x87, 0x52, 0x6a,
    0x99, 0x52, 0x1d, 0x83, 0xbd, 0x65, 0x82, 0xeb, 0x76, 0xd3, 0xff, 0x59, 0x45, 0xb8, 0x40, 0x67, 0x63, 0x7f, 0xc9, 0x28, 0xa9, 0xc9,
    0x8e, 0xb2, 0xba,
];

/// The certificate key of the pebble captures (`cert-key.pem`, the key of the captured leaf),
/// its SubjectPublicKeyInfo: `openssl pkey -in cert-key.pem -pubout -outform DER`.
const CERT_SPKI: [u8; 91] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00, 0x04, 0xc7, 0x04, 0xec, 0xe0, 0x79, 0x13, 0xb1, 0x0a, 0x0e, 0x68, 0xe8, 0x68, 0x50, 0x00, 0x7e, 0x57, 0x53,
    0xf5, 0x10, 0x0d, 0xa1, 0x3a, 0x6f, 0xd2, 0x2e, 0x19, 0x8f, 0x24, 0xa9, 0x2f, 0x58, 0xe0, 0x07, 0xbe, 0xe4, 0x6c, 0xc2, 0xd6, 0x5f,
    0x96, 0x58, 0xa3, 0xea, 0xb5, 0xcb, 0xa0, 0xf7, 0x02, 0x4d, 0x49, 0x79, 0x75, 0x5b, 0x5c, 0x61, 0xec, 0x1f, 0x47, 0x7e, 0xae, 0x59,
    0x5a, 0x22, 0x3b,
];

/// The root the captured chain leads to (`pebble-root.pem` as DER), the optional trust anchor.
const PEBBLE_ROOT: &[u8] = include_bytes!("../../seeds/certificate/pebble-root.der");

/// Every signature asked for (account JWS and CSR, both P-256): raw `r || s`, each in
/// `1..n`, so the CSR's DER conversion takes it. Nothing the client reads checks it.
const SIGNATURE: [u8; 64] = [0x5a; 64];

const ONE: [Identifier<'static>; 1] = [Identifier::Dns("test.example")];
const TWO: [Identifier<'static>; 2] = [Identifier::Dns("test.example"), Identifier::Ip("127.0.0.1")];
const SANS_ONE: [SubjectAltName<'static>; 1] = [SubjectAltName::Dns("test.example")];
const SANS_TWO: [SubjectAltName<'static>; 2] = [SubjectAltName::Dns("test.example"), SubjectAltName::Ip(&[127, 0, 0, 1])];
const CONTACT: [&str; 1] = ["mailto:fuzz@test.example"];

/// The most steps between two requests: after a reply, a withdrawal or a wait, the CSR's
/// signature and the JWS's come before the next request (3 at most; 8 leaves room).
const MAX_STEPS_WITHOUT_SEND: usize = 8;

/// The whole ACME client on arbitrary server replies: a certificate order for one or two
/// identifiers, or (a quarter of inputs) the account alone, against `https://127.0.0.1:14000`
/// with the account and certificate keys of the pebble captures. Every JWS and the CSR get a
/// fixed 64-byte signature, and the clock is virtual (each wait is slept at once).
///
/// Input: a 4-byte header, then the replies as for `est_client`: records
/// `[length u16 BE][chunk size u8][length bytes]`, one per request, fed in chunks of that
/// size; when the input runs out, the connection fails (`handle_transport_failure`).
///
/// - header byte 0, flags: bits 0-1 the operation (0: `Operation::Account`, 1 and 2: an order
///   for `test.example`, 3: an order for `test.example` and `127.0.0.1`); bit 2
///   `only_existing` (for `Account`); bit 3 a configured account URL (newAccount skipped for
///   an order); bits 4-5 the challenges answered (http-01, dns-01, tls-alpn-01, all three);
///   bit 6 pebble's root as the trust anchor; bit 7 External Account Binding and a contact;
/// - byte 1: the `io` buffer, 512 to 8192 bytes (`512 + b * 7680 / 255`);
/// - byte 2: the `work` buffer, 1024 to 8192 bytes (`1024 + b * 7168 / 255`);
/// - byte 3: the answers to `Step::Publish`, bit `i % 8` for the `i`-th (1: published).
///
/// Properties: never panics; every request is a `GET` or `POST` of a path; the client ends
/// (`Step::Done`, or `poll` fails with `BufferTooSmall`) within `9 * (reply bytes / 3 + 2)` steps, with at most 8 steps
/// between two requests; a wait is never into the past; on `Outcome::Issued` every certificate handed out
/// parses and the leaf carries the configured key (none is handed out otherwise); on
/// `Outcome::Account` the account URL is known; an ended client keeps its end (`poll` returns
/// the same `Done` or error, and later calls change nothing).
pub fn acme_client(data: &[u8]) {
    let mut input = data;
    let [flags, io_sel, work_sel, publish_bits] = *take(&mut input, 4) else { return };
    let io_len = 512 + usize::from(io_sel) * 7680 / 255;
    let work_len = 1024 + usize::from(work_sel) * 7168 / 255;

    let mut config = Config::new("127.0.0.1", 14000, "/dir", &ACCOUNT_SPKI, &CERT_SPKI);
    if flags & 0x08 != 0 {
        config.account_url = Some("https://127.0.0.1:14000/my-account/1");
    }
    config.challenges = match (flags >> 4) & 3 {
        0 => Challenges { http01: true, dns01: false, tls_alpn01: false },
        1 => Challenges { http01: false, dns01: true, tls_alpn01: false },
        2 => Challenges { http01: false, dns01: false, tls_alpn01: true },
        _ => Challenges { http01: true, dns01: true, tls_alpn01: true },
    };
    if flags & 0x40 != 0 {
        config.trust_anchor = Some(PEBBLE_ROOT);
    }
    if flags & 0x80 != 0 {
        config.eab =
            Some(ExternalAccountBinding { kid: "kid-1", hmac_key: b"zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" });
        config.contact = &CONTACT;
    }
    let operation = match flags & 3 {
        0 => Operation::Account { only_existing: flags & 0x04 != 0 },
        1 | 2 => Operation::Order { identifiers: &ONE, csr: CsrBuilder::new(&[]).subject_alt_names(&SANS_ONE) },
        _ => Operation::Order { identifiers: &TWO, csr: CsrBuilder::new(&[]).subject_alt_names(&SANS_TWO) },
    };
    let ordering = matches!(operation, Operation::Order { .. });

    with_scratch(work_len + io_len, |pool| {
        let (work, io) = pool.split_at_mut(work_len);
        let mut client = Client::new(config, operation, Buffers { work, io }).expect("config");
        let mut now = Instant::ZERO;
        let mut publishes = 0u32;
        let mut since_send = 0usize;
        // Each request takes 3 bytes of the input or more, or ends the client (the input has
        // run out): at most `len / 3 + 1` requests and their steps, and the end.
        let cap = (MAX_STEPS_WITHOUT_SEND + 1) * (input.len() / 3 + 2);
        for _ in 0..cap {
            match client.poll(now) {
                Ok(Step::Send(request)) => {
                    assert!(request.starts_with(b"GET /") || request.starts_with(b"POST /"), "a request of a path");
                    since_send = 0;
                    let Some((&[hi, lo, chunk], rest)) = input.split_first_chunk::<3>() else {
                        client.handle_transport_failure(now, TransportFailure::Read).expect("transport failure accepted while awaiting");
                        continue;
                    };
                    let len = (usize::from(hi) << 8 | usize::from(lo)).min(rest.len());
                    let (reply, tail) = rest.split_at(len);
                    input = tail;
                    for c in reply.chunks(usize::from(chunk).max(1)) {
                        client.handle_response_data(now, c).expect("data accepted while awaiting");
                        if client.response_complete() {
                            break;
                        }
                    }
                    client.handle_response_end(now).expect("end accepted while awaiting");
                }
                Ok(Step::Sign(req)) => {
                    assert!(ordering || req.key == KeyRole::Account, "only an order signs a CSR");
                    // A CSR or request that does not fit `work` ends the client here; its
                    // next poll says so.
                    if let Err(e) = client.signed(now, &SIGNATURE) {
                        assert!(matches!(e, ClientError::BufferTooSmall { .. }), "{e:?}");
                    }
                }
                Ok(Step::Publish(task)) => {
                    assert!(ordering, "only an order has challenges");
                    let ka = task.key_authorization.as_bytes();
                    assert!(ka.starts_with(task.token.as_bytes()) && ka.get(task.token.len()) == Some(&b'.'), "token.thumbprint");
                    let _ = (task.http_path(), task.dns_txt_value());
                    let ok = publish_bits >> (publishes % 8) & 1 == 1;
                    publishes = publishes.wrapping_add(1);
                    client.published(now, ok).expect("a publication is accepted when asked");
                }
                Ok(Step::Withdraw(_)) => client.withdrawn(now).expect("a withdrawal is accepted when asked"),
                Ok(Step::Wait(t)) => {
                    assert!(t > now, "a wait into the past or the present");
                    now = t;
                }
                Ok(Step::Done(outcome)) => {
                    let outcome = outcome.clone();
                    ended(&mut client, now, &outcome, ordering);
                    return;
                }
                Err(e) => {
                    assert!(allowed_error(e), "{e:?}");
                    failed(&mut client, now, e);
                    return;
                }
            }
            since_send += 1;
            assert!(since_send <= MAX_STEPS_WITHOUT_SEND, "{since_send} steps without a request");
        }
        panic!("the client did not end within {cap} steps");
    })
}

/// The one error that may end the client: a buffer too small (the caller's). A server's bad
/// URL (a control character or a space in it, found by this target) is an outcome.
fn allowed_error(e: ClientError) -> bool {
    matches!(e, ClientError::BufferTooSmall { .. })
}

/// The checks on a client that ended with `outcome`.
fn ended(client: &mut Client<'_, '_>, now: Instant, outcome: &Outcome, ordering: bool) {
    let mut text = FmtCount::default();
    write!(text, "{outcome}").expect("an outcome reads as text");
    assert!(text.0 > 0);
    match outcome {
        Outcome::Issued => {
            assert!(ordering, "an account operation issues nothing");
            let mut n = 0usize;
            for der in client.certificates() {
                let cert = CertificateRef::parse(der).expect("every certificate handed out parses");
                if n == 0 {
                    assert_eq!(cert.spki().as_der(), CERT_SPKI, "the leaf carries the configured key");
                }
                n += 1;
            }
            assert!((1..=8).contains(&n), "{n} certificates");
            assert_eq!(client.certificate(), client.certificates().next());
        }
        Outcome::Account => {
            assert!(!ordering, "an order ends with its certificate");
            assert!(client.account_url().is_some(), "the account's URL is known");
        }
        _ => assert!(client.certificate().is_none(), "a certificate handed out without Issued"),
    }
    assert_eq!(client.outcome(), Some(outcome));
    // A reply's bytes after the end are ignored, and the peer's close or a failure is no news.
    assert_eq!(client.handle_response_data(now, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Ok(0));
    assert_eq!(client.handle_response_end(now), Ok(()));
    assert_eq!(client.handle_transport_failure(now, TransportFailure::Read), Ok(()));
    refuses_answers(client, now);
    let later = now.saturating_add(Duration::from_secs(86_400));
    for t in [now, later] {
        match client.poll(t) {
            Ok(Step::Done(o)) => assert_eq!(o, outcome, "the end changed"),
            other => panic!("an ended client polled again: {other:?}"),
        }
    }
}

/// The checks on a client whose `poll` failed with `error`.
fn failed(client: &mut Client<'_, '_>, now: Instant, error: ClientError) {
    assert!(client.outcome().is_none() && client.certificate().is_none());
    let _ = client.handle_response_data(now, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let _ = client.handle_response_end(now);
    let _ = client.handle_transport_failure(now, TransportFailure::Read);
    refuses_answers(client, now);
    let later = now.saturating_add(Duration::from_secs(86_400));
    for t in [now, later] {
        assert_eq!(client.poll(t).err(), Some(error), "a failed client polled again");
    }
}

/// After the end, answers to steps not asked for are refused.
fn refuses_answers(client: &mut Client<'_, '_>, now: Instant) {
    assert_eq!(client.signed(now, &SIGNATURE), Err(ClientError::UnexpectedCall));
    assert_eq!(client.published(now, true), Err(ClientError::UnexpectedCall));
    assert_eq!(client.withdrawn(now), Err(ClientError::UnexpectedCall));
}
