//! `http::ResponseParser` on arbitrary bytes, fed whole and in two pieces split at the first
//! input byte's position.
//!
//! Properties: never panics; the body never exceeds the buffer; both feeding patterns agree.
#![no_main]

use embedded_enroll::http::ResponseParser;
use libfuzzer_sys::fuzz_target;

fn run(data: &[u8], split: usize) -> Option<(u16, Vec<u8>)> {
    let mut buf = [0u8; 1024];
    let mut p = ResponseParser::new(&mut buf);
    let (a, b) = data.split_at(split.min(data.len()));
    p.feed(a).ok()?;
    if !p.is_done() {
        p.feed(b).ok()?;
    }
    if !p.is_done() {
        p.finish().ok()?;
    }
    assert!(p.body().len() <= 1024);
    Some((p.head()?.status, p.body().to_vec()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let whole = run(rest, rest.len());
    let split = run(rest, usize::from(first));
    assert_eq!(whole, split, "the result depends on how the bytes were split");
});
