//! Published ports rootless: the process that holds the container's leases (its monitor, or
//! the foreground `run`) listens on the host ports itself and forwards each connection (each
//! UDP peer) to the container's address, connecting from the user networks' namespace. So
//! ports come and go with their container, without touching the namespace's one pasta,
//! whose forwards are fixed when it starts. This is podman's rootlessport, in the monitor.
//! The container sees connections from its bridge's gateway, not the client's address.

use std::collections::HashMap;
use std::fs::File;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::NetError;
use super::config::NetConfig;
use super::ports::PortMapping;

/// A UDP peer's flow ends after this long without traffic either way.
const UDP_IDLE: Duration = Duration::from_secs(60);
/// How often UDP reply threads look at the stop flag.
const UDP_TICK: Duration = Duration::from_millis(250);

/// A bound host socket waiting for its container.
pub enum Listener {
    Tcp(TcpListener, PortMapping),
    Udp(UdpSocket, PortMapping),
}

/// Bind the host ports the container publishes: random ones (0, `-P`) chosen by the kernel,
/// ports below `ip_unprivileged_port_start` refused with the sysctl named. Returns the
/// mappings as bound and their sockets.
pub fn bind(net: &NetConfig) -> Result<(Vec<PortMapping>, Vec<Listener>), NetError> {
    let start: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    let mut mappings = Vec::new();
    let mut listeners = Vec::new();
    for mut p in net.wanted_ports() {
        if p.protocol == "sctp" {
            return Err(NetError::Invalid(format!(
                "cannot publish {}: rootless networking forwards tcp and udp only",
                p.key()
            )));
        }
        if p.host_port != 0 && u32::from(p.host_port) < start {
            return Err(NetError::Invalid(format!(
                "cannot publish host port {} rootless: ports below net.ipv4.ip_unprivileged_port_start ({start}) need root; choose a port of {start} or above, or lower that sysctl",
                p.host_port
            )));
        }
        let ip = if p.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &p.host_ip
        };
        let addr: SocketAddr = if ip.contains(':') {
            format!("[{ip}]:{}", p.host_port)
        } else {
            format!("{ip}:{}", p.host_port)
        }
        .parse()
        .map_err(|_| NetError::Invalid(format!("invalid host address {ip:?} for {}", p.key())))?;
        let in_use = |e: std::io::Error| {
            NetError::Invalid(if e.kind() == ErrorKind::AddrInUse {
                format!(
                    "cannot publish {}:{} for {}: the host port is already in use",
                    ip,
                    p.host_port,
                    p.key()
                )
            } else {
                format!("binding {}:{} for {}: {e}", ip, p.host_port, p.key())
            })
        };
        let listener = if p.protocol == "udp" {
            let s = UdpSocket::bind(addr).map_err(in_use)?;
            p.host_port = s.local_addr().map_err(in_use)?.port();
            Listener::Udp(s, p.clone())
        } else {
            let s = TcpListener::bind(addr).map_err(in_use)?;
            p.host_port = s.local_addr().map_err(in_use)?.port();
            Listener::Tcp(s, p.clone())
        };
        mappings.push(p);
        listeners.push(listener);
    }
    Ok((mappings, listeners))
}

/// The forwarders of one container: their sockets (shut down to stop them) and threads.
struct Running {
    container: String,
    stop: Arc<AtomicBool>,
    sockets: Vec<Arc<dyn AsRawFd + Send + Sync>>,
    threads: Vec<JoinHandle<()>>,
}

static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

/// Forward the listeners' traffic to `target` (the container's first address), connecting
/// from the namespace `ns`.
pub fn start(
    container: &str,
    listeners: Vec<Listener>,
    target: Ipv4Addr,
    ns: &File,
) -> Result<(), NetError> {
    if listeners.is_empty() {
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut sockets: Vec<Arc<dyn AsRawFd + Send + Sync>> = Vec::new();
    let mut threads = Vec::new();
    for l in listeners {
        let ns = ns
            .try_clone()
            .map_err(|e| NetError::Invalid(format!("forwarding ports: {e}")))?;
        let stop = stop.clone();
        let thread = match l {
            Listener::Tcp(s, p) => {
                let s = Arc::new(s);
                sockets.push(s.clone());
                let to = SocketAddr::from((target, p.container_port));
                std::thread::Builder::new()
                    .name("forward-tcp".into())
                    .spawn(move || {
                        if enter(&ns) {
                            serve_tcp(&s, to, &stop);
                        }
                    })
            }
            Listener::Udp(s, p) => {
                let s = Arc::new(s);
                sockets.push(s.clone());
                let to = SocketAddr::from((target, p.container_port));
                std::thread::Builder::new()
                    .name("forward-udp".into())
                    .spawn(move || {
                        if enter(&ns) {
                            serve_udp(&s, to, &stop);
                        }
                    })
            }
        }
        .map_err(|e| NetError::Invalid(format!("starting a port forwarder: {e}")))?;
        threads.push(thread);
    }
    if let Ok(mut running) = RUNNING.lock() {
        running.push(Running {
            container: container.to_string(),
            stop,
            sockets,
            threads,
        });
    }
    Ok(())
}

/// Stop the container's forwarders (in this process; elsewhere there are none) and wait
/// until their host ports are free again.
pub fn stop(container: &str) {
    let mine: Vec<Running> = match RUNNING.lock() {
        Ok(mut running) => {
            let (mine, rest) = std::mem::take(&mut *running)
                .into_iter()
                .partition(|r| r.container == container);
            *running = rest;
            mine
        }
        Err(_) => return,
    };
    for r in mine {
        r.stop.store(true, Ordering::SeqCst);
        for s in &r.sockets {
            // Wakes a blocked accept or recvfrom (even on an unconnected UDP socket).
            // SAFETY: the descriptor stays open: this Arc holds it.
            unsafe { libc::shutdown(s.as_raw_fd(), libc::SHUT_RDWR) };
        }
        for t in r.threads {
            let _ = t.join();
        }
    }
}

/// This thread (and the threads it starts) connects from the namespace.
fn enter(ns: &File) -> bool {
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).is_ok()
}

/// Accept until stopped; then end the connections too (shut down, joined), so no thread of
/// this container's is left when `stop` returns: a monitor that restarts the container clones
/// again, and a clone must not happen while another thread may hold the allocator's lock.
fn serve_tcp(listener: &TcpListener, to: SocketAddr, stop: &Arc<AtomicBool>) {
    let mut conns: Vec<(TcpStream, Upstream, JoinHandle<()>)> = Vec::new();
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        conns.retain(|(_, _, t)| !t.is_finished());
        match client {
            Ok(client) => {
                let Ok(held) = client.try_clone() else {
                    continue;
                };
                let upstream: Upstream = Arc::new(Mutex::new(None));
                let (slot, stopping) = (upstream.clone(), stop.clone());
                if let Ok(t) = std::thread::Builder::new()
                    .name("forward-conn".into())
                    .spawn(move || relay_tcp(client, to, &slot, &stopping))
                {
                    conns.push((held, upstream, t));
                }
            }
            // Out of descriptors, say: wait rather than spin.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    for (held, upstream, t) in conns {
        let _ = held.shutdown(Shutdown::Both);
        if let Ok(Some(u)) = upstream.lock().as_deref() {
            let _ = u.shutdown(Shutdown::Both);
        }
        let _ = t.join();
    }
}

/// A connection's side in the namespace, once connected (for `serve_tcp` to end it).
type Upstream = Arc<Mutex<Option<TcpStream>>>;

/// One connection both ways; each direction's end is passed on as a half close.
fn relay_tcp(client: TcpStream, to: SocketAddr, slot: &Upstream, stop: &AtomicBool) {
    let Ok(upstream) = TcpStream::connect_timeout(&to, Duration::from_secs(10)) else {
        return; // the client sees its connection closed, as with nothing listening
    };
    if let (Ok(mut s), Ok(u)) = (slot.lock(), upstream.try_clone()) {
        *s = Some(u);
    }
    // Stopped while connecting: `serve_tcp` may have looked at the slot before it was set.
    if stop.load(Ordering::SeqCst) {
        return;
    }
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || pipe(u2, c2));
    pipe(client, upstream);
    let _ = back.join();
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

type Flows = Arc<Mutex<HashMap<SocketAddr, (Arc<UdpSocket>, Instant)>>>;

fn serve_udp(host: &Arc<UdpSocket>, to: SocketAddr, stop: &Arc<AtomicBool>) {
    let flows: Flows = Arc::new(Mutex::new(HashMap::new()));
    let mut buf = vec![0u8; 65536];
    let mut replies = Vec::new();
    loop {
        let (n, peer) = match host.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) if stop.load(Ordering::SeqCst) => break,
            Err(_) => continue,
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let known = flows.lock().ok().and_then(|mut f| {
            f.get_mut(&peer).map(|(s, seen)| {
                *seen = Instant::now();
                s.clone()
            })
        });
        let inner = match known {
            Some(s) => s,
            None => {
                // A socket of this peer's own in the namespace: replies come back on it.
                let Ok(s) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
                    .and_then(|s| s.connect(to).map(|()| s))
                else {
                    continue;
                };
                let s = Arc::new(s);
                let _ = s.set_read_timeout(Some(UDP_TICK));
                if let Ok(mut f) = flows.lock() {
                    f.insert(peer, (s.clone(), Instant::now()));
                }
                let (host, flows, stop, s2) =
                    (host.clone(), flows.clone(), stop.clone(), s.clone());
                if let Ok(t) = std::thread::Builder::new()
                    .name("forward-udp-peer".into())
                    .spawn(move || relay_udp_replies(&s2, &host, peer, &flows, &stop))
                {
                    replies.push(t);
                }
                s
            }
        };
        let _ = inner.send(&buf[..n]);
        replies.retain(|t: &JoinHandle<()>| !t.is_finished());
    }
    for t in replies {
        let _ = t.join();
    }
}

fn relay_udp_replies(
    inner: &UdpSocket,
    host: &UdpSocket,
    peer: SocketAddr,
    flows: &Flows,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        match inner.recv(&mut buf) {
            Ok(n) => {
                let _ = host.send_to(&buf[..n], peer);
                if let Ok(mut f) = flows.lock()
                    && let Some((_, seen)) = f.get_mut(&peer)
                {
                    *seen = Instant::now();
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let idle = flows
                    .lock()
                    .ok()
                    .and_then(|f| f.get(&peer).map(|(_, seen)| seen.elapsed()))
                    .is_none_or(|d| d > UDP_IDLE);
                if idle {
                    break;
                }
            }
            // Nothing listens in the container (ICMP port unreachable): keep the flow.
            Err(_) => std::thread::sleep(UDP_TICK),
        }
    }
    if let Ok(mut f) = flows.lock() {
        f.remove(&peer);
    }
}
