//! A container's own user-mode stack, podman's `--network pasta[:OPTIONS]` and
//! `--network slirp4netns[:OPTIONS]` (the default network, rootless too, is a bridge: see
//! `user_netns`). pasta gives the container's namespace an interface that copies the host's
//! addressing; `-p` becomes its `-t`/`-u` forwards, which keep the client's source address.
//! pasta daemonizes once the namespace is configured and writes its pid, kept in
//! `<runroot>/pasta/<id>.pid` so that stop, or the next command after a crash, ends it.
//! slirp4netns stays in the foreground as the monitor's child and takes `-p` on its API
//! socket.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::NetError;
use super::bridge::Attachment;
use super::config::{NetConfig, NetworkMode};
use super::outside::{NO_OUTSIDE, TUN_HINT};
use super::ports::PortMapping;

/// slirp4netns' options as podman takes them: `NAME=VALUE`, these names.
const SLIRP_OPTIONS: [&str; 4] = ["allow_host_loopback", "mtu", "cidr", "enable_ipv6"];

/// Check `--network slirp4netns:OPTIONS` (pure).
pub fn check_slirp_options(options: &[String]) -> Result<(), String> {
    for o in options {
        let Some((name, value)) = o.split_once('=') else {
            return Err(format!(
                "invalid slirp4netns option {o:?}: expected NAME=VALUE with NAME one of {}",
                SLIRP_OPTIONS.join(", ")
            ));
        };
        let ok = match name {
            "allow_host_loopback" | "enable_ipv6" => value == "true" || value == "false",
            "mtu" => value
                .parse::<u32>()
                .is_ok_and(|m| (68..=65521).contains(&m)),
            "cidr" => value.parse::<ipnet::Ipv4Net>().is_ok(),
            _ => {
                return Err(format!(
                    "invalid slirp4netns option {name:?}: expected one of {}",
                    SLIRP_OPTIONS.join(", ")
                ));
            }
        };
        if !ok {
            return Err(format!("invalid slirp4netns option {o:?}: bad value"));
        }
    }
    Ok(())
}

/// slirp4netns' flags for the options (checked at create).
fn slirp_flags(options: &[String]) -> Vec<String> {
    let mut flags = vec!["--mtu=65520".to_string()];
    let mut loopback = false;
    for o in options {
        match o.split_once('=') {
            Some(("allow_host_loopback", v)) => loopback = v == "true",
            Some(("enable_ipv6", "true")) => flags.push("--enable-ipv6".into()),
            Some(("mtu", v)) => flags[0] = format!("--mtu={v}"),
            Some(("cidr", v)) => flags.push(format!("--cidr={v}")),
            _ => {}
        }
    }
    if !loopback {
        flags.push("--disable-host-loopback".into());
    }
    flags
}

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

/// Host ports: random ones chosen, low ones refused (as for the default network); freed
/// again at once for pasta or slirp4netns to bind.
fn resolve_ports(net: &NetConfig) -> Result<Vec<PortMapping>, NetError> {
    super::forward::bind(net).map(|(mappings, _listeners)| mappings)
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

/// Give the namespace of `pid` its own stack (`mode`: pasta or slirp4netns), with the
/// container's published ports.
pub fn attach(
    runroot: &Path,
    id: &str,
    pid: i32,
    net: &NetConfig,
    mode: NetworkMode,
) -> Result<Vec<Attachment>, NetError> {
    let ports = resolve_ports(net)?;
    if mode == NetworkMode::Slirp4netns {
        attach_slirp(runroot, id, pid, &ports, &net.stack_options)?;
        return Ok(default_attachment(mode, ports, "tap0"));
    }
    match attach_pasta(runroot, id, pid, &ports, &net.stack_options) {
        Err(NetError::Invalid(e)) if e.contains(NO_OUTSIDE) => Err(NetError::Invalid(format!(
            "{e}: this host has no default route, which pasta needs; use --network slirp4netns, or the default network"
        ))),
        other => other,
    }?;
    let name = interface_option(&net.stack_options).unwrap_or("eth0");
    Ok(default_attachment(mode, ports, name))
}

/// `-I NAME` / `--ns-ifname NAME` among pasta's options.
fn interface_option(options: &[String]) -> Option<&str> {
    let mut it = options.iter();
    while let Some(o) = it.next() {
        if o == "-I" || o == "--ns-ifname" {
            return it.next().map(String::as_str);
        }
        if let Some(v) = o.strip_prefix("--ns-ifname=") {
            return Some(v);
        }
    }
    None
}

/// The container's own stack's entry in its state: no address of the user's networks.
fn default_attachment(
    mode: NetworkMode,
    ports: Vec<PortMapping>,
    interface: &str,
) -> Vec<Attachment> {
    vec![Attachment {
        network: mode.as_str().into(),
        network_id: mode.as_str().into(),
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

/// `--network slirp4netns`: it stays in the foreground, says on `--ready-fd` when the
/// interface is up, and takes port forwards over its API socket.
fn attach_slirp(
    runroot: &Path,
    id: &str,
    pid: i32,
    ports: &[PortMapping],
    options: &[String],
) -> Result<(), NetError> {
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
        .args(["--configure", "--netns-type=path"])
        .args(slirp_flags(options))
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
    options: &[String],
) -> Result<(), NetError> {
    state_dir(runroot)?;
    let pidfile = pid_file(runroot, id);
    let netns = inheritable_netns(pid)?;
    let mut cmd = Command::new("pasta");
    cmd.args(["--config-net", "--quiet", "--no-map-gw"]);
    if interface_option(options).is_none() {
        cmd.args(["-I", "eth0"]);
    }
    cmd.args(options);
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
        return Err(NetError::Invalid(super::outside::pasta_failure(
            &String::from_utf8_lossy(&out.stderr),
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
