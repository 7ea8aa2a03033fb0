//! clone3() with fork semantics into new namespaces, returning a pidfd for race-free waiting and
//! signalling. The child runs a closure and never returns.

use std::convert::Infallible;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::sync::{self, ChildError};

pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// Clone a child in the namespaces given by `flags` (CLONE_NEW*). The child runs `child_main`
/// with the child end of the sync channel; its error is sent home and it exits 1. The caller
/// must be single-threaded (skiff never starts threads), so the child may allocate freely.
pub fn clone_child(
    flags: u64,
    sync_fd: RawFd,
    child_main: impl FnOnce() -> Result<Infallible, ChildError>,
) -> std::io::Result<Spawned> {
    let mut pidfd: libc::c_int = -1;
    // SAFETY: clone_args is plain data; zero is the documented default for every field.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags | libc::CLONE_PIDFD as u64;
    args.pidfd = std::ptr::addr_of_mut!(pidfd) as u64;
    args.exit_signal = libc::SIGCHLD as u64;
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork(): the child gets
    // a copy of this (single-threaded) address space and continues from here.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if ret < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if ret == 0 {
        // SAFETY: the fd stays open for the child's whole life; we only borrow it.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(sync_fd) };
        let err = match child_main() {
            Ok(never) => match never {},
            Err(e) => e,
        };
        sync::send_error(&fd, &err);
        // SAFETY: _exit skips atexit handlers and stdio flushing that belong to the parent.
        unsafe { libc::_exit(1) };
    }
    // SAFETY: the kernel stored a fresh pidfd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Spawned {
        pid: ret as i32,
        pidfd,
    })
}

/// A pidfd for a process we did not fork (to wait for a container's exit from `stop`).
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall; a null siginfo means "as kill() would send it".
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Wait until the process behind `pidfd` exits, at most `timeout_ms` (-1: forever).
/// Returns true when it exited.
pub fn pidfd_wait(pidfd: &OwnedFd, timeout_ms: i32) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let timeout = if timeout_ms < 0 {
        PollTimeout::NONE
    } else {
        PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX)
    };
    loop {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}
