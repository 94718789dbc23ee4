use embedded_enroll::scep::snapshot::{MAX_SNAPSHOT_LEN, PendingTransaction};

/// `scep::snapshot::PendingTransaction::decode` on arbitrary bytes (what a flash sector may
/// hold after power loss).
///
/// Properties: never panics; a record that decodes re-encodes to exactly the same bytes.
pub fn scep_snapshot(data: &[u8]) {
    let Ok(t) = PendingTransaction::decode(data) else { return };
    let mut buf = [0u8; MAX_SNAPSHOT_LEN];
    let again = t.encode(&mut buf).expect("a decoded record encodes");
    assert_eq!(again, data, "decode/encode is not a round trip");
}
