//! The only code that does I/O, all behind features.
//!
//! - [`blocking`]: drivers that run a protocol client to its end over any `embedded_io`
//!   byte stream ([`blocking::Connect`]), a device key ([`blocking::DeviceKeys`]) and a clock
//!   ([`blocking::Timer`]); about fifty lines of loop each, the protocol stays in the client.
//! - `host` (feature `std`): plain TCP over `std::net` for host tools and tests
//!   (`host::TcpConnector`, `host::StdTimer`). TLS (rustls on hosts, embedded-tls on
//!   devices) and the embedded-nal adapters arrive with the EST client.

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
