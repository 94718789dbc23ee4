use embedded_enroll::http::ResponseParser;

use crate::support::with_scratch;

/// The parser's buffer, and the most a body can take.
const BUF_LEN: usize = 1024;

/// Parses `data` fed in two pieces split at `split` with `buf` as the parser's buffer; on
/// success, copies the body into `body` and returns the status and the body's length.
fn run(data: &[u8], split: usize, buf: &mut [u8], body: &mut [u8]) -> Option<(u16, usize)> {
    let mut p = ResponseParser::new(buf);
    let (a, b) = data.split_at(split.min(data.len()));
    p.feed(a).ok()?;
    if !p.is_done() {
        p.feed(b).ok()?;
    }
    if !p.is_done() {
        p.finish().ok()?;
    }
    assert!(p.body().len() <= BUF_LEN);
    let status = p.head()?.status;
    let n = p.body().len();
    body[..n].copy_from_slice(p.body());
    Some((status, n))
}

/// `http::ResponseParser` on arbitrary bytes, fed whole and in two pieces split at the first
/// input byte's position.
///
/// Properties: never panics; the body never exceeds the buffer; both feeding patterns agree.
pub fn http_response(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return };
    // A parser buffer and a body copy per feeding pattern, each BUF_LEN bytes.
    with_scratch(4 * BUF_LEN, |pool| {
        let (whole_buf, pool) = pool.split_at_mut(BUF_LEN);
        let (split_buf, pool) = pool.split_at_mut(BUF_LEN);
        let (whole_body, split_body) = pool.split_at_mut(BUF_LEN);
        let whole = run(rest, rest.len(), whole_buf, whole_body).map(|(status, n)| (status, &whole_body[..n]));
        let split = run(rest, usize::from(first), split_buf, split_body).map(|(status, n)| (status, &split_body[..n]));
        assert_eq!(whole, split, "the result depends on how the bytes were split");
    })
}
