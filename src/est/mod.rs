//! EST client (RFC 7030, RFC 8951, RFC 9908) as a Sans-IO state machine.
//!
//! - [`client`]: the Sans-IO client ([`client::Client`]): /cacerts, /csrattrs,
//!   /simpleenroll, /simplereenroll, /serverkeygen, with HTTP authentication, 202 retries and
//!   the channel-binding proof of possession. Drivers and TLS transports: [`crate::transport`].
//!
//! - [`csrattrs`]: the `/csrattrs` response (RFC 7030 section 4.5.2, RFC 9908), read into hints
//!   for the CSR builder.
//! - [`multipart`]: the `/serverkeygen` response (RFC 7030 section 4.4.2), a `multipart/mixed`
//!   body with the server-generated private key and its certificate.

pub mod client;
pub mod csrattrs;
pub mod multipart;
