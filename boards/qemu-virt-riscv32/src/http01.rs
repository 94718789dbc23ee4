//! http-01 (RFC 8555 section 8.3) answered by the image itself (feature `acme`): smoltcp TCP
//! sockets listening on guest port 80, serviced from `net::PolledStack::poll`, answering with
//! the library's `acme::http01::respond` for the challenge the ACME run published.
//!
//! - The ACME run's `Responder` ([`publish`], [`withdraw`]) copies the task's token and key
//!   authorization into [`PUBLISHED`], a static the poll reads: the run and the network poll
//!   never hold each other.
//! - The ACME server's validation authority connects to the host's `127.0.0.1:PORT`, which
//!   QEMU's user-mode network forwards to the guest's port 80 (`-netdev
//!   user,hostfwd=tcp:127.0.0.1:PORT-:80`, run.sh). pebble fetches each challenge three times
//!   at once: [`LISTENERS`] sockets listen, each takes one connection, answers it, closes, and
//!   listens again.
//! - Everything is serviced whenever the interface is polled: in every TCP call of an
//!   enrollment, and in the ACME run's timer while it waits (`acme::PollingTimer`). [`serve`]
//!   is small and prints nothing (it runs under the TLS reads): the counts of answers are kept
//!   in [`PUBLISHED`] and printed when the challenge is withdrawn.
//!
//! [`serve`]: Listeners::serve

use core::cell::RefCell;
use critical_section::Mutex;
use embedded_enroll::acme::http01::{Answer, respond};
use embedded_enroll::acme::{ChallengeKind, ChallengeTask};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use static_cell::ConstStaticCell;

/// Listening sockets on port 80 (pebble's validation authority fetches three times at once).
pub const LISTENERS: usize = 4;
/// The guest port http-01 is answered on (RFC 8555 section 8.3: port 80).
pub const PORT: u16 = 80;
/// Each listener's smoltcp buffers (a validation request is one short GET; the answer is
/// under 300 bytes).
const RX: usize = 1024;
const TX: usize = 1024;
/// The longest request line and headers kept (the library's responder reads the first line).
const REQUEST: usize = 1024;
/// The longest answer (status line, three headers, the key authorization).
const ANSWER: usize = 512;
/// A connection that makes no progress for this long is reset (ms).
const TIMEOUT_MS: u64 = 10_000;
/// The longest token and key authorization kept (pebble's: 43 and 87 characters).
const TOKEN: usize = 128;
const KEY_AUTHORIZATION: usize = 256;

static RX_BUFFERS: ConstStaticCell<[[u8; RX]; LISTENERS]> = ConstStaticCell::new([[0; RX]; LISTENERS]);
static TX_BUFFERS: ConstStaticCell<[[u8; TX]; LISTENERS]> = ConstStaticCell::new([[0; TX]; LISTENERS]);
/// The listeners' request buffers and the answer buffer: statics, off the stack of the polls.
static BUFFERS: ConstStaticCell<Buffers> = ConstStaticCell::new(Buffers { requests: [[0; REQUEST]; LISTENERS], answer: [0; ANSWER] });

struct Buffers {
    requests: [[u8; REQUEST]; LISTENERS],
    answer: [u8; ANSWER],
}

/// The challenge being answered, as the Responder published it, and what was answered.
pub struct Published {
    token: [u8; TOKEN],
    token_len: usize,
    key_authorization: [u8; KEY_AUTHORIZATION],
    key_authorization_len: usize,
    active: bool,
    /// Requests answered with the key authorization (200) since the task was published.
    pub answered: u32,
    /// Other requests answered (404, 405, 400) since then.
    pub refused: u32,
}

impl Published {
    const EMPTY: Self = Self {
        token: [0; TOKEN],
        token_len: 0,
        key_authorization: [0; KEY_AUTHORIZATION],
        key_authorization_len: 0,
        active: false,
        answered: 0,
        refused: 0,
    };

    /// The task, when one is published.
    fn task(&self) -> Option<ChallengeTask<'_>> {
        if !self.active {
            return None;
        }
        let token = core::str::from_utf8(self.token.get(..self.token_len)?).ok()?;
        let key_authorization = core::str::from_utf8(self.key_authorization.get(..self.key_authorization_len)?).ok()?;
        Some(ChallengeTask { kind: ChallengeKind::Http01, identifier: "", token, key_authorization })
    }
}

/// The published challenge: written by the ACME run's Responder, read by the network poll.
pub static PUBLISHED: Mutex<RefCell<Published>> = Mutex::new(RefCell::new(Published::EMPTY));

/// Starts answering `task` (an http-01 challenge); false when it is not one or does not fit.
pub fn publish(task: &ChallengeTask<'_>) -> bool {
    if task.kind != ChallengeKind::Http01 {
        return false;
    }
    let (token, ka) = (task.token.as_bytes(), task.key_authorization.as_bytes());
    critical_section::with(|cs| {
        let mut p = PUBLISHED.borrow_ref_mut(cs);
        let p = &mut *p;
        match (p.token.get_mut(..token.len()), p.key_authorization.get_mut(..ka.len())) {
            (Some(t), Some(k)) => {
                t.copy_from_slice(token);
                k.copy_from_slice(ka);
                p.token_len = token.len();
                p.key_authorization_len = ka.len();
                p.active = true;
                p.answered = 0;
                p.refused = 0;
                true
            }
            _ => false,
        }
    })
}

/// Stops answering (every request gets 404 from now on); what was answered since
/// [`publish`]: (key authorizations, other answers).
pub fn withdraw() -> (u32, u32) {
    critical_section::with(|cs| {
        let mut p = PUBLISHED.borrow_ref_mut(cs);
        p.active = false;
        (p.answered, p.refused)
    })
}

/// The listening sockets and their requests.
pub struct Listeners {
    handles: [SocketHandle; LISTENERS],
    /// Bytes of each listener's request so far.
    lens: [usize; LISTENERS],
    /// Whether each listener's connection was answered (then it only closes).
    answered: [bool; LISTENERS],
    buffers: &'static mut Buffers,
}

impl Listeners {
    /// Adds [`LISTENERS`] sockets to `sockets` (they listen from the first poll on).
    pub fn add(sockets: &mut SocketSet<'static>) -> Option<Self> {
        let (rx, tx, buffers) = (RX_BUFFERS.try_take()?, TX_BUFFERS.try_take()?, BUFFERS.try_take()?);
        let mut handles = [None; LISTENERS];
        for ((rx, tx), handle) in rx.iter_mut().zip(tx.iter_mut()).zip(handles.iter_mut()) {
            let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(&mut rx[..]), tcp::SocketBuffer::new(&mut tx[..]));
            socket.set_timeout(Some(smoltcp::time::Duration::from_millis(TIMEOUT_MS)));
            *handle = Some(sockets.add(socket));
        }
        let handles = handles.map(|h| h.unwrap_or_else(|| crate::fatal("http-01: a listener was not added")));
        Some(Self { handles, lens: [0; LISTENERS], answered: [false; LISTENERS], buffers })
    }

    /// Services the listeners after a poll: listens again where a connection ended, reads
    /// requests, answers complete ones and closes them. True when something was queued to
    /// send (poll again). A frame of its own (it runs under the TLS reads of every run).
    #[inline(never)]
    pub fn serve(&mut self, sockets: &mut SocketSet<'_>) -> bool {
        let mut sent = false;
        for (i, &handle) in self.handles.iter().enumerate() {
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            let (Some(len), Some(answered), Some(request)) =
                (self.lens.get_mut(i), self.answered.get_mut(i), self.buffers.requests.get_mut(i))
            else {
                continue;
            };
            match socket.state() {
                tcp::State::Closed => {
                    // A new listener, or its last connection ended.
                    *len = 0;
                    *answered = false;
                    let _ = socket.listen(PORT);
                    continue;
                }
                // Answered and closed by both sides: free it now rather than in 10 s.
                tcp::State::TimeWait => {
                    socket.abort();
                    continue;
                }
                tcp::State::Listen | tcp::State::SynReceived => continue,
                _ => {}
            }
            if *answered {
                // Whatever else the peer sends is dropped.
                while socket.can_recv() {
                    if socket.recv(|d| (d.len(), ())).is_err() {
                        break;
                    }
                }
                continue;
            }
            if socket.can_recv()
                && let Some(rest) = request.get_mut(*len..)
                && let Ok(n) = socket.recv_slice(rest)
            {
                *len += n;
            }
            if *len == 0 {
                if !socket.may_recv() {
                    socket.close();
                }
                continue;
            }
            let answer = &mut self.buffers.answer;
            let got = request.get(..*len).unwrap_or(&[]);
            let result = critical_section::with(|cs| {
                let mut p = PUBLISHED.borrow_ref_mut(cs);
                let r = respond(got, p.task().as_ref(), answer);
                match r {
                    Answer::KeyAuthorization(_) => p.answered += 1,
                    Answer::NotFound(_) | Answer::MethodNotAllowed(_) => p.refused += 1,
                    _ => {}
                }
                r
            });
            match result {
                Answer::KeyAuthorization(n) | Answer::NotFound(n) | Answer::MethodNotAllowed(n) => {
                    let _ = socket.send_slice(answer.get(..n).unwrap_or(&[]));
                    socket.close();
                    *answered = true;
                    sent = true;
                }
                // A request line longer than the buffer, or a peer that stopped sending.
                Answer::Incomplete if *len == REQUEST || !socket.may_recv() => socket.abort(),
                Answer::Incomplete => {}
                // An answer larger than the buffer (no request line can get a 400 here: the
                // buffer ends before the responder's limit).
                _ => socket.abort(),
            }
        }
        sent
    }
}
