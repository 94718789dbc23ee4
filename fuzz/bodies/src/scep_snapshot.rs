use embedded_enroll::scep::snapshot::{MAX_SNAPSHOT_LEN, PendingTransaction};

use crate::support::with_scratch;

/// `scep::snapshot::PendingTransaction::decode` on arbitrary bytes (what a flash sector may
/// hold after power loss).
///
/// Properties: never panics; a record that decodes re-encodes to exactly the same bytes.
pub fn scep_snapshot(data: &[u8]) {
    let Ok(t) = PendingTransaction::decode(data) else { return };
    with_scratch(MAX_SNAPSHOT_LEN, |buf| {
        let again = t.encode(buf).expect("a decoded record encodes");
        assert_eq!(again, data, "decode/encode is not a round trip");
    })
}
