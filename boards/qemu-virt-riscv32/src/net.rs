//! The TCP/IP side: smoltcp on the virtio-net device, with a static IPv4 configuration for
//! QEMU's user-mode network (guest 10.0.2.15/24, gateway 10.0.2.2), wrapped as an
//! embedded-nal 0.9 `TcpClientStack` by `smoltcp-nal`, and driven by the crate's
//! `NalConnector`.
//!
//! QEMU's user-mode network makes the gateway address 10.0.2.2 the host's loopback: the
//! image reaches a server the host runs on `127.0.0.1:PORT` at `10.0.2.2:PORT`, so a
//! configured `127.0.0.1` server address is mapped to the gateway ([`guest_address`]). No
//! other address is ever connected to, and no packet leaves the host.
//!
//! `smoltcp-nal` leaves polling the interface to its user, while `NalConnector` blocks on
//! each call (`nb::block!`): [`PolledStack`] polls the interface on every call, and turns a
//! call that has not made progress for [`STALL_MS`] into an error, so a dead server cannot
//! hang the image.

use crate::clock::{MtimeClock, now_ms};
use crate::virtio::VirtioNet;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use embedded_nal::{TcpClientStack, TcpError, TcpErrorKind, nb};
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
use static_cell::ConstStaticCell;

/// The image's address on QEMU's user-mode network (what its DHCP server would hand out).
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// QEMU user-mode network's gateway: the host's loopback.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// A blocking call that sees no progress for this long fails (ms).
pub const STALL_MS: u32 = 30_000;

/// TCP sockets (one connection is open at a time; the second lets the previous one finish
/// closing).
const SOCKETS: usize = 2;
const TCP_RX: usize = 8192;
const TCP_TX: usize = 4096;

/// smoltcp's socket table (its empty entries are not all-zero: `.data`) and the sockets'
/// buffers (zero: `.bss`), kept apart so the 24 KiB of buffers cost no flash.
static SOCKET_STORAGE: ConstStaticCell<[SocketStorage<'static>; SOCKETS]> = ConstStaticCell::new([SocketStorage::EMPTY; SOCKETS]);
static TCP_RX_BUFFERS: ConstStaticCell<[[u8; TCP_RX]; SOCKETS]> = ConstStaticCell::new([[0; TCP_RX]; SOCKETS]);
static TCP_TX_BUFFERS: ConstStaticCell<[[u8; TCP_TX]; SOCKETS]> = ConstStaticCell::new([[0; TCP_TX]; SOCKETS]);

/// smoltcp-nal's stack on this device and clock.
pub type Stack = smoltcp_nal::NetworkStack<'static, VirtioNet, MtimeClock>;

/// Brings the interface up with the static configuration and its TCP sockets.
pub fn stack(mut device: VirtioNet, port_seed: [u8; 8]) -> Option<Stack> {
    let (storage, rx, tx) = (SOCKET_STORAGE.try_take()?, TCP_RX_BUFFERS.try_take()?, TCP_TX_BUFFERS.try_take()?);
    let mac = EthernetAddress(device.mac());
    let now = smoltcp::time::Instant::from_millis(i64::from(now_ms()));
    let mut iface = Interface::new(Config::new(HardwareAddress::Ethernet(mac)), &mut device, now);
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(GUEST_IP.into(), 24));
    });
    iface.routes_mut().add_default_ipv4_route(GATEWAY).ok()?;
    let mut sockets = SocketSet::new(&mut storage[..]);
    for (rx, tx) in rx.iter_mut().zip(tx.iter_mut()) {
        let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(&mut rx[..]), tcp::SocketBuffer::new(&mut tx[..]));
        socket.set_timeout(Some(smoltcp::time::Duration::from_millis(u64::from(STALL_MS))));
        sockets.add(socket);
    }
    let mut stack = Stack::new(iface, device, sockets, MtimeClock);
    stack.seed_random_port(&port_seed);
    Some(stack)
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

/// A stall: the call made no progress for [`STALL_MS`].
#[derive(Debug, Clone, Copy)]
pub enum PolledError {
    /// The stack's own error.
    Stack(smoltcp_nal::NetworkError),
    /// No progress for [`STALL_MS`] (no answer to the SYN, no data, a full send buffer).
    Stalled,
}

impl TcpError for PolledError {
    fn kind(&self) -> TcpErrorKind {
        match self {
            PolledError::Stack(e) => e.kind(),
            PolledError::Stalled => TcpErrorKind::Other,
        }
    }
}

/// [`Stack`] with the interface polled on every call and stalls turned into errors.
pub struct PolledStack {
    inner: Stack,
    /// Since when (ms) the current blocking call has returned `WouldBlock`.
    blocked_since: Option<u32>,
    /// Calls that stalled.
    pub stalls: u32,
}

impl PolledStack {
    /// Wraps `inner`.
    pub fn new(inner: Stack) -> Self {
        Self { inner, blocked_since: None, stalls: 0 }
    }

    /// The call's result; `started` is `minstret` when the call began (a call that found
    /// nothing to do counts as idle in the profile).
    fn step<T>(&mut self, r: nb::Result<T, smoltcp_nal::NetworkError>, started: u64) -> nb::Result<T, PolledError> {
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

    fn poll(&mut self) {
        // A poll error is the clock's (it cannot fail here) or a full route table (static).
        let _ = self.inner.poll();
    }
}

impl TcpClientStack for PolledStack {
    type TcpSocket = <Stack as TcpClientStack>::TcpSocket;
    type Error = PolledError;

    fn socket(&mut self) -> Result<Self::TcpSocket, PolledError> {
        self.poll();
        self.blocked_since = None;
        self.inner.socket().map_err(PolledError::Stack)
    }

    fn connect(&mut self, socket: &mut Self::TcpSocket, remote: SocketAddr) -> nb::Result<(), PolledError> {
        let started = crate::hw::instret();
        self.poll();
        let r = self.inner.connect(socket, remote);
        self.poll();
        self.step(r, started)
    }

    fn send(&mut self, socket: &mut Self::TcpSocket, buffer: &[u8]) -> nb::Result<usize, PolledError> {
        let started = crate::hw::instret();
        self.poll();
        let r = match self.inner.send(socket, buffer) {
            Ok(0) if !buffer.is_empty() => Err(nb::Error::WouldBlock),
            r => r,
        };
        self.poll();
        self.step(r, started)
    }

    fn receive(&mut self, socket: &mut Self::TcpSocket, buffer: &mut [u8]) -> nb::Result<usize, PolledError> {
        let started = crate::hw::instret();
        self.poll();
        let r = match self.inner.receive(socket, buffer) {
            Ok(0) if !buffer.is_empty() => Err(nb::Error::WouldBlock),
            r => r,
        };
        self.step(r, started)
    }

    fn close(&mut self, socket: Self::TcpSocket) -> Result<(), PolledError> {
        let r = self.inner.close(socket).map_err(PolledError::Stack);
        self.poll();
        r
    }
}
