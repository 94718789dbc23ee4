//! The only code that does I/O, all behind features: embedded-nal(-async) sockets with
//! embedded-tls on devices, std + rustls on hosts, and the blocking and async driver loops.
//!
//! Not yet implemented: this module is a placeholder in this release.
