use embedded_enroll::UnixTime;
use embedded_enroll::lifecycle::record::{MAX_RECORD_LEN, Record};
use embedded_enroll::lifecycle::{Auth, Buffers, KeyPolicy, Manager, Profile, Protocol, RenewalPolicy, RolloverPolicy, Step, Trust};

use crate::support::{Counter, with_scratch};

/// The lifecycle manager's persisted record and restore on arbitrary bytes (what two flash
/// slots may hold after power loss or corruption).
///
/// Input: `Record::parse` on the whole input; then the input as two slots (a mode byte, a
/// 16-bit length, slot A, the rest slot B) given to `Manager::restore`, and a few manager
/// steps answered mechanically.
///
/// Properties: never panics; a record that parses re-encodes to one that parses as itself (a
/// current-version record to exactly its bytes); restore
/// either fails with a typed error or yields a manager whose steps can be answered.
pub fn lifecycle_record(data: &[u8]) {
    if let Ok(r) = Record::parse(data) {
        with_scratch(MAX_RECORD_LEN, |out| {
            let out = &mut out[..r.len()];
            let n = r.emit(out).expect("a parsed record encodes");
            // Every record re-encodes (in the current version) to one that parses as itself; a
            // record of the current version to exactly its bytes (an older one gains the job
            // field).
            assert_eq!(Record::parse(&out[..n]), Ok(r), "parse/emit is not a round trip");
            if data.get(4) == Some(&2) {
                assert_eq!(Some(&out[..n]), data.get(..n), "parse/emit of a version 2 record changed its bytes");
            }
        });
    }

    let Some((&mode, rest)) = data.split_first() else { return };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else { return };
    let split = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (a, b) = rest.split_at(split);
    if a.len() > MAX_RECORD_LEN || b.len() > MAX_RECORD_LEN {
        return;
    }
    let profile = Profile {
        name: "fuzz",
        protocol: if mode & 1 == 0 { Protocol::Scep } else { Protocol::Est },
        server: "ca.example",
        key_slots: [0, 1],
        store_slots: [0, 1],
        trust: Trust::Fingerprint([0; 32]),
        subject: &[],
        alt_names: &[],
        auth: Auth::None,
        renewal: RenewalPolicy::DEFAULT,
        keys: if mode & 2 == 0 { KeyPolicy::SameKey } else { KeyPolicy::NewKey },
        rollover: RolloverPolicy::DEFAULT,
        extra: (),
    };
    with_scratch(2 * MAX_RECORD_LEN, |pool| {
        let (cur, nxt) = pool.split_at_mut(MAX_RECORD_LEN);
        cur[..a.len()].copy_from_slice(a);
        nxt[..b.len()].copy_from_slice(b);
        let Ok(mut m) = Manager::restore(&profile, Buffers { current: cur, next: nxt }, [a.len(), b.len()], &mut Counter(1)) else {
            return;
        };
        let now = if mode & 4 == 0 { Some(UnixTime::from_secs(1_800_000_000)) } else { None };
        for _ in 0..16 {
            let Ok(step) = m.poll(now) else { return };
            match step {
                Step::Store { .. } => {
                    let _ = m.handle_stored(mode & 8 == 0);
                }
                Step::GenerateKey(slot) => {
                    let _ = m.handle_key(slot, &[0x30, 0x00]);
                }
                Step::Run(_) => {
                    let _ = m.handle_failed(now);
                }
                Step::Activate { .. } | Step::Report(_) => {}
                Step::Wait(_) => return,
            }
        }
    })
}
