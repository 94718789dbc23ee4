//! embedded-nal 0.9 (the blocking `TcpClientStack`) as a [`Connect`] (feature `nal`): one
//! socket per request, read and written with `nb::block!`, closed when the connection is
//! dropped. Put [`super::tls::TlsConnector`] on top for TLS.

use super::blocking::Connect;
use core::net::SocketAddr;
use embedded_nal::{TcpClientStack, TcpError, TcpErrorKind, nb};

/// Connects to `remote` through a TCP/IP stack (smoltcp, an AT-command modem, std).
#[derive(Debug)]
pub struct NalConnector<'s, S> {
    stack: &'s mut S,
    remote: SocketAddr,
}

impl<'s, S: TcpClientStack> NalConnector<'s, S> {
    /// A connector over `stack` to `remote`.
    pub fn new(stack: &'s mut S, remote: SocketAddr) -> Self {
        Self { stack, remote }
    }
}

/// One connected socket as an `embedded_io` stream.
pub struct NalStream<'c, S: TcpClientStack> {
    stack: &'c mut S,
    socket: Option<S::TcpSocket>,
}

impl<S: TcpClientStack> core::fmt::Debug for NalStream<'_, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NalStream").field("open", &self.socket.is_some()).finish()
    }
}

impl<S: TcpClientStack> Drop for NalStream<'_, S> {
    fn drop(&mut self) {
        if let Some(s) = self.socket.take() {
            let _ = self.stack.close(s);
        }
    }
}

/// A stack error as an `embedded_io` error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NalError(pub TcpErrorKind);

impl core::fmt::Display for NalError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TCP stack: {:?}", self.0)
    }
}

impl core::error::Error for NalError {}

impl embedded_io::Error for NalError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.0 {
            TcpErrorKind::PipeClosed => embedded_io::ErrorKind::BrokenPipe,
            _ => embedded_io::ErrorKind::Other,
        }
    }
}

fn nal<E: TcpError>(e: E) -> NalError {
    NalError(e.kind())
}

impl<S: TcpClientStack> embedded_io::ErrorType for NalStream<'_, S> {
    type Error = NalError;
}

impl<S: TcpClientStack> embedded_io::Read for NalStream<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NalError> {
        let socket = self.socket.as_mut().ok_or(NalError(TcpErrorKind::PipeClosed))?;
        match nb::block!(self.stack.receive(socket, buf)) {
            Ok(n) => Ok(n),
            // The peer closed its side: end of stream.
            Err(e) if e.kind() == TcpErrorKind::PipeClosed => Ok(0),
            Err(e) => Err(nal(e)),
        }
    }
}

impl<S: TcpClientStack> embedded_io::Write for NalStream<'_, S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, NalError> {
        let socket = self.socket.as_mut().ok_or(NalError(TcpErrorKind::PipeClosed))?;
        nb::block!(self.stack.send(socket, buf)).map_err(nal)
    }
    fn flush(&mut self) -> Result<(), NalError> {
        Ok(())
    }
}

/// An embedded-nal stack as the lifecycle runner's network ([`super::blocking::Network`]):
/// servers are named by address (`192.0.2.10:443`, `[2001:db8::1]:443`); resolving names is
/// the firmware's (give the runner's profile the address it resolved).
#[derive(Debug)]
pub struct NalNetwork<S>(pub S);

impl<S: TcpClientStack> super::blocking::Network for NalNetwork<S> {
    type Connector<'a>
        = NalConnector<'a, S>
    where
        Self: 'a;
    fn connector(&mut self, server: &str) -> Result<NalConnector<'_, S>, super::TransportFailure> {
        let remote: SocketAddr = server.parse().map_err(|_| super::TransportFailure::Connect)?;
        Ok(NalConnector::new(&mut self.0, remote))
    }
}

impl<'s, S: TcpClientStack> Connect for NalConnector<'s, S> {
    type Connection<'c>
        = NalStream<'c, S>
    where
        Self: 'c;
    type Error = NalError;

    fn connect(&mut self) -> Result<NalStream<'_, S>, NalError> {
        let mut socket = self.stack.socket().map_err(nal)?;
        if let Err(e) = nb::block!(self.stack.connect(&mut socket, self.remote)) {
            let _ = self.stack.close(socket);
            return Err(nal(e));
        }
        Ok(NalStream { stack: &mut *self.stack, socket: Some(socket) })
    }
}
