use embedded_enroll::asn1::cert::CertificateRef;
use embedded_enroll::asn1::csr::{CsrBuilder, NameAttribute};
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::hal::{KeyAgreement, Signer};
use embedded_enroll::scep::ca::CaTrust;
use embedded_enroll::scep::client::{Buffers, Client, Config, Operation, Step};
use embedded_enroll::time::Instant;

use crate::support::{MICROMDM_CA as CA, TestRng, with_scratch};

const SUBJECT: &[NameAttribute<'static>] = &[NameAttribute::common_name("fuzz")];

/// The whole SCEP client on arbitrary server replies: an enrollment with a P-256 device key
/// against the micromdm CA (pinned by fingerprint), where every reply comes from the input.
///
/// Input: records `[length u16 BE][chunk size u8][length bytes]`, one per request the client
/// sends, fed in chunks of that size; when the input runs out, the connection fails.
///
/// Properties: never panics; finishes within 64 steps; a finished client reports an outcome.
pub fn scep_client(data: &[u8]) {
    let mut rng = TestRng(0x2545_f491_4f6c_dd1d);
    let mut key = SoftP256Key::generate(&mut rng);
    let mut spki = [0u8; 96];
    let n = key.public_key_der(&mut spki).expect("P-256 SPKI");
    let fp = CertificateRef::parse(CA).expect("seed CA").fingerprint_sha256();
    let config = Config::new("127.0.0.1", CaTrust::Fingerprint(fp), &spki[..n]);
    with_scratch(4096 + 2048 + 8192 + 8192, |pool| {
        let (ca, pool) = pool.split_at_mut(4096);
        let (own, pool) = pool.split_at_mut(2048);
        let (work, io) = pool.split_at_mut(8192);
        let bufs = Buffers { ca, own, work, io };
        let mut client = Client::new(config, Operation::Enroll(CsrBuilder::new(SUBJECT)), bufs, rng).expect("config");
        let mut input = data;
        let mut now = Instant::ZERO;
        for _ in 0..64 {
            match client.poll(now) {
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
                Ok(Step::Agree(req)) => {
                    let mut z = [0u8; 32];
                    if key.agree(&req.peer_public_key, &mut z).is_err() {
                        return;
                    }
                    let _ = client.agreed(now, &z);
                }
                Ok(Step::Decrypt(_)) => panic!("an EC device is never asked to decrypt"),
                Ok(Step::Wait(t)) => {
                    assert!(t >= now);
                    now = t;
                }
                Ok(Step::Done(_)) => {
                    assert!(client.outcome().is_some());
                    return;
                }
                // Buffer limits are caller-side errors, and allowed; nothing else may happen.
                Err(e) => {
                    assert!(matches!(e, embedded_enroll::scep::client::ClientError::BufferTooSmall { .. }), "{e:?}");
                    return;
                }
            }
        }
        panic!("the client did not finish in 64 steps");
    })
}
