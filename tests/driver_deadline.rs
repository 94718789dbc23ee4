//! The drivers' overall deadline per exchange (issue 13, item 7): a server on 127.0.0.1 that
//! drips its response one byte every 200 ms, or sends nothing at all, is dropped at the
//! deadline (2 s here), not when it closes; the client ends with a transport failure and the
//! progress callback names the deadline. A server that is slow but finishes within the
//! deadline is still heard out.
//!
//! Each driver runs on its own thread and the test waits for it at most 5 s, so a driver
//! without a deadline fails the test instead of hanging it; the server thread is stopped and
//! joined at the end of every test (also when it fails).

use embedded_enroll::est::client::{Buffers, CaCertsTrust, Client, Config, Operation, Outcome};
use embedded_enroll::hal::Signer;
use embedded_enroll::hal::soft::SoftP256Key;
use embedded_enroll::time::Duration as Span;
use embedded_enroll::transport::TransportFailure;
use embedded_enroll::transport::blocking::{DriveOptions, EcDevice, run_est_with};
use embedded_enroll::transport::host::{StdTimer, TcpConnector};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The deadline the drivers are given.
const DEADLINE: Span = Span::from_millis(2000);
/// How long a test waits for a driver before it fails.
const PATIENCE: Duration = Duration::from_secs(5);

/// What the server does once it has read a request.
#[derive(Clone, Copy)]
enum Mode {
    /// A response head that never ends, one byte every 200 ms.
    Drip,
    /// Nothing at all (the connection stays open).
    Silent,
    /// This whole response, one byte every `ms`, then closes.
    Slow(&'static [u8], u64),
}

/// A local server, stopped and joined on drop. It runs for at most 10 minutes.
struct Server {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(600);
            let running = || !flag.load(Ordering::Relaxed) && Instant::now() < until;
            while running() {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req);
                let (body, ms, forever): (&[u8], u64, bool) = match mode {
                    Mode::Drip => (b"HTTP/1.1 200 OK\r\nX-Drip: ", 200, true),
                    Mode::Silent => (b"", 20, true),
                    Mode::Slow(body, ms) => (body, ms, false),
                };
                let mut bytes = body.iter().copied().chain(std::iter::repeat(b'a').take_while(|_| forever));
                while running() {
                    let next = match mode {
                        Mode::Silent => None,
                        _ => match bytes.next() {
                            Some(b) => Some(b),
                            None => break,
                        },
                    };
                    if let Some(b) = next
                        && s.write_all(&[b]).is_err()
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
        });
        Self { addr, stop, thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a driver run reported: its result, the progress lines and how long it took.
struct Run<T> {
    result: T,
    progress: Vec<String>,
    took: Duration,
}

/// Runs `drive` on its own thread and waits for it at most [`PATIENCE`].
fn within_patience<T: Send + 'static>(drive: impl FnOnce(&mut Vec<String>) -> T + Send + 'static) -> Run<T> {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let mut progress = Vec::new();
        let result = drive(&mut progress);
        let _ = tx.send((result, progress));
    });
    let (result, progress) = rx
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|e| panic!("the driver did not return within {PATIENCE:?} ({e:?}): no deadline per exchange"));
    Run { result, progress, took: started.elapsed() }
}

fn est_client_parts() -> (SoftP256Key, Vec<u8>) {
    let mut key = SoftP256Key::generate(&mut rand::rngs::OsRng);
    let mut spki = [0u8; 96];
    let n = key.public_key_der(&mut spki).unwrap();
    (key, spki[..n].to_vec())
}

/// The blocking EST driver fetching `/cacerts` from `addr` with a [`DEADLINE`] per exchange
/// (the connector keeps its default 20 s per-operation timeout).
fn blocking_est(addr: String) -> Run<Outcome> {
    within_patience(move |log| {
        let (mut key, spki) = est_client_parts();
        let config = Config::new("localhost", CaCertsTrust::TlsAuthenticated, &spki);
        let (mut own, mut work, mut io) = (vec![0u8; 1024], vec![0u8; 4096], vec![0u8; 8192]);
        let bufs = Buffers { own: &mut own, work: &mut work, io: &mut io };
        let mut client = Client::new(config, Operation::CaCerts, bufs, rand::rngs::OsRng).unwrap();
        let options = DriveOptions::default().with_exchange_deadline(DEADLINE);
        let mut connect = TcpConnector::new(addr);
        assert_eq!(connect.timeout, Duration::from_secs(20));
        run_est_with(&mut client, &mut connect, &mut EcDevice(&mut key), &mut StdTimer::default(), options, |p| log.push(format!("{p:?}")))
            .unwrap()
    })
}

/// The run ended at the deadline (not before, not long after) as a transport failure.
fn assert_dropped_at_the_deadline(took: Duration, progress: &[String]) {
    assert!(took >= Duration::from_millis(1900), "not before the deadline: {took:?}");
    assert!(took < Duration::from_millis(4000), "soon after the deadline: {took:?}");
    let last = progress.last().map(String::as_str).unwrap_or("");
    assert!(last.starts_with("DeadlineExceeded { ms: "), "{progress:?}");
    let ms: u64 = last.trim_start_matches("DeadlineExceeded { ms: ").trim_end_matches(" }").parse().unwrap();
    assert!((2000..3500).contains(&ms), "{ms} ms");
}

#[test]
fn blocking_est_driver_drops_a_dripping_server_at_the_deadline() {
    let server = Server::start(Mode::Drip);
    let run = blocking_est(server.addr.clone());
    drop(server);
    assert_eq!(run.result, Outcome::Transport(TransportFailure::Deadline));
    assert_dropped_at_the_deadline(run.took, &run.progress);
}

/// A server that sends nothing: the read blocks, and only the socket timeout the driver
/// shortened to the time left (not the connector's 20 s) ends it at the deadline.
#[test]
fn blocking_est_driver_drops_a_silent_server_at_the_deadline() {
    let server = Server::start(Mode::Silent);
    let run = blocking_est(server.addr.clone());
    drop(server);
    assert_eq!(run.result, Outcome::Transport(TransportFailure::Deadline));
    assert_dropped_at_the_deadline(run.took, &run.progress);
}

/// A response that takes about a second to arrive, within the deadline: heard out.
#[test]
fn blocking_est_driver_hears_out_a_slow_server_within_the_deadline() {
    const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let server = Server::start(Mode::Slow(NOT_FOUND, 1000 / NOT_FOUND.len() as u64));
    let run = blocking_est(server.addr.clone());
    drop(server);
    assert!(matches!(run.result, Outcome::HttpStatus { status: 404, .. }), "{:?} {:?}", run.result, run.progress);
    assert!(run.took >= Duration::from_millis(800), "{:?}", run.took);
    assert!(run.progress.iter().all(|p| !p.starts_with("DeadlineExceeded")), "{:?}", run.progress);
}

#[test]
fn drive_options_default_to_sixty_seconds() {
    use embedded_enroll::transport::blocking::DEFAULT_EXCHANGE_DEADLINE;
    assert_eq!(DriveOptions::default().exchange_deadline, Span::from_secs(60));
    assert_eq!(DriveOptions::DEFAULT.exchange_deadline, DEFAULT_EXCHANGE_DEADLINE);
    assert_eq!(DriveOptions::DEFAULT.with_exchange_deadline(DEADLINE).exchange_deadline, DEADLINE);
}

/// The SCEP driver: GetCACaps from a dripping server.
#[cfg(feature = "scep")]
#[test]
fn blocking_scep_driver_drops_a_dripping_server_at_the_deadline() {
    use embedded_enroll::scep::ca::CaTrust;
    use embedded_enroll::scep::client as scep;
    use embedded_enroll::transport::blocking::run_scep_with;
    let server = Server::start(Mode::Drip);
    let addr = server.addr.clone();
    let run = within_patience(move |log| {
        let (mut key, spki) = est_client_parts();
        let config = scep::Config::new("localhost", CaTrust::Fingerprint([0; 32]), &spki);
        let (mut ca, mut own, mut work, mut io) = (vec![0u8; 4096], vec![0u8; 2048], vec![0u8; 8192], vec![0u8; 8192]);
        let bufs = scep::Buffers { ca: &mut ca, own: &mut own, work: &mut work, io: &mut io };
        let mut client = scep::Client::new(config, scep::Operation::GetCaCaps, bufs, rand::rngs::OsRng).unwrap();
        let options = DriveOptions::default().with_exchange_deadline(DEADLINE);
        run_scep_with(&mut client, &mut TcpConnector::new(addr), &mut EcDevice(&mut key), &mut StdTimer::default(), options, |p| {
            log.push(format!("{p:?}"))
        })
        .unwrap()
    });
    drop(server);
    assert_eq!(run.result, scep::Outcome::Transport(TransportFailure::Deadline));
    assert_dropped_at_the_deadline(run.took, &run.progress);
}

/// The async EST driver over embedded-nal-async (host sockets), with the host timer: the read
/// is raced against the timer's sleep, so the deadline holds even for a read that never
/// completes.
#[cfg(feature = "nal-async")]
fn async_est(addr: String) -> Run<Outcome> {
    within_patience(move |log| {
        use embedded_enroll::transport::asynch::{NalAsyncConnector, run_est_with};
        let (mut key, spki) = est_client_parts();
        let config = Config::new("localhost", CaCertsTrust::TlsAuthenticated, &spki);
        let (mut own, mut work, mut io) = (vec![0u8; 1024], vec![0u8; 4096], vec![0u8; 8192]);
        let bufs = Buffers { own: &mut own, work: &mut work, io: &mut io };
        let mut client = Client::new(config, Operation::CaCerts, bufs, rand::rngs::OsRng).unwrap();
        let stack = std_embedded_nal_async::Stack::default();
        let mut connect = NalAsyncConnector::new(&stack, addr.parse().unwrap());
        let options = DriveOptions::default().with_exchange_deadline(DEADLINE);
        futures_lite::future::block_on(run_est_with(
            &mut client,
            &mut connect,
            &mut EcDevice(&mut key),
            &mut StdTimer::default(),
            options,
            |p: embedded_enroll::transport::blocking::Progress<'_>| log.push(format!("{p:?}")),
        ))
        .unwrap()
    })
}

#[cfg(feature = "nal-async")]
#[test]
fn async_est_driver_drops_a_dripping_server_at_the_deadline() {
    let server = Server::start(Mode::Drip);
    let run = async_est(server.addr.clone());
    drop(server);
    assert_eq!(run.result, Outcome::Transport(TransportFailure::Deadline));
    assert_dropped_at_the_deadline(run.took, &run.progress);
}

#[cfg(feature = "nal-async")]
#[test]
fn async_est_driver_drops_a_silent_server_at_the_deadline() {
    let server = Server::start(Mode::Silent);
    let run = async_est(server.addr.clone());
    drop(server);
    assert_eq!(run.result, Outcome::Transport(TransportFailure::Deadline));
    assert_dropped_at_the_deadline(run.took, &run.progress);
}

#[cfg(feature = "nal-async")]
#[test]
fn async_est_driver_hears_out_a_slow_server_within_the_deadline() {
    const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let server = Server::start(Mode::Slow(NOT_FOUND, 1000 / NOT_FOUND.len() as u64));
    let run = async_est(server.addr.clone());
    drop(server);
    assert!(matches!(run.result, Outcome::HttpStatus { status: 404, .. }), "{:?} {:?}", run.result, run.progress);
    assert!(run.progress.iter().all(|p| !p.starts_with("DeadlineExceeded")), "{:?}", run.progress);
}
