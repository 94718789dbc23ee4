//! The blocking drivers' host transport and clock (feature `std`): [`TcpConnector`], plain
//! TCP over `std::net` (its sockets' timeouts follow the drivers' per-exchange deadline, see
//! [`super::blocking::Connect::set_io_timeout`]), and [`StdTimer`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::string::String;
use std::time::Duration;

/// A plain TCP connector for the blocking drivers ([`super::blocking::Connect`]), with a
/// timeout on every connect, read and write. The drivers shorten the read and write timeouts
/// of a connection to the time left until the exchange's deadline
/// ([`super::blocking::Connect::set_io_timeout`]), so a server that sends nothing is dropped
/// at the deadline even when it is shorter than `timeout`.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    /// `host:port`.
    pub addr: String,
    /// Per-operation timeout: connecting, and each read and write (the exchange's deadline
    /// can only make a read or write timeout shorter).
    pub timeout: Duration,
}

impl TcpConnector {
    /// A connector to `addr` (`host:port`) with a 20 s timeout.
    pub fn new(addr: impl Into<String>) -> Self {
        Self { addr: addr.into(), timeout: Duration::from_secs(20) }
    }
}

/// The host's TCP network for the lifecycle runner ([`super::blocking::Network`]): a
/// [`TcpConnector`] per server (`host:port`, resolved by the OS), with this timeout.
#[derive(Debug, Clone)]
pub struct TcpNetwork {
    /// Per-operation timeout of each connector.
    pub timeout: Duration,
}

impl Default for TcpNetwork {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(20) }
    }
}

impl super::blocking::Network for TcpNetwork {
    type Connector<'a> = TcpConnector;
    fn connector(&mut self, server: &str) -> Result<TcpConnector, super::TransportFailure> {
        Ok(TcpConnector { addr: server.into(), timeout: self.timeout })
    }
}

/// A `std::net::TcpStream` as an `embedded_io` stream.
#[derive(Debug)]
pub struct StdStream(pub TcpStream);

/// An I/O error from [`StdStream`].
#[derive(Debug)]
pub struct StdIoError(pub std::io::Error);

impl core::fmt::Display for StdIoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StdIoError {}

impl embedded_io::Error for StdIoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        self.0.kind().into()
    }
}

impl embedded_io::ErrorType for StdStream {
    type Error = StdIoError;
}

impl embedded_io::Read for StdStream {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, StdIoError> {
        self.0.read(buf).map_err(StdIoError)
    }
}

impl embedded_io::Write for StdStream {
    fn write(&mut self, buf: &[u8]) -> Result<usize, StdIoError> {
        self.0.write(buf).map_err(StdIoError)
    }
    fn flush(&mut self) -> Result<(), StdIoError> {
        self.0.flush().map_err(StdIoError)
    }
}

impl super::blocking::Connect for TcpConnector {
    type Connection<'c> = StdStream;
    type Error = std::io::Error;
    fn connect(&mut self) -> Result<StdStream, std::io::Error> {
        use std::net::ToSocketAddrs;
        let addr = self.addr.to_socket_addrs()?.next().ok_or_else(|| std::io::Error::other("no address"))?;
        let stream = TcpStream::connect_timeout(&addr, self.timeout)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        Ok(StdStream(stream))
    }
    /// Sets the socket's read and write timeouts to `timeout` (plus 10 ms: the kernel's
    /// timer may fire up to a tick early, and a read must not fail just before the deadline,
    /// where it would count as a plain transport error) when that is shorter than the ones
    /// set (the connector's `timeout`, or an earlier, longer time left).
    fn set_io_timeout(connection: &mut StdStream, timeout: crate::time::Duration) {
        shorten_timeouts(&connection.0, timeout.saturating_add(crate::time::Duration::from_millis(10)));
    }
}

/// Shortens `stream`'s read and write timeouts to `timeout` (at least 1 ms; a socket timeout
/// of zero would mean none). Errors are ignored: the timeouts set at connect time stay.
pub(crate) fn shorten_timeouts(stream: &TcpStream, timeout: crate::time::Duration) {
    let t = Duration::from_millis(timeout.as_millis().max(1));
    let read = stream.read_timeout().ok().flatten().map_or(t, |set| set.min(t));
    let write = stream.write_timeout().ok().flatten().map_or(t, |set| set.min(t));
    let _ = stream.set_read_timeout(Some(read));
    let _ = stream.set_write_timeout(Some(write));
}

/// The host's monotonic clock for the blocking drivers: instants count milliseconds from
/// when the timer was made; waits block the thread.
#[derive(Debug, Clone, Copy)]
pub struct StdTimer {
    origin: std::time::Instant,
}

impl Default for StdTimer {
    fn default() -> Self {
        Self { origin: std::time::Instant::now() }
    }
}

impl super::blocking::Timer for StdTimer {
    fn now(&mut self) -> crate::time::Instant {
        crate::time::Instant::from_millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
    fn sleep_until(&mut self, deadline: crate::time::Instant) -> bool {
        let now = self.now();
        std::thread::sleep(Duration::from_millis((deadline - now).as_millis()));
        true
    }
}

/// For host tools and tests only: the async drivers' timer on the host clock, usable with any
/// executor (an executor's own timer belongs here in real async code). Sleeping does not block
/// the executor: a helper thread wakes the task at the deadline, and ends early when the sleep
/// is dropped (as when the async drivers race I/O against their deadline and the I/O wins).
#[cfg(feature = "async")]
impl super::asynch::AsyncTimer for StdTimer {
    fn now(&mut self) -> crate::time::Instant {
        super::blocking::Timer::now(self)
    }
    async fn sleep_until(&mut self, deadline: crate::time::Instant) -> bool {
        let wait = Duration::from_millis((deadline - super::blocking::Timer::now(self)).as_millis());
        match std::time::Instant::now().checked_add(wait) {
            Some(end) => Alarm { end, armed: None }.await,
            // Beyond the host clock's range: never.
            None => core::future::pending().await,
        }
    }
}

/// A future that completes at `end` on the host clock; a helper thread wakes its task then.
#[cfg(feature = "async")]
struct Alarm {
    end: std::time::Instant,
    /// The helper thread's cancel line (dropping it ends the thread) and the waker it wakes.
    armed: Option<(std::sync::mpsc::Sender<()>, std::sync::Arc<std::sync::Mutex<core::task::Waker>>)>,
}

#[cfg(feature = "async")]
impl core::future::Future for Alarm {
    type Output = bool;
    fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut core::task::Context<'_>) -> core::task::Poll<bool> {
        use core::task::Poll;
        use std::sync::{Arc, Mutex, mpsc};
        let end = self.end;
        if std::time::Instant::now() >= end {
            return Poll::Ready(true);
        }
        match &self.armed {
            Some((_, waker)) => {
                if let Ok(mut w) = waker.lock() {
                    w.clone_from(cx.waker());
                }
            }
            None => {
                let (cancel, cancelled) = mpsc::channel::<()>();
                let waker = Arc::new(Mutex::new(cx.waker().clone()));
                let to_wake = Arc::clone(&waker);
                let spawned = std::thread::Builder::new().name("StdTimer alarm".into()).spawn(move || {
                    loop {
                        let now = std::time::Instant::now();
                        if now >= end {
                            break;
                        }
                        // A message or a hang-up: the sleep was dropped.
                        if cancelled.recv_timeout(end - now) != Err(mpsc::RecvTimeoutError::Timeout) {
                            return;
                        }
                    }
                    if let Ok(w) = to_wake.lock() {
                        w.wake_by_ref();
                    }
                });
                if spawned.is_err() {
                    // No thread to wake us: wait here instead.
                    std::thread::sleep(end.saturating_duration_since(std::time::Instant::now()));
                    return Poll::Ready(true);
                }
                self.armed = Some((cancel, waker));
            }
        }
        // The helper wakes only after `end`: if it has not passed now, the waker just set is
        // the one it will wake.
        if std::time::Instant::now() >= end { Poll::Ready(true) } else { Poll::Pending }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::blocking::Connect;
    use std::net::TcpListener;
    use std::string::ToString;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A server on 127.0.0.1 that accepts one connection and then sends nothing until
    /// stopped, at most 60 s.
    fn server() -> (String, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (_s, _) = listener.accept().unwrap();
            let until = std::time::Instant::now() + Duration::from_secs(60);
            while !flag.load(Ordering::Relaxed) && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        (addr, stop, thread)
    }

    #[test]
    fn a_silent_server_is_dropped_when_the_drivers_deadline_shortens_the_timeouts() {
        let (addr, stop, thread) = server();
        let mut connector = TcpConnector::new(addr);
        assert_eq!(connector.timeout, Duration::from_secs(20));
        let mut conn = connector.connect().unwrap();
        TcpConnector::set_io_timeout(&mut conn, crate::time::Duration::from_millis(500));
        // A longer time left later does not lengthen it again.
        TcpConnector::set_io_timeout(&mut conn, crate::time::Duration::from_secs(30));
        let started = std::time::Instant::now();
        let r = embedded_io::Read::read(&mut conn, &mut [0u8; 16]);
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
        assert!(r.is_err(), "{r:?}");
        assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(3), "{took:?}");
        // 500 ms and the 10 ms margin, as the kernel rounds it (to its tick).
        for set in [conn.0.read_timeout().unwrap(), conn.0.write_timeout().unwrap()] {
            assert!(set.is_some_and(|t| t >= Duration::from_millis(510) && t < Duration::from_millis(530)), "{set:?}");
        }
    }
}
