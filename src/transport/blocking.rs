//! Blocking drivers: thin loops that run a protocol client to its end over a connection
//! ([`Connect`]), a device key ([`DeviceKeys`]) and a clock ([`Timer`]). The protocol lives
//! in the client; these only move bytes, answer key requests and sleep.

use crate::crypto::Digest;
use crate::hal::{Decrypter, ErrorKind, KeyAgreement, Signer};
use crate::time::Instant;

/// Opens a new connection to the server for each request (SCEP and EST use one request per
/// connection). Plain TCP, or TLS over TCP.
pub trait Connect {
    /// A connected byte stream (it may borrow the connector: TLS record buffers).
    type Connection<'c>: embedded_io::Read + embedded_io::Write
    where
        Self: 'c;
    /// Why connecting failed.
    type Error: core::fmt::Debug;
    /// Connects (and, for TLS, completes the handshake).
    fn connect(&mut self) -> Result<Self::Connection<'_>, Self::Error>;
    /// The channel-binding value of `connection` into `out` (RFC 9266 tls-exporter on TLS
    /// 1.3, tls-unique on TLS 1.2); 0 when the transport has none (plain TCP, embedded-tls).
    fn channel_binding(connection: &Self::Connection<'_>, out: &mut [u8]) -> usize {
        let _ = (connection, out);
        0
    }
}

/// Time for the drivers: the monotonic clock and a way to wait.
pub trait Timer {
    /// Now, on the same clock as the deadlines the client hands out.
    fn now(&mut self) -> Instant;
    /// Returns at `deadline` or later (a device may sleep, a host thread blocks), with
    /// true; or at once with false to stop the driver there ([`DriveError::Stopped`]): the
    /// client stays in its `Wait` step, so a SCEP client can be saved with `snapshot` and
    /// resumed after a reboot or a later run.
    fn sleep_until(&mut self, deadline: Instant) -> bool;
}

pub use crate::hal::KeyRole;

/// The device key operations a protocol client asks for.
pub trait DeviceKeys {
    /// Signs `digest`; returns the signature length (raw `r || s` for P-256).
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind>;
    /// RSA PKCS#1 v1.5 decryption of a content-encryption key into `out` (exact length).
    fn decrypt(&mut self, role: KeyRole, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind>;
    /// ECDH with `peer` (SEC1), the x-coordinate into `out`.
    fn agree(&mut self, role: KeyRole, peer: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind>;
}

/// One RSA key for every role.
#[derive(Debug)]
pub struct RsaDevice<K>(pub K);

impl<K: Signer + Decrypter> DeviceKeys for RsaDevice<K> {
    fn sign(&mut self, _: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        Signer::sign_prehash(&mut self.0, digest, out).map_err(|e| crate::hal::Error::kind(&e))
    }
    fn decrypt(&mut self, _: KeyRole, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        self.0.decrypt_pkcs1v15(ciphertext, out).map_err(|e| crate::hal::Error::kind(&e))
    }
    fn agree(&mut self, _: KeyRole, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

/// One P-256 key for every role.
#[derive(Debug)]
pub struct EcDevice<K>(pub K);

impl<K: Signer + KeyAgreement> DeviceKeys for EcDevice<K> {
    fn sign(&mut self, _: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        Signer::sign_prehash(&mut self.0, digest, out).map_err(|e| crate::hal::Error::kind(&e))
    }
    fn decrypt(&mut self, _: KeyRole, _: &[u8], _: &mut [u8]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn agree(&mut self, _: KeyRole, peer: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind> {
        self.0.agree(peer, out).map_err(|e| crate::hal::Error::kind(&e))
    }
}

/// What a driver reports as it goes (for progress lines; the protocol decides nothing here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A request is being sent: its first line (`GET /scep?operation=GetCACaps HTTP/1.1`).
    Request(&'a str),
    /// The response arrived (its length in bytes).
    Response(usize),
    /// A key operation is being asked of the device.
    KeyOperation(&'static str),
    /// Waiting until this instant (a PENDING poll or a Retry-After), `ms` from now.
    Waiting {
        /// The deadline.
        until: Instant,
        /// Milliseconds from now.
        ms: u64,
    },
    /// Connecting or reading failed.
    TransportError,
}

/// Why a driver stopped without an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DriveError<E> {
    /// The client reported a caller-side error.
    Client(E),
    /// The device key failed.
    Key(ErrorKind),
    /// The client did not finish within the step bound (a bug; never expected).
    TooManySteps,
    /// The timer declined to wait ([`Timer::sleep_until`] returned false).
    Stopped,
}

/// Connects and sends `request`; `None` if connecting or writing failed.
pub fn send<'c, C: Connect>(connect: &'c mut C, request: &[u8]) -> Option<C::Connection<'c>> {
    let mut conn = connect.connect().ok()?;
    write_request(&mut conn, request).then_some(conn)
}

/// Writes and flushes `request` on `conn`; false if that failed.
pub fn write_request<W: embedded_io::Write>(conn: &mut W, request: &[u8]) -> bool {
    conn.write_all(request).is_ok() && conn.flush().is_ok()
}

/// Reads a response from `conn` into `feed` (`None` at EOF) until `feed` returns true or the
/// peer closes. Returns false if reading failed.
pub fn receive<R: embedded_io::Read>(conn: &mut R, chunk: &mut [u8], mut feed: impl FnMut(Option<&[u8]>) -> bool) -> bool {
    loop {
        match conn.read(chunk) {
            Ok(0) => {
                feed(None);
                return true;
            }
            Ok(n) => {
                if feed(chunk.get(..n)) {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
}

/// What the drivers need from a protocol client to deliver one response.
pub trait ResponseSink {
    /// The client's caller-side error.
    type Error;
    /// Feeds response bytes.
    fn data(&mut self, now: Instant, data: &[u8]) -> Result<usize, Self::Error>;
    /// Reports the end of the connection.
    fn end(&mut self, now: Instant) -> Result<(), Self::Error>;
    /// Whether the response is complete.
    fn complete(&self) -> bool;
    /// Reports a failed connection.
    fn transport_error(&mut self, now: Instant) -> Result<(), Self::Error>;
}

/// The first line of a request, for progress reports.
#[cfg(any(feature = "scep", feature = "est"))]
fn request_line(bytes: &[u8]) -> &str {
    let line = bytes.split(|b| *b == b'\r').next().and_then(|l| core::str::from_utf8(l).ok()).unwrap_or("");
    line.get(..line.len().min(120)).unwrap_or("")
}

/// Reads the response on `conn` into `sink`; a read error or an early EOF is reported to
/// the client as a transport error.
#[cfg(any(feature = "scep", feature = "est"))]
fn deliver<S: ResponseSink, R: embedded_io::Read>(
    sink: &mut S,
    conn: Option<&mut R>,
    chunk: &mut [u8],
    now: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<S::Error>> {
    let Some(conn) = conn else {
        progress(Progress::TransportError);
        return sink.transport_error(now).map_err(DriveError::Client);
    };
    let mut failed = None;
    let mut len = 0usize;
    let ok = receive(conn, chunk, |data| match data {
        Some(d) => {
            len += d.len();
            if let Err(e) = sink.data(now, d) {
                failed = Some(e);
                return true;
            }
            sink.complete()
        }
        None => {
            if let Err(e) = sink.end(now) {
                failed = Some(e);
            }
            true
        }
    });
    if let Some(e) = failed {
        return Err(DriveError::Client(e));
    }
    if ok && sink.complete() {
        progress(Progress::Response(len));
        Ok(())
    } else {
        progress(Progress::TransportError);
        sink.transport_error(now).map_err(DriveError::Client)
    }
}

#[cfg(feature = "scep")]
mod scep_driver {
    use super::*;
    use crate::scep::client::{Client, ClientError, Outcome, Step};
    use rand_core::CryptoRngCore;

    impl<R: CryptoRngCore> ResponseSink for Client<'_, '_, R> {
        type Error = ClientError;
        fn data(&mut self, now: Instant, data: &[u8]) -> Result<usize, ClientError> {
            self.handle_response_data(now, data)
        }
        fn end(&mut self, now: Instant) -> Result<(), ClientError> {
            self.handle_response_end(now)
        }
        fn complete(&self) -> bool {
            self.response_complete()
        }
        fn transport_error(&mut self, now: Instant) -> Result<(), ClientError> {
            self.handle_transport_error(now)
        }
    }

    /// Runs a SCEP client to its end: every request over a new connection from `connect`,
    /// every key operation through `keys`, every wait through `timer`. `progress` sees each
    /// step (for log lines). At most 10 000 steps (more would be a bug: a PENDING poll takes
    /// four).
    pub fn run_scep<R: CryptoRngCore, C: Connect, K: DeviceKeys, T: Timer>(
        client: &mut Client<'_, '_, R>,
        connect: &mut C,
        keys: &mut K,
        timer: &mut T,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<Outcome, DriveError<ClientError>> {
        let mut chunk = [0u8; 1024];
        for _ in 0..10_000 {
            let now = timer.now();
            match client.poll(now).map_err(DriveError::Client)? {
                Step::Send(bytes) => {
                    progress(Progress::Request(request_line(bytes)));
                    let mut conn = send(connect, bytes);
                    deliver(client, conn.as_mut(), &mut chunk, now, &mut progress)?;
                }
                Step::Sign(req) => {
                    progress(Progress::KeyOperation("sign"));
                    let mut sig = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
                    let n = keys.sign(req.key, &req.digest, &mut sig).map_err(DriveError::Key)?;
                    client.signed(now, sig.get(..n).unwrap_or(&[])).map_err(DriveError::Client)?;
                }
                Step::Decrypt(req) => {
                    progress(Progress::KeyOperation("decrypt"));
                    let mut cek = zeroize::Zeroizing::new([0u8; 32]);
                    let cek = cek.get_mut(..req.key_len).ok_or(DriveError::Key(ErrorKind::Unsupported))?;
                    keys.decrypt(req.key, req.encrypted_key, cek).map_err(DriveError::Key)?;
                    client.decrypted(now, cek).map_err(DriveError::Client)?;
                }
                Step::Agree(req) => {
                    progress(Progress::KeyOperation("agree"));
                    let mut z = zeroize::Zeroizing::new([0u8; 32]);
                    keys.agree(req.key, &req.peer_public_key, &mut z).map_err(DriveError::Key)?;
                    client.agreed(now, &z).map_err(DriveError::Client)?;
                }
                Step::Wait(until) => {
                    progress(Progress::Waiting { until, ms: (until - now).as_millis() });
                    if !timer.sleep_until(until) {
                        return Err(DriveError::Stopped);
                    }
                }
                Step::Done(outcome) => return Ok(outcome.clone()),
            }
        }
        Err(DriveError::TooManySteps)
    }
}

#[cfg(feature = "scep")]
pub use scep_driver::run_scep;

#[cfg(feature = "est")]
mod est_driver {
    use super::*;
    use crate::est::client::{Client, ClientError, Outcome, Step};
    use rand_core::CryptoRngCore;

    impl<R: CryptoRngCore> ResponseSink for Client<'_, '_, R> {
        type Error = ClientError;
        fn data(&mut self, now: Instant, data: &[u8]) -> Result<usize, ClientError> {
            self.handle_response_data(now, data)
        }
        fn end(&mut self, now: Instant) -> Result<(), ClientError> {
            self.handle_response_end(now)
        }
        fn complete(&self) -> bool {
            self.response_complete()
        }
        fn transport_error(&mut self, now: Instant) -> Result<(), ClientError> {
            self.handle_transport_error(now)
        }
    }

    fn sign<R: CryptoRngCore, K: DeviceKeys>(
        client: &mut Client<'_, '_, R>,
        keys: &mut K,
        req: crate::est::client::SignRequest,
        now: Instant,
    ) -> Result<(), DriveError<ClientError>> {
        let mut sig = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
        let n = keys.sign(req.key, &req.digest, &mut sig).map_err(DriveError::Key)?;
        client.signed(now, sig.get(..n).unwrap_or(&[])).map_err(DriveError::Client)
    }

    /// Runs an EST client to its end: requests over connections from `connect` (TLS: see
    /// `transport::tls` and `transport::host_tls`), the CSR signature through `keys`, 202 waits
    /// through `timer`. On [`Step::Bind`] the connection is opened first, its channel
    /// binding handed to the client, and the CSR signed and sent on that same connection.
    /// At most 10 000 steps.
    pub fn run_est<R: CryptoRngCore, C: Connect, K: DeviceKeys, T: Timer>(
        client: &mut Client<'_, '_, R>,
        connect: &mut C,
        keys: &mut K,
        timer: &mut T,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Result<Outcome, DriveError<ClientError>> {
        let mut chunk = [0u8; 1024];
        for _ in 0..10_000 {
            let now = timer.now();
            match client.poll(now).map_err(DriveError::Client)? {
                Step::Bind => {
                    let Ok(mut conn) = connect.connect() else {
                        progress(Progress::TransportError);
                        client.handle_transport_error(now).map_err(DriveError::Client)?;
                        continue;
                    };
                    let mut value = [0u8; 64];
                    let n = C::channel_binding(&conn, &mut value);
                    client.bound(now, value.get(..n).unwrap_or(&[])).map_err(DriveError::Client)?;
                    // The CSR with this binding is signed and sent on this connection.
                    for _ in 0..4 {
                        let now = timer.now();
                        match client.poll(now).map_err(DriveError::Client)? {
                            Step::Sign(req) => {
                                progress(Progress::KeyOperation("sign"));
                                sign(client, keys, req, now)?;
                            }
                            Step::Send(bytes) => {
                                progress(Progress::Request(request_line(bytes)));
                                let ok = write_request(&mut conn, bytes);
                                deliver(client, ok.then_some(&mut conn), &mut chunk, now, &mut progress)?;
                                break;
                            }
                            _ => break,
                        }
                    }
                }
                Step::Send(bytes) => {
                    progress(Progress::Request(request_line(bytes)));
                    let mut conn = send(connect, bytes);
                    deliver(client, conn.as_mut(), &mut chunk, now, &mut progress)?;
                }
                Step::Sign(req) => {
                    progress(Progress::KeyOperation("sign"));
                    sign(client, keys, req, now)?;
                }
                Step::Wait(until) => {
                    progress(Progress::Waiting { until, ms: (until - now).as_millis() });
                    if !timer.sleep_until(until) {
                        return Err(DriveError::Stopped);
                    }
                }
                Step::Done(outcome) => return Ok(outcome.clone()),
            }
        }
        Err(DriveError::TooManySteps)
    }
}

#[cfg(feature = "est")]
pub use est_driver::run_est;
