//! Blocking drivers: thin loops that run a protocol client to its end over a connection
//! ([`Connect`]), a device key ([`DeviceKeys`]) and a clock ([`Timer`]). The protocol lives
//! in the client; these only move bytes, answer key requests and sleep.
//!
//! # Bounds
//! Every exchange (connect and TLS handshake, the request, the whole response) has an overall
//! deadline, [`DriveOptions::exchange_deadline`] ([`DEFAULT_EXCHANGE_DEADLINE`], 60 s, unless
//! set with `run_scep_with` / `run_est_with`): a server that drips one byte a second is
//! dropped at the deadline, not when it closes. The driver reads [`Timer::now`] before every
//! read and abandons the exchange once the deadline has passed; the client is then told of a
//! transport failure (EST: `Outcome::Transport`; SCEP: `Outcome::Transport`, or during
//! PENDING polling one more poll used), and `progress` sees [`Progress::DeadlineExceeded`].
//!
//! The time left is also handed to the connection before the request is written and before
//! every read ([`Connect::set_io_timeout`]), so that a read which blocks (a server that sends
//! nothing) returns by the deadline. The host transport (`host::TcpConnector`) sets its
//! socket timeouts there. A transport that does not implement it (embedded-nal's `nb::block!`
//! loop in `nal`, embedded-tls in `tls`, rustls in `host_tls`) relies on its own bounds for a
//! read that blocks: a TCP/IP stack's receive timeout, the connector's timeout. The deadline is
//! checked again as soon as such a read returns. Connecting (and the TLS handshake inside
//! [`Connect::connect`]) is likewise bounded by the connector's own timeout, and an exchange
//! whose deadline passed during it goes no further.
//!
//! Waits between exchanges (PENDING polls, 202 Retry-After) are the clients' retry schedules,
//! bounded by their `Config::retry` ([`crate::retry::RetryPolicy`]); a run takes at most
//! [`MAX_STEPS`] steps.

use super::TransportFailure;
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
use super::driven::{Action, Driven, key_step, request_line};
#[cfg(feature = "est")]
use super::driven::{bind, until_held_request};
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
use crate::ClientError;
use crate::crypto::Digest;
use crate::hal::{Decrypter, ErrorKind, KeyAgreement, Signer};
use crate::time::{Duration, Instant};
#[cfg(any(feature = "scep", feature = "est"))]
use rand_core::CryptoRngCore;

/// The overall deadline of one exchange (connect, request, response) when the caller sets
/// none: 60 s, enough for an RSA TLS handshake and a CA that signs slowly, short enough that
/// a stalled server does not hold a device for long.
pub const DEFAULT_EXCHANGE_DEADLINE: Duration = Duration::from_secs(60);

/// The most steps one run of a driver takes before it gives up with
/// [`DriveError::TooManySteps`] (a bug: the clients' retry policies end long before; a
/// PENDING poll takes four steps).
pub const MAX_STEPS: u32 = 10_000;

/// How the drivers bound their work (`run_scep_with`, `run_est_with` and their async twins).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DriveOptions {
    /// The longest one exchange may take, from the start of connecting to the end of the
    /// response (for EST with channel binding, the CSR signature in between too). Past it the
    /// exchange is abandoned and the client told of a transport failure (see the module
    /// docs). Default: [`DEFAULT_EXCHANGE_DEADLINE`].
    pub exchange_deadline: Duration,
    /// Return [`DriveError::Paused`] at the client's next wait (a SCEP PENDING poll, an EST
    /// Retry-After) instead of sleeping: the caller persists what it must (the lifecycle
    /// runner saves the PENDING transaction) and calls the driver again, with the same client,
    /// when it is due. Default false.
    pub return_at_wait: bool,
}

impl DriveOptions {
    /// The defaults: [`DEFAULT_EXCHANGE_DEADLINE`] per exchange, sleeping through waits.
    pub const DEFAULT: Self = Self { exchange_deadline: DEFAULT_EXCHANGE_DEADLINE, return_at_wait: false };

    /// These options with [`DriveOptions::return_at_wait`] set.
    pub const fn returning_at_wait(mut self) -> Self {
        self.return_at_wait = true;
        self
    }

    /// These options with `deadline` per exchange.
    pub const fn with_exchange_deadline(mut self, deadline: Duration) -> Self {
        self.exchange_deadline = deadline;
        self
    }
}

impl Default for DriveOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

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
    /// [`Connect::connect`] into `slot`, the caller's storage: the drivers use this one. A
    /// connector whose connection is large (TLS: about 1.2 KiB with embedded-tls) makes it in
    /// `slot` and completes the handshake there, so that no second copy of it sits on the
    /// stack under the handshake. The default connects and moves the connection in. On error
    /// `slot` is `None`.
    fn connect_in<'c>(&'c mut self, slot: &mut Option<Self::Connection<'c>>) -> Result<(), Self::Error> {
        *slot = None;
        *slot = Some(self.connect()?);
        Ok(())
    }
    /// The channel-binding value of `connection` into `out` (RFC 9266 tls-exporter on TLS
    /// 1.3, tls-unique on TLS 1.2); 0 when the transport has none (plain TCP, embedded-tls).
    fn channel_binding(connection: &Self::Connection<'_>, out: &mut [u8]) -> usize {
        let _ = (connection, out);
        0
    }
    /// Bounds every blocking read and write on `connection` to at most `timeout` from now
    /// (a shorter timeout of the transport's own stays). The drivers call it before the
    /// request is written and before every read, with the time left until the exchange's
    /// deadline (at least 1 ms), so that a peer that sends nothing cannot hold a read past
    /// it. The default does nothing: a read that blocks is then bounded only by the transport
    /// itself (see the module docs).
    fn set_io_timeout(connection: &mut Self::Connection<'_>, timeout: Duration) {
        let _ = (connection, timeout);
    }
    /// Whether every connection this connector opens is to an authenticated server (TLS with
    /// a trust anchor, whose handshake fails otherwise). The drivers send a request that
    /// carries HTTP credentials only when this is true (RFC 7030 section 3.2.3), else they
    /// stop with [`DriveError::UnauthenticatedServer`] before connecting. The default is
    /// false: plain TCP, or TLS without an anchor (the EST bootstrap).
    fn authenticates_server(&self) -> bool {
        false
    }
    /// What a connect error tells the client ([`TransportFailure`], in `Outcome::Transport`):
    /// TCP refused, the TLS handshake, the server's certificate and why. The default says
    /// [`TransportFailure::Connect`].
    fn failure(error: &Self::Error) -> TransportFailure {
        let _ = error;
        TransportFailure::Connect
    }
}

/// The network as the lifecycle runner uses it: a [`Connect`] to a profile's server, named as
/// the profile names it (`host:port`). The port's network stack resolves and connects; for TLS
/// the runner wraps the connector.
pub trait Network {
    /// Connections to one server.
    type Connector<'a>: Connect
    where
        Self: 'a;
    /// Connections to `server`, or why there can be none (an address the stack cannot use:
    /// [`TransportFailure::Connect`]).
    fn connector(&mut self, server: &str) -> Result<Self::Connector<'_>, TransportFailure>;
}

impl<N: Network + ?Sized> Network for &mut N {
    type Connector<'a>
        = N::Connector<'a>
    where
        Self: 'a;
    fn connector(&mut self, server: &str) -> Result<Self::Connector<'_>, TransportFailure> {
        N::connector(self, server)
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

/// One key that only signs, for every role: enough for EST (which never decrypts or agrees)
/// and for a SCEP request whose reply needs no key (a refusal). A decryption or key agreement
/// is refused with [`ErrorKind::Unsupported`].
#[derive(Debug)]
pub struct SignOnly<K>(pub K);

impl<K: Signer> DeviceKeys for SignOnly<K> {
    fn sign(&mut self, _: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        Signer::sign_prehash(&mut self.0, digest, out).map_err(|e| crate::hal::Error::kind(&e))
    }
    fn decrypt(&mut self, _: KeyRole, _: &[u8], _: &mut [u8]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
    fn agree(&mut self, _: KeyRole, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
        Err(ErrorKind::Unsupported)
    }
}

/// No device key yet: for operations that use none (SCEP GetCACaps and GetCACert, EST
/// `/cacerts` and `/csrattrs`). Every key operation is refused with [`ErrorKind::NotFound`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

impl DeviceKeys for NoKeys {
    fn sign(&mut self, _: KeyRole, _: &Digest, _: &mut [u8]) -> Result<usize, ErrorKind> {
        Err(ErrorKind::NotFound)
    }
    fn decrypt(&mut self, _: KeyRole, _: &[u8], _: &mut [u8]) -> Result<(), ErrorKind> {
        Err(ErrorKind::NotFound)
    }
    fn agree(&mut self, _: KeyRole, _: &[u8], _: &mut [u8; 32]) -> Result<(), ErrorKind> {
        Err(ErrorKind::NotFound)
    }
}

/// Two keys by role (A/B key slots): `requested` is the key being certified (the CSR, a first
/// enrollment's request and its reply's envelope), `certificate` the key of the current
/// certificate (a SCEP RenewalReq and its reply; TLS client authentication takes its key
/// from the connector). Each is any [`DeviceKeys`]: `EcDevice`, `RsaDevice`, [`SignOnly`], or `&mut`
/// to one.
#[derive(Debug)]
pub struct ByRole<Q, C> {
    /// The key being certified ([`KeyRole::Requested`]).
    pub requested: Q,
    /// The key of the current certificate ([`KeyRole::Certificate`]), and the ACME account
    /// key ([`KeyRole::Account`]).
    pub certificate: C,
}

impl<Q: DeviceKeys, C: DeviceKeys> DeviceKeys for ByRole<Q, C> {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        match role {
            KeyRole::Requested => self.requested.sign(role, digest, out),
            KeyRole::Certificate | KeyRole::Account => self.certificate.sign(role, digest, out),
        }
    }
    fn decrypt(&mut self, role: KeyRole, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        match role {
            KeyRole::Requested => self.requested.decrypt(role, ciphertext, out),
            KeyRole::Certificate | KeyRole::Account => self.certificate.decrypt(role, ciphertext, out),
        }
    }
    fn agree(&mut self, role: KeyRole, peer: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind> {
        match role {
            KeyRole::Requested => self.requested.agree(role, peer, out),
            KeyRole::Certificate | KeyRole::Account => self.certificate.agree(role, peer, out),
        }
    }
}

impl<D: DeviceKeys + ?Sized> DeviceKeys for &mut D {
    fn sign(&mut self, role: KeyRole, digest: &Digest, out: &mut [u8]) -> Result<usize, ErrorKind> {
        D::sign(self, role, digest, out)
    }
    fn decrypt(&mut self, role: KeyRole, ciphertext: &[u8], out: &mut [u8]) -> Result<(), ErrorKind> {
        D::decrypt(self, role, ciphertext, out)
    }
    fn agree(&mut self, role: KeyRole, peer: &[u8], out: &mut [u8; 32]) -> Result<(), ErrorKind> {
        D::agree(self, role, peer, out)
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
    /// Connecting, writing or reading failed (why); the client is told of a transport failure.
    TransportError(TransportFailure),
    /// The exchange was abandoned at its deadline ([`DriveOptions::exchange_deadline`]), `ms`
    /// after it began; the client is told of a transport failure.
    DeadlineExceeded {
        /// Milliseconds from the start of the exchange.
        ms: u64,
    },
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
    /// The client waits until this instant, and [`DriveOptions::return_at_wait`] asked the
    /// driver to return instead of sleeping: call it again (same client) when it is due.
    Paused(Instant),
    /// The next request carries HTTP credentials (an `Authorization` header) and the
    /// connector does not authenticate the server ([`Connect::authenticates_server`]): nothing
    /// was sent (RFC 7030 section 3.2.3). Use TLS with a trust anchor, or bootstrap the anchor
    /// first (`/cacerts` needs no credentials).
    UnauthenticatedServer,
}

impl<E: core::fmt::Display> core::fmt::Display for DriveError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Client(e) => write!(f, "the client refused the call: {e}"),
            Self::Key(kind) => write!(f, "the device key failed: {kind}"),
            Self::TooManySteps => f.write_str("the client did not finish within the driver's step bound"),
            Self::Stopped => f.write_str("stopped: the timer declined to wait"),
            Self::Paused(_) => f.write_str("paused at the client's wait, as the options asked"),
            Self::UnauthenticatedServer => {
                f.write_str("not sent: the request carries credentials and the connection does not authenticate the server")
            }
        }
    }
}

/// The time left until `deadline`, at least 1 ms; `Deadline` once it has passed.
fn time_left<T: Timer>(timer: &mut T, deadline: Instant) -> Result<Duration, TransportFailure> {
    let now = timer.now();
    if now >= deadline { Err(TransportFailure::Deadline) } else { Ok(deadline - now) }
}

/// What a failed operation counts as: the deadline once it has passed, `reason` before.
fn failure<T: Timer>(timer: &mut T, deadline: Instant, reason: TransportFailure) -> TransportFailure {
    if timer.now() >= deadline { TransportFailure::Deadline } else { reason }
}

/// Connects and sends `request`, all before `deadline` on `timer`'s clock (the time left is
/// handed to the connection first, [`Connect::set_io_timeout`]).
pub fn send<'c, C: Connect, T: Timer>(
    connect: &'c mut C,
    request: &[u8],
    timer: &mut T,
    deadline: Instant,
) -> Result<C::Connection<'c>, TransportFailure> {
    let mut conn = match connect.connect() {
        Ok(c) => c,
        Err(e) => return Err(failure(timer, deadline, C::failure(&e))),
    };
    write_within::<C, T>(&mut conn, request, timer, deadline)?;
    Ok(conn)
}

/// A client whose next step is a request to send (`Step::Send`; polling again returns the
/// same request until a byte of the reply arrives).
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
trait PendingRequest: ResponseSink {
    /// The request to send, or the client's error.
    fn pending_request(&mut self, now: Instant) -> Result<&[u8], Self::Error>;
}

/// One exchange on a new connection: connect, write the client's pending request and deliver
/// the reply, all before `deadline`. A frame of its own (stack): the connection lives here
/// once (in the connector's result, not moved on) with the read chunk, and only here.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
#[inline(never)]
fn exchange<S: PendingRequest, C: Connect, T: Timer>(
    sink: &mut S,
    connect: &mut C,
    timer: &mut T,
    deadline: Instant,
    now: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<S::Error>> {
    // The connection is made in this frame's slot (not moved on: it is large).
    let mut slot = None;
    let opened = connect.connect_in(&mut slot);
    let conn = match (opened, slot.as_mut()) {
        (Ok(()), Some(c)) => {
            let bytes = sink.pending_request(now).map_err(DriveError::Client)?;
            write_within::<C, T>(c, bytes, timer, deadline).map(|()| c)
        }
        (Err(e), _) => Err(failure(timer, deadline, C::failure(&e))),
        (Ok(()), None) => Err(failure(timer, deadline, TransportFailure::Connect)),
    };
    deliver(sink, conn, C::set_io_timeout, timer, now, deadline, progress)
}

/// Writes `request` on an open connection before `deadline`.
fn write_within<C: Connect, T: Timer>(
    conn: &mut C::Connection<'_>,
    request: &[u8],
    timer: &mut T,
    deadline: Instant,
) -> Result<(), TransportFailure> {
    C::set_io_timeout(conn, time_left(timer, deadline)?);
    if write_request(conn, request) { Ok(()) } else { Err(failure(timer, deadline, TransportFailure::Write)) }
}

/// Writes and flushes `request` on `conn`; false if that failed.
pub fn write_request<W: embedded_io::Write>(conn: &mut W, request: &[u8]) -> bool {
    conn.write_all(request).is_ok() && conn.flush().is_ok()
}

/// Reads a response from `conn` into `feed` (`None` at EOF) until `feed` returns true or the
/// peer closes, checking `timer` against `deadline` before every read: `Err(Deadline)` once
/// it has passed, `Err(Read)` if reading failed. A read that blocks is bounded only by
/// `conn` itself (the drivers also hand it the time left, [`Connect::set_io_timeout`]).
pub fn receive<R: embedded_io::Read, T: Timer>(
    conn: &mut R,
    chunk: &mut [u8],
    timer: &mut T,
    deadline: Instant,
    feed: impl FnMut(Option<&[u8]>) -> bool,
) -> Result<(), TransportFailure> {
    receive_within(conn, chunk, timer, deadline, |_, _| {}, feed)
}

/// [`receive`], calling `limit` with the time left before every read.
fn receive_within<R: embedded_io::Read, T: Timer>(
    conn: &mut R,
    chunk: &mut [u8],
    timer: &mut T,
    deadline: Instant,
    mut limit: impl FnMut(&mut R, Duration),
    mut feed: impl FnMut(Option<&[u8]>) -> bool,
) -> Result<(), TransportFailure> {
    loop {
        let left = time_left(timer, deadline)?;
        limit(conn, left);
        match conn.read(chunk) {
            Ok(0) => {
                feed(None);
                return Ok(());
            }
            Ok(n) => {
                if feed(chunk.get(..n)) {
                    return Ok(());
                }
            }
            Err(_) => return Err(failure(timer, deadline, TransportFailure::Read)),
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
    /// Reports a failed connection, and why.
    fn transport_error(&mut self, now: Instant, failure: TransportFailure) -> Result<(), Self::Error>;
}

/// `progress`, with every report also logged (features `log` and `defmt`). The request line
/// is logged without its query (a SCEP GET carries the whole pkiMessage there).
#[cfg(all(any(feature = "scep", feature = "est", feature = "acme"), any(feature = "log", feature = "defmt")))]
pub(crate) fn logged(mut progress: impl FnMut(Progress<'_>)) -> impl FnMut(Progress<'_>) {
    move |p| {
        match p {
            Progress::Request(line) => {
                let mut parts = line.split(' ');
                let method = parts.next().unwrap_or("");
                let path = parts.next().and_then(|t| t.split('?').next()).unwrap_or("");
                debug!("transport: connecting for {} {}", method, path)
            }
            Progress::Response(len) => debug!("transport: response received ({} bytes)", len),
            Progress::KeyOperation(kind) => info!("key: {} with the device key", kind),
            Progress::Waiting { ms, .. } => debug!("driver: waiting {} ms", ms),
            Progress::TransportError(why) => warn!("transport: {}", why),
            Progress::DeadlineExceeded { ms } => warn!("transport: the exchange's deadline passed after {} ms: abandoned", ms),
        }
        progress(p)
    }
}

/// Without `log` and `defmt`: `progress` itself.
#[cfg(all(any(feature = "scep", feature = "est", feature = "acme"), not(any(feature = "log", feature = "defmt"))))]
#[inline(always)]
pub(crate) fn logged<F: FnMut(Progress<'_>)>(progress: F) -> F {
    progress
}

/// A device key failure as the drivers' error, logged (the operation's kind and the error's
/// kind only).
#[cfg(all(any(feature = "scep", feature = "est", feature = "acme"), any(feature = "log", feature = "defmt")))]
pub(crate) fn key_failed<E>(operation: &'static str) -> impl FnOnce(ErrorKind) -> DriveError<E> {
    move |kind| {
        error!("key: {} failed: {}", operation, kind);
        DriveError::Key(kind)
    }
}

/// Without `log` and `defmt`: [`DriveError::Key`] itself.
#[cfg(all(any(feature = "scep", feature = "est", feature = "acme"), not(any(feature = "log", feature = "defmt"))))]
#[inline(always)]
pub(crate) fn key_failed<E>(_operation: &'static str) -> impl FnOnce(ErrorKind) -> DriveError<E> {
    DriveError::Key
}

/// The drivers' other ends without an outcome, logged (with neither `log` nor `defmt`: `why`
/// itself).
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
#[inline(always)]
pub(crate) fn stopped<E>(why: DriveError<E>) -> DriveError<E> {
    #[cfg(any(feature = "log", feature = "defmt"))]
    match why {
        DriveError::Stopped => info!("driver: stopped: the timer declined to wait"),
        DriveError::UnauthenticatedServer => {
            error!("driver: not sent: the request carries credentials and the connection does not authenticate the server")
        }
        DriveError::TooManySteps => error!("driver: the client did not finish within {} steps", MAX_STEPS),
        DriveError::Paused(_) => info!("driver: paused at the client's wait (the caller persists and sleeps)"),
        DriveError::Client(_) | DriveError::Key(_) => {}
    }
    why
}

/// Reports an abandoned exchange (started at `started`) to `progress` and, as a transport
/// error, to the client.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
pub(crate) fn abandon<S: ResponseSink>(
    sink: &mut S,
    failure: TransportFailure,
    started: Instant,
    now: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<S::Error>> {
    progress(match failure {
        TransportFailure::Deadline => Progress::DeadlineExceeded { ms: (now - started).as_millis() },
        reason => Progress::TransportError(reason),
    });
    sink.transport_error(now, failure).map_err(DriveError::Client)
}

/// Reads the response on `conn` into `sink` before `deadline`; a read error, an early EOF or
/// the deadline is reported to the client as a transport error. `now` is when the exchange
/// started.
// A frame of its own (stack), with the read chunk: neither is on the stack while the
// connection opens (a TLS handshake) in the caller's frame.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
#[inline(never)]
fn deliver<S: ResponseSink, R: embedded_io::Read, T: Timer>(
    sink: &mut S,
    conn: Result<&mut R, TransportFailure>,
    limit: impl FnMut(&mut R, Duration),
    timer: &mut T,
    now: Instant,
    deadline: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<S::Error>> {
    let conn = match conn {
        Ok(c) => c,
        Err(f) => return abandon(sink, f, now, timer.now(), progress),
    };
    let mut failed = None;
    let mut len = 0usize;
    let mut chunk = [0u8; crate::transport::READ_CHUNK];
    let r = receive_within(conn, &mut chunk, timer, deadline, limit, |data| match data {
        Some(d) => {
            len = len.saturating_add(d.len());
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
    conclude(sink, r, len, now, timer.now(), progress)
}

/// The end of an exchange, in both drivers: a complete response is reported; an early end
/// or a failure is told to the client as a transport failure.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
pub(crate) fn conclude<S: ResponseSink>(
    sink: &mut S,
    r: Result<(), TransportFailure>,
    len: usize,
    started: Instant,
    now: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<S::Error>> {
    match r {
        Ok(()) if sink.complete() => {
            progress(Progress::Response(len));
            Ok(())
        }
        // The server closed the connection before the end of the reply.
        Ok(()) => abandon(sink, TransportFailure::Read, started, now, progress),
        Err(f) => abandon(sink, f, started, now, progress),
    }
}

/// Runs any protocol client to its end (the one loop behind [`run_scep_with`] and
/// [`run_est_with`]): requests over connections from `connect`, key operations through
/// `keys`, waits through `timer`.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
fn drive<D: Driven, C: Connect, K: DeviceKeys, T: Timer>(
    client: &mut D,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<D::Outcome, DriveError<ClientError>> {
    let mut progress = logged(progress);
    for _ in 0..MAX_STEPS {
        let now = timer.now();
        match client.action(now).map_err(DriveError::Client)? {
            #[cfg(feature = "est")]
            Action::Connect => held_exchange(client, connect, keys, timer, options, now, &mut progress)?,
            Action::Send { request, credentials } => {
                if credentials && !connect.authenticates_server() {
                    return Err(stopped(DriveError::UnauthenticatedServer));
                }
                progress(Progress::Request(request_line(request)));
                exchange(client, connect, timer, now + options.exchange_deadline, now, &mut progress)?;
            }
            Action::Key => key_step(client, keys, now, &mut progress)?,
            Action::Wait(until) => {
                if options.return_at_wait {
                    return Err(stopped(DriveError::Paused(until)));
                }
                progress(Progress::Waiting { until, ms: (until - now).as_millis() });
                if !timer.sleep_until(until) {
                    return Err(stopped(DriveError::Stopped));
                }
            }
            Action::Done(outcome) => return Ok(outcome.clone()),
        }
    }
    Err(stopped(DriveError::TooManySteps))
}

/// `Action::Connect`: opens the connection, hands its channel binding to the client, and
/// runs the client's steps until its next request, which goes on that connection. A frame of
/// its own (stack).
#[cfg(feature = "est")]
#[inline(never)]
fn held_exchange<D: Driven, C: Connect, K: DeviceKeys, T: Timer>(
    client: &mut D,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    options: DriveOptions,
    now: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<ClientError>> {
    let deadline = now + options.exchange_deadline;
    let authenticated = connect.authenticates_server();
    // The connection is made in this frame's slot (not moved on: it is large).
    let mut slot = None;
    let opened = connect.connect_in(&mut slot);
    let conn = match (opened, slot.as_mut()) {
        (Ok(()), Some(c)) if timer.now() < deadline => c,
        (r, _) => {
            let f = match r {
                Err(e) => failure(timer, deadline, C::failure(&e)),
                Ok(()) => TransportFailure::Deadline,
            };
            return abandon(client, f, now, timer.now(), progress);
        }
    };
    bind(client, |out| C::channel_binding(conn, out), now)?;
    send_held::<D, C, K, T>(client, conn, keys, timer, authenticated, now, deadline, progress)
}

/// The client's steps on a held connection until its request is sent there and the reply
/// delivered (a key operation may come first: a CSR that carries the binding is signed
/// now). A frame of its own (stack): the steps are not in the frame that opened the
/// connection.
#[cfg(feature = "est")]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn send_held<D: Driven, C: Connect, K: DeviceKeys, T: Timer>(
    client: &mut D,
    conn: &mut C::Connection<'_>,
    keys: &mut K,
    timer: &mut T,
    authenticated: bool,
    now: Instant,
    deadline: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<ClientError>> {
    let Some(t) = until_held_request(client, keys, || timer.now(), authenticated, progress)? else { return Ok(()) };
    let Action::Send { request, .. } = client.action(t).map_err(DriveError::Client)? else { return Ok(()) };
    let conn = write_within::<C, T>(conn, request, timer, deadline).map(|()| conn);
    deliver(client, conn, C::set_io_timeout, timer, now, deadline, progress)
}

#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
impl<D: Driven> PendingRequest for D {
    fn pending_request(&mut self, now: Instant) -> Result<&[u8], ClientError> {
        match self.action(now)? {
            Action::Send { request, .. } => Ok(request),
            _ => Err(ClientError::UnexpectedCall),
        }
    }
}

/// Runs a SCEP client to its end: every request over a new connection from `connect`,
/// every key operation through `keys`, every wait through `timer`. `progress` sees each
/// step (for log lines). Each exchange has the [`DEFAULT_EXCHANGE_DEADLINE`] (60 s; see
/// [`run_scep_with`] to set another). At most [`MAX_STEPS`] steps (more would be a bug: a
/// PENDING poll takes four).
#[cfg(feature = "scep")]
pub fn run_scep<R: CryptoRngCore, C: Connect, K: DeviceKeys, T: Timer>(
    client: &mut crate::scep::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::scep::client::Outcome, DriveError<ClientError>> {
    run_scep_with(client, connect, keys, timer, DriveOptions::DEFAULT, progress)
}

/// [`run_scep`] with these options: an exchange that is not over
/// [`DriveOptions::exchange_deadline`] after it started is abandoned and counts as a
/// transport failure (`Outcome::Transport`, or during PENDING polling one poll used), and
/// `progress` sees [`Progress::DeadlineExceeded`].
#[cfg(feature = "scep")]
pub fn run_scep_with<R: CryptoRngCore, C: Connect, K: DeviceKeys, T: Timer>(
    client: &mut crate::scep::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::scep::client::Outcome, DriveError<ClientError>> {
    drive(client, connect, keys, timer, options, progress)
}

/// Runs an EST client to its end: requests over connections from `connect` (TLS: see
/// `transport::tls` and `transport::host_tls`), the CSR signature through `keys`, 202 waits
/// through `timer`. When the client asks for a connection of its own first (channel
/// binding: `Step::Bind`), it is opened, its binding handed to the client, and the CSR
/// signed and sent on that same connection. Each exchange has the
/// [`DEFAULT_EXCHANGE_DEADLINE`] (60 s; see [`run_est_with`] to set another). At most
/// [`MAX_STEPS`] steps.
#[cfg(feature = "est")]
pub fn run_est<R: CryptoRngCore, C: Connect, K: DeviceKeys, T: Timer>(
    client: &mut crate::est::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::est::client::Outcome, DriveError<ClientError>> {
    run_est_with(client, connect, keys, timer, DriveOptions::DEFAULT, progress)
}

/// [`run_est`] with these options: an exchange that is not over
/// [`DriveOptions::exchange_deadline`] after it started (with channel binding: from the
/// start of connecting, the CSR signature included) is abandoned, the client ends with
/// `Outcome::Transport`, and `progress` sees [`Progress::DeadlineExceeded`].
#[cfg(feature = "est")]
pub fn run_est_with<R: CryptoRngCore, C: Connect, K: DeviceKeys, T: Timer>(
    client: &mut crate::est::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::est::client::Outcome, DriveError<ClientError>> {
    drive(client, connect, keys, timer, options, progress)
}

/// Runs an ACME client to its end: every request over a new connection from `connect`
/// (HTTPS: `transport::tls` on devices, `transport::host_tls` on hosts), every JWS and the
/// CSR signed through `keys` (`KeyRole::Account`, `KeyRole::Requested`), every challenge
/// answered through `responder`, every poll and Retry-After wait through `timer`. Each
/// exchange has the [`DEFAULT_EXCHANGE_DEADLINE`] (see [`run_acme_with`]).
#[cfg(feature = "acme")]
pub fn run_acme<C: Connect, K: DeviceKeys, H: crate::acme::Responder, T: Timer>(
    client: &mut crate::acme::Client<'_, '_>,
    connect: &mut C,
    keys: &mut K,
    responder: &mut H,
    timer: &mut T,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::acme::Outcome, DriveError<ClientError>> {
    run_acme_with(client, connect, keys, responder, timer, DriveOptions::DEFAULT, progress)
}

/// [`run_acme`] with these options (an exchange not over after
/// [`DriveOptions::exchange_deadline`] ends the client with `Outcome::Transport`).
#[cfg(feature = "acme")]
pub fn run_acme_with<C: Connect, K: DeviceKeys, H: crate::acme::Responder, T: Timer>(
    client: &mut crate::acme::Client<'_, '_>,
    connect: &mut C,
    keys: &mut K,
    responder: &mut H,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::acme::Outcome, DriveError<ClientError>> {
    drive(&mut super::driven::Answering { client, responder }, connect, keys, timer, options, progress)
}
