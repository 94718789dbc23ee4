//! The only code that does I/O, all behind features.
//!
//! - [`blocking`]: drivers that run a protocol client to its end over any `embedded_io`
//!   byte stream ([`blocking::Connect`]), a device key ([`blocking::DeviceKeys`]) and a clock
//!   ([`blocking::Timer`]). One loop runs SCEP, EST and ACME alike: it sees a client only through
//!   protocol-free steps (connect and keep the connection, send, a key operation, wait,
//!   done); which request comes next, whether it needs a connection of its own first (EST
//!   channel binding) and whether it carries credentials is the client's to say.
//!   Every exchange has an overall deadline ([`blocking::DriveOptions`], 60 s by default).
//! - `asynch` (feature `async`): the same drivers, awaited, over `embedded_io_async`; each
//!   connect, write and read is raced against the timer's sleep until that deadline.
//! - [`verify`]: the TLS server verifier every TLS path uses (chains, host names, handshake
//!   signatures) with the crate's own X.509 and crypto code.
//! - `tls` (feature `tls`): embedded-tls 1.3 on devices; `nal` / `asynch::NalAsyncConnector`
//!   (features `nal`, `nal-async`): embedded-nal TCP.
//! - `host` (feature `std`): plain TCP over `std::net` and a timer for host tools and tests;
//!   `host_tls` (feature `host-tls`): rustls, TLS 1.2 and 1.3.

#[cfg(feature = "async")]
pub mod asynch;
pub mod blocking;
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
pub(crate) mod driven;
#[cfg(feature = "std")]
pub mod host;
#[cfg(feature = "host-tls")]
pub mod host_tls;
#[cfg(feature = "nal")]
pub mod nal;
#[cfg(feature = "tls")]
pub mod tls;
pub mod verify;

/// Bytes the drivers read from a connection at a time (into a stack buffer, then handed to
/// the client's own buffer): small, since it is on the stack under every exchange.
#[cfg(any(feature = "scep", feature = "est", feature = "acme"))]
pub(crate) const READ_CHUNK: usize = 256;

/// Why an exchange failed on the transport: what the drivers tell the client (and the client
/// its caller, in `Outcome::Transport`), so that "the connection failed" comes with its
/// reason (TCP refused, the TLS handshake, the server's certificate and why, a read cut short,
/// the deadline).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransportFailure {
    /// The connection could not be made: TCP refused or unreachable, or the name did not
    /// resolve.
    Connect,
    /// The TLS handshake failed (an alert or a protocol error; a connector may keep the
    /// details, as `TlsConnector::last_error` does).
    TlsHandshake,
    /// The server's certificate chain, host name or handshake signature was refused (why).
    ServerRefused(verify::VerifyError),
    /// The handshake ended without the server proving its identity (no chain, or no
    /// CertificateVerify).
    ServerNotAuthenticated,
    /// TLS client authentication is not possible with this device key on this transport.
    ClientKeyUnsupported,
    /// Writing the request failed.
    Write,
    /// Reading the reply failed, or the server closed the connection before its end.
    Read,
    /// The exchange's deadline passed (`DriveOptions::exchange_deadline`).
    Deadline,
    /// The caller reported a transport failure without its reason (the clients'
    /// `handle_transport_error`).
    Unspecified,
}

impl core::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Connect => f.write_str("the connection could not be made (TCP refused or unreachable, or the name did not resolve)"),
            Self::TlsHandshake => f.write_str("the TLS handshake failed"),
            Self::ServerRefused(why) => write!(f, "{why}"),
            Self::ServerNotAuthenticated => f.write_str("the server did not prove its identity in the TLS handshake"),
            Self::ClientKeyUnsupported => f.write_str("TLS client authentication is not possible with this device key on this transport"),
            Self::Write => f.write_str("writing the request failed"),
            Self::Read => f.write_str("reading the reply failed, or the server closed the connection before its end"),
            Self::Deadline => f.write_str("the exchange's deadline passed"),
            Self::Unspecified => f.write_str("the transport failed"),
        }
    }
}
