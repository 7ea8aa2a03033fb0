//! Rootless user networks live in one network namespace per user (per runroot), owned by the
//! user's rootless user namespace, where skiff is root: their bridges are made there, and the
//! containers' veths join them there. Nothing of it is on the host. A sleeping process holds
//! the namespace: started when a container first joins a user network, ended when the last
//! one leaves (or, after a crash, by the next command that finds no live lease). Its pid and
//! start time are kept in `<runroot>/netns.pid`.
//!
//! The namespace forwards nothing (`ip_forward` stays 0, the kernel's default), so two
//! networks are isolated without a firewall; containers reach out through their own pasta.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use super::NetError;
use crate::config::Paths;
use crate::state::proc;

const HOLDER_NAME: &str = "skiff-netns";

fn pid_file(paths: &Paths) -> PathBuf {
    paths.runroot.join("netns.pid")
}

fn err(what: &str) -> impl FnOnce(std::io::Error) -> NetError + '_ {
    move |e| NetError::Invalid(format!("{what}: {e}"))
}

/// The holder's pid, if it still runs (same start time, and its name).
fn live_holder(paths: &Paths) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file(paths)).ok()?;
    let mut f = text.split_whitespace();
    let pid: i32 = f.next()?.parse().ok()?;
    let start: u64 = f.next()?.parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (proc::is_alive(pid, start) && comm.trim() == HOLDER_NAME).then_some(pid)
}

/// The namespace, when its holder runs.
pub fn open(paths: &Paths) -> Option<File> {
    let pid = live_holder(paths)?;
    File::open(format!("/proc/{pid}/ns/net")).ok()
}

/// The namespace, made when needed. Callers hold the network store's lock, which keeps two
/// commands from making two.
pub fn ensure(paths: &Paths) -> Result<File, NetError> {
    if let Some(ns) = open(paths) {
        return Ok(ns);
    }
    crate::config::ensure_dir(&paths.runroot, 0o700)
        .map_err(err("creating the runtime directory"))?;
    let pid = spawn_holder()?;
    // It serves every container: beside the pause process, not in the scope of the
    // container (or terminal) whose start made it.
    if let (Some(pause), Some(crate::cgroup::Hierarchy::Unified(mount))) = (
        crate::ns::userns::pause_pid(paths),
        crate::cgroup::host_hierarchy(),
    ) {
        crate::cgroup::systemd::join_cgroup_of(&mount, pid, pause);
    }
    let start = proc::start_time(pid).unwrap_or(0);
    let written =
        crate::state::write_atomic(&pid_file(paths), format!("{pid} {start}\n").as_bytes());
    let ns = File::open(format!("/proc/{pid}/ns/net"));
    match (written, ns) {
        (Ok(()), Ok(ns)) => Ok(ns),
        (w, n) => {
            kill(pid);
            let _ = std::fs::remove_file(pid_file(paths));
            Err(match (w, n) {
                (Err(e), _) => NetError::Invalid(format!("writing the netns pid file: {e}")),
                (_, Err(e)) => {
                    NetError::Invalid(format!("opening the user networks' namespace: {e}"))
                }
                _ => NetError::Invalid("user networks' namespace".into()),
            })
        }
    }
}

/// End the holder, and with it the namespace and its bridges.
pub fn stop(paths: &Paths) {
    if let Some(pid) = live_holder(paths) {
        kill(pid);
    }
    let _ = std::fs::remove_file(pid_file(paths));
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Fork twice (so the holder is nobody's child here and never a zombie of a monitor), and
/// have the grandchild unshare a network namespace and sleep. It reports its pid and the
/// unshare's errno through a pipe. The children only make raw system calls: this process
/// may have other threads.
fn spawn_holder() -> Result<i32, NetError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| NetError::Invalid(format!("pipe: {e}")))?;
    let mut reader = File::from(r);
    let w = File::from(w);
    let wfd = std::os::fd::AsRawFd::as_raw_fd(&w);
    // SAFETY: the children call only async-signal-safe functions and never return.
    let first = unsafe { libc::fork() };
    if first < 0 {
        return Err(NetError::Invalid(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        )));
    }
    if first == 0 {
        // SAFETY: as above; both branches end in _exit or in the holder's endless pause.
        unsafe {
            if libc::fork() != 0 {
                libc::_exit(0);
            }
            libc::setsid();
            // Named before it reports, so no command can see it unnamed.
            libc::prctl(libc::PR_SET_NAME, c"skiff-netns".as_ptr());
            let mut report = [0u8; 8];
            let pid = libc::getpid();
            report[..4].copy_from_slice(&pid.to_ne_bytes());
            let errno = if libc::unshare(libc::CLONE_NEWNET) == 0 {
                0
            } else {
                *libc::__errno_location()
            };
            report[4..].copy_from_slice(&errno.to_ne_bytes());
            libc::write(wfd, report.as_ptr().cast(), report.len());
            if errno != 0 {
                libc::_exit(1);
            }
            libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::chdir(c"/".as_ptr());
            loop {
                libc::pause();
            }
        }
    }
    drop(w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
    let mut report = [0u8; 8];
    reader
        .read_exact(&mut report)
        .map_err(err("starting the user networks' namespace"))?;
    let pid = i32::from_ne_bytes([report[0], report[1], report[2], report[3]]);
    let errno = i32::from_ne_bytes([report[4], report[5], report[6], report[7]]);
    if errno != 0 {
        return Err(NetError::Invalid(format!(
            "creating the user networks' namespace: {}",
            std::io::Error::from_raw_os_error(errno)
        )));
    }
    Ok(pid)
}
