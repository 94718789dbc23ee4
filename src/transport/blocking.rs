//! Blocking drivers: thin loops that run a protocol client to its end over a connection
//! ([`Connect`]), a device key ([`DeviceKeys`]) and a clock ([`Timer`]). The protocol lives
//! in the client; these only move bytes, answer key requests and sleep.

use crate::crypto::Digest;
use crate::hal::{Decrypter, ErrorKind, KeyAgreement, Signer};
use crate::time::Instant;

/// Opens a new connection to the server for each request (SCEP and EST use one request per
/// connection). Plain TCP, or TLS over TCP.
pub trait Connect {
    /// A connected byte stream.
    type Connection: embedded_io::Read + embedded_io::Write;
    /// Why connecting failed.
    type Error: core::fmt::Debug;
    /// Connects.
    fn connect(&mut self) -> Result<Self::Connection, Self::Error>;
}

/// Time for the drivers: the monotonic clock and a way to wait.
pub trait Timer {
    /// Now, on the same clock as the deadlines the client hands out.
    fn now(&mut self) -> Instant;
    /// Returns at `deadline` or later (a device may sleep, a host thread blocks).
    fn sleep_until(&mut self, deadline: Instant);
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
}

/// Connects and sends `request`; `None` if connecting or writing failed.
pub fn send<C: Connect>(connect: &mut C, request: &[u8]) -> Option<C::Connection> {
    use embedded_io::Write;
    let mut conn = connect.connect().ok()?;
    conn.write_all(request).ok()?;
    conn.flush().ok()?;
    Some(conn)
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

#[cfg(feature = "scep")]
mod scep_driver {
    use super::*;
    use crate::scep::client::{Client, ClientError, Outcome, Step};
    use rand_core::CryptoRngCore;

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
                    let line = bytes.split(|b| *b == b'\r').next().and_then(|l| core::str::from_utf8(l).ok()).unwrap_or("");
                    progress(Progress::Request(line.get(..line.len().min(120)).unwrap_or("")));
                    let conn = send(connect, bytes);
                    let mut failed = None;
                    let mut len = 0usize;
                    let Some(mut conn) = conn else {
                        progress(Progress::TransportError);
                        client.handle_transport_error(timer.now()).map_err(DriveError::Client)?;
                        continue;
                    };
                    let ok = receive(&mut conn, &mut chunk, |data| match data {
                        Some(d) => {
                            len += d.len();
                            if let Err(e) = client.handle_response_data(now, d) {
                                failed = Some(e);
                                return true;
                            }
                            client.response_complete()
                        }
                        None => {
                            if let Err(e) = client.handle_response_end(now) {
                                failed = Some(e);
                            }
                            true
                        }
                    });
                    if let Some(e) = failed {
                        return Err(DriveError::Client(e));
                    }
                    if ok && client.response_complete() {
                        progress(Progress::Response(len));
                    } else {
                        progress(Progress::TransportError);
                        client.handle_transport_error(timer.now()).map_err(DriveError::Client)?;
                    }
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
                    timer.sleep_until(until);
                }
                Step::Done(outcome) => return Ok(outcome.clone()),
            }
        }
        Err(DriveError::TooManySteps)
    }
}

#[cfg(feature = "scep")]
pub use scep_driver::run_scep;
