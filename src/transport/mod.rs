//! The only code that does I/O, all behind features.
//!
//! - `host` (feature `std`): one HTTP exchange over a plain `std::net::TcpStream`, for host
//!   tools and tests. TLS (rustls on hosts, embedded-tls on devices) and the embedded-nal
//!   adapters arrive with the EST client.

#[cfg(feature = "std")]
pub mod host;
