//! HTTP credentials are never sent on a connection whose server is not authenticated (RFC 7030
//! section 3.2.3; issue 13, item 6), enforced by the library's drivers: an EST client with a
//! user name and password, over plain TCP (a connector that authenticates no server), stops
//! with `DriveError::UnauthenticatedServer` before its credentials leave the device, whether
//! it sends them preemptively or in answer to a 401 challenge. A local server on 127.0.0.1
//! records every byte it receives.

use embedded_enroll::est::client::{Buffers, CaCertsTrust, Client, Config, Credentials, Operation};
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::transport::blocking::{Connect, DriveError, EcDevice, run_est};
use embedded_enroll::transport::host::{StdTimer, TcpConnector};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PASSWORD: &str = "pw-5d1e0c77";

/// A server that answers every request with `401` and a Basic challenge, and records what it
/// received. It serves at most `requests` connections, then its thread ends.
fn challenge_server(requests: usize) -> (String, Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let thread = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < requests && std::time::Instant::now() < until {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            served += 1;
            s.set_nonblocking(false).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            let mut buf = [0u8; 8192];
            if let Ok(n) = s.read(&mut buf) {
                log.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            let _ = s.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"est\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (addr, seen, thread)
}

fn enroll(addr: &str, preemptive: bool) -> Result<(), DriveError<embedded_enroll::est::client::ClientError>> {
    let mut key = SoftP256Key::from_bytes(&[7u8; 32]).unwrap();
    let mut spki = [0u8; 96];
    let n = key.public_key_der(&mut spki).unwrap();
    let mut config = Config::new("localhost", CaCertsTrust::TlsAuthenticated, &spki[..n]);
    config.credentials = Some(Credentials { user: "device", password: PASSWORD, preemptive_basic: preemptive });
    let (mut own, mut work, mut io) = (vec![0u8; 2048], vec![0u8; 8192], vec![0u8; 8192]);
    let bufs = Buffers { own: &mut own, work: &mut work, io: &mut io };
    let subject = [embedded_enroll::asn1::csr::NameAttribute::common_name("d")];
    let csr = embedded_enroll::asn1::csr::CsrBuilder::new(&subject);
    let mut client = Client::new(config, Operation::Enroll(csr), bufs, rand::rngs::OsRng).unwrap();
    let mut connect = TcpConnector::new(addr);
    assert!(!connect.authenticates_server(), "plain TCP authenticates no server");
    run_est(&mut client, &mut connect, &mut EcDevice(&mut key), &mut StdTimer::default(), |_| {}).map(|_| ())
}

#[test]
fn preemptive_basic_credentials_are_not_sent_over_plain_tcp() {
    let (addr, seen, thread) = challenge_server(1);
    assert_eq!(enroll(&addr, true), Err(DriveError::UnauthenticatedServer));
    // Nothing was sent: the server never got a connection (its thread times out).
    drop(thread);
    assert!(seen.lock().unwrap().is_empty(), "the server received {:?}", String::from_utf8_lossy(&seen.lock().unwrap()));
}

#[test]
fn credentials_asked_for_by_a_401_are_not_sent_over_plain_tcp() {
    let (addr, seen, thread) = challenge_server(2);
    assert_eq!(enroll(&addr, false), Err(DriveError::UnauthenticatedServer));
    std::thread::sleep(Duration::from_millis(200));
    let seen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    drop(thread);
    assert!(seen.starts_with("POST /.well-known/est/simpleenroll"), "the first request went out: {seen}");
    assert!(!seen.to_ascii_lowercase().contains("authorization"), "credentials were sent: {seen}");
    assert!(!seen.contains(PASSWORD));
}
