//! Every error a caller meets reads as a sentence (issue 15 item 4): `Display`, with the
//! cause chained into the text, never a `Debug` dump such as `CertRep(Cms(Signature(..)))`.

use embedded_enroll::CryptoError;
use embedded_enroll::error::{ChainError, CmsError};
use embedded_enroll::hal::{ErrorKind, SharedKeyError};
use embedded_enroll::lifecycle::manager::RestoreError;
use embedded_enroll::scep::message::{CertRepError, FailInfo};
use embedded_enroll::transport::blocking::DriveError;
use embedded_enroll::transport::tls::TlsConnectError;
use embedded_enroll::transport::verify::VerifyError;

/// The text, checked to be a sentence: no `Debug` spelling of a variant with a payload.
fn sentence(e: &dyn core::fmt::Display) -> String {
    let s = e.to_string();
    for dump in ["Cms(", "CertRep(", "Signature(", "Chain(", "Key(", "Client(", "Decode(", "Envelope(", "{ "] {
        assert!(!s.contains(dump), "{s:?} reads like a Debug dump ({dump})");
    }
    assert!(s.len() > 12 && s.chars().next().is_some_and(|c| c.is_lowercase() || c.is_ascii_digit()), "{s:?}");
    s
}

#[test]
fn scep_reply_errors_chain_their_causes_in_words() {
    let e = embedded_enroll::scep::client::ReplyError::CertRep(CertRepError::Cms(CmsError::Signature(CryptoError::SignatureInvalid)));
    let s = sentence(&e);
    assert!(s.starts_with("the reply was refused: the CertRep is not a pkiMessage signed by the CA: "), "{s}");
    assert!(s.contains(&CryptoError::SignatureInvalid.to_string()), "{s}");
    assert_eq!(
        sentence(&CertRepError::NonceMismatch),
        "the CertRep does not answer this request (recipientNonce differs from our senderNonce)"
    );
    assert_eq!(sentence(&CertRepError::Attribute("pkiStatus")), "the CertRep's pkiStatus attribute is missing or malformed");
    assert_eq!(
        sentence(&embedded_enroll::scep::client::ReplyError::AlgorithmNotAllowed("DES")),
        "the reply uses DES, which the algorithm policy does not allow"
    );
    assert_eq!(FailInfo::BadRequest.to_string(), "badRequest (transaction not permitted or supported)");
    assert_eq!(FailInfo::Other(9).to_string(), "failInfo 9 (unknown)");
}

#[test]
fn est_and_transport_errors_say_what_to_look_at() {
    assert_eq!(
        sentence(&embedded_enroll::est::client::ReplyError::UnsupportedChallenge),
        "the server asks for an authentication this client cannot answer (no credentials were sent)"
    );
    let chain = VerifyError::Chain(ChainError::Expired { depth: 1 });
    assert_eq!(sentence(&chain), "the server's certificate chain was refused: certificate at depth 1 has expired");
    assert_eq!(sentence(&VerifyError::HostMismatch), "the server's certificate does not name the host connected to");
    let tls: TlsConnectError<()> = TlsConnectError::NotAuthenticated;
    assert!(sentence(&tls).starts_with("the server did not prove its identity"));
    let drive: DriveError<embedded_enroll::est::client::ClientError> = DriveError::Key(ErrorKind::Busy);
    assert_eq!(sentence(&drive), "the device key failed: the device is busy");
    let drive: DriveError<embedded_enroll::est::client::ClientError> =
        DriveError::Client(embedded_enroll::est::client::ClientError::BufferTooSmall { buffer: "io", needed: 7000 });
    assert_eq!(sentence(&drive), "the client refused the call: the `io` buffer is too small (at least 7000 bytes)");
    assert!(sentence(&DriveError::<embedded_enroll::est::client::ClientError>::UnauthenticatedServer).starts_with("not sent:"));
}

#[test]
fn key_and_lifecycle_errors_read_as_sentences() {
    assert_eq!(sentence(&SharedKeyError::<ErrorKind>::Busy), "the shared key is in use by its other holder");
    assert_eq!(sentence(&SharedKeyError::Key(ErrorKind::Unsupported)), "the key failed: the device cannot do this operation or algorithm");
    assert_eq!(sentence(&RestoreError::BufferTooSmall), "the stored record is larger than the manager's buffers");
    for kind in [ErrorKind::Busy, ErrorKind::BufferTooSmall, ErrorKind::NotFound, ErrorKind::Storage, ErrorKind::Other] {
        sentence(&kind);
    }
}

#[test]
fn outcomes_read_as_one_sentence() {
    use embedded_enroll::est::client::Outcome as Est;
    use embedded_enroll::scep::client::Outcome as Scep;
    let rejected = Scep::Rejected { fail_info: Some(FailInfo::BadRequest), text: heapless::String::try_from("no such profile").unwrap() };
    assert_eq!(
        sentence(&rejected),
        "the CA refused the request: badRequest (transaction not permitted or supported) (\"no such profile\")"
    );
    let refused = Scep::InvalidReply(embedded_enroll::scep::client::ReplyError::NotIssuedByCa);
    assert_eq!(sentence(&refused), "the certificate for our key is not signed by the issuing CA");
    assert_eq!(sentence(&Scep::PendingTimedOut { attempts: 12 }), "the CA still answered PENDING after 12 polls");
    assert_eq!(sentence(&Scep::HttpStatus(503)), "the server answered HTTP 503");
    let status = Est::HttpStatus { status: 400, text: heapless::String::try_from("could not parse certificate signing request").unwrap() };
    assert_eq!(sentence(&status), "the server answered HTTP 400 (\"could not parse certificate signing request\")");
    assert_eq!(sentence(&Est::RetryLimit { attempts: 3 }), "the server still answered 202 after 3 retries");
    use embedded_enroll::transport::TransportFailure;
    assert_eq!(
        sentence(&Est::Transport(TransportFailure::ServerRefused(VerifyError::HostMismatch))),
        "the connection failed: the server's certificate does not name the host connected to"
    );
    assert_eq!(
        sentence(&Scep::Transport(TransportFailure::Connect)),
        "the connection failed: the connection could not be made (TCP refused or unreachable, or the name did not resolve)"
    );
    assert_eq!(sentence(&Est::Transport(TransportFailure::Deadline)), "the connection failed: the exchange's deadline passed");
    assert_eq!(
        sentence(&Est::InvalidReply(embedded_enroll::est::client::ReplyError::UntrustedCaCerts)),
        "the /cacerts reply does not match the configured trust"
    );
}
