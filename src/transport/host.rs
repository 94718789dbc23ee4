//! One HTTP exchange over plain TCP with `std::net` (feature `std`): connect, write the
//! request, read until the response is complete or the peer closes, all bounded by a timeout
//! per read and the caller's buffer.

use crate::error::HttpError;
use crate::http::{ResponseHead, ResponseParser};
use std::io::{Read, Write};
use std::net::TcpStream;
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
