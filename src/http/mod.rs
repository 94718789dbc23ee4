//! Wire layer 2: Sans-IO HTTP/1.1 for SCEP (RFC 8894 section 4.1) and EST (RFC 7030
//! section 3.2).
//!
//! - [`request`]: writes a request head (and body) into a caller buffer; query values are
//!   percent-escaped, binary ones as standard base64 first (what SCEP GET needs).
//! - [`response`]: a push parser: feed it the bytes as they arrive, in any split; it parses the
//!   status line and headers (names case-insensitive), then a Content-Length, chunked or
//!   close-delimited body into the caller's buffer. Every limit is the buffer's size.
//! - [`base64`]: RFC 8951 bodies (whitespace ignored when decoding; wrapped or one line).
//! - [`auth`]: `WWW-Authenticate` challenges and `Authorization` answers, Basic (RFC 7617)
//!   and, with the `http-digest` feature, Digest with MD5 or SHA-256 and qop=auth (RFC 7616).
//! - [`date`]: HTTP-dates and Retry-After (RFC 9110).
//! - `mime` (feature `serverkeygen`): media types, their parameters and `multipart/*` bodies
//!   (RFC 2045, RFC 2046).
//!
//! One request per connection (`Connection: close`), as SCEP and EST servers expect.

pub mod auth;
pub mod base64;
pub mod date;
#[cfg(feature = "serverkeygen")]
pub mod mime;
pub mod request;
pub mod response;

pub use request::{Method, QueryValue, RequestHead, write_request};
pub use response::{ResponseHead, ResponseParser, ResponseReader};
