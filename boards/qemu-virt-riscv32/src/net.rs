//! The TCP/IP side: smoltcp on the virtio-net device, with a static IPv4 configuration for
//! QEMU's user-mode network (guest 10.0.2.15/24, gateway 10.0.2.2), made an embedded-nal 0.9
//! `TcpClientStack` here ([`PolledStack`]) and driven by the crate's `NalConnector`.
//!
//! QEMU's user-mode network makes the gateway address 10.0.2.2 the host's loopback: the
//! image reaches a server the host runs on `127.0.0.1:PORT` at `10.0.2.2:PORT`, so a
//! configured `127.0.0.1` server address is mapped to the gateway ([`guest_address`]). No
//! other address is ever connected to, and no packet leaves the host.
//!
//! `NalConnector` blocks on each call (`nb::block!`): [`PolledStack`] polls the interface on
//! every call, and turns a call that has not made progress for [`STALL_MS`] into an error, so
//! a dead server cannot hang the image. With feature `acme` the same poll also services the
//! http-01 listening sockets on port 80 ([`crate::http01`]): whatever polls the interface (a
//! TCP call of an enrollment, or the ACME run's timer while it waits) answers the ACME
//! server's validation requests.
//!
//! The stack is this module's own, on smoltcp's `Interface` and `SocketSet` (the image used
//! `smoltcp-nal` before, which owns its socket set and offers no listening socket): the client
//! sockets behave as `smoltcp-nal`'s did (a socket is aborted when taken, `connect` is retried
//! by smoltcp until it is established, a peer's FIN or reset reads as the end of the stream).

use crate::clock::now_ms;
use crate::virtio::VirtioNet;
use core::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use embedded_nal::{TcpClientStack, TcpError, TcpErrorKind, nb};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
use static_cell::ConstStaticCell;

/// The image's address on QEMU's user-mode network (what its DHCP server would hand out).
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// QEMU user-mode network's gateway: the host's loopback.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// A blocking call that sees no progress for this long fails (ms).
pub const STALL_MS: u32 = 30_000;

/// TCP client sockets (one connection is open at a time; the second lets the previous one
/// finish closing).
const SOCKETS: usize = 2;
const TCP_RX: usize = 8192;
const TCP_TX: usize = 4096;
/// The http-01 listening sockets (feature `acme`), in the same socket set.
#[cfg(feature = "acme")]
const LISTENERS: usize = crate::http01::LISTENERS;
#[cfg(not(feature = "acme"))]
const LISTENERS: usize = 0;
/// The first port of the dynamic range (RFC 6335), where local ports are drawn.
const EPHEMERAL_START: u16 = 49152;

/// smoltcp's socket table (its empty entries are not all-zero: `.data`) and the sockets'
/// buffers (zero: `.bss`), kept apart so the 24 KiB of buffers cost no flash.
static SOCKET_STORAGE: ConstStaticCell<[SocketStorage<'static>; SOCKETS + LISTENERS]> =
    ConstStaticCell::new([SocketStorage::EMPTY; SOCKETS + LISTENERS]);
static TCP_RX_BUFFERS: ConstStaticCell<[[u8; TCP_RX]; SOCKETS]> = ConstStaticCell::new([[0; TCP_RX]; SOCKETS]);
static TCP_TX_BUFFERS: ConstStaticCell<[[u8; TCP_TX]; SOCKETS]> = ConstStaticCell::new([[0; TCP_TX]; SOCKETS]);

/// Brings the interface up with the static configuration, its TCP client sockets and (feature
/// `acme`) the http-01 listeners; `port_seed` seeds the choice of local ports.
pub fn stack(mut device: VirtioNet, port_seed: [u8; 8]) -> Option<PolledStack> {
    let (storage, rx, tx) = (SOCKET_STORAGE.try_take()?, TCP_RX_BUFFERS.try_take()?, TCP_TX_BUFFERS.try_take()?);
    let mac = EthernetAddress(device.mac());
    let now = smoltcp::time::Instant::from_millis(i64::from(now_ms()));
    let mut iface = Interface::new(Config::new(HardwareAddress::Ethernet(mac)), &mut device, now);
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(GUEST_IP.into(), 24));
    });
    iface.routes_mut().add_default_ipv4_route(GATEWAY).ok()?;
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut free = [None; SOCKETS];
    for ((rx, tx), slot) in rx.iter_mut().zip(tx.iter_mut()).zip(free.iter_mut()) {
        let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(&mut rx[..]), tcp::SocketBuffer::new(&mut tx[..]));
        socket.set_timeout(Some(smoltcp::time::Duration::from_millis(u64::from(STALL_MS))));
        *slot = Some(sockets.add(socket));
    }
    #[cfg(feature = "acme")]
    let http01 = crate::http01::Listeners::add(&mut sockets)?;
    let [a, b, c, d, ..] = port_seed;
    // xorshift32 needs a state other than 0.
    let rand = u32::from_le_bytes([a, b, c, d]) | 1;
    Some(PolledStack {
        iface,
        device,
        sockets,
        free,
        rand,
        #[cfg(feature = "acme")]
        http01,
        blocked_since: None,
        stalls: 0,
    })
}

/// The guest's address for a server configured as `host:port`: `127.0.0.1` (the host's
/// loopback) becomes the gateway; other IPv4 addresses are used as they are (QEMU's network
/// reaches only what the host reaches).
pub fn guest_address(server: &str) -> Option<SocketAddr> {
    let (host, port) = server.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let ip: Ipv4Addr = host.parse().ok()?;
    let ip = if ip.is_loopback() { GATEWAY } else { ip };
    Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
}

/// What the stack refused.
#[derive(Debug, Clone, Copy)]
pub enum StackError {
    /// Every client socket is in use.
    NoSocket,
    /// Not an IPv4 address.
    Unsupported,
    /// smoltcp refused to connect (no route, or the socket was not closed).
    Connect,
    /// The connection cannot send (closed or reset).
    Send,
    /// The connection cannot receive: the peer finished (FIN) or it was reset.
    Receive,
}

/// A failed call.
#[derive(Debug, Clone, Copy)]
pub enum PolledError {
    /// The stack's own error.
    Stack(StackError),
    /// No progress for [`STALL_MS`] (no answer to the SYN, no data, a full send buffer).
    Stalled,
}

impl TcpError for PolledError {
    fn kind(&self) -> TcpErrorKind {
        match self {
            // The end of the stream, as NalConnector reads it.
            PolledError::Stack(StackError::Send | StackError::Receive) => TcpErrorKind::PipeClosed,
            PolledError::Stack(_) | PolledError::Stalled => TcpErrorKind::Other,
        }
    }
}

/// smoltcp on the virtio-net device as a blocking-friendly `TcpClientStack`: the interface
/// polled on every call, stalls turned into errors.
pub struct PolledStack {
    iface: Interface,
    device: VirtioNet,
    sockets: SocketSet<'static>,
    /// The client sockets not in use.
    free: [Option<SocketHandle>; SOCKETS],
    /// xorshift32 state for local ports.
    rand: u32,
    /// The http-01 listeners, serviced on every poll.
    #[cfg(feature = "acme")]
    http01: crate::http01::Listeners,
    /// Since when (ms) the current blocking call has returned `WouldBlock`.
    blocked_since: Option<u32>,
    /// Calls that stalled.
    pub stalls: u32,
}

impl PolledStack {
    /// The call's result; `started` is `minstret` when the call began (a call that found
    /// nothing to do counts as idle in the profile).
    fn step<T>(&mut self, r: nb::Result<T, StackError>, started: u64) -> nb::Result<T, PolledError> {
        #[cfg(feature = "profile")]
        if matches!(r, Err(nb::Error::WouldBlock)) {
            crate::profile::idle(crate::hw::instret().wrapping_sub(started));
        }
        #[cfg(not(feature = "profile"))]
        let _ = started;
        match r {
            Ok(v) => {
                self.blocked_since = None;
                Ok(v)
            }
            Err(nb::Error::Other(e)) => {
                self.blocked_since = None;
                Err(nb::Error::Other(PolledError::Stack(e)))
            }
            Err(nb::Error::WouldBlock) => {
                let now = now_ms();
                let since = *self.blocked_since.get_or_insert(now);
                if now.wrapping_sub(since) > STALL_MS {
                    self.blocked_since = None;
                    self.stalls += 1;
                    Err(nb::Error::Other(PolledError::Stalled))
                } else {
                    Err(nb::Error::WouldBlock)
                }
            }
        }
    }

    /// Polls the interface (frames in and out, timers) and, with feature `acme`, answers
    /// what the http-01 listeners received (and polls again to send it).
    pub fn poll(&mut self) {
        let now = smoltcp::time::Instant::from_millis(i64::try_from(crate::clock::millis()).unwrap_or(i64::MAX));
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        #[cfg(feature = "acme")]
        if self.http01.serve(&mut self.sockets) {
            self.iface.poll(now, &mut self.device, &mut self.sockets);
        }
    }

    /// A local port in the dynamic range that no socket uses.
    fn ephemeral_port(&mut self) -> u16 {
        loop {
            let mut x = self.rand;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.rand = x;
            let port = EPHEMERAL_START + (x % u32::from(u16::MAX - EPHEMERAL_START)) as u16;
            let used = self.sockets.iter().any(|(_, s)| match s {
                smoltcp::socket::Socket::Tcp(t) => t.local_endpoint().is_some_and(|e| e.port == port),
                #[allow(unreachable_patterns)]
                _ => false,
            });
            if !used {
                return port;
            }
        }
    }

    fn take_socket(&mut self) -> Result<SocketHandle, StackError> {
        let handle = self.free.iter_mut().rev().find_map(Option::take).ok_or(StackError::NoSocket)?;
        // Abort whatever the socket still had (a connection that had not finished closing).
        self.sockets.get_mut::<tcp::Socket>(handle).abort();
        Ok(handle)
    }

    fn start_connect(&mut self, handle: SocketHandle, remote: SocketAddr) -> nb::Result<(), StackError> {
        let IpAddr::V4(ip) = remote.ip() else { return Err(nb::Error::Other(StackError::Unsupported)) };
        if !self.sockets.get::<tcp::Socket>(handle).is_open() {
            // Closed: a new socket, or a connection the peer refused (smoltcp tries again until
            // the stall limit).
            let local = self.ephemeral_port();
            let cx = self.iface.context();
            self.sockets
                .get_mut::<tcp::Socket>(handle)
                .connect(cx, (ip, remote.port()), local)
                .map_err(|_| nb::Error::Other(StackError::Connect))?;
        }
        if self.sockets.get::<tcp::Socket>(handle).state() == tcp::State::Established { Ok(()) } else { Err(nb::Error::WouldBlock) }
    }
}

impl TcpClientStack for PolledStack {
    type TcpSocket = SocketHandle;
    type Error = PolledError;

    fn socket(&mut self) -> Result<SocketHandle, PolledError> {
        self.poll();
        self.blocked_since = None;
        self.take_socket().map_err(PolledError::Stack)
    }

    fn connect(&mut self, socket: &mut SocketHandle, remote: SocketAddr) -> nb::Result<(), PolledError> {
        let started = crate::hw::instret();
        self.poll();
        let r = self.start_connect(*socket, remote);
        self.poll();
        self.step(r, started)
    }

    fn send(&mut self, socket: &mut SocketHandle, buffer: &[u8]) -> nb::Result<usize, PolledError> {
        let started = crate::hw::instret();
        self.poll();
        let r = match self.sockets.get_mut::<tcp::Socket>(*socket).send_slice(buffer) {
            Ok(0) if !buffer.is_empty() => Err(nb::Error::WouldBlock),
            Ok(n) => Ok(n),
            Err(_) => Err(nb::Error::Other(StackError::Send)),
        };
        self.poll();
        self.step(r, started)
    }

    fn receive(&mut self, socket: &mut SocketHandle, buffer: &mut [u8]) -> nb::Result<usize, PolledError> {
        let started = crate::hw::instret();
        self.poll();
        let r = match self.sockets.get_mut::<tcp::Socket>(*socket).recv_slice(buffer) {
            Ok(0) if !buffer.is_empty() => Err(nb::Error::WouldBlock),
            Ok(n) => Ok(n),
            Err(_) => Err(nb::Error::Other(StackError::Receive)),
        };
        self.step(r, started)
    }

    fn close(&mut self, socket: SocketHandle) -> Result<(), PolledError> {
        self.sockets.get_mut::<tcp::Socket>(socket).close();
        if let Some(slot) = self.free.iter_mut().find(|s| s.is_none()) {
            *slot = Some(socket);
        }
        self.poll();
        Ok(())
    }
}
