//! Live capture: libpcap through the `pcap` crate, one handle and one OS
//! thread per NIC, batches handed over a bounded channel.
//!
//! Each handle is non-blocking and waits in `poll()` on its file descriptor:
//! on Linux, libpcap's packet-buffer timeout only starts once a packet has
//! arrived, so a blocking read can hang on an idle NIC and stopping would
//! not be prompt (engineering notes). A full channel never blocks a capture
//! thread: the batch is dropped and counted, and the verdict treats such
//! drops like kernel drops.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::{Error, Frame, FrameSource, IfaceId, Interface, LinkType, SourceStats, Timestamp};

/// Capture settings, sized for bulk backup traffic without loss.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// Bytes kept per packet (headers plus the first payload bytes).
    pub snaplen: u32,
    /// Kernel buffer per NIC.
    pub buffer_size: u32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// BPF filter applied on every NIC.
    pub filter: Option<String>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            snaplen: 256,
            buffer_size: 32 << 20,
            promisc: false,
            filter: None,
        }
    }
}

/// Frames per batch handed to the analyzer.
const BATCH_FRAMES: usize = 512;
/// Batches the channel holds (≈ 0.5 M frames).
const CHANNEL_BATCHES: usize = 1024;
/// How often an idle thread looks at the stop flag.
const POLL_MS: u16 = 50;

/// A batch of frames from one NIC, packed in one buffer.
#[derive(Debug, Default)]
pub struct Batch {
    iface: u32,
    data: Vec<u8>,
    /// (ts, start, caplen, wire_len)
    frames: Vec<(Timestamp, usize, u32, u32)>,
}

/// Counters of one NIC, shared between its thread and the reader.
#[derive(Debug, Default)]
pub struct NicCounters {
    /// Frames captured.
    pub packets: AtomicU64,
    /// Wire bytes captured.
    pub bytes: AtomicU64,
    /// Kernel drops (libpcap `ps_drop`), as of the last update.
    pub kernel_drops: AtomicU64,
    /// Interface drops (libpcap `ps_ifdrop`), as of the last update.
    pub iface_drops: AtomicU64,
    /// Frames lost because the analyzer's queue was full.
    pub queue_drops: AtomicU64,
    /// Set when the NIC failed (vanished, went down).
    pub failed: AtomicBool,
}

/// An opened, activated NIC, not yet capturing in a thread.
pub struct LiveNic {
    name: String,
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    snaplen: u32,
}

impl std::fmt::Debug for LiveNic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveNic")
            .field("name", &self.name)
            .field("link", &self.link)
            .finish()
    }
}

fn open_error(device: &str, e: pcap::Error) -> Error {
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    if lower.contains("permission") || lower.contains("not permitted") {
        Error::Permission {
            device: device.to_string(),
        }
    } else {
        Error::Live {
            device: device.to_string(),
            message: msg,
        }
    }
}

impl LiveNic {
    /// Opens and activates `device`: capture is running in the kernel when
    /// this returns (so traffic started afterwards is seen).
    pub fn open(device: &str, cfg: &LiveConfig) -> Result<Self, Error> {
        let inactive = pcap::Capture::from_device(device)
            .map_err(|e| open_error(device, e))?
            .snaplen(i32::try_from(cfg.snaplen).unwrap_or(i32::MAX))
            .buffer_size(i32::try_from(cfg.buffer_size).unwrap_or(i32::MAX))
            .promisc(cfg.promisc)
            .immediate_mode(false)
            .timeout(POLL_MS.into())
            .precision(pcap::Precision::Nano);
        let mut cap = inactive.open().map_err(|e| open_error(device, e))?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true).map_err(|e| Error::Live {
                device: device.to_string(),
                message: format!("bad filter {f:?}: {e}"),
            })?;
        }
        let link = LinkType(u16::try_from(cap.get_datalink().0).unwrap_or(u16::MAX));
        let cap = cap.setnonblock().map_err(|e| open_error(device, e))?;
        Ok(LiveNic {
            name: device.to_string(),
            cap,
            link,
            snaplen: cfg.snaplen,
        })
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A NIC to capture: opened, or named and waiting to be opened (it was
/// down when capture started; libpcap refuses to activate such a NIC).
#[derive(Debug)]
pub enum NicSlot {
    /// Opened and activated.
    Open(LiveNic),
    /// Not opened yet: counted as failed until [`LiveSource::restart`].
    Waiting {
        /// The device name.
        name: String,
        /// The snaplen it will be opened with.
        snaplen: u32,
    },
}

/// Every NIC's frames as one [`FrameSource`]; stops when told to.
pub struct LiveSource {
    rx: Receiver<Batch>,
    /// Kept to start replacement threads; dropped on stop so the queue ends.
    tx: Option<SyncSender<Batch>>,
    interfaces: Vec<Interface>,
    counters: Vec<Arc<NicCounters>>,
    threads: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    current: Batch,
    next: usize,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("interfaces", &self.interfaces)
            .finish()
    }
}

/// What waiting for a frame gave.
#[derive(Debug)]
pub enum Poll<'a> {
    /// A frame.
    Frame(Frame<'a>),
    /// Nothing within the timeout.
    Idle,
    /// Every capture thread has ended and the queue is empty.
    Ended,
}

impl LiveSource {
    /// Starts one capture thread per NIC.
    pub fn start(nics: Vec<LiveNic>) -> Self {
        Self::start_slots(nics.into_iter().map(NicSlot::Open).collect())
    }

    /// Starts one capture thread per opened NIC; a waiting one is marked
    /// failed (its frames' link type is set when it is opened).
    pub fn start_slots(nics: Vec<NicSlot>) -> Self {
        let (tx, rx) = mpsc::sync_channel(CHANNEL_BATCHES);
        let stop = Arc::new(AtomicBool::new(false));
        let mut interfaces = Vec::new();
        let mut counters = Vec::new();
        let mut threads = Vec::new();
        for (i, slot) in nics.into_iter().enumerate() {
            let c = Arc::new(NicCounters::default());
            counters.push(Arc::clone(&c));
            match slot {
                NicSlot::Open(nic) => {
                    interfaces.push(Interface::named(
                        Some(nic.name.clone()),
                        nic.link,
                        nic.snaplen,
                    ));
                    threads.extend(spawn_capture(nic, i as u32, &tx, &stop, c));
                }
                NicSlot::Waiting { name, snaplen } => {
                    interfaces.push(Interface::named(Some(name), LinkType::ETHERNET, snaplen));
                    c.failed.store(true, Ordering::SeqCst);
                }
            }
        }
        LiveSource {
            rx,
            tx: Some(tx),
            interfaces,
            counters,
            threads,
            stop,
            current: Batch::default(),
            next: 0,
        }
    }

    /// The stop flag: set it (or call [`LiveSource::stop`]) to end capture.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Asks every capture thread to finish; frames already queued are still
    /// delivered, then [`Poll::Ended`].
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.tx = None;
    }

    /// Replaces the capture of interface `index` (after it failed, or
    /// while it waited) with a freshly opened handle; its counters carry on.
    pub fn restart(&mut self, index: usize, nic: LiveNic) {
        let (Some(tx), Some(c)) = (self.tx.as_ref(), self.counters.get(index)) else {
            return;
        };
        if let Some(i) = self.interfaces.get_mut(index) {
            i.link = nic.link;
        }
        c.failed.store(false, Ordering::SeqCst);
        if let Some(h) = spawn_capture(nic, index as u32, tx, &self.stop, Arc::clone(c)) {
            self.threads.push(h);
        }
    }

    /// Per-NIC counters, in interface order.
    pub fn counters(&self) -> &[Arc<NicCounters>] {
        &self.counters
    }

    /// Waits up to `timeout` for the next frame.
    pub fn poll_frame(&mut self, timeout: Duration) -> Poll<'_> {
        if self.next >= self.current.frames.len() {
            match self.rx.recv_timeout(timeout) {
                Ok(b) => {
                    self.current = b;
                    self.next = 0;
                }
                Err(RecvTimeoutError::Timeout) => return Poll::Idle,
                Err(RecvTimeoutError::Disconnected) => {
                    for t in self.threads.drain(..) {
                        let _ = t.join();
                    }
                    return Poll::Ended;
                }
            }
        }
        let Some(&(ts, start, caplen, wire_len)) = self.current.frames.get(self.next) else {
            return Poll::Idle;
        };
        self.next += 1;
        let iface = self.current.iface;
        let link = self
            .interfaces
            .get(iface as usize)
            .map_or(LinkType::ETHERNET, |i| i.link);
        Poll::Frame(Frame {
            ts,
            iface: IfaceId(iface),
            link,
            wire_len,
            data: &self.current.data[start..start + caplen as usize],
        })
    }
}

impl FrameSource for LiveSource {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        loop {
            // Re-borrow per iteration: only a frame leaves the loop.
            let p = self.poll_frame(Duration::from_millis(u64::from(POLL_MS)));
            match p {
                Poll::Frame(_) | Poll::Ended => break,
                Poll::Idle => {}
            }
        }
        // The loop above consumed the frame it saw; step back to return it.
        if self.next > 0 && self.next <= self.current.frames.len() {
            self.next -= 1;
            if let Poll::Frame(f) = self.poll_frame(Duration::ZERO) {
                return Ok(Some(f));
            }
        }
        Ok(None)
    }

    fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    fn stats(&self) -> SourceStats {
        let sum = |f: fn(&NicCounters) -> &AtomicU64| {
            self.counters
                .iter()
                .map(|c| f(c).load(Ordering::Relaxed))
                .sum::<u64>()
        };
        SourceStats {
            frames: sum(|c| &c.packets),
            wire_bytes: sum(|c| &c.bytes),
            truncated: None,
            kernel_drops: sum(|c| &c.kernel_drops) + sum(|c| &c.queue_drops),
            iface_drops: sum(|c| &c.iface_drops),
            warnings: Vec::new(),
        }
    }
}

fn spawn_capture(
    nic: LiveNic,
    index: u32,
    tx: &SyncSender<Batch>,
    stop: &Arc<AtomicBool>,
    c: Arc<NicCounters>,
) -> Option<JoinHandle<()>> {
    let (tx, stop) = (tx.clone(), Arc::clone(stop));
    let spawned = std::thread::Builder::new()
        .name(format!("capture-{}", nic.name))
        .spawn(move || capture_loop(nic, index, &tx, &stop, &c));
    match spawned {
        Ok(h) => Some(h),
        Err(e) => {
            log::error!("cannot start a capture thread: {e}");
            None
        }
    }
}

fn send(tx: &SyncSender<Batch>, batch: &mut Batch, iface: u32, c: &NicCounters) {
    if batch.frames.is_empty() {
        return;
    }
    let full = std::mem::replace(
        batch,
        Batch {
            iface,
            data: Vec::with_capacity(BATCH_FRAMES * 128),
            frames: Vec::with_capacity(BATCH_FRAMES),
        },
    );
    let n = full.frames.len() as u64;
    match tx.try_send(full) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            c.queue_drops.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// libpcap's counters start at zero for each handle; a restarted NIC adds
/// its new handle's counts to what the old ones lost.
fn update_stats(cap: &mut pcap::Capture<pcap::Active>, c: &NicCounters, base: (u64, u64)) {
    if let Ok(s) = cap.stats() {
        c.kernel_drops
            .store(base.0 + u64::from(s.dropped), Ordering::Relaxed);
        c.iface_drops
            .store(base.1 + u64::from(s.if_dropped), Ordering::Relaxed);
    }
}

/// Appends a packet to the batch and counts it; true when the batch is full.
fn push(batch: &mut Batch, p: &pcap::Packet<'_>, c: &NicCounters) -> bool {
    let h = p.header;
    // Precision::Nano: tv_usec holds nanoseconds.
    let ts = Timestamp::from_parts(h.ts.tv_sec, h.ts.tv_usec);
    let start = batch.data.len();
    batch.data.extend_from_slice(p.data);
    batch.frames.push((ts, start, p.data.len() as u32, h.len));
    c.packets.fetch_add(1, Ordering::Relaxed);
    c.bytes.fetch_add(u64::from(h.len), Ordering::Relaxed);
    batch.frames.len() >= BATCH_FRAMES
}

fn capture_loop(
    mut nic: LiveNic,
    iface: u32,
    tx: &SyncSender<Batch>,
    stop: &AtomicBool,
    c: &NicCounters,
) {
    let mut batch = Batch {
        iface,
        ..Batch::default()
    };
    let mut last_stats = std::time::Instant::now();
    let base = (
        c.kernel_drops.load(Ordering::Relaxed),
        c.iface_drops.load(Ordering::Relaxed),
    );
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match nic.cap.next_packet() {
            Ok(p) => {
                if push(&mut batch, &p, c) {
                    send(tx, &mut batch, iface, c);
                    // Under sustained load the ring never empties: refresh
                    // the drop counters about once a second anyway.
                    if last_stats.elapsed() >= std::time::Duration::from_secs(1) {
                        update_stats(&mut nic.cap, c, base);
                        last_stats = std::time::Instant::now();
                    }
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                send(tx, &mut batch, iface, c);
                if last_stats.elapsed() >= std::time::Duration::from_millis(500) {
                    update_stats(&mut nic.cap, c, base);
                    last_stats = std::time::Instant::now();
                }
                let mut fds = [PollFd::new(nic.cap.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(POLL_MS));
            }
            Err(e) => {
                log::warn!("{}: capture failed: {e}", nic.name);
                c.failed.store(true, Ordering::SeqCst);
                break;
            }
        }
    }
    // Whatever the kernel still holds, then the final counters.
    while let Ok(p) = nic.cap.next_packet() {
        if push(&mut batch, &p, c) {
            send(tx, &mut batch, iface, c);
        }
    }
    send(tx, &mut batch, iface, c);
    update_stats(&mut nic.cap, c, base);
}

/// A network interface as the system lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemIface {
    /// Name.
    pub name: String,
    /// Addresses.
    pub addresses: Vec<std::net::IpAddr>,
    /// Administratively up.
    pub up: bool,
    /// Operationally running (carrier).
    pub running: bool,
    /// Loopback.
    pub loopback: bool,
}

/// The system's interfaces (libpcap's device list, without pseudo-devices).
pub fn system_ifaces() -> Result<Vec<SystemIface>, Error> {
    let devs = pcap::Device::list().map_err(|e| Error::Live {
        device: "*".into(),
        message: e.to_string(),
    })?;
    Ok(devs
        .into_iter()
        .filter(|d| {
            !matches!(
                d.name.as_str(),
                "any" | "bluetooth-monitor" | "nflog" | "nfqueue" | "dbus-system" | "dbus-session"
            )
        })
        .filter(|d| !d.name.starts_with("usbmon"))
        .map(|d| SystemIface {
            addresses: d.addresses.iter().map(|a| a.addr).collect(),
            up: d.flags.is_up(),
            running: d.flags.is_running(),
            loopback: d.flags.is_loopback(),
            name: d.name,
        })
        .collect())
}
