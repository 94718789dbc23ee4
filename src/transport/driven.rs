//! What the drivers see of a protocol client: its next step in protocol-free terms
//! ([`Action`]) and the answers it takes ([`Driven`]). Both drivers (blocking and async) run
//! any [`Driven`] client with one loop, so neither knows SCEP from EST: the clients decide
//! which request comes next, whether it needs a connection of its own opened first (EST
//! channel binding), and whether it carries credentials.

use super::TransportFailure;
use super::blocking::{DeviceKeys, DriveError, Progress, ResponseSink, key_failed};
use crate::crypto::Digest;
use crate::error::ClientError;
use crate::hal::KeyRole;
use crate::time::Instant;

/// A client's next step, as the drivers act on it.
pub(crate) enum Action<'a, O> {
    /// Open a connection and keep it for the next [`Action::Send`]; hand its channel-binding
    /// value to [`Driven::bound`] first.
    #[cfg(feature = "est")]
    Connect,
    /// Send `request` (on the connection [`Action::Connect`] opened, else on a new one) and
    /// deliver the reply. `credentials`: the request carries a password or other credential,
    /// so it must go only to an authenticated server.
    Send { request: &'a [u8], credentials: bool },
    /// A device key operation ([`key_step`] answers it).
    Key,
    /// Sleep until then (a retry schedule).
    Wait(Instant),
    /// The client's end.
    Done(&'a O),
}

/// A device key operation a client asks for.
pub(crate) enum KeyRequest<'a> {
    /// Sign `digest` with the key in `role`.
    Sign(KeyRole, Digest),
    /// Decrypt a content-encryption key of `usize` bytes (RSA key transport).
    #[cfg(feature = "scep")]
    Decrypt(KeyRole, &'a [u8], usize),
    /// ECDH with the peer's public key (SEC1).
    #[cfg(feature = "scep")]
    Agree(KeyRole, heapless::Vec<u8, 97>),
    /// (Keeps the lifetime in builds without SCEP; never made.)
    #[cfg(not(feature = "scep"))]
    #[allow(dead_code)]
    Never(core::marker::PhantomData<&'a ()>),
}

/// A protocol client the drivers can run.
pub(crate) trait Driven: ResponseSink<Error = ClientError> {
    /// How the client ends.
    type Outcome: Clone;
    /// The next step (polling again before answering returns the same step).
    fn action(&mut self, now: Instant) -> Result<Action<'_, Self::Outcome>, ClientError>;
    /// The key operation of the current [`Action::Key`].
    fn key_request(&mut self, now: Instant) -> Result<KeyRequest<'_>, ClientError>;
    /// The signature asked for.
    fn signed(&mut self, now: Instant, signature: &[u8]) -> Result<(), ClientError>;
    /// The content-encryption key asked for.
    #[cfg(feature = "scep")]
    fn decrypted(&mut self, now: Instant, cek: &[u8]) -> Result<(), ClientError>;
    /// The ECDH shared secret asked for.
    #[cfg(feature = "scep")]
    fn agreed(&mut self, now: Instant, shared_secret: &[u8; 32]) -> Result<(), ClientError>;
    /// The channel-binding value of the connection `Action::Connect` opened (empty: none).
    #[cfg(feature = "est")]
    fn bound(&mut self, now: Instant, value: &[u8]) -> Result<(), ClientError>;
}

/// Answers the client's current [`Action::Key`] through `keys` (synchronous in both drivers:
/// device keys answer synchronously). Signing is a frame of its own (stack): its buffer, up to
/// 512 bytes, is not in the driver's loop.
pub(crate) fn key_step<D: Driven, K: DeviceKeys>(
    client: &mut D,
    keys: &mut K,
    now: Instant,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), DriveError<ClientError>> {
    match client.key_request(now).map_err(DriveError::Client)? {
        KeyRequest::Sign(role, digest) => {
            progress(Progress::KeyOperation("sign"));
            sign(client, keys, role, &digest, now)
        }
        #[cfg(feature = "scep")]
        KeyRequest::Decrypt(role, encrypted_key, key_len) => {
            progress(Progress::KeyOperation("decrypt"));
            let mut cek = zeroize::Zeroizing::new([0u8; 32]);
            let cek = cek.get_mut(..key_len).ok_or(DriveError::Key(crate::hal::ErrorKind::Unsupported))?;
            keys.decrypt(role, encrypted_key, cek).map_err(key_failed("decrypt"))?;
            client.decrypted(now, cek).map_err(DriveError::Client)
        }
        #[cfg(feature = "scep")]
        KeyRequest::Agree(role, peer) => {
            progress(Progress::KeyOperation("agree"));
            let mut z = zeroize::Zeroizing::new([0u8; 32]);
            keys.agree(role, &peer, &mut z).map_err(key_failed("agree"))?;
            client.agreed(now, &z).map_err(DriveError::Client)
        }
        #[cfg(not(feature = "scep"))]
        KeyRequest::Never(_) => Err(DriveError::Client(ClientError::UnexpectedCall)),
    }
}

/// A signature by the key in `role`, handed to the client. A frame of its own (stack).
#[inline(never)]
fn sign<D: Driven, K: DeviceKeys>(
    client: &mut D,
    keys: &mut K,
    role: KeyRole,
    digest: &Digest,
    now: Instant,
) -> Result<(), DriveError<ClientError>> {
    let mut sig = [0u8; crate::crypto::rsa::MAX_MODULUS_LEN];
    let n = keys.sign(role, digest, &mut sig).map_err(key_failed("sign"))?;
    client.signed(now, sig.get(..n).unwrap_or(&[])).map_err(DriveError::Client)
}

/// The first line of a request, for progress reports.
pub(crate) fn request_line(bytes: &[u8]) -> &str {
    let line = bytes.split(|b| *b == b'\r').next().and_then(|l| core::str::from_utf8(l).ok()).unwrap_or("");
    line.get(..line.len().min(120)).unwrap_or("")
}

#[cfg(feature = "est")]
/// Hands the channel binding of a connection to the client. A frame of its own (stack): the
/// 64-byte value is not in the caller's frame while the connection is open.
#[inline(never)]
pub(crate) fn bind<D: Driven>(
    client: &mut D,
    binding: impl FnOnce(&mut [u8]) -> usize,
    now: Instant,
) -> Result<(), DriveError<ClientError>> {
    let mut value = [0u8; 64];
    let n = binding(&mut value);
    client.bound(now, value.get(..n).unwrap_or(&[])).map_err(DriveError::Client)
}

/// On the connection [`Action::Connect`] opened (its binding handed over): the client's key
/// steps until its request (a CSR that carries the binding is signed now), in both drivers.
/// `Ok(Some(t))`: the request is next, checked against `authenticated` and shown to
/// `progress` (`client.action(t)` gives it); `Ok(None)`: the client wants something else,
/// and the connection goes unused.
#[cfg(feature = "est")]
pub(crate) fn until_held_request<D: Driven, K: DeviceKeys>(
    client: &mut D,
    keys: &mut K,
    mut now: impl FnMut() -> Instant,
    authenticated: bool,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<Option<Instant>, DriveError<ClientError>> {
    for _ in 0..4 {
        let t = now();
        match client.action(t).map_err(DriveError::Client)? {
            Action::Key => key_step(client, keys, t, progress)?,
            Action::Send { request, credentials } => {
                if credentials && !authenticated {
                    return Err(super::blocking::stopped(DriveError::UnauthenticatedServer));
                }
                progress(Progress::Request(request_line(request)));
                return Ok(Some(t));
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// A client's `handle_response_*` and `handle_transport_failure` as the drivers'
/// [`ResponseSink`] (`$this => $client`: where the client is, from `self`).
macro_rules! sink_through {
    (impl<$g:ident: $b:path> for $t:ty, $this:ident => $client:expr) => {
        impl<$g: $b> ResponseSink for $t {
            type Error = ClientError;
            fn data(&mut $this, now: Instant, data: &[u8]) -> Result<usize, ClientError> {
                $client.handle_response_data(now, data)
            }
            fn end(&mut $this, now: Instant) -> Result<(), ClientError> {
                $client.handle_response_end(now)
            }
            fn complete(&$this) -> bool {
                $client.response_complete()
            }
            fn transport_error(&mut $this, now: Instant, failure: TransportFailure) -> Result<(), ClientError> {
                $client.handle_transport_failure(now, failure)
            }
        }
    };
}

#[cfg(feature = "scep")]
mod scep {
    use super::*;
    use crate::scep::client::{Client, Outcome, Step};
    use rand_core::CryptoRngCore;

    sink_through!(impl<R: CryptoRngCore> for Client<'_, '_, R>, self => self);

    impl<R: CryptoRngCore> Driven for Client<'_, '_, R> {
        type Outcome = Outcome;
        fn action(&mut self, now: Instant) -> Result<Action<'_, Outcome>, ClientError> {
            Ok(match self.poll(now)? {
                // The challenge password travels inside the encrypted pkiMessage.
                Step::Send(request) => Action::Send { request, credentials: false },
                Step::Sign(_) | Step::Decrypt(_) | Step::Agree(_) => Action::Key,
                Step::Wait(until) => Action::Wait(until),
                Step::Done(outcome) => Action::Done(outcome),
            })
        }
        fn key_request(&mut self, now: Instant) -> Result<KeyRequest<'_>, ClientError> {
            match self.poll(now)? {
                Step::Sign(r) => Ok(KeyRequest::Sign(r.key, r.digest)),
                Step::Decrypt(r) => Ok(KeyRequest::Decrypt(r.key, r.encrypted_key, r.key_len)),
                Step::Agree(r) => Ok(KeyRequest::Agree(r.key, r.peer_public_key)),
                _ => Err(ClientError::UnexpectedCall),
            }
        }
        fn signed(&mut self, now: Instant, signature: &[u8]) -> Result<(), ClientError> {
            Client::signed(self, now, signature)
        }
        fn decrypted(&mut self, now: Instant, cek: &[u8]) -> Result<(), ClientError> {
            Client::decrypted(self, now, cek)
        }
        fn agreed(&mut self, now: Instant, shared_secret: &[u8; 32]) -> Result<(), ClientError> {
            Client::agreed(self, now, shared_secret)
        }
        #[cfg(feature = "est")]
        fn bound(&mut self, _: Instant, _: &[u8]) -> Result<(), ClientError> {
            Err(ClientError::UnexpectedCall)
        }
    }
}

#[cfg(feature = "est")]
mod est {
    use super::*;
    use crate::est::client::{Client, Outcome, Step};
    use crate::http::request::carries_authorization;
    use rand_core::CryptoRngCore;

    sink_through!(impl<R: CryptoRngCore> for Client<'_, '_, R>, self => self);

    impl<R: CryptoRngCore> Driven for Client<'_, '_, R> {
        type Outcome = Outcome;
        fn action(&mut self, now: Instant) -> Result<Action<'_, Outcome>, ClientError> {
            Ok(match self.poll(now)? {
                Step::Bind => Action::Connect,
                // Basic or Digest: the password goes only to a server the TLS handshake authenticated.
                Step::Send(request) => Action::Send { request, credentials: carries_authorization(request) },
                Step::Sign(_) => Action::Key,
                Step::Wait(until) => Action::Wait(until),
                Step::Done(outcome) => Action::Done(outcome),
            })
        }
        fn key_request(&mut self, now: Instant) -> Result<KeyRequest<'_>, ClientError> {
            match self.poll(now)? {
                Step::Sign(r) => Ok(KeyRequest::Sign(r.key, r.digest)),
                _ => Err(ClientError::UnexpectedCall),
            }
        }
        fn signed(&mut self, now: Instant, signature: &[u8]) -> Result<(), ClientError> {
            Client::signed(self, now, signature)
        }
        #[cfg(feature = "scep")]
        fn decrypted(&mut self, _: Instant, _: &[u8]) -> Result<(), ClientError> {
            Err(ClientError::UnexpectedCall)
        }
        #[cfg(feature = "scep")]
        fn agreed(&mut self, _: Instant, _: &[u8; 32]) -> Result<(), ClientError> {
            Err(ClientError::UnexpectedCall)
        }
        fn bound(&mut self, now: Instant, value: &[u8]) -> Result<(), ClientError> {
            Client::bound(self, now, value)
        }
    }
}

#[cfg(feature = "acme")]
mod acme {
    use super::*;
    use crate::acme::client::{Client, Outcome, Responder, Step};

    /// An ACME client with the responder that answers its challenges: the challenge steps are
    /// taken here, so the drivers see only requests, signatures and waits.
    pub(crate) struct Answering<'r, 'a, 'b, H> {
        pub(crate) client: &'r mut Client<'a, 'b>,
        pub(crate) responder: &'r mut H,
    }

    sink_through!(impl<H: Responder> for Answering<'_, '_, '_, H>, self => self.client);

    impl<H: Responder> Driven for Answering<'_, '_, '_, H> {
        type Outcome = Outcome;
        fn action(&mut self, now: Instant) -> Result<Action<'_, Outcome>, ClientError> {
            // Each authorization publishes once and withdraws once: a few rounds suffice.
            for _ in 0..4 {
                match self.client.poll(now)? {
                    Step::Publish(task) => {
                        let ok = self.responder.publish(&task);
                        self.client.published(now, ok)?;
                    }
                    Step::Withdraw(task) => {
                        self.responder.withdraw(&task);
                        self.client.withdrawn(now)?;
                    }
                    _ => break,
                }
            }
            Ok(match self.client.poll(now)? {
                // The account key signs every request: no password travels.
                Step::Send(request) => Action::Send { request, credentials: false },
                Step::Sign(_) => Action::Key,
                Step::Wait(until) => Action::Wait(until),
                Step::Done(outcome) => Action::Done(outcome),
                Step::Publish(_) | Step::Withdraw(_) => return Err(ClientError::UnexpectedCall),
            })
        }
        fn key_request(&mut self, now: Instant) -> Result<KeyRequest<'_>, ClientError> {
            match self.client.poll(now)? {
                Step::Sign(r) => Ok(KeyRequest::Sign(r.key, r.digest)),
                _ => Err(ClientError::UnexpectedCall),
            }
        }
        fn signed(&mut self, now: Instant, signature: &[u8]) -> Result<(), ClientError> {
            self.client.signed(now, signature)
        }
        #[cfg(feature = "scep")]
        fn decrypted(&mut self, _: Instant, _: &[u8]) -> Result<(), ClientError> {
            Err(ClientError::UnexpectedCall)
        }
        #[cfg(feature = "scep")]
        fn agreed(&mut self, _: Instant, _: &[u8; 32]) -> Result<(), ClientError> {
            Err(ClientError::UnexpectedCall)
        }
        #[cfg(feature = "est")]
        fn bound(&mut self, _: Instant, _: &[u8]) -> Result<(), ClientError> {
            Err(ClientError::UnexpectedCall)
        }
    }
}

#[cfg(feature = "acme")]
pub(crate) use acme::Answering;
