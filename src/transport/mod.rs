//! The only code that does I/O, all behind features.
//!
//! - [`blocking`]: drivers that run a protocol client to its end over any `embedded_io`
//!   byte stream ([`blocking::Connect`]), a device key ([`blocking::DeviceKeys`]) and a clock
//!   ([`blocking::Timer`]); about fifty lines of loop each, the protocol stays in the client.
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
#[cfg(any(feature = "scep", feature = "est"))]
pub(crate) const READ_CHUNK: usize = 256;
