//! Wire layer 2: Sans-IO HTTP/1.1 (request writer, response head and body parser).
//!
//! Not yet implemented: arrives with the SCEP and EST clients.
