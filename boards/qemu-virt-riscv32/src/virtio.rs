//! virtio-net on QEMU `virt` through `virtio-drivers`' raw driver, as a smoltcp `Device`.
//! With `hw.rs`, the only module with `unsafe` code.
//!
//! - The DMA memory the driver asks for (its virtqueues) comes from a static arena handed out
//!   page by page and never returned: the driver lives for the whole run. The hart runs in
//!   M-mode without translation, so physical and virtual addresses are the same.
//! - Received frames land in [`RX_SLOTS`] static buffers posted to the receive queue; each is
//!   handed to smoltcp and posted again. Frames are sent with the driver's blocking `send`
//!   (QEMU completes it at once).
//! - The device is found by scanning the eight virtio-mmio slots at 0x1000_1000.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use static_cell::ConstStaticCell;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// Virtqueue length (descriptors per queue).
const QUEUE_SIZE: usize = 16;
/// Receive buffers posted to the device at any time.
const RX_SLOTS: usize = 8;
/// One receive buffer: a 1514-byte Ethernet frame plus the virtio-net header, rounded up.
const RX_BUF_LEN: usize = 2048;
/// The Ethernet MTU offered to smoltcp (frame without FCS).
const MTU: usize = 1514;
/// The DMA arena for the virtqueues (pages).
const DMA_PAGES: usize = 16;

const MMIO_BASE: usize = 0x1000_1000;
const MMIO_STRIDE: usize = 0x1000;
const MMIO_SLOTS: usize = 8;
const MMIO_SIZE: usize = 0x200;

#[repr(C, align(4096))]
struct DmaArena(UnsafeCell<[u8; DMA_PAGES * PAGE_SIZE]>);

// SAFETY: the arena is only reached through `dma_alloc`, which hands each page out once.
unsafe impl Sync for DmaArena {}

static DMA_ARENA: DmaArena = DmaArena(UnsafeCell::new([0; DMA_PAGES * PAGE_SIZE]));
static DMA_NEXT_PAGE: AtomicUsize = AtomicUsize::new(0);

/// The `Hal` of this image: static DMA pages, identity-mapped.
pub struct StaticHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned, never-aliased pages of the static arena
// (each page is handed out once; the arena starts zeroed in .bss and is never written
// elsewhere); addresses are physical = virtual (M-mode, no MMU); sharing needs no copy.
unsafe impl Hal for StaticHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let first = DMA_NEXT_PAGE.fetch_add(pages, Ordering::Relaxed);
        if first + pages > DMA_PAGES {
            crate::fatal("virtio: DMA arena exhausted (raise DMA_PAGES)");
        }
        let base = DMA_ARENA.0.get().cast::<u8>();
        // SAFETY: `first * PAGE_SIZE` is inside the arena (checked above).
        let ptr = unsafe { base.add(first * PAGE_SIZE) };
        let Some(ptr) = NonNull::new(ptr) else { crate::fatal("virtio: null DMA pointer") };
        (ptr.as_ptr() as PhysAddr, ptr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // The driver is never dropped during the run; pages are not reused.
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr().cast::<u8>() as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

type Net = VirtIONetRaw<StaticHal, MmioTransport<'static>, QUEUE_SIZE>;

/// The receive buffers (static: the device writes into them while they are posted).
static RX_BUFFERS: ConstStaticCell<[[u8; RX_BUF_LEN]; RX_SLOTS]> = ConstStaticCell::new([[0; RX_BUF_LEN]; RX_SLOTS]);

/// The virtio-net device as a smoltcp `Device`.
pub struct VirtioNet {
    net: Net,
    rx: &'static mut [[u8; RX_BUF_LEN]; RX_SLOTS],
    /// The token of each posted buffer (None: not posted).
    posted: [Option<u16>; RX_SLOTS],
    /// The receive buffer lent to smoltcp last: posted again on the next `receive`.
    lent: Option<usize>,
    /// The frame being sent.
    tx: [u8; MTU],
    /// Frames received and sent.
    pub frames: (u32, u32),
}

/// Why the device is not there.
#[derive(Debug)]
pub enum ProbeError {
    /// No virtio-mmio slot holds a network device (QEMU run without `-device virtio-net-device`).
    NotFound,
    /// The driver refused the device.
    Driver(#[allow(dead_code, reason = "shown through Debug")] virtio_drivers::Error),
    /// The receive buffers were taken before.
    Taken,
}

impl VirtioNet {
    /// Finds the virtio-net device, initializes it and posts the receive buffers.
    pub fn probe() -> Result<Self, ProbeError> {
        let rx = RX_BUFFERS.try_take().ok_or(ProbeError::Taken)?;
        for slot in 0..MMIO_SLOTS {
            let addr = MMIO_BASE + slot * MMIO_STRIDE;
            let Some(header) = NonNull::new(addr as *mut VirtIOHeader) else { continue };
            // SAFETY: each slot is a virtio-mmio register block of MMIO_SIZE bytes that QEMU
            // maps on `virt` for the whole run; this is the only code that touches it.
            let Ok(transport) = (unsafe { MmioTransport::new(header, MMIO_SIZE) }) else { continue };
            if transport.device_type() != DeviceType::Network {
                continue;
            }
            let net = Net::new(transport).map_err(ProbeError::Driver)?;
            let mut dev = Self { net, rx, posted: [None; RX_SLOTS], lent: None, tx: [0; MTU], frames: (0, 0) };
            for i in 0..RX_SLOTS {
                dev.post(i).map_err(ProbeError::Driver)?;
            }
            return Ok(dev);
        }
        Err(ProbeError::NotFound)
    }

    /// The device's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.net.mac_address()
    }

    fn post(&mut self, slot: usize) -> Result<(), virtio_drivers::Error> {
        // SAFETY: the buffer is static ('static mut borrow held by self) and is not read or
        // written until `receive_complete` hands it back (in `receive`).
        let token = unsafe { self.net.receive_begin(&mut self.rx[slot])? };
        self.posted[slot] = Some(token);
        Ok(())
    }
}

/// A received frame, lent to smoltcp; its buffer is posted again after it was read.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

/// Sends one frame with the driver's blocking `send`.
pub struct TxToken<'a> {
    net: &'a mut Net,
    buf: &'a mut [u8; MTU],
    sent: &'a mut u32,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(MTU);
        let frame = &mut self.buf[..len];
        let r = f(frame);
        if self.net.send(frame).is_ok() {
            *self.sent += 1;
        }
        r
    }
}

impl phy::Device for VirtioNet {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        // Post again the buffer lent out last time.
        if let Some(lent) = self.lent.take()
            && self.post(lent).is_err()
        {
            crate::fatal("virtio: could not post a receive buffer");
        }
        let token = self.net.poll_receive()?;
        let slot = self.posted.iter().position(|t| *t == Some(token))?;
        self.posted[slot] = None;
        // SAFETY: `token` was returned by `receive_begin` for exactly this buffer.
        let (hdr, len) = match unsafe { self.net.receive_complete(token, &mut self.rx[slot]) } {
            Ok(v) => v,
            Err(_) => {
                self.lent = Some(slot);
                return None;
            }
        };
        self.lent = Some(slot);
        self.frames.0 += 1;
        let frame = self.rx[slot].get(hdr..hdr + len)?;
        Some((RxToken { frame }, TxToken { net: &mut self.net, buf: &mut self.tx, sent: &mut self.frames.1 }))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        Some(TxToken { net: &mut self.net, buf: &mut self.tx, sent: &mut self.frames.1 })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }
}
