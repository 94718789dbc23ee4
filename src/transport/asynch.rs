//! Async drivers (feature `async`): the blocking drivers' loops with `.await` on the
//! connection and the timer, over `embedded_io_async` streams (embassy-net, embedded-nal-async,
//! embedded-tls' async connection). The protocol clients are the same; device keys answer
//! synchronously ([`DeviceKeys`]), as secure elements on a bus usually do through a blocking
//! driver. No executor is needed inside the library: these are plain `async fn`s.

use super::blocking::{DeviceKeys, DriveError, Progress, ResponseSink};
use crate::time::Instant;

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
}

/// Time for the async drivers.
#[allow(async_fn_in_trait)]
pub trait AsyncTimer {
    /// Now, on the clients' clock.
    fn now(&mut self) -> Instant;
    /// Completes at `deadline` or later with true, or at once with false to stop the driver
    /// ([`DriveError::Stopped`], as for the blocking [`super::blocking::Timer`]).
    async fn sleep_until(&mut self, deadline: Instant) -> bool;
}

async fn write_request<W: embedded_io_async::Write>(conn: &mut W, request: &[u8]) -> bool {
    conn.write_all(request).await.is_ok() && conn.flush().await.is_ok()
}

/// Reads the response on `conn` into `sink` (see the blocking twin).
async fn deliver<S: ResponseSink, R: embedded_io_async::Read>(
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
    let mut len = 0usize;
    let ok = loop {
        match conn.read(chunk).await {
            Ok(0) => {
                sink.end(now).map_err(DriveError::Client)?;
                break true;
            }
            Ok(n) => {
                len += n;
                sink.data(now, chunk.get(..n).unwrap_or(&[])).map_err(DriveError::Client)?;
                if sink.complete() {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    if ok && sink.complete() {
        progress(Progress::Response(len));
        Ok(())
    } else {
        progress(Progress::TransportError);
        sink.transport_error(now).map_err(DriveError::Client)
    }
}

fn request_line(bytes: &[u8]) -> &str {
    let line = bytes.split(|b| *b == b'\r').next().and_then(|l| core::str::from_utf8(l).ok()).unwrap_or("");
    line.get(..line.len().min(120)).unwrap_or("")
}

/// [`super::blocking::run_scep`], awaited.
#[cfg(feature = "scep")]
pub async fn run_scep<R: rand_core::CryptoRngCore, C: AsyncConnect, K: DeviceKeys, T: AsyncTimer>(
    client: &mut crate::scep::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<crate::scep::client::Outcome, DriveError<crate::scep::client::ClientError>> {
    use crate::hal::ErrorKind;
    use crate::scep::client::Step;
    let mut chunk = [0u8; 1024];
    for _ in 0..10_000 {
        let now = timer.now();
        match client.poll(now).map_err(DriveError::Client)? {
            Step::Send(bytes) => {
                progress(Progress::Request(request_line(bytes)));
                let mut conn = match connect.connect().await {
                    Ok(mut c) => write_request(&mut c, bytes).await.then_some(c),
                    Err(_) => None,
                };
                deliver(client, conn.as_mut(), &mut chunk, now, &mut progress).await?;
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
                if !timer.sleep_until(until).await {
                    return Err(DriveError::Stopped);
                }
            }
            Step::Done(outcome) => return Ok(outcome.clone()),
        }
    }
    Err(DriveError::TooManySteps)
}

/// [`super::blocking::run_est`], awaited.
#[cfg(feature = "est")]
pub async fn run_est<R: rand_core::CryptoRngCore, C: AsyncConnect, K: DeviceKeys, T: AsyncTimer>(
    client: &mut crate::est::client::Client<'_, '_, R>,
    connect: &mut C,
    keys: &mut K,
    timer: &mut T,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<crate::est::client::Outcome, DriveError<crate::est::client::ClientError>> {
    use crate::est::client::Step;
    let mut chunk = [0u8; 1024];
    let sign = |client: &mut crate::est::client::Client<'_, '_, R>, keys: &mut K, req: crate::est::client::SignRequest, now| {
        let mut sig = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
        let n = keys.sign(req.key, &req.digest, &mut sig).map_err(DriveError::Key)?;
        client.signed(now, sig.get(..n).unwrap_or(&[])).map_err(DriveError::Client)
    };
    for _ in 0..10_000 {
        let now = timer.now();
        match client.poll(now).map_err(DriveError::Client)? {
            Step::Bind => {
                let Ok(mut conn) = connect.connect().await else {
                    progress(Progress::TransportError);
                    client.handle_transport_error(now).map_err(DriveError::Client)?;
                    continue;
                };
                let mut value = [0u8; 64];
                let n = C::channel_binding(&conn, &mut value);
                client.bound(now, value.get(..n).unwrap_or(&[])).map_err(DriveError::Client)?;
                for _ in 0..4 {
                    let now = timer.now();
                    match client.poll(now).map_err(DriveError::Client)? {
                        Step::Sign(req) => {
                            progress(Progress::KeyOperation("sign"));
                            sign(client, keys, req, now)?;
                        }
                        Step::Send(bytes) => {
                            progress(Progress::Request(request_line(bytes)));
                            let ok = write_request(&mut conn, bytes).await;
                            deliver(client, ok.then_some(&mut conn), &mut chunk, now, &mut progress).await?;
                            break;
                        }
                        _ => break,
                    }
                }
            }
            Step::Send(bytes) => {
                progress(Progress::Request(request_line(bytes)));
                let mut conn = match connect.connect().await {
                    Ok(mut c) => write_request(&mut c, bytes).await.then_some(c),
                    Err(_) => None,
                };
                deliver(client, conn.as_mut(), &mut chunk, now, &mut progress).await?;
            }
            Step::Sign(req) => {
                progress(Progress::KeyOperation("sign"));
                sign(client, keys, req, now)?;
            }
            Step::Wait(until) => {
                progress(Progress::Waiting { until, ms: (until - now).as_millis() });
                if !timer.sleep_until(until).await {
                    return Err(DriveError::Stopped);
                }
            }
            Step::Done(outcome) => return Ok(outcome.clone()),
        }
    }
    Err(DriveError::TooManySteps)
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
