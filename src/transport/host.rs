//! One HTTP exchange over plain TCP with `std::net` (feature `std`): connect, write the
//! request, read until the response is complete or the peer closes, all bounded by a timeout
//! per read and the caller's buffer.

use crate::error::HttpError;
use crate::http::{ResponseHead, ResponseParser};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::string::String;
use std::time::Duration;

/// Why an exchange failed.
#[derive(Debug)]
pub enum ExchangeError {
    /// Connecting, writing or reading failed (including a timeout).
    Io(std::io::Error),
    /// The response was malformed or too large.
    Http(HttpError),
}

impl core::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "I/O: {e}"),
            Self::Http(e) => write!(f, "HTTP: {e}"),
        }
    }
}

impl std::error::Error for ExchangeError {}

/// Sends `request` (a complete HTTP/1.1 request, e.g. from [`crate::http::write_request`])
/// to `addr` (`host:port`) and reads the response into `buf`. Returns the head and the body
/// length (the body is `buf[..len]`).
pub fn exchange(addr: &str, request: &[u8], buf: &mut [u8], timeout: Duration) -> Result<(ResponseHead, usize), ExchangeError> {
    let mut stream = TcpStream::connect(addr).map_err(ExchangeError::Io)?;
    stream.set_read_timeout(Some(timeout)).map_err(ExchangeError::Io)?;
    stream.set_write_timeout(Some(timeout)).map_err(ExchangeError::Io)?;
    stream.write_all(request).map_err(ExchangeError::Io)?;
    let mut parser = ResponseParser::new(buf);
    let mut chunk = [0u8; 2048];
    while !parser.is_done() {
        let n = stream.read(&mut chunk).map_err(ExchangeError::Io)?;
        if n == 0 {
            parser.finish().map_err(ExchangeError::Http)?;
            break;
        }
        parser.feed(chunk.get(..n).unwrap_or(&[])).map_err(ExchangeError::Http)?;
    }
    let head = parser.head().cloned().ok_or(ExchangeError::Http(HttpError::UnexpectedEof))?;
    let len = parser.body().len();
    Ok((head, len))
}

/// A plain TCP connector for the blocking drivers ([`super::blocking::Connect`]), with a
/// timeout on every connect, read and write.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    /// `host:port`.
    pub addr: String,
    /// Per-operation timeout.
    pub timeout: Duration,
}

impl TcpConnector {
    /// A connector to `addr` (`host:port`) with a 20 s timeout.
    pub fn new(addr: impl Into<String>) -> Self {
        Self { addr: addr.into(), timeout: Duration::from_secs(20) }
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

/// For host tools and tests only: the async drivers' timer on the host clock. Sleeping blocks
/// the thread (an executor's own timer belongs here in real async code).
#[cfg(feature = "async")]
impl super::asynch::AsyncTimer for StdTimer {
    fn now(&mut self) -> crate::time::Instant {
        super::blocking::Timer::now(self)
    }
    async fn sleep_until(&mut self, deadline: crate::time::Instant) -> bool {
        super::blocking::Timer::sleep_until(self, deadline)
    }
}
