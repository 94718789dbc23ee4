//! TCP over the UART: the crate's [`Connect`] for a byte stream that the host relay
//! (`boards/relay.py`) carries to a server.
//!
//! QEMU connects UART0 to the relay's socket on 127.0.0.1. The relay has at most one
//! upstream TCP connection open at a time and drops it when the server closes it. Relay
//! lines start with a NUL byte (which neither an HTTP request nor a TLS record starts with):
//!
//! ```text
//! firmware -> relay   \0RELAY CONNECT 127.0.0.1:18190 7\n   (only while no connection is open)
//! relay -> firmware   \0RELAY OK 7\n  or  \0RELAY ERR 7 <reason>\n
//!                     ... the connection's bytes, both ways, unchanged ...
//! relay -> firmware   \0RELAY CLOSED 7\n                    (after its last byte: the server closed)
//! ```
//!
//! The firmware never needs the end of a connection to read a response: the HTTP framing
//! (Content-Length or chunked) says where it ends, and every request says `Connection: close`,
//! so the server closes and the relay drops the upstream. Before the next CONNECT the firmware
//! waits for the relay's CLOSED line of the previous connection, discarding whatever precedes
//! it (a TLS close_notify, for instance), so a command is never sent while the relay still
//! forwards to the previous server. Then it discards everything up to the relay's answer
//! carrying the new connection's number.

use crate::clock::{elapsed_ms, now_ms};
use crate::hw::Uart0;
use core::sync::atomic::{AtomicU32, Ordering};
use embedded_enroll::transport::blocking::Connect;

/// How long the relay may take to answer a command (ms): it connects to the server first.
const ANSWER_MS: u32 = 10_000;
/// How long the previous connection may take to close after its last use (ms).
const CLOSE_WAIT_MS: u32 = 15_000;
/// How long a read waits for its first byte (ms) before it reports a timeout.
const READ_TIMEOUT_MS: u32 = 60_000;
/// After the first byte, a read keeps taking bytes until the line pauses this long (ms).
const READ_GAP_MS: u32 = 2;
/// How long a write waits for the transmitter (ms).
const WRITE_TIMEOUT_MS: u32 = 5_000;
/// Relay command attempts per connection.
const ATTEMPTS: u32 = 2;

/// Connection numbers, unique for the run.
static NEXT_CONNECTION: AtomicU32 = AtomicU32::new(1);
/// The number of the connection the relay has open (0: none).
static OPEN_CONNECTION: AtomicU32 = AtomicU32::new(0);

/// Why a connection over the relay was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// The relay did not answer the command.
    NoAnswer,
    /// The relay answered ERR (target not allowed, or the server refused).
    Refused,
    /// The UART would not take the command.
    Uart,
}

/// Connections to one server (`host:port`) through the relay on UART0.
#[derive(Debug)]
pub struct UartLink<'u> {
    uart: &'u mut Uart0,
    target: &'u str,
    /// Connections made so far.
    pub connections: u32,
}

impl<'u> UartLink<'u> {
    /// Connections to `target` (`host:port`, as the relay's `--allow` list names it).
    pub fn new(uart: &'u mut Uart0, target: &'u str) -> Self {
        Self { uart, target, connections: 0 }
    }
}

impl Connect for UartLink<'_> {
    type Connection<'c>
        = UartStream<'c>
    where
        Self: 'c;
    type Error = LinkError;

    fn connect(&mut self) -> Result<UartStream<'_>, LinkError> {
        let mut last = LinkError::NoAnswer;
        for _ in 0..ATTEMPTS {
            // 0 if the previous connection's CLOSED line was already seen by its stream.
            let previous = OPEN_CONNECTION.swap(0, Ordering::Relaxed);
            if previous != 0 {
                // On a timeout, try anyway: the answer to the command tells.
                let _ = await_relay(self.uart, Answer::Closed, previous, CLOSE_WAIT_MS);
            }
            let seq = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
            if !send_command(self.uart, self.target, seq) {
                last = LinkError::Uart;
                continue;
            }
            match await_relay(self.uart, Answer::Ok, seq, ANSWER_MS) {
                Some(Answer::Ok) => {
                    OPEN_CONNECTION.store(seq, Ordering::Relaxed);
                    self.connections += 1;
                    return Ok(UartStream::new(self.uart, seq));
                }
                Some(_) => return Err(LinkError::Refused),
                None => last = LinkError::NoAnswer,
            }
        }
        Err(last)
    }
}

fn write_all(uart: &mut Uart0, bytes: &[u8]) -> bool {
    for &b in bytes {
        let start = now_ms();
        while !uart.try_write(b) {
            if elapsed_ms(start) > WRITE_TIMEOUT_MS {
                return false;
            }
        }
    }
    true
}

/// Writes `\0RELAY CONNECT <target> <seq>\n`.
fn send_command(uart: &mut Uart0, target: &str, seq: u32) -> bool {
    let mut num = [0u8; 10];
    [&b"\0RELAY CONNECT "[..], target.as_bytes(), b" ", decimal(seq, &mut num), b"\n"].into_iter().all(|part| write_all(uart, part))
}

fn decimal(mut v: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A relay line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Err,
    Closed,
}

/// Reads until a relay line about connection `seq`: for `want == Ok`, `OK` or `ERR`; for
/// `want == Closed`, `CLOSED`. None on timeout. Everything else (late bytes of a previous
/// connection, lines about other connections) is discarded.
fn await_relay(uart: &mut Uart0, want: Answer, seq: u32, timeout_ms: u32) -> Option<Answer> {
    let mut num = [0u8; 10];
    let seq = decimal(seq, &mut num);
    let mut line = [0u8; 96];
    let mut len: Option<usize> = None; // Some while inside a `\0...\n` line
    let start = now_ms();
    while elapsed_ms(start) < timeout_ms {
        let Some(b) = uart.try_read() else { continue };
        match (b, len) {
            (0, _) => len = Some(0),
            (b'\n', Some(n)) => {
                len = None;
                let words = [(Answer::Ok, &b"RELAY OK "[..]), (Answer::Err, &b"RELAY ERR "[..]), (Answer::Closed, &b"RELAY CLOSED "[..])];
                for (answer, prefix) in words {
                    let Some(rest) = line[..n].strip_prefix(prefix) else { continue };
                    let number = rest.split(|c| *c == b' ').next().unwrap_or_default();
                    let wanted = match want {
                        Answer::Closed => answer == Answer::Closed,
                        _ => answer != Answer::Closed,
                    };
                    if wanted && number == seq {
                        return Some(answer);
                    }
                }
            }
            (_, Some(n)) if n < line.len() => {
                line[n] = b;
                len = Some(n + 1);
            }
            (_, Some(_)) => len = None,
            (_, None) => {}
        }
    }
    None
}

/// The relay's `\0RELAY CLOSED <n>\n` line for connection `n`, and its length.
fn closed_marker(seq: u32) -> ([u8; 32], usize) {
    let mut num = [0u8; 10];
    let mut out = [0u8; 32];
    let mut len = 0;
    for part in [&b"\0RELAY CLOSED "[..], decimal(seq, &mut num), b"\n"] {
        out[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    (out, len)
}

/// One connection's byte stream on UART0.
///
/// Reads pass the bytes through unchanged, but watch them for the relay's CLOSED line of
/// this connection: a read may take bytes past the end of the HTTP response (it takes what
/// arrives until the line pauses), and the line must not be lost for the next
/// [`UartLink::connect`], which would otherwise wait for it.
#[derive(Debug)]
pub struct UartStream<'c> {
    uart: &'c mut Uart0,
    seq: u32,
    marker: ([u8; 32], usize),
    matched: usize,
}

impl<'c> UartStream<'c> {
    fn new(uart: &'c mut Uart0, seq: u32) -> Self {
        Self { uart, seq, marker: closed_marker(seq), matched: 0 }
    }

    /// Follows the CLOSED line through the data (it holds a single NUL, at its start, so a
    /// mismatch restarts only on a NUL).
    fn watch(&mut self, b: u8) {
        let (marker, len) = &self.marker;
        if marker.get(self.matched) == Some(&b) {
            self.matched += 1;
            if self.matched == *len {
                let _ = OPEN_CONNECTION.compare_exchange(self.seq, 0, Ordering::Relaxed, Ordering::Relaxed);
                self.matched = 0;
            }
        } else {
            self.matched = usize::from(b == 0);
        }
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.uart.try_read()?;
        self.watch(b);
        Some(b)
    }
}

impl embedded_io::ErrorType for UartStream<'_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for UartStream<'_> {
    /// Waits (at most [`READ_TIMEOUT_MS`]) for a byte, then takes what follows until the line
    /// pauses or `buf` is full. Never returns 0 for a non-empty `buf`: the end of a response
    /// comes from its HTTP framing, not from an end of stream.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let start = now_ms();
        let mut n = 0;
        while n == 0 {
            if let Some(b) = self.next_byte() {
                buf[0] = b;
                n = 1;
            } else if elapsed_ms(start) > READ_TIMEOUT_MS {
                return Err(embedded_io::ErrorKind::TimedOut);
            }
        }
        let mut last = now_ms();
        while n < buf.len() && elapsed_ms(last) < READ_GAP_MS {
            if let Some(b) = self.next_byte() {
                buf[n] = b;
                n += 1;
                last = now_ms();
            }
        }
        Ok(n)
    }
}

impl embedded_io::Write for UartStream<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if write_all(self.uart, buf) { Ok(buf.len()) } else { Err(embedded_io::ErrorKind::TimedOut) }
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
