use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute};
use embedded_enroll::est::client::{Buffers, CaCertsTrust, Client, ClientError, Config, Credentials, Operation, Step};
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::time::{Instant, UnixTime};

use crate::support::{TestRng, with_scratch};

const SUBJECT: &[NameAttribute<'static>] = &[NameAttribute::common_name("fuzz")];

/// The whole EST client on arbitrary server replies: an enrollment with a P-256 device key,
/// `/csrattrs` first, Basic/Digest credentials, channel binding when asked; every reply comes
/// from the input, as for `scep_client`: records `[length u16 BE][chunk size u8][bytes]`,
/// and the connection fails when the input runs out.
///
/// Properties: never panics; finishes within 64 steps; a finished client reports an outcome;
/// a waiting client never asks to wait into the past.
pub fn est_client(data: &[u8]) {
    let mut rng = TestRng(0x9e37_79b9_7f4a_7c15);
    let mut key = SoftP256Key::generate(&mut rng);
    let mut spki = [0u8; 96];
    let n = key.public_key_der(&mut spki).expect("P-256 SPKI");
    let mut config = Config::new("127.0.0.1", CaCertsTrust::TlsAuthenticated, &spki[..n]);
    config.fetch_csr_attributes = true;
    config.credentials = Some(Credentials { user: "device", password: "secret", preemptive_basic: false });
    config.wall_time = Some(UnixTime::from_secs(1_800_000_000));
    with_scratch(2048 + 4096 + 4096, |pool| {
        let (own, pool) = pool.split_at_mut(2048);
        let (work, io) = pool.split_at_mut(4096);
        let bufs = Buffers { own, work, io };
        let mut client = Client::new(config, Operation::Enroll(CsrBuilder::new(SUBJECT)), bufs, rng).expect("config");
        let mut input = data;
        let mut now = Instant::ZERO;
        for _ in 0..64 {
            match client.poll(now) {
                Ok(Step::Bind) => client.bound(now, &[0x42; 32]).expect("a binding is accepted when asked"),
                Ok(Step::Send(_)) => {
                    let Some((&[hi, lo, chunk], rest)) = input.split_first_chunk::<3>() else {
                        client.handle_transport_error(now).expect("transport error accepted while awaiting");
                        continue;
                    };
                    let len = (usize::from(hi) << 8 | usize::from(lo)).min(rest.len());
                    let (reply, tail) = rest.split_at(len);
                    input = tail;
                    for c in reply.chunks(usize::from(chunk).max(1)) {
                        client.handle_response_data(now, c).expect("data accepted while awaiting");
                        if client.response_complete() {
                            break;
                        }
                    }
                    client.handle_response_end(now).expect("end accepted while awaiting");
                }
                Ok(Step::Sign(req)) => {
                    let mut sig = [0u8; 64];
                    key.sign_prehash(&req.digest, &mut sig).expect("sign");
                    client.signed(now, &sig).expect("a P-256 signature is accepted");
                }
                Ok(Step::Wait(t)) => {
                    assert!(t >= now);
                    now = t;
                }
                Ok(Step::Done(_)) => {
                    assert!(client.outcome().is_some());
                    return;
                }
                Err(e) => {
                    assert!(matches!(e, ClientError::BufferTooSmall { .. }), "{e:?}");
                    return;
                }
            }
        }
        panic!("the client did not finish in 64 steps");
    })
}
