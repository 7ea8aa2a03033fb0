//! Rootless, every bridge network (the default one included) lives in one network namespace
//! per user (per runroot), owned by the user's rootless user namespace, where skiff is root:
//! the bridges are made there, and the containers' veths join them there. Nothing of it is on
//! the host. Its holder (`netns_holder`, skiff's binary run as `skiff-netns`) keeps it and its
//! way out (`outside`: one pasta for all containers); its pid, the descriptor that holds the
//! namespace and the stack's name are in `<runroot>/netns.pid`.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::NetError;
use super::outside::Backend;
use crate::config::Paths;
use crate::state::proc;

/// The holder's name (its argv[0] and comm): `netns_holder` runs under it.
pub const PROGRAM: &str = "skiff-netns";

pub fn pid_file(paths: &Paths) -> PathBuf {
    paths.runroot.join("netns.pid")
}

/// What the firewall inside the namespace was last loaded with (gone with the namespace).
pub fn firewall_stamp(paths: &Paths) -> PathBuf {
    paths.runroot.join("netns.firewall")
}

/// The holder as its pid file describes it.
pub struct Holder {
    pub pid: i32,
    fd: i32,
    pub backend: Option<Backend>,
}

/// The holder, if it still runs (same start time: the pid was not reused).
pub fn holder(paths: &Paths) -> Option<Holder> {
    let text = std::fs::read_to_string(pid_file(paths)).ok()?;
    let mut f = text.split_whitespace();
    let pid: i32 = f.next()?.parse().ok()?;
    let start: u64 = f.next()?.parse().ok()?;
    let fd: i32 = f.next()?.parse().ok()?;
    let backend = f.next().and_then(Backend::parse);
    proc::is_alive(pid, start).then_some(Holder { pid, fd, backend })
}

/// The namespace, when its holder runs.
pub fn open(paths: &Paths) -> Option<File> {
    let h = holder(paths)?;
    File::open(format!("/proc/{}/fd/{}", h.pid, h.fd)).ok()
}

/// The stack that serves the namespace now, if any (for `info`).
pub fn backend(paths: &Paths) -> Option<Backend> {
    holder(paths).and_then(|h| h.backend)
}

/// The namespace, made when needed. Callers hold the network store's lock, which keeps two
/// commands from making two.
pub fn ensure(paths: &Paths) -> Result<File, NetError> {
    if let Some(ns) = open(paths) {
        return Ok(ns);
    }
    crate::config::ensure_dir(&paths.runroot, 0o700)
        .map_err(|e| NetError::Invalid(format!("creating the runtime directory: {e}")))?;
    // A new namespace has no firewall yet, whatever the last one had.
    let _ = std::fs::remove_file(firewall_stamp(paths));
    if let Err(e) = spawn_holder(paths) {
        // Nothing of a holder that did not start stays behind: its logs said it in the error.
        for log in ["netns.log", "netns-pasta.log"] {
            let _ = std::fs::remove_file(paths.runroot.join(log));
        }
        return Err(e);
    }
    open(paths)
        .ok_or_else(|| NetError::Invalid("the user networks' namespace ended as it started".into()))
}

/// A container left: the holder checks, after its linger, whether any is left.
pub fn notify_idle(paths: &Paths) {
    if let Some(h) = holder(paths) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(h.pid),
            nix::sys::signal::Signal::SIGUSR1,
        );
    }
}

fn invalid(what: &str) -> impl FnOnce(nix::Error) -> NetError + '_ {
    move |e| NetError::Invalid(format!("{what}: {e}"))
}

fn cstring(s: impl Into<Vec<u8>>) -> Result<CString, NetError> {
    CString::new(s).map_err(|_| NetError::Invalid("a path with a NUL byte".into()))
}

/// Fork twice (the holder is nobody's child here, so never a monitor's zombie) and exec
/// skiff's own binary as the holder, which reports `ok` or `err MESSAGE` on a pipe once the
/// namespace and its stack are up. The children make raw system calls only: this process may
/// have other threads.
fn spawn_holder(paths: &Paths) -> Result<(), NetError> {
    use std::os::unix::ffi::OsStrExt;
    let exe = cstring("/proc/self/exe")?;
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(invalid("pipe"))?;
    let mut reader = File::from(r);
    let wfd = w.as_raw_fd();
    let argv = [
        cstring(PROGRAM)?,
        cstring(paths.root.as_os_str().as_bytes())?,
        cstring(paths.runroot.as_os_str().as_bytes())?,
        cstring(wfd.to_string())?,
    ];
    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let devnull = File::open("/dev/null")
        .map_err(|e| NetError::Invalid(format!("opening /dev/null: {e}")))?;
    // Its complaints (a stack that would not restart) go to a log beside the pid file.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.runroot.join("netns.log"))
        .map_err(|e| NetError::Invalid(format!("opening netns.log: {e}")))?;
    let (null_fd, log_fd) = (devnull.as_raw_fd(), log.as_raw_fd());
    let env = environ_ptr();
    // SAFETY: the children call only async-signal-safe functions and end in exec or _exit.
    let first = unsafe { libc::fork() };
    if first < 0 {
        return Err(NetError::Invalid(format!(
            "fork: {}",
            std::io::Error::last_os_error()
        )));
    }
    if first == 0 {
        // SAFETY: as above.
        unsafe {
            if libc::fork() != 0 {
                libc::_exit(0);
            }
            libc::setsid();
            libc::dup2(null_fd, 0);
            libc::dup2(log_fd, 1);
            libc::dup2(log_fd, 2);
            // Nothing else of this process's descriptors: only the report pipe.
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            libc::fcntl(wfd, libc::F_SETFD, 0);
            libc::execve(exe.as_ptr(), argv_ptrs.as_ptr(), env);
            libc::_exit(127);
        }
    }
    drop(w);
    drop((devnull, log));
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(first), None);
    let mut report = String::new();
    let _ = reader.read_to_string(&mut report);
    match report.trim_end().split_once(' ') {
        _ if report.trim_end() == "ok" => Ok(()),
        Some(("err", message)) => Err(NetError::Invalid(message.to_string())),
        _ => Err(NetError::Invalid(
            "the user networks' namespace holder ended before it was ready".into(),
        )),
    }
}

fn environ_ptr() -> *const *const libc::c_char {
    unsafe extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: reading the process's environment pointer.
    unsafe { environ }
}
