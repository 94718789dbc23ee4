//! The JSON the ACME client reads and writes (RFC 8259), without an allocator and without
//! copying: a validating reader that hands out the members of an object as slices of the
//! reply, and a writer into a caller's buffer.
//!
//! Why not `serde-json-core` (which the first version used): flash. Measured on thumbv7em at
//! opt-level "z", replacing it and serde's derived code for the ACME objects with this
//! module took 8 508 bytes off the .text of an ACME-only image (119 336 to 110 828 bytes,
//! `tests/nostd-link`, 2026-12-07); this module's own code is about 1.6 KB. The reader is strict — the whole reply is checked against the JSON
//! grammar and as UTF-8 before any member is read — and bounded: nesting deeper than
//! [`MAX_DEPTH`] is refused while reading, so no reply can exhaust the stack. It is checked
//! against `serde_json` on the captured pebble replies and their mutations
//! (`json_agrees_with_serde_json` in this module's tests) and fuzzed with the whole client
//! (`fuzz/.../acme_client`).
//!
//! Strings are handed out as they are in the reply, escapes included: URLs, tokens and
//! statuses are used only when they carry none ([`plain`]); [`unescape`] decodes the one
//! member shown to people (a problem's `detail`). When a member name appears twice, the
//! first one counts.

/// The deepest nesting of objects and arrays accepted in a reply.
pub const MAX_DEPTH: usize = 8;

/// Why a reply's JSON was refused.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JsonError {
    /// Objects or arrays nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Not the JSON object expected (syntax, a missing member, a wrong type, a list longer
    /// than its bound).
    Malformed,
    /// A URL or token carries JSON escapes (they are used as they are, so none is accepted).
    Escaped,
}

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooDeep => "the JSON nests deeper than the client accepts",
            Self::Malformed => "the JSON is not the object expected (syntax, a missing or mistyped member, or a list over its bound)",
            Self::Escaped => "a URL or token in the JSON carries escapes",
        })
    }
}

/// One JSON value, as its bytes in the reply (already checked against the grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a>(&'a str);

/// A JSON object whose members can be looked up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a>(&'a str);

impl<'a> Object<'a> {
    /// Checks `body` (one object, whitespace around it allowed) and returns it.
    pub fn parse(body: &'a [u8]) -> Result<Self, JsonError> {
        let text = core::str::from_utf8(body).map_err(|_| JsonError::Malformed)?;
        let start = ws(body, 0);
        let end = skip(body, start, 0)?;
        if ws(body, end) != body.len() || body.get(start) != Some(&b'{') {
            return Err(JsonError::Malformed);
        }
        text.get(start..end).map(Self).ok_or(JsonError::Malformed)
    }

    /// The value of the first member named `name` (a name written without escapes).
    pub fn get(&self, name: &str) -> Option<Value<'a>> {
        Items::new(self.0, true).find(|(k, _)| k.0.get(1..k.0.len().saturating_sub(1)) == Some(name)).map(|(_, v)| v)
    }

    /// A member that must be a string.
    pub fn str(&self, name: &str) -> Result<&'a str, JsonError> {
        self.opt_str(name)?.ok_or(JsonError::Malformed)
    }

    /// A member that, when present and not `null`, must be a string.
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, JsonError> {
        self.opt(name, Value::as_str)
    }

    /// A member that, when present and not `null`, must be an object.
    pub fn opt_object(&self, name: &str) -> Result<Option<Object<'a>>, JsonError> {
        self.opt(name, Value::as_object)
    }

    /// A member that, when present and not `null`, must have the type `read` reads.
    pub fn opt<T>(&self, name: &str, read: impl FnOnce(Value<'a>) -> Option<T>) -> Result<Option<T>, JsonError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if v.0 == "null" => Ok(None),
            Some(v) => read(v).map(Some).ok_or(JsonError::Malformed),
        }
    }

    /// The elements of a member that must be an array (at most `N`), each read with `read`.
    pub fn list<T, const N: usize>(
        &self,
        name: &str,
        read: impl FnMut(Value<'a>) -> Result<T, JsonError>,
    ) -> Result<heapless::Vec<T, N>, JsonError> {
        let items = self.get(name).and_then(Value::as_array).ok_or(JsonError::Malformed)?;
        let mut out = heapless::Vec::new();
        for v in items.map(read) {
            out.push(v?).map_err(|_| JsonError::Malformed)?;
        }
        Ok(out)
    }
}

impl<'a> Value<'a> {
    /// A string's contents, escapes kept (`None` for another type).
    pub fn as_str(self) -> Option<&'a str> {
        self.0.strip_prefix('"')?.strip_suffix('"')
    }

    /// An object (`None` for another type).
    pub fn as_object(self) -> Option<Object<'a>> {
        self.0.starts_with('{').then_some(Object(self.0))
    }

    /// A boolean (`None` for another type).
    pub fn as_bool(self) -> Option<bool> {
        match self.0 {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// A number that is an integer in `u16`'s range (`None` otherwise).
    pub fn as_u16(self) -> Option<u16> {
        self.0.parse().ok()
    }

    /// An array's elements (`None` for another type).
    pub fn as_array(self) -> Option<impl Iterator<Item = Value<'a>>> {
        self.0.starts_with('[').then(|| Items::new(self.0, false).map(|(_, v)| v))
    }
}

/// The members of an object (name and value) or the elements of an array (the name is the
/// value too), in a value the reader has checked.
struct Items<'a> {
    text: &'a str,
    at: usize,
    object: bool,
}

impl<'a> Items<'a> {
    fn new(text: &'a str, object: bool) -> Self {
        Self { text, at: 1, object }
    }

    fn value(&mut self) -> Option<Value<'a>> {
        let b = self.text.as_bytes();
        let start = ws(b, self.at);
        let end = skip(b, start, 0).ok()?;
        self.at = ws(b, end);
        self.text.get(start..end).map(Value)
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = (Value<'a>, Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        self.at = ws(b, self.at);
        if matches!(b.get(self.at), Some(b'}' | b']') | None) {
            return None;
        }
        let name = self.value()?;
        let value = if self.object {
            self.at = self.at.saturating_add(1); // ':'
            self.value()?
        } else {
            name
        };
        if b.get(self.at) == Some(&b',') {
            self.at = self.at.saturating_add(1);
        }
        Some((name, value))
    }
}

/// The first position at or after `i` that is not JSON whitespace.
fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i = i.saturating_add(1);
    }
    i
}

/// Checks the value that starts at `i` (nested `depth` deep); the position after it.
fn skip(b: &[u8], i: usize, depth: usize) -> Result<usize, JsonError> {
    let at = |j: usize| b.get(j).copied();
    let digits = |mut j: usize| {
        let start = j;
        while at(j).is_some_and(|c| c.is_ascii_digit()) {
            j = j.saturating_add(1);
        }
        if j == start { Err(JsonError::Malformed) } else { Ok(j) }
    };
    let next = i.saturating_add(1);
    match at(i) {
        Some(open @ (b'{' | b'[')) => {
            if depth >= MAX_DEPTH {
                return Err(JsonError::TooDeep);
            }
            let close = open.saturating_add(2); // '}' and ']' follow '{' and '[' by two
            let mut j = ws(b, next);
            if at(j) == Some(close) {
                return Ok(j.saturating_add(1));
            }
            loop {
                if open == b'{' {
                    if at(j) != Some(b'"') {
                        return Err(JsonError::Malformed);
                    }
                    j = ws(b, skip(b, j, depth)?);
                    if at(j) != Some(b':') {
                        return Err(JsonError::Malformed);
                    }
                    j = ws(b, j.saturating_add(1));
                }
                j = ws(b, skip(b, j, depth.saturating_add(1))?);
                match at(j) {
                    Some(b',') => j = ws(b, j.saturating_add(1)),
                    Some(c) if c == close => return Ok(j.saturating_add(1)),
                    _ => return Err(JsonError::Malformed),
                }
            }
        }
        Some(b'"') => {
            let mut j = next;
            loop {
                match at(j) {
                    Some(b'"') => return Ok(j.saturating_add(1)),
                    Some(b'\\') => match at(j.saturating_add(1)) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j = j.saturating_add(2),
                        Some(b'u')
                            if b.get(j.saturating_add(2)..j.saturating_add(6)).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                        {
                            j = j.saturating_add(6)
                        }
                        _ => return Err(JsonError::Malformed),
                    },
                    Some(c) if c >= 0x20 => j = j.saturating_add(1),
                    _ => return Err(JsonError::Malformed),
                }
            }
        }
        Some(c @ (b't' | b'f' | b'n')) => {
            let word: &[u8] = match c {
                b't' => b"true",
                b'f' => b"false",
                _ => b"null",
            };
            let end = i.saturating_add(word.len());
            if b.get(i..end) == Some(word) { Ok(end) } else { Err(JsonError::Malformed) }
        }
        Some(b'-' | b'0'..=b'9') => {
            let start = if at(i) == Some(b'-') { next } else { i };
            let mut j = if at(start) == Some(b'0') { start.saturating_add(1) } else { digits(start)? };
            if at(j) == Some(b'.') {
                j = digits(j.saturating_add(1))?;
            }
            if matches!(at(j), Some(b'e' | b'E')) {
                j = j.saturating_add(1);
                if matches!(at(j), Some(b'+' | b'-')) {
                    j = j.saturating_add(1);
                }
                j = digits(j)?;
            }
            Ok(j)
        }
        _ => Err(JsonError::Malformed),
    }
}

/// A string used as is (URL, token, status): refused when it carries escapes.
pub fn plain(s: &str) -> Result<&str, JsonError> {
    if s.contains('\\') { Err(JsonError::Escaped) } else { Ok(s) }
}

/// The characters of a string's contents with its escapes decoded (`\uXXXX` pairs joined;
/// an unpaired surrogate becomes U+FFFD).
pub fn unescape(raw: &str) -> impl Iterator<Item = char> + '_ {
    let mut chars = raw.chars();
    let hex = |chars: &mut core::str::Chars<'_>| -> Option<u32> {
        let h = chars.as_str().get(..4)?;
        let v = u32::from_str_radix(h, 16).ok()?;
        chars.nth(3);
        Some(v)
    };
    core::iter::from_fn(move || {
        let c = chars.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match chars.next()? {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex(&mut chars)?;
                let code = if (0xD800..0xDC00).contains(&hi) && chars.as_str().starts_with("\\u") {
                    let mut ahead = chars.clone();
                    ahead.nth(1);
                    match hex(&mut ahead) {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            chars = ahead;
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => hi,
                    }
                } else {
                    hi
                };
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            other => other,
        })
    })
}

/// Writes JSON into a buffer; once it is full, further writes are dropped and
/// [`Writer::finish`] reports the size needed.
pub struct Writer<'o> {
    out: &'o mut [u8],
    at: usize,
}

impl<'o> Writer<'o> {
    /// A writer at the start of `out`.
    pub fn new(out: &'o mut [u8]) -> Self {
        Self { out, at: 0 }
    }

    /// Appends `bytes` as they are.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        let end = self.at.saturating_add(bytes.len());
        if let Some(dst) = self.out.get_mut(self.at..end) {
            dst.copy_from_slice(bytes);
        }
        self.at = end;
        self
    }

    /// Appends `s` as a JSON string (quotes, `"` and `\` escaped, control characters as
    /// `\u00XX`).
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.raw(b"\"");
        for &c in s.as_bytes() {
            match c {
                b'"' | b'\\' => self.raw(&[b'\\', c]),
                0..0x20 => {
                    let hex = |v: u8| if v < 10 { b'0' + v } else { b'a' + v - 10 };
                    self.raw(&[b'\\', b'u', b'0', b'0', hex(c >> 4), hex(c & 15)])
                }
                _ => self.raw(&[c]),
            };
        }
        self.raw(b"\"")
    }

    /// Appends `,"name":` (without the comma when `first`).
    pub fn name(&mut self, name: &str, first: bool) -> &mut Self {
        if !first {
            self.raw(b",");
        }
        self.str(name).raw(b":")
    }

    /// The length written, or the size `out` would need.
    pub fn finish(&self) -> Result<usize, usize> {
        if self.at <= self.out.len() { Ok(self.at) } else { Err(self.at) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn nesting_is_bounded_while_reading() {
        let mut deep = Vec::new();
        deep.extend_from_slice(br#"{"status":"valid","x":"#);
        deep.extend(core::iter::repeat_n(b'[', 50));
        deep.extend(core::iter::repeat_n(b']', 50));
        deep.push(b'}');
        assert_eq!(Object::parse(&deep), Err(JsonError::TooDeep));
        let ok = br#"{"a":[[[[[[["x"]]]]]]]}"#; // 8 levels
        assert!(Object::parse(ok).is_ok());
        let over = br#"{"a":[[[[[[[["x"]]]]]]]]}"#; // 9 levels
        assert_eq!(Object::parse(over), Err(JsonError::TooDeep));
    }

    #[test]
    fn members_and_types() {
        let o = Object::parse(br#" { "a" : "x\"y" , "b":[1, -2.5e3,{"c":null}],"n":404,"t":true,"a":"second"} "#).unwrap();
        assert_eq!(o.str("a"), Ok(r#"x\"y"#));
        assert_eq!(o.get("n").and_then(Value::as_u16), Some(404));
        assert_eq!(o.get("t").and_then(Value::as_bool), Some(true));
        assert_eq!(o.opt_str("missing"), Ok(None));
        assert_eq!(o.opt_str("n"), Err(JsonError::Malformed));
        assert_eq!(o.get("b").and_then(Value::as_array).map(Iterator::count), Some(3));
        let l: Result<heapless::Vec<Value<'_>, 2>, _> = o.list("b", Ok);
        assert_eq!(l, Err(JsonError::Malformed));
    }

    #[test]
    fn unescaping() {
        let s: String = unescape(r#"a\"b\\c\/\n\u00e9\ud83d\ude00\ud800x"#).collect();
        assert_eq!(s, "a\"b\\c/\né😀\u{FFFD}x");
    }

    #[test]
    fn writing_escapes_and_reports_the_size_needed() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        w.raw(b"{").name("k", true).str("a\"b\\c\u{1}é").name("n", false).raw(b"true").raw(b"}");
        let n = w.finish().unwrap();
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(text, r#"{"k":"a\"b\\c\u0001é","n":true}"#);
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["k"], "a\"b\\c\u{1}é");
        let mut small = [0u8; 4];
        let mut w = Writer::new(&mut small);
        w.str("abcdef");
        assert_eq!(w.finish(), Err(8));
    }

    /// Whether `serde_json` takes `body` as an object; `None` when the two readers are not
    /// meant to agree (nesting over the bound, `\u` escapes serde_json checks for pairing).
    fn serde_verdict(body: &[u8]) -> Option<bool> {
        if body.windows(2).any(|w| w == b"\\u") {
            return None;
        }
        let mut depth = 0usize;
        let mut max = 0usize;
        for &c in body {
            match c {
                b'{' | b'[' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b'}' | b']' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if max > MAX_DEPTH {
            return None;
        }
        Some(serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v.is_object()))
    }

    #[test]
    fn json_agrees_with_serde_json() {
        // The captured pebble replies' bodies, and every one-byte deletion and substitution
        // of each (with the characters JSON's grammar turns on) checked against serde_json.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/acme/pebble-2.4.0");
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "http") {
                continue;
            }
            let raw = std::fs::read(path).unwrap();
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let body = &raw[i + 4..];
                if body.first() == Some(&b'{') {
                    bodies.push(body.to_vec());
                }
            }
        }
        assert!(bodies.len() >= 5, "captured bodies in {}", dir.display());
        let mut checked = 0usize;
        for body in &bodies {
            let mut variants = std::vec![body.clone()];
            for i in 0..body.len().min(400) {
                let mut d = body.clone();
                d.remove(i);
                variants.push(d);
                for c in [b'"', b'\\', b',', b':', b'}', b']', b'{', b'[', b'0', b'-', b'e', b'.', b' ', 0x01, 0xff] {
                    let mut s = body.clone();
                    s[i] = c;
                    variants.push(s);
                }
            }
            for v in variants {
                let Some(expected) = serde_verdict(&v) else { continue };
                assert_eq!(Object::parse(&v).is_ok(), expected, "{}", String::from_utf8_lossy(&v));
                if let (true, Ok(o)) = (expected, Object::parse(&v)) {
                    let theirs: serde_json::Value = serde_json::from_slice(&v).unwrap();
                    for (k, val) in theirs.as_object().unwrap() {
                        if let (Some(s), Some(mine)) = (val.as_str(), o.get(k).and_then(Value::as_str)) {
                            let decoded: String = unescape(mine).collect();
                            // Duplicated names: serde_json keeps the last, this reader the first.
                            if theirs.as_object().unwrap().len() == Items::new(o.0, true).count() {
                                assert_eq!(&decoded, s, "{k} in {}", String::from_utf8_lossy(&v));
                            }
                        }
                    }
                }
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
