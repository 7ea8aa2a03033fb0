//! `skiff-netns`: the process that holds the rootless user networks' namespace and its way
//! out. `user_netns::ensure` starts it (skiff's own binary, run under this name) inside the
//! user's rootless user namespace; it
//!
//! - makes the network namespace on a thread of its own and keeps it by a descriptor (its
//!   main thread stays in the host's namespace, where the stack's sockets must be);
//! - starts the stack (`outside`), and starts it again when it dies (a `kill` of pasta costs
//!   the containers a second of outbound traffic, not their addresses);
//! - ends the namespace and the stack once no container has held a lease for `LINGER`:
//!   leaving commands send it SIGUSR1 (`user_netns::notify_idle`), and it also looks every
//!   `RECHECK` unasked; it checks under the network store's lock, so it cannot end while a
//!   container is joining.
//!
//! The linger spares a script of consecutive `run --rm` a namespace, a stack and a firewall
//! each (~30 ms, measured: see ARCHITECTURE.md).

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::outside::{self, Backend, Helper};
use crate::config::Paths;
use crate::state::network::NetworkStore;

use super::user_netns::PROGRAM;

/// How long the namespace outlives its last container.
pub const LINGER: Duration = Duration::from_secs(2);

/// How often it checks, unasked, whether anyone still needs it.
const RECHECK: Duration = Duration::from_secs(30);

/// Time between attempts to start a stack that died and would not start again.
const RETRY: Duration = Duration::from_secs(1);

/// Whether argv[0] asks for the holder.
pub fn is_holder(args: &[OsString]) -> bool {
    args.first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|n| n == PROGRAM)
}

/// The holder's whole life. argv: `skiff-netns ROOT RUNROOT REPORT_FD`.
pub fn main(args: Vec<OsString>) -> ! {
    let (Some(root), Some(runroot), Some(fd)) = (
        args.get(1).map(PathBuf::from),
        args.get(2).map(PathBuf::from),
        args.get(3)
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<i32>().ok()),
    ) else {
        eprintln!("{PROGRAM}: started by skiff only");
        std::process::exit(2);
    };
    // SAFETY: the descriptor was handed over for this purpose and is used only here.
    let mut report = unsafe { std::fs::File::from_raw_fd(fd) };
    // Not to the stack: its parent waits for the end of this pipe.
    let _ = nix::fcntl::fcntl(
        &report,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let paths = Paths {
        root,
        runroot,
        rootless: true,
    };
    match set_up(&paths) {
        Ok((ns, helper)) => {
            let _ = report.write_all(b"ok\n");
            drop(report);
            serve(&paths, ns, helper)
        }
        Err(e) => {
            let _ = report.write_all(format!("err {e}\n").as_bytes());
            std::process::exit(1);
        }
    }
}

fn blocked() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGUSR1, Signal::SIGTERM] {
        set.add(s);
    }
    set
}

fn set_up(paths: &Paths) -> Result<(std::fs::File, Helper), String> {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: prctl with constant arguments.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"skiff-netns".as_ptr());
    }
    blocked()
        .thread_block()
        .map_err(|e| format!("blocking signals: {e}"))?;
    for s in [Signal::SIGINT, Signal::SIGHUP, Signal::SIGPIPE] {
        // SAFETY: ignoring a signal installs no handler code.
        let _ = unsafe { signal(s, SigHandler::SigIgn) };
    }
    // Beside the pause process, not in the scope of the container (or terminal) whose start
    // made it; before the stack starts, which inherits the place.
    if let (Some(pause), Some(crate::cgroup::Hierarchy::Unified(mount))) = (
        crate::ns::userns::pause_pid(paths),
        crate::cgroup::host_hierarchy(),
    ) {
        crate::cgroup::systemd::join_cgroup_of(&mount, std::process::id() as i32, pause);
    }
    let ns = std::thread::spawn(make_namespace)
        .join()
        .unwrap_or_else(|_| Err("the namespace thread panicked".into()))?;
    let helper = outside::start(&paths.runroot, ns.as_fd())?;
    write_pid_file(paths, &ns, helper.backend)?;
    Ok((ns, helper))
}

/// On a thread (setns and unshare move only it): a new network namespace with loopback up
/// and forwarding on (the firewall keeps networks apart), kept by a descriptor.
fn make_namespace() -> Result<std::fs::File, String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("creating the user networks' namespace: {e}"))?;
    let ns = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| format!("opening the user networks' namespace: {e}"))?;
    let mut nl = super::netlink::Netlink::open().map_err(|e| e.to_string())?;
    if let Some(lo) = nl.link_index("lo").map_err(|e| e.to_string())? {
        nl.set_up(lo, None).map_err(|e| e.to_string())?;
    }
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|e| format!("enabling forwarding in the user networks' namespace: {e}"))?;
    Ok(ns)
}

/// `<runroot>/netns.pid`: `PID START FD BACKEND`; others open the namespace as
/// `/proc/PID/fd/FD`.
fn write_pid_file(paths: &Paths, ns: &std::fs::File, backend: Backend) -> Result<(), String> {
    let pid = std::process::id() as i32;
    let start = crate::state::proc::start_time(pid).unwrap_or(0);
    let line = format!("{pid} {start} {} {}\n", ns.as_raw_fd(), backend.as_str());
    crate::state::write_atomic(&super::user_netns::pid_file(paths), line.as_bytes())
        .map_err(|e| format!("writing the netns pid file: {e}"))
}

fn names_me(paths: &Paths) -> bool {
    super::user_netns::holder(paths).is_some_and(|h| h.pid == std::process::id() as i32)
}

fn serve(paths: &Paths, ns: std::fs::File, helper: Helper) -> ! {
    let set = blocked();
    let mut helper = Some(helper);
    let mut last_start = Instant::now();
    // When to start the stack again: at once when it ran a while, else a RETRY after the
    // last start (no busy loop when it dies on starting).
    let mut next_try = Instant::now();
    let mut idle_check = Some(Instant::now() + LINGER);
    loop {
        let now = Instant::now();
        let retry = helper.is_none().then_some(next_try);
        let deadline = [idle_check, retry].into_iter().flatten().min();
        match wait_signal(&set, deadline.map(|d| d.saturating_duration_since(now))) {
            Some(libc::SIGTERM) => teardown(paths, helper.as_ref()),
            Some(libc::SIGUSR1) => idle_check = Some(Instant::now() + LINGER),
            Some(libc::SIGCHLD) if reap_helper(helper.as_ref()) => {
                eprintln!("{PROGRAM}: the network stack ended; starting it again");
                helper = None;
                next_try = (last_start + RETRY).max(Instant::now());
            }
            _ => {}
        }
        if idle_check.is_some_and(|t| Instant::now() >= t) {
            // Looked at again now and then, unasked: containers whose monitors were killed
            // (no command has noticed yet), or a store that has another holder now.
            idle_check = Some(Instant::now() + RECHECK);
            if unused(paths) {
                teardown(paths, helper.as_ref());
            }
        }
        if helper.is_none() && Instant::now() >= next_try {
            last_start = Instant::now();
            match outside::start(&paths.runroot, ns.as_fd()) {
                Ok(h) => {
                    let _ = write_pid_file(paths, &ns, h.backend);
                    helper = Some(h);
                }
                Err(e) => {
                    eprintln!("{PROGRAM}: {e}");
                    next_try = Instant::now() + RETRY;
                }
            }
        }
    }
}

/// The next of the blocked signals, or None at the timeout (None: wait forever).
fn wait_signal(set: &nix::sys::signal::SigSet, timeout: Option<Duration>) -> Option<i32> {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
    // SAFETY: the set and the timespec live across the call; info may be null.
    let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), ptr) };
    (sig > 0).then_some(sig)
}

/// Reap every ended child; whether the stack was one of them.
fn reap_helper(helper: Option<&Helper>) -> bool {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    let mut ended = false;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return ended,
            Ok(status) => {
                if status.pid().map(|p| p.as_raw()) == helper.map(|h| h.pid) {
                    ended = true;
                }
            }
        }
    }
}

/// No live lease, and this is still the namespace on record. The store's lock is held
/// through the teardown (the caller exits with it held): a joining command waits, then
/// finds no holder and starts a new one.
fn unused(paths: &Paths) -> bool {
    // Its store removed, or another holder on record: nothing here is anyone's any more.
    if !names_me(paths) {
        return true;
    }
    let Ok(store) = NetworkStore::open(paths) else {
        return true;
    };
    let Ok(lock) = store.lock() else {
        return true;
    };
    if !names_me(paths) {
        return true;
    }
    if store.all_leases().is_empty() {
        // Kept to the end of the process: the teardown runs under it.
        std::mem::forget(lock);
        return true;
    }
    false
}

fn teardown(paths: &Paths, helper: Option<&Helper>) -> ! {
    if let Some(h) = helper {
        outside::stop(&paths.runroot, h);
    }
    if names_me(paths) {
        let _ = std::fs::remove_file(super::user_netns::pid_file(paths));
    }
    for file in [
        super::user_netns::firewall_stamp(paths),
        paths.runroot.join("netns.log"),
        paths.runroot.join("netns-pasta.log"),
    ] {
        let _ = std::fs::remove_file(file);
    }
    std::process::exit(0)
}
