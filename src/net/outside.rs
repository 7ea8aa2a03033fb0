//! The rootless user networks' way out: one user-mode network stack for the whole namespace
//! (pasta, or slirp4netns where pasta is missing or the host has no default route), started
//! by the namespace's holder (`netns_holder`) and restarted by it when it dies. Containers
//! reach it through their bridge's gateway: the namespace forwards and masquerades their
//! traffic onto the stack's interface, so the stack sees one guest address, as it expects.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The stack's interface in the user networks' namespace (never inside a container).
pub const IFNAME: &str = "tap0";

/// The stack's link MTU: the bridges' (1500 unless a network sets its own, which may only
/// be smaller for the way out).
const MTU: u32 = 1500;

/// Where containers on the user networks may send DNS queries for the host's own resolver
/// (even a loopback one): slirp4netns' built-in forwarder, and pasta's `--dns-forward`.
pub const DNS_FORWARD: &str = "10.0.2.3";

/// What to do when the tun device cannot be opened (pasta and slirp4netns both need it).
pub const TUN_HINT: &str = " (/dev/net/tun must exist with mode 0666: as root, mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200, or in a container run it with --device /dev/net/tun; or use --network none)";

/// What pasta says when the host has no interface with a default route.
pub const NO_OUTSIDE: &str = "External interface not usable";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Pasta,
    Slirp4netns,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Pasta => "pasta",
            Backend::Slirp4netns => "slirp4netns",
        }
    }

    pub fn parse(s: &str) -> Option<Backend> {
        match s {
            "pasta" => Some(Backend::Pasta),
            "slirp4netns" => Some(Backend::Slirp4netns),
            _ => None,
        }
    }
}

/// A running stack: its pid, a child of the holder (both run in the foreground).
pub struct Helper {
    pub pid: i32,
    pub backend: Backend,
}

fn pasta_pid_file(runroot: &Path) -> PathBuf {
    runroot.join("netns-pasta.pid")
}

/// The stack a new namespace would get here: pasta when it is installed and the host has a
/// default route (IPv4 or IPv6), else slirp4netns when installed.
pub fn preferred() -> Option<Backend> {
    let default_route = |file: &str, field: usize, zero: &str| {
        std::fs::read_to_string(file).is_ok_and(|t| {
            t.lines()
                .skip_while(|l| file.ends_with("/route") && l.starts_with("Iface"))
                .any(|l| l.split_whitespace().nth(field) == Some(zero))
        })
    };
    let routed = default_route("/proc/net/route", 1, "00000000")
        || default_route(
            "/proc/net/ipv6_route",
            0,
            "00000000000000000000000000000000",
        );
    if in_path("pasta") && routed {
        Some(Backend::Pasta)
    } else if in_path("slirp4netns") {
        Some(Backend::Slirp4netns)
    } else {
        None
    }
}

fn in_path(name: &str) -> bool {
    crate::config::find_program(name).is_some()
}

/// Start the stack for the namespace `ns` (a descriptor of this process): pasta, falling
/// back to slirp4netns when pasta is missing or finds no way out.
pub fn start(runroot: &Path, ns: BorrowedFd<'_>) -> Result<Helper, String> {
    if !in_path("pasta") {
        if in_path("slirp4netns") {
            return start_slirp(ns);
        }
        return Err("rootless networking needs pasta (Debian: apt-get install passt) or slirp4netns (apt-get install slirp4netns); or run with --network none".into());
    }
    match start_pasta(runroot, ns) {
        // pasta copies the host's outside interface, and there is none without a default
        // route (a laptop offline, a sandboxed CI runner); slirp4netns needs none.
        Err(e) if e.contains(NO_OUTSIDE) => {
            if in_path("slirp4netns") {
                start_slirp(ns)
            } else {
                Err(format!(
                    "{e}: this host has no default route, which pasta needs; install slirp4netns (apt-get install slirp4netns) to network containers without one, or use --network none"
                ))
            }
        }
        other => other,
    }
}

/// `ns` inherited by the child under the same number (cleared close-on-exec there only).
fn inherit(cmd: &mut Command, ns: BorrowedFd<'_>) {
    use std::os::unix::process::CommandExt;
    let fd = ns.as_raw_fd();
    // SAFETY: fcntl is async-signal-safe; it touches only the child's descriptor table.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// pasta's complaint as one line: its last line that says something (not its syslog
/// noise), with the tun device's fix when it names the device.
pub fn pasta_failure(stderr: &str) -> String {
    let last = stderr
        .lines()
        .rfind(|l| !l.trim().is_empty() && !l.contains("syslog"))
        .unwrap_or("it ended before the namespace was ready")
        .trim();
    let hint = if last.to_ascii_lowercase().contains("tun") {
        TUN_HINT
    } else {
        ""
    };
    format!("pasta: {last}{hint}")
}

/// The stack dies with the holder (SIGKILLed by a test's cleanup, say), not left running
/// with the namespace alive under it. Set in the child, after fork.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// pasta in the foreground, as the holder's child: it writes its pid file once the
/// namespace's interface is configured, or exits with the reason on stderr (kept in
/// `<runroot>/netns-pasta.log`).
fn start_pasta(runroot: &Path, ns: BorrowedFd<'_>) -> Result<Helper, String> {
    let pidfile = pasta_pid_file(runroot);
    let _ = std::fs::remove_file(&pidfile);
    let log_path = runroot.join("netns-pasta.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let mut cmd = Command::new("pasta");
    // IPv4 only, as the bridges; no forwards (published ports are the monitors'), and the
    // gateway stays the host's gateway, not the host itself.
    cmd.args([
        "-f",
        "--config-net",
        "--quiet",
        "--no-map-gw",
        "-4",
        "-I",
        IFNAME,
    ]);
    cmd.args(["--dns-forward", DNS_FORWARD]);
    // The bridges' MTU: pasta sizes its segments to its own link, and larger ones could not
    // be forwarded onto a bridge.
    cmd.args(["-m", &MTU.to_string()]);
    cmd.args(["-t", "none", "-u", "none", "-T", "none", "-U", "none", "-P"])
        .arg(&pidfile)
        // pasta gives up its identity before it opens the path: /proc/self/fd stays open to
        // it where /proc/<pid>/ns would not.
        .arg("--netns")
        .arg(format!("/proc/self/fd/{}", ns.as_raw_fd()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    inherit(&mut cmd, ns);
    die_with_parent(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| format!("starting pasta: {e}"))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if std::fs::read_to_string(&pidfile).is_ok_and(|t| t.trim().parse::<i32>().is_ok()) {
            return Ok(Helper {
                pid: child.id() as i32,
                backend: Backend::Pasta,
            });
        }
        let ended = child.try_wait().ok().flatten().is_some();
        if ended || std::time::Instant::now() > deadline {
            if !ended {
                let _ = child.kill();
                let _ = child.wait();
            }
            let err = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(pasta_failure(&err));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn start_slirp(ns: BorrowedFd<'_>) -> Result<Helper, String> {
    use std::io::Read;
    let (ready_r, ready_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let mut ready_r = std::fs::File::from(ready_r);
    let mut cmd = Command::new("slirp4netns");
    cmd.args([
        "--configure",
        &format!("--mtu={MTU}"),
        "--disable-host-loopback",
        "--netns-type=path",
    ])
    .arg(format!("--ready-fd={}", ready_w.as_raw_fd()))
    .arg(format!("/proc/self/fd/{}", ns.as_raw_fd()))
    .arg(IFNAME)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    inherit(&mut cmd, ns);
    {
        use std::os::fd::AsFd;
        inherit(&mut cmd, ready_w.as_fd());
    }
    die_with_parent(&mut cmd);
    // Reaped by the holder's wait for any child, not through this handle.
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting slirp4netns: {e}"))?;
    drop(ready_w);
    let mut byte = [0u8; 1];
    if ready_r.read(&mut byte).map_or(true, |n| n == 0) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "slirp4netns failed to set up the network{TUN_HINT}"
        ));
    }
    Ok(Helper {
        pid: child.id() as i32,
        backend: Backend::Slirp4netns,
    })
}

/// End the stack (pasta blocks SIGTERM; neither keeps anything that needs a clean exit).
pub fn stop(runroot: &Path, helper: &Helper) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(helper.pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = std::fs::remove_file(pasta_pid_file(runroot));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasta_failures_name_the_fix() {
        let e = pasta_failure(
            "Failed to send 42 bytes to syslog\nFailed to open tun socket in namespace\n",
        );
        assert!(
            e.starts_with("pasta: Failed to open tun socket in namespace (/dev/net/tun"),
            "{e}"
        );
        assert_eq!(
            pasta_failure("External interface not usable\n"),
            "pasta: External interface not usable"
        );
        assert_eq!(
            pasta_failure(""),
            "pasta: it ended before the namespace was ready"
        );
    }
}
