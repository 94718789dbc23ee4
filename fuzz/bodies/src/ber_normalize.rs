use embedded_enroll::asn1::ber::{is_definite, normalize};

use crate::support::with_scratch;

const OUT_LEN: usize = 4096;

/// `asn1::ber::normalize` on arbitrary bytes.
///
/// Properties: never panics; its output is definite-length DER-style encoding with no
/// constructed OCTET STRING, so normalizing it again is the identity and `is_definite` holds
/// for it; and input that `is_definite` accepts is copied unchanged.
pub fn ber_normalize(data: &[u8]) {
    let definite = is_definite(data);
    with_scratch(2 * OUT_LEN, |pool| {
        let (out, again) = pool.split_at_mut(OUT_LEN);
        let Ok(first) = normalize(data, out) else {
            assert!(!definite || data.len() > OUT_LEN, "is_definite accepted input that normalize rejects");
            return;
        };
        if definite {
            assert_eq!(first, data, "input that is_definite accepts must come out unchanged");
        }
        assert!(is_definite(first), "normalize output is not definite DER-style encoding");
        let second = normalize(first, again).expect("normalize output must normalize again");
        assert_eq!(second, first, "normalize is not idempotent");
    })
}
