//! The http-01 responder (RFC 8555 section 8.3) as a function a firmware's own web server
//! calls: give it the request bytes and the challenge being answered, get the response bytes.

use super::client::ChallengeTask;

/// What [`respond`] made of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A GET for the token: the key authorization, 200 (`len` bytes written).
    KeyAuthorization(usize),
    /// Another path, or no challenge in progress: 404 (`len` bytes written).
    NotFound(usize),
    /// Not a GET (or HEAD) request line: 405 (`len` bytes written).
    MethodNotAllowed(usize),
    /// No request line within 2048 bytes: 400 (`len` bytes written).
    BadRequest(usize),
    /// The request line is not complete yet: read more.
    Incomplete,
    /// `out` is too small for the answer (at least this many bytes).
    BufferTooSmall(usize),
}

/// Answers an HTTP/1.x request for `/.well-known/acme-challenge/<token>` into `out`: the key
/// authorization (`text/plain`) for the token of `task` (an http-01 challenge being
/// answered), 404 for anything else. Only the request line is read (the server's validation
/// requests send no body); the connection is to be closed after the answer.
pub fn respond(request: &[u8], task: Option<&ChallengeTask<'_>>, out: &mut [u8]) -> Answer {
    let Some(line_end) = request.windows(2).position(|w| w == b"\r\n") else {
        return if request.len() > 2048 {
            match write(out, 400, "", "") {
                Answer::KeyAuthorization(n) => Answer::BadRequest(n),
                other => other,
            }
        } else {
            Answer::Incomplete
        };
    };
    let line = core::str::from_utf8(request.get(..line_end).unwrap_or(&[])).unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return match write(out, 405, "", "") {
            Answer::KeyAuthorization(n) => Answer::MethodNotAllowed(n),
            other => other,
        };
    }
    let wanted = task.filter(|t| t.kind == super::client::ChallengeKind::Http01).and_then(|t| {
        let token = target.strip_prefix("/.well-known/acme-challenge/")?;
        (token == t.token).then_some(t.key_authorization)
    });
    match wanted {
        Some(body) => write(out, 200, body, if method == "HEAD" { "head" } else { "" }),
        None => match write(out, 404, "", "") {
            Answer::KeyAuthorization(n) => Answer::NotFound(n),
            other => other,
        },
    }
}

fn write(out: &mut [u8], status: u16, body: &str, mode: &str) -> Answer {
    let reason = match status {
        200 => "200 OK",
        404 => "404 Not Found",
        405 => "405 Method Not Allowed",
        _ => "400 Bad Request",
    };
    let mut len_buf = [0u8; 20];
    let len = usize_text(body.len(), &mut len_buf);
    let pieces: [&[u8]; 6] = [
        b"HTTP/1.1 ",
        reason.as_bytes(),
        b"\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ",
        len.as_bytes(),
        b"\r\n\r\n",
        if mode == "head" { b"" } else { body.as_bytes() },
    ];
    let needed: usize = pieces.iter().map(|p| p.len()).sum();
    let Some(dst) = out.get_mut(..needed) else { return Answer::BufferTooSmall(needed) };
    let mut at = 0;
    for p in pieces {
        if let Some(d) = dst.get_mut(at..at + p.len()) {
            d.copy_from_slice(p);
        }
        at += p.len();
    }
    Answer::KeyAuthorization(needed)
}

fn usize_text(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(d) = buf.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    core::str::from_utf8(buf.get(i..).unwrap_or(&[])).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::client::ChallengeKind;

    #[test]
    fn serves_the_key_authorization_for_its_token_only() {
        let task = ChallengeTask { kind: ChallengeKind::Http01, identifier: "a.example", token: "tok_1", key_authorization: "tok_1.thumb" };
        let mut out = [0u8; 256];
        let req = b"GET /.well-known/acme-challenge/tok_1 HTTP/1.1\r\nHost: a.example\r\n\r\n";
        let Answer::KeyAuthorization(n) = respond(req, Some(&task), &mut out) else { panic!() };
        let text = core::str::from_utf8(&out[..n]).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\nContent-Length: 11\r\n\r\ntok_1.thumb"), "{text}");
        let other = b"GET /.well-known/acme-challenge/tok_2 HTTP/1.1\r\n\r\n";
        assert!(matches!(respond(other, Some(&task), &mut out), Answer::NotFound(_)));
        assert!(matches!(respond(req, None, &mut out), Answer::NotFound(_)));
        assert!(matches!(respond(b"POST /x HTTP/1.1\r\n\r\n", Some(&task), &mut out), Answer::MethodNotAllowed(_)));
        assert_eq!(respond(b"GET /.well-kn", Some(&task), &mut out), Answer::Incomplete);
        assert!(matches!(respond(req, Some(&task), &mut [0u8; 10]), Answer::BufferTooSmall(n) if n > 10));
        assert!(matches!(respond(&[b'x'; 3000], Some(&task), &mut out), Answer::BadRequest(_)));
    }
}
