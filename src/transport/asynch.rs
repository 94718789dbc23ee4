//! Async drivers (feature `async`): the blocking drivers' loops with `.await` on the
//! connection and the timer, over `embedded_io_async` streams (embassy-net, embedded-nal-async,
//! embedded-tls' async connection). The protocol clients are the same; device keys answer
//! synchronously ([`DeviceKeys`]), as secure elements on a bus usually do through a blocking
//! driver. No executor is needed inside the library: these are plain `async fn`s.
//!
//! # Bounds
//! Every exchange (connect and TLS handshake, the request, the whole response) has the same
//! overall deadline as in the blocking drivers, [`DriveOptions::exchange_deadline`]
//! ([`super::blocking::DEFAULT_EXCHANGE_DEADLINE`], 60 s, unless set with `run_scep_with` /
//! `run_est_with`). Here each connect, write and read is raced against
//! [`AsyncTimer::sleep_until`] the deadline (a small select: the I/O is polled first, then the
//! sleep), so even a read that never completes is dropped at the deadline. The exchange then
//! counts as a transport failure for the client and `progress` sees
//! [`Progress::DeadlineExceeded`], as in the blocking drivers.
//!
//! For that race the timer's sleep must be cancel-safe (it is dropped when the I/O wins, as
//! embassy's `Timer::at` is) and must not complete before the deadline. A timer that declines
//! to sleep (`sleep_until` completing with false) leaves the I/O unraced: the deadline is then
//! checked only between reads, and a read that blocks is bounded by the network stack. The
//! I/O future that loses the race is dropped and its connection abandoned, so the I/O need
//! not be cancel-safe.

use super::TransportFailure;
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
pub use super::blocking::{DeviceKeys, DriveError, DriveOptions, Progress};
use super::blocking::{MAX_STEPS, ResponseSink, abandon, conclude};
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
use super::blocking::{logged, stopped};
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
use super::driven::{Action, Driven, key_step, request_line};
#[cfg(feature = "est")]
use super::driven::{bind, until_held_request};
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
use crate::ClientError;
use crate::time::Instant;
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
use core::{future::Future, task::Poll};

/// Opens a connection per request, asynchronously (see [`super::blocking::Connect`]).
#[allow(async_fn_in_trait)]
pub trait AsyncConnect {
    /// A connected byte stream.
    type Connection<'c>: embedded_io_async::Read + embedded_io_async::Write
    where
        Self: 'c;
    /// Why connecting failed.
    type Error: core::fmt::Debug;
    /// Connects (and completes a TLS handshake).
    async fn connect(&mut self) -> Result<Self::Connection<'_>, Self::Error>;
    /// The channel-binding value of `connection` (0: none).
    fn channel_binding(connection: &Self::Connection<'_>, out: &mut [u8]) -> usize {
        let _ = (connection, out);
        0
    }
    /// Whether every connection this connector opens is to an authenticated server (see
    /// [`super::blocking::Connect::authenticates_server`]; default false).
    fn authenticates_server(&self) -> bool {
        false
    }
    /// What a connect error tells the client (see [`super::blocking::Connect::failure`];
    /// default [`TransportFailure::Connect`]).
    fn failure(error: &Self::Error) -> TransportFailure {
        let _ = error;
        TransportFailure::Connect
    }
}

/// The network as the async lifecycle runner uses it (the twin of
/// [`super::blocking::Network`]): an [`AsyncConnect`] to a profile's server (`host:port`).
pub trait AsyncNetwork {
    /// Connections to one server.
    type Connector<'a>: AsyncConnect
    where
        Self: 'a;
    /// Connections to `server`, or why there can be none.
    fn connector(&mut self, server: &str) -> Result<Self::Connector<'_>, TransportFailure>;
}

/// An embedded-nal-async stack as the async runner's network: servers named by address
/// (`192.0.2.10:443`); resolving names is the firmware's.
#[cfg(feature = "nal-async")]
#[derive(Debug)]
pub struct NalAsyncNetwork<'s, S>(pub &'s S);

#[cfg(feature = "nal-async")]
impl<'s, S: embedded_nal_async::TcpConnect> AsyncNetwork for NalAsyncNetwork<'s, S> {
    type Connector<'a>
        = NalAsyncConnector<'s, S>
    where
        Self: 'a;
    fn connector(&mut self, server: &str) -> Result<NalAsyncConnector<'s, S>, TransportFailure> {
        let remote: core::net::SocketAddr = server.parse().map_err(|_| TransportFailure::Connect)?;
        Ok(NalAsyncConnector::new(self.0, remote))
    }
}

/// Time for the async drivers.
#[allow(async_fn_in_trait)]
pub trait AsyncTimer {
    /// Now, on the clients' clock.
    fn now(&mut self) -> Instant;
    /// Completes at `deadline` or later with true, or at once with false to stop the driver
    /// ([`DriveError::Stopped`], as for the blocking [`super::blocking::Timer`]).
    ///
    /// The drivers also race it against each connect, write and read until the exchange's
    /// deadline (see the module docs), so it must yield to the executor while it waits (a
    /// sleep that blocks the thread would hold every pending read until the deadline), be
    /// safe to drop before it completes, and complete with true only once [`Self::now`] has
    /// reached `deadline`.
    async fn sleep_until(&mut self, deadline: Instant) -> bool;
}

/// Runs `io` until it completes or `timer` reaches `deadline`, whichever is first (`io` is
/// polled first, so it wins a tie). A sleep that completes with false (the timer declines to
/// wait) stops the race and `io` runs alone.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
async fn within<T: AsyncTimer, F: Future>(timer: &mut T, deadline: Instant, io: F) -> Result<F::Output, TransportFailure> {
    if timer.now() >= deadline {
        return Err(TransportFailure::Deadline);
    }
    let mut io = core::pin::pin!(io);
    let mut sleep = core::pin::pin!(timer.sleep_until(deadline));
    let mut racing = true;
    core::future::poll_fn(|cx| {
        if let Poll::Ready(out) = io.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if racing {
            match sleep.as_mut().poll(cx) {
                Poll::Ready(true) => return Poll::Ready(Err(TransportFailure::Deadline)),
                Poll::Ready(false) => racing = false,
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

/// What a failed operation counts as: the deadline once it has passed, `reason` before.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
fn failure<T: AsyncTimer>(timer: &mut T, deadline: Instant, reason: TransportFailure) -> TransportFailure {
    if timer.now() >= deadline { TransportFailure::Deadline } else { reason }
}

/// Writes and flushes `request` on `conn` before `deadline`.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
async fn write_request<W: embedded_io_async::Write, T: AsyncTimer>(
    conn: &mut W,
    request: &[u8],
    timer: &mut T,
    deadline: Instant,
) -> Result<(), TransportFailure> {
    let written = within(timer, deadline, async { conn.write_all(request).await.is_ok() && conn.flush().await.is_ok() }).await?;
    if written { Ok(()) } else { Err(failure(timer, deadline, TransportFailure::Write)) }
}

/// Connects and sends `request` before `deadline`.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
async fn send<'c, C: AsyncConnect, T: AsyncTimer>(
    connect: &'c mut C,
    request: &[u8],
    timer: &mut T,
    deadline: Instant,
) -> Result<C::Connection<'c>, TransportFailure> {
    let mut conn = match within(timer, deadline, connect.connect()).await? {
        Ok(c) => c,
        Err(e) => return Err(failure(timer, deadline, C::failure(&e))),
    };
    write_request(&mut conn, request, timer, deadline).await?;
    Ok(conn)
}

/// Reads the response on `conn` into `sink` before `deadline` (see the blocking twin); `now`
/// is when the exchange started.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
async fn deliver<S: ResponseSink, R: embedded_io_async::Read, T: AsyncTimer>(
    sink: &mut S,
    conn: Result<&mut R, TransportFailure>,
    chunk: &mut [u8],
    timer: &mut T,
    (now, deadline): (Instant, Instant),
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<S::Error>> {
    let conn = match conn {
        Ok(c) => c,
        Err(f) => return abandon(sink, f, now, timer.now(), progress),
    };
    let mut len = 0usize;
    let r = loop {
        let read = match within(timer, deadline, conn.read(chunk)).await {
            Ok(read) => read,
            Err(f) => break Err(f),
        };
        match read {
            Ok(0) => {
                sink.end(now).map_err(DriveError::Client)?;
                break Ok(());
            }
            Ok(n) => {
                len = len.saturating_add(n);
                sink.data(now, chunk.get(..n).unwrap_or(&[])).map_err(DriveError::Client)?;
                if sink.complete() {
                    break Ok(());
                }
            }
            Err(_) => break Err(failure(timer, deadline, TransportFailure::Read)),
        }
    };
    conclude(sink, r, len, now, timer.now(), progress)
}

/// The one loop behind [`run_scep_with`] and [`run_est_with`] (the blocking `drive`,
/// awaited).
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
async fn drive<D: Driven, C: AsyncConnect, K: DeviceKeys, T: AsyncTimer>(
    client: &mut D,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<D::Outcome, DriveError<ClientError>> {
    let mut chunk = [0u8; crate::transport::READ_CHUNK];
    let mut progress = logged(progress);
    for _ in 0..MAX_STEPS {
        let now = timer.now();
        match client.action(now).map_err(DriveError::Client)? {
            #[cfg(feature = "est")]
            Action::Connect => {
                // A connection of its own: its binding to the client, then the client's steps
                // until its request, which goes on this connection.
                let deadline = now + options.exchange_deadline;
                let authenticated = connect.authenticates_server();
                let mut conn = match within(timer, deadline, connect.connect()).await {
                    Ok(Ok(c)) => c,
                    Ok(Err(e)) => {
                        let f = failure(timer, deadline, C::failure(&e));
                        abandon(client, f, now, timer.now(), &mut progress)?;
                        continue;
                    }
                    Err(f) => {
                        abandon(client, f, now, timer.now(), &mut progress)?;
                        continue;
                    }
                };
                bind(client, |out| C::channel_binding(&conn, out), now)?;
                let Some(t) = until_held_request(client, keys, || timer.now(), authenticated, &mut progress)? else { continue };
                let Action::Send { request, .. } = client.action(t).map_err(DriveError::Client)? else { continue };
                let conn = write_request(&mut conn, request, timer, deadline).await.map(|()| &mut conn);
                deliver(client, conn, &mut chunk, timer, (now, deadline), &mut progress).await?;
            }
            Action::Send { request, credentials } => {
                if credentials && !connect.authenticates_server() {
                    return Err(stopped(DriveError::UnauthenticatedServer));
                }
                progress(Progress::Request(request_line(request)));
                let deadline = now + options.exchange_deadline;
                let mut conn = send(connect, request, timer, deadline).await;
                let conn = conn.as_mut().map_err(|f| *f);
                deliver(client, conn, &mut chunk, timer, (now, deadline), &mut progress).await?;
            }
            Action::Key => key_step(client, keys, now, &mut progress)?,
            Action::Wait(until) => {
                if options.return_at_wait {
                    return Err(stopped(DriveError::Paused(until)));
                }
                progress(Progress::Waiting { until, ms: (until - now).as_millis() });
                if !timer.sleep_until(until).await {
                    return Err(stopped(DriveError::Stopped));
                }
            }
            Action::Done(outcome) => return Ok(outcome.clone()),
        }
    }
    Err(stopped(DriveError::TooManySteps))
}

/// [`super::blocking::run_scep`], awaited: each exchange has the
/// [`super::blocking::DEFAULT_EXCHANGE_DEADLINE`] (see [`run_scep_with`]).
#[cfg(feature = "scep")]
pub async fn run_scep<R: rand_core::CryptoRngCore, C: AsyncConnect, K: DeviceKeys, T: AsyncTimer>(
    client: &mut crate::scep::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::scep::client::Outcome, DriveError<ClientError>> {
    run_scep_with(client, connect, keys, timer, DriveOptions::DEFAULT, progress).await
}

/// [`super::blocking::run_scep_with`], awaited: each connect, write and read is raced against
/// the timer's sleep until the exchange's deadline (see the module docs).
#[cfg(feature = "scep")]
pub async fn run_scep_with<R: rand_core::CryptoRngCore, C: AsyncConnect, K: DeviceKeys, T: AsyncTimer>(
    client: &mut crate::scep::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::scep::client::Outcome, DriveError<ClientError>> {
    drive(client, connect, keys, timer, options, progress).await
}

/// [`super::blocking::run_est`], awaited: each exchange has the
/// [`super::blocking::DEFAULT_EXCHANGE_DEADLINE`] (see [`run_est_with`]).
#[cfg(feature = "est")]
pub async fn run_est<R: rand_core::CryptoRngCore, C: AsyncConnect, K: DeviceKeys, T: AsyncTimer>(
    client: &mut crate::est::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::est::client::Outcome, DriveError<ClientError>> {
    run_est_with(client, connect, keys, timer, DriveOptions::DEFAULT, progress).await
}

/// [`super::blocking::run_est_with`], awaited: each connect, write and read is raced against
/// the timer's sleep until the exchange's deadline (see the module docs).
#[cfg(feature = "est")]
pub async fn run_est_with<R: rand_core::CryptoRngCore, C: AsyncConnect, K: DeviceKeys, T: AsyncTimer>(
    client: &mut crate::est::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::est::client::Outcome, DriveError<ClientError>> {
    drive(client, connect, keys, timer, options, progress).await
}

/// embedded-nal-async's `TcpConnect` as an [`AsyncConnect`] (feature `nal-async`).
#[cfg(feature = "nal-async")]
#[derive(Debug)]
pub struct NalAsyncConnector<'s, S> {
    stack: &'s S,
    remote: core::net::SocketAddr,
}

#[cfg(feature = "nal-async")]
impl<'s, S: embedded_nal_async::TcpConnect> NalAsyncConnector<'s, S> {
    /// A connector over `stack` to `remote`.
    pub fn new(stack: &'s S, remote: core::net::SocketAddr) -> Self {
        Self { stack, remote }
    }
}

#[cfg(feature = "nal-async")]
impl<'s, S: embedded_nal_async::TcpConnect> AsyncConnect for NalAsyncConnector<'s, S> {
    type Connection<'c>
        = S::Connection<'s>
    where
        Self: 'c;
    type Error = S::Error;

    async fn connect(&mut self) -> Result<S::Connection<'s>, S::Error> {
        self.stack.connect(self.remote).await
    }
}

/// [`super::blocking::run_acme`], awaited (see [`run_acme_with`]).
#[cfg(feature = "acme")]
pub async fn run_acme<C: AsyncConnect, K: DeviceKeys, H: crate::acme::Responder, T: AsyncTimer>(
    client: &mut crate::acme::Client<'_, '_>,
    connect: &mut C,
    keys: &mut K,
    responder: &mut H,
    timer: &mut T,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::acme::Outcome, DriveError<ClientError>> {
    run_acme_with(client, connect, keys, responder, timer, DriveOptions::DEFAULT, progress).await
}

/// [`super::blocking::run_acme_with`], awaited: each connect, write and read is raced against
/// the timer's sleep until the exchange's deadline.
#[cfg(feature = "acme")]
pub async fn run_acme_with<C: AsyncConnect, K: DeviceKeys, H: crate::acme::Responder, T: AsyncTimer>(
    client: &mut crate::acme::Client<'_, '_>,
    connect: &mut C,
    keys: &mut K,
    responder: &mut H,
    timer: &mut T,
    options: DriveOptions,
    progress: impl FnMut(Progress<'_>),
) -> Result<crate::acme::Outcome, DriveError<ClientError>> {
    drive(&mut super::driven::Answering { client, responder }, connect, keys, timer, options, progress).await
}
