//! EST client (RFC 7030, RFC 8951, RFC 9908) as a Sans-IO state machine.
//!
//! - [`client`]: the Sans-IO client ([`client::Client`]): /cacerts, /simpleenroll,
//!   /simplereenroll, and with their features /csrattrs and /serverkeygen, with HTTP
//!   authentication (Basic; Digest with `http-digest`), 202 retries and the channel-binding
//!   proof of possession. Drivers and TLS transports: [`crate::transport`].
//!
//! - `csrattrs` (feature `csrattrs`): the `/csrattrs` response (RFC 7030 section 4.5.2,
//!   RFC 9908), read into hints for the CSR builder.
//! - `multipart` (feature `serverkeygen`): the `/serverkeygen` response (RFC 7030 section
//!   4.4.2), a `multipart/mixed` body with the server-generated private key and its
//!   certificate.
//!
//! Each feature implies `est`; without it the module is not built and the client refuses
//! the operations that need it ([`client::ClientError::FeatureDisabled`]). See
//! [`client`]'s "Features" section.

pub mod client;
#[cfg(feature = "csrattrs")]
pub mod csrattrs;
#[cfg(feature = "serverkeygen")]
pub mod multipart;
