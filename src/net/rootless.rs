//! The default network rootless: pasta (Debian `passt`) gives the container's namespace an
//! interface that copies the host's addressing and forwards traffic through the user's own
//! sockets; `-p` becomes pasta's `-t`/`-u` forwards, which keep the client's source address.
//! pasta daemonizes once the namespace is configured and writes its pid, which is kept in
//! `<runroot>/pasta/<id>.pid` so that stop, or the next command after a crash, ends it.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::bridge::{Attachment, NetError};
use super::config::NetConfig;
use super::ports::PortMapping;

fn pid_file(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("pasta").join(format!("{id}.pid"))
}

/// Host ports for a rootless container: random ones chosen, low ones refused.
fn resolve_ports(net: &NetConfig) -> Result<Vec<PortMapping>, NetError> {
    let start: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    let mut wanted = net.ports.clone();
    if net.publish_all {
        for (port, proto) in &net.exposed {
            if !wanted
                .iter()
                .any(|p| p.container_port == *port && &p.protocol == proto)
            {
                wanted.push(PortMapping {
                    host_ip: String::new(),
                    host_port: 0,
                    container_port: *port,
                    protocol: proto.clone(),
                });
            }
        }
    }
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

/// Connect the namespace of `pid` with pasta.
pub fn attach(
    runroot: &Path,
    id: &str,
    pid: i32,
    net: &NetConfig,
) -> Result<Vec<Attachment>, NetError> {
    let ports = resolve_ports(net)?;
    let dir = runroot.join("pasta");
    crate::config::ensure_dir(&dir, 0o700)
        .map_err(|e| NetError::Invalid(format!("creating {}: {e}", dir.display())))?;
    let pidfile = pid_file(runroot, id);
    let netns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| {
        NetError::Invalid(format!("opening the container's network namespace: {e}"))
    })?;
    // Inherited by pasta (the monitor is single-threaded: nothing else spawns meanwhile).
    nix::fcntl::fcntl(
        &netns,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .map_err(|e| NetError::Invalid(format!("passing the namespace to pasta: {e}")))?;
    let mut cmd = Command::new("pasta");
    cmd.args(["--config-net", "--quiet", "--no-map-gw"]);
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
        let hint = if err.contains("/dev/net/tun") {
            " (is /dev/net/tun mode 0666?)"
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
    Ok(vec![Attachment {
        network: super::config::DEFAULT_NETWORK.into(),
        network_id: "pasta".into(),
        ip: std::net::Ipv4Addr::UNSPECIFIED,
        prefix: 0,
        gateway: std::net::Ipv4Addr::UNSPECIFIED,
        mac: String::new(),
        aliases: Vec::new(),
        ports,
        interface: "eth0".into(),
    }])
}

/// End the container's pasta, if it still runs (checked by name: a pid file can outlive it).
pub fn detach(runroot: &Path, id: &str) {
    let pidfile = pid_file(runroot, id);
    let Ok(text) = std::fs::read_to_string(&pidfile) else {
        return;
    };
    if let Ok(pid) = text.trim().parse::<i32>() {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim().starts_with("pasta") || comm.trim().starts_with("passt") {
            // pasta blocks SIGTERM; it keeps nothing that needs a clean exit.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _ = std::fs::remove_file(pidfile);
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
