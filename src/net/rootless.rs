//! The default network rootless: pasta (Debian `passt`) gives the container's namespace an
//! interface that copies the host's addressing and forwards traffic through the user's own
//! sockets; `-p` becomes pasta's `-t`/`-u` forwards, which keep the client's source address.
//! pasta daemonizes once the namespace is configured and writes its pid, which is kept in
//! `<runroot>/pasta/<id>.pid` so that stop, or the next command after a crash, ends it.
//! Containers on user networks get the same pasta as `tap0`, beside their bridges' veths.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::NetError;
use super::bridge::Attachment;
use super::config::NetConfig;
use super::ports::PortMapping;

/// What to do when the tun device cannot be opened (pasta and slirp4netns both need it).
const TUN_HINT: &str = " (/dev/net/tun must exist with mode 0666: as root, mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200, or in a container run it with --device /dev/net/tun; or use --network none)";

/// What pasta says when the host has no interface with a default route.
const NO_OUTSIDE: &str = "External interface not usable";

/// `<runroot>/pasta`: the helpers' pid files and slirp4netns' API sockets.
fn state_dir(runroot: &Path) -> Result<PathBuf, NetError> {
    let dir = runroot.join("pasta");
    crate::config::ensure_dir(&dir, 0o700)
        .map_err(|e| NetError::Invalid(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

fn pid_file(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("pasta").join(format!("{id}.pid"))
}

/// Host ports for a rootless container: random ones chosen, low ones refused.
fn resolve_ports(net: &NetConfig) -> Result<Vec<PortMapping>, NetError> {
    let start: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    let mut wanted = net.wanted_ports();
    for p in &mut wanted {
        if p.protocol == "sctp" {
            return Err(NetError::Invalid(format!(
                "cannot publish {}: rootless networking forwards tcp and udp only",
                p.key()
            )));
        }
        if p.host_port == 0 {
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &p.host_ip
            };
            let port = if p.protocol == "udp" {
                std::net::UdpSocket::bind((ip, 0)).and_then(|s| s.local_addr())
            } else {
                std::net::TcpListener::bind((ip, 0)).and_then(|s| s.local_addr())
            }
            .map_err(|e| NetError::Invalid(format!("choosing a host port for {}: {e}", p.key())))?
            .port();
            p.host_port = port;
        } else if u32::from(p.host_port) < start {
            return Err(NetError::Invalid(format!(
                "cannot publish host port {} rootless: ports below net.ipv4.ip_unprivileged_port_start ({start}) need root; choose a port of {start} or above, or lower that sysctl",
                p.host_port
            )));
        }
    }
    Ok(wanted)
}

/// pasta's forward spec: `[ADDR/]HOST:CONTAINER`.
fn forward_spec(p: &PortMapping) -> String {
    let addr = if p.host_ip.is_empty() || p.host_ip == "0.0.0.0" {
        String::new()
    } else {
        format!("{}/", p.host_ip)
    };
    format!("{addr}{}:{}", p.host_port, p.container_port)
}

/// Connect the namespace of `pid` (the default network): with pasta, or with slirp4netns
/// when pasta is missing.
pub fn attach(
    runroot: &Path,
    id: &str,
    pid: i32,
    net: &NetConfig,
) -> Result<Vec<Attachment>, NetError> {
    let ports = connect_outside(runroot, id, pid, net, None)?;
    Ok(default_attachment(ports, "eth0"))
}

/// The way out of the namespace of `pid`, with its published ports: pasta's interface (or
/// slirp4netns'), named `ifname` beside the interfaces of user networks. Returns the ports
/// with their host ports chosen.
pub fn connect_outside(
    runroot: &Path,
    id: &str,
    pid: i32,
    net: &NetConfig,
    ifname: Option<&str>,
) -> Result<Vec<PortMapping>, NetError> {
    let ports = resolve_ports(net)?;
    let in_path = |name: &str| crate::config::find_program(name).is_some();
    if !in_path("pasta") && in_path("slirp4netns") {
        attach_slirp(runroot, id, pid, &ports)?;
        return Ok(ports);
    }
    match attach_pasta(runroot, id, pid, &ports, ifname) {
        // pasta copies the host's outside interface, and there is none without a default
        // route (a laptop offline, a sandboxed CI runner); slirp4netns needs none.
        Err(NetError::Invalid(e)) if e.contains(NO_OUTSIDE) => {
            if !in_path("slirp4netns") {
                return Err(NetError::Invalid(format!(
                    "{e}: this host has no default route, which pasta needs; install slirp4netns (apt-get install slirp4netns) to network containers without one, or use --network none"
                )));
            }
            attach_slirp(runroot, id, pid, &ports)?;
        }
        other => other?,
    }
    Ok(ports)
}

/// Rootless on user networks: veths onto their bridges (in the user networks' namespace),
/// then pasta as `tap0` for the way out and the published ports, unless every network is
/// internal and the default one is not asked for too.
pub fn attach_with_bridges(
    paths: &crate::config::Paths,
    joiner: &super::bridge::Joiner,
    with_default: bool,
) -> Result<Vec<Attachment>, NetError> {
    let store = crate::state::network::NetworkStore::open(paths)?;
    let closed = !with_default
        && joiner
            .networks
            .iter()
            .all(|n| store.find(&n.name).is_ok_and(|r| r.internal));
    if closed && !joiner.net.wanted_ports().is_empty() {
        return Err(NetError::Invalid(
            "cannot publish ports: the container is on internal networks only, which have no way in or out".into(),
        ));
    }
    let mut attached = super::bridge::attach(paths, joiner)?;
    if closed {
        return Ok(attached);
    }
    match connect_outside(
        &paths.runroot,
        joiner.id,
        joiner.pid,
        joiner.net,
        Some("tap0"),
    ) {
        Ok(ports) => {
            if with_default {
                attached.extend(default_attachment(Vec::new(), "tap0"));
            }
            if let Some(first) = attached.first_mut() {
                first.ports = ports;
            }
            Ok(attached)
        }
        // The caller releases what the bridges gave (it does on every failed start).
        Err(e) => Err(e),
    }
}

/// The default network's entry in the container's state: pasta's, with no address of its own.
pub fn default_attachment(ports: Vec<PortMapping>, interface: &str) -> Vec<Attachment> {
    vec![Attachment {
        network: super::config::DEFAULT_NETWORK.into(),
        network_id: "rootless".into(),
        ip: std::net::Ipv4Addr::UNSPECIFIED,
        prefix: 0,
        gateway: std::net::Ipv4Addr::UNSPECIFIED,
        mac: String::new(),
        aliases: Vec::new(),
        ports,
        interface: interface.into(),
    }]
}

/// The namespace of `pid` as a descriptor a child process inherits.
fn inheritable_netns(pid: i32) -> Result<std::fs::File, NetError> {
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| {
        NetError::Invalid(format!("opening the container's network namespace: {e}"))
    })?;
    // The monitor is single-threaded: nothing else spawns while it is inheritable.
    nix::fcntl::fcntl(
        &netns,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|e| NetError::Invalid(format!("passing the namespace on: {e}")))?;
    Ok(netns)
}

/// slirp4netns, the fallback: it stays in the foreground, says on `--ready-fd` when the
/// interface is up, and takes port forwards over its API socket.
fn attach_slirp(runroot: &Path, id: &str, pid: i32, ports: &[PortMapping]) -> Result<(), NetError> {
    use std::io::{Read, Write};
    let dir = state_dir(runroot)?;
    let netns = inheritable_netns(pid)?;
    let (mut ready_r, ready_w) = nix::unistd::pipe()
        .map(|(r, w)| (std::fs::File::from(r), w))
        .map_err(|e| NetError::Invalid(format!("pipe: {e}")))?;
    nix::fcntl::fcntl(
        &ready_w,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|e| NetError::Invalid(format!("passing the ready pipe on: {e}")))?;
    nix::fcntl::fcntl(
        &ready_r,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| NetError::Invalid(format!("pipe: {e}")))?;
    // A short name: socket paths are limited to 108 bytes.
    let api = dir.join(format!("{}.sock", &id[..12.min(id.len())]));
    let _ = std::fs::remove_file(&api);
    let mut child = Command::new("slirp4netns")
        .args([
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            "--netns-type=path",
        ])
        .arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
        .arg(format!("--api-socket={}", api.display()))
        .arg(format!("/proc/self/fd/{}", netns.as_raw_fd()))
        .arg("tap0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| NetError::Invalid(format!("starting slirp4netns: {e}")))?;
    drop(ready_w);
    drop(netns);
    let mut byte = [0u8; 1];
    if ready_r.read(&mut byte).map_or(true, |n| n == 0) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(NetError::Invalid(format!(
            "slirp4netns failed to set up the network{TUN_HINT}"
        )));
    }
    let _ = std::fs::write(pid_file(runroot, id), child.id().to_string());
    for p in ports {
        let request = serde_json::json!({"execute": "add_hostfwd", "arguments": {
            "proto": p.protocol,
            "host_addr": if p.host_ip.is_empty() { "0.0.0.0" } else { &p.host_ip },
            "host_port": p.host_port,
            "guest_port": p.container_port,
        }});
        let reply = std::os::unix::net::UnixStream::connect(&api).and_then(|mut s| {
            s.write_all(request.to_string().as_bytes())?;
            s.shutdown(std::net::Shutdown::Write)?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok(r)
        });
        match reply {
            Ok(r) if !r.contains("\"error\"") => {}
            other => {
                detach(runroot, id);
                return Err(NetError::Invalid(format!(
                    "slirp4netns: publishing {}:{}: {}",
                    p.host_port,
                    p.key(),
                    other.map_or_else(|e| e.to_string(), |r| r.trim().to_string())
                )));
            }
        }
    }
    Ok(())
}

fn attach_pasta(
    runroot: &Path,
    id: &str,
    pid: i32,
    ports: &[PortMapping],
    ifname: Option<&str>,
) -> Result<(), NetError> {
    state_dir(runroot)?;
    let pidfile = pid_file(runroot, id);
    let netns = inheritable_netns(pid)?;
    let mut cmd = Command::new("pasta");
    cmd.args(["--config-net", "--quiet", "--no-map-gw"]);
    if let Some(name) = ifname {
        // Beside user networks, whose interfaces are IPv4 only (IPv6 is off in there).
        cmd.args(["-4", "-I", name]);
    }
    for (flag, proto) in [("-t", "tcp"), ("-u", "udp")] {
        let specs: Vec<String> = ports
            .iter()
            .filter(|p| p.protocol == proto)
            .map(forward_spec)
            .collect();
        if specs.is_empty() {
            cmd.args([flag, "none"]);
        }
        for s in specs {
            cmd.args([flag, &s]);
        }
    }
    cmd.args(["-T", "none", "-U", "none", "-P"])
        .arg(&pidfile)
        // The namespace as an inherited descriptor: pasta gives up its identity before it
        // opens the path, and /proc/<pid>/ns would then be closed to it, /proc/self/fd not.
        .arg("--netns")
        .arg(format!("/proc/self/fd/{}", netns.as_raw_fd()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetError::Invalid(
                "rootless networking needs pasta: install it (Debian: apt-get install passt), or run with --network none".into(),
            )
        } else {
            NetError::Invalid(format!("starting pasta: {e}"))
        }
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.to_ascii_lowercase().contains("tun") {
            TUN_HINT
        } else {
            ""
        };
        return Err(NetError::Invalid(format!(
            "pasta: {}{hint}",
            err.lines().last().unwrap_or("failed").trim()
        )));
    }
    // pasta's daemon writes its pid a moment after the parent returns; a container that
    // ends at once must still find it to stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .is_none()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// End the container's pasta, if it still runs (checked by name: a pid file can outlive it).
pub fn detach(runroot: &Path, id: &str) {
    let pidfile = pid_file(runroot, id);
    let Ok(text) = std::fs::read_to_string(&pidfile) else {
        return;
    };
    if let Ok(pid) = text.trim().parse::<i32>() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        if comm.starts_with("pasta") || comm.starts_with("passt") || comm == "slirp4netns" {
            // pasta blocks SIGTERM; neither keeps anything that needs a clean exit.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _ = std::fs::remove_file(pidfile);
    let _ = std::fs::remove_file(
        runroot
            .join("pasta")
            .join(format!("{}.sock", &id[..12.min(id.len())])),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_specs() {
        let p = PortMapping {
            host_ip: "127.0.0.1".into(),
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
        };
        assert_eq!(forward_spec(&p), "127.0.0.1/8080:80");
        let q = PortMapping {
            host_ip: String::new(),
            ..p
        };
        assert_eq!(forward_spec(&q), "8080:80");
    }
}
