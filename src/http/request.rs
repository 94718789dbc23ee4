//! HTTP/1.1 request writer.

use crate::error::EncodeError;

/// The request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

/// A query-string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryValue<'a> {
    /// Text, percent-escaped.
    Text(&'a str),
    /// Binary: standard base64 (`+/=`, RFC 4648 section 4), then percent-escaped. SCEP GET
    /// `message=` needs exactly this (base64url gets HTTP 500 from micromdm).
    Base64(&'a [u8]),
}

/// What goes into a request head.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// GET or POST.
    pub method: Method,
    /// The Host header (a name or address, without port).
    pub host: &'a str,
    /// The port, added to Host when not the scheme's default.
    pub port: Option<u16>,
    /// The path (`/scep`, `/.well-known/est/simpleenroll`); must start with `/`.
    pub path: &'a str,
    /// Query parameters, in order.
    pub query: &'a [(&'a str, QueryValue<'a>)],
    /// The Content-Type of the body, if any.
    pub content_type: Option<&'a str>,
    /// Further headers (`Authorization`, `Content-Transfer-Encoding`, ...).
    pub headers: &'a [(&'a str, &'a str)],
}

impl<'a> RequestHead<'a> {
    /// A GET for `path` on `host`.
    pub fn get(host: &'a str, path: &'a str) -> Self {
        Self { method: Method::Get, host, port: None, path, query: &[], content_type: None, headers: &[] }
    }

    /// A POST for `path` on `host` with a body of `content_type`.
    pub fn post(host: &'a str, path: &'a str, content_type: &'a str) -> Self {
        Self { method: Method::Post, host, port: None, path, query: &[], content_type: Some(content_type), headers: &[] }
    }
}

struct Out<'o> {
    buf: &'o mut [u8],
    pos: usize,
    /// Set when the buffer ran out: keep counting to report the size needed.
    overflow: bool,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) if !self.overflow => dst.copy_from_slice(bytes),
            _ => self.overflow = true,
        }
        self.pos = end;
    }

    fn put_decimal(&mut self, v: usize) {
        let mut digits = [0u8; 20];
        let mut n = v;
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(digits.get(i..).unwrap_or(&[]));
    }

    fn put_escaped(&mut self, s: &[u8]) {
        for b in s {
            if b.is_ascii_alphanumeric() || b"-._~".contains(b) {
                self.put(&[*b]);
            } else {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                let hex = |n: u8| HEX.get(usize::from(n)).copied().unwrap_or(b'0');
                self.put(&[b'%', hex(b >> 4), hex(b & 0xf)]);
            }
        }
    }
}

fn check_token(s: &str, what: &'static str) -> Result<(), EncodeError> {
    // Refuse anything that could end a header line or smuggle another one.
    if s.is_empty() || s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(EncodeError::InvalidValue { what });
    }
    Ok(())
}

fn check_value(s: &str, what: &'static str) -> Result<(), EncodeError> {
    if s.bytes().any(|b| (b.is_ascii_control() && b != b'\t') || b == 0x7f) {
        return Err(EncodeError::InvalidValue { what });
    }
    Ok(())
}

/// Writes the request head and `body` into `out`: request line, `Host`, `User-Agent`,
/// `Connection: close`, `Content-Type` and `Content-Length` for a POST, the extra headers, then
/// the body. A buffer too small is reported with the size needed.
pub fn write_request<'o>(req: &RequestHead<'_>, body: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], EncodeError> {
    check_token(req.host, "host")?;
    if !req.path.starts_with('/') {
        return Err(EncodeError::InvalidValue { what: "path" });
    }
    check_token(req.path, "path")?;
    for (name, value) in req.headers {
        check_token(name, "header name")?;
        if name.contains(':') {
            return Err(EncodeError::InvalidValue { what: "header name" });
        }
        check_value(value, "header value")?;
    }
    if let Some(ct) = req.content_type {
        check_value(ct, "content type")?;
    }
    let mut o = Out { buf: out, pos: 0, overflow: false };
    o.put(match req.method {
        Method::Get => b"GET ",
        Method::Post => b"POST ",
    });
    o.put(req.path.as_bytes());
    for (i, (name, value)) in req.query.iter().enumerate() {
        o.put(if i == 0 { b"?" } else { b"&" });
        o.put_escaped(name.as_bytes());
        o.put(b"=");
        match value {
            QueryValue::Text(t) => o.put_escaped(t.as_bytes()),
            QueryValue::Base64(data) => {
                // Encode in small pieces (multiples of 3 input bytes) to stay allocation-free.
                for chunk in data.chunks(48) {
                    let mut enc = [0u8; 64];
                    let s = <base64ct::Base64 as base64ct::Encoding>::encode(chunk, &mut enc)
                        .map_err(|_| EncodeError::InvalidValue { what: "base64" })?;
                    o.put_escaped(s.as_bytes());
                }
            }
        }
    }
    o.put(b" HTTP/1.1\r\nHost: ");
    o.put(req.host.as_bytes());
    if let Some(port) = req.port {
        o.put(b":");
        o.put_decimal(usize::from(port));
    }
    o.put(b"\r\nUser-Agent: embedded-enroll/");
    o.put(env!("CARGO_PKG_VERSION").as_bytes());
    o.put(b"\r\nConnection: close\r\n");
    if let Some(ct) = req.content_type {
        o.put(b"Content-Type: ");
        o.put(ct.as_bytes());
        o.put(b"\r\n");
    }
    if req.method == Method::Post {
        o.put(b"Content-Length: ");
        o.put_decimal(body.len());
        o.put(b"\r\n");
    }
    for (name, value) in req.headers {
        o.put(name.as_bytes());
        o.put(b": ");
        o.put(value.as_bytes());
        o.put(b"\r\n");
    }
    o.put(b"\r\n");
    o.put(body);
    let (pos, overflow) = (o.pos, o.overflow);
    if overflow {
        return Err(EncodeError::BufferTooSmall { needed: pos });
    }
    out.get(..pos).ok_or(EncodeError::BufferTooSmall { needed: pos })
}

/// Whether the request in `bytes` carries HTTP credentials: an `Authorization` header in its
/// head (case-insensitive, RFC 9110). The drivers send such a request only to a server that
/// the transport authenticated (RFC 7030 section 3.2.3).
pub fn carries_authorization(bytes: &[u8]) -> bool {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(bytes.len());
    let head = bytes.get(..head_end).unwrap_or(bytes);
    head.split(|b| *b == b'\n').skip(1).any(|line| {
        let name = line.split(|b| *b == b':').next().unwrap_or(&[]);
        line.contains(&b':') && name.trim_ascii().eq_ignore_ascii_case(b"authorization")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_is_found_in_the_head_only() {
        assert!(carries_authorization(b"POST /x HTTP/1.1\r\nHost: h\r\nauthorization: Basic eA==\r\n\r\nbody"));
        assert!(carries_authorization(b"GET / HTTP/1.1\r\nAUTHORIZATION : Digest x\r\n\r\n"));
        assert!(!carries_authorization(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nAuthorization: in the body"));
        assert!(!carries_authorization(b"GET /Authorization: HTTP/1.1\r\nProxy-Authorization-X: y\r\n\r\n"));
    }

    #[test]
    fn scep_get_message_is_standard_base64_then_percent_escaped() {
        let q = [("operation", QueryValue::Text("PKIOperation")), ("message", QueryValue::Base64(&[0xfb, 0xff, 0xfe, 0x00]))];
        let req = RequestHead { query: &q, port: Some(8080), ..RequestHead::get("127.0.0.1", "/scep") };
        let mut out = [0u8; 256];
        let r = core::str::from_utf8(write_request(&req, &[], &mut out).unwrap()).unwrap();
        // base64 of fb ff fe 00 is "+//+AA==": every '+', '/' and '=' escaped.
        assert!(r.starts_with("GET /scep?operation=PKIOperation&message=%2B%2F%2F%2BAA%3D%3D HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"), "{r}");
        assert!(r.ends_with("Connection: close\r\n\r\n"));
        assert!(!r.contains("Content-Length"));
    }

    #[test]
    fn post_carries_type_length_headers_and_body() {
        let h = [("Content-Transfer-Encoding", "base64")];
        let req = RequestHead { headers: &h, ..RequestHead::post("est.example", "/.well-known/est/simpleenroll", "application/pkcs10") };
        let mut out = [0u8; 512];
        let r = core::str::from_utf8(write_request(&req, b"MIIB", &mut out).unwrap()).unwrap();
        assert!(r.starts_with("POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: est.example\r\n"));
        assert!(r.contains("\r\nContent-Type: application/pkcs10\r\nContent-Length: 4\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIB"));
    }

    #[test]
    fn long_base64_values_are_encoded_in_pieces_correctly() {
        let data: [u8; 100] = core::array::from_fn(|i| i as u8);
        let q = [("message", QueryValue::Base64(&data))];
        let req = RequestHead { query: &q, ..RequestHead::get("h", "/") };
        let mut out = [0u8; 512];
        let r = core::str::from_utf8(write_request(&req, &[], &mut out).unwrap()).unwrap();
        let start = r.find("message=").unwrap() + 8;
        let escaped = &r[start..r.find(" HTTP/1.1").unwrap()];
        let unescaped = escaped.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=");
        let mut dec = [0u8; 128];
        let decoded = <base64ct::Base64 as base64ct::Encoding>::decode(&unescaped, &mut dec).unwrap();
        assert_eq!(decoded, &data[..]);
    }

    #[test]
    fn header_injection_and_bad_paths_are_refused_and_sizes_reported() {
        let mut out = [0u8; 256];
        let evil = [("X-Test", "a\r\nInjected: yes")];
        assert!(write_request(&RequestHead { headers: &evil, ..RequestHead::get("h", "/") }, &[], &mut out).is_err());
        assert!(write_request(&RequestHead::get("h\r\n", "/"), &[], &mut out).is_err());
        assert!(write_request(&RequestHead::get("h", "no-slash"), &[], &mut out).is_err());
        assert!(write_request(&RequestHead::get("h", "/a b"), &[], &mut out).is_err());
        let colon = [("X:Y", "v")];
        assert!(write_request(&RequestHead { headers: &colon, ..RequestHead::get("h", "/") }, &[], &mut out).is_err());
        let full = write_request(&RequestHead::get("h", "/"), &[], &mut out).unwrap().len();
        let mut small = std::vec![0u8; full - 1];
        assert_eq!(write_request(&RequestHead::get("h", "/"), &[], &mut small), Err(EncodeError::BufferTooSmall { needed: full }));
    }
}
