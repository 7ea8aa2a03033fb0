//! The one channel between a parent and the child it cloned: a SOCK_SEQPACKET socketpair whose
//! child end is close-on-exec.
//!
//! | direction       | message | layout                                       | meaning                          |
//! |-----------------|---------|----------------------------------------------|----------------------------------|
//! | child -> parent | ERROR   | `[1u8][stage u8][errno i32 LE][utf-8 text]`  | setup or exec failed; child exits |
//! | child -> parent | (EOF)   | the close-on-exec end closed                 | execve succeeded                 |
//!
//! Seqpacket keeps message boundaries, so a frame is read whole or not at all. Errors name
//! the thing that failed ("mount proc on /proc: permission denied") instead of "exit 1".

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};

const TAG_ERROR: u8 = 1;

/// Where in the child's life a failure happened; decides the exit code the user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    Setup = 1,
    User = 2,
    Cwd = 3,
    Exec = 4,
}

impl Stage {
    fn from_u8(b: u8) -> Stage {
        match b {
            2 => Stage::User,
            3 => Stage::Cwd,
            4 => Stage::Exec,
            _ => Stage::Setup,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ChildError {
    pub stage: Stage,
    pub errno: i32,
    pub message: String,
}

impl ChildError {
    pub fn new(stage: Stage, errno: i32, message: impl Into<String>) -> ChildError {
        ChildError {
            stage,
            errno,
            message: message.into(),
        }
    }

    /// A setup failure named after what was being done and the OS error.
    pub fn os(stage: Stage, what: impl std::fmt::Display, errno: nix::errno::Errno) -> ChildError {
        ChildError::new(
            stage,
            errno as i32,
            format!("{what}: {}", errno.desc().to_lowercase()),
        )
    }

    pub fn io(stage: Stage, what: impl std::fmt::Display, e: &std::io::Error) -> ChildError {
        ChildError::new(
            stage,
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("{what}: {e}"),
        )
    }

    /// docker's codes: 127 when the command does not exist, 126 when it cannot be executed,
    /// 125 for everything that went wrong before.
    pub fn exit_code(&self) -> i32 {
        match (self.stage, self.errno) {
            (Stage::Exec, libc::ENOENT) => 127,
            (Stage::Exec, _) => 126,
            _ => 125,
        }
    }
}

pub struct SyncPair {
    pub parent: OwnedFd,
    pub child: OwnedFd,
}

pub fn pair() -> std::io::Result<SyncPair> {
    let (parent, child) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    Ok(SyncPair { parent, child })
}

/// Child side: report a failure. Best effort: if the parent is gone there is nobody to tell.
pub fn send_error(fd: &impl AsFd, err: &ChildError) {
    let mut frame = Vec::with_capacity(6 + err.message.len());
    frame.push(TAG_ERROR);
    frame.push(err.stage as u8);
    frame.extend_from_slice(&err.errno.to_le_bytes());
    // Keep the frame well inside the socket's buffer.
    frame.extend_from_slice(&err.message.as_bytes()[..err.message.len().min(4000)]);
    let _ = send(fd.as_fd().as_raw_fd(), &frame, MsgFlags::MSG_NOSIGNAL);
}

/// Parent side: wait until the child execs (EOF: Ok) or reports an error. A `-t` child sends
/// its pty master on the way; it is returned with the success.
pub fn wait_for_exec(fd: &impl AsFd) -> Result<Option<OwnedFd>, ChildError> {
    let mut buf = [0u8; 4096];
    let mut passed = None;
    loop {
        match recv_frame(fd, &mut buf) {
            Ok((0, _)) => return Ok(passed),
            Ok((1, Some(master))) if buf[0] == TAG_PTY => passed = Some(master),
            Ok((n, _)) if n >= 6 && buf[0] == TAG_ERROR => {
                let errno = i32::from_le_bytes([buf[2], buf[3], buf[4], buf[5]]);
                return Err(ChildError {
                    stage: Stage::from_u8(buf[1]),
                    errno,
                    message: String::from_utf8_lossy(&buf[6..n]).into_owned(),
                });
            }
            Ok(_) => {
                return Err(ChildError::new(
                    Stage::Setup,
                    libc::EPROTO,
                    "malformed message from the container's setup process",
                ));
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(ChildError::os(
                    Stage::Setup,
                    "reading from the container's setup process",
                    e,
                ));
            }
        }
    }
}

/// After the parent's own step failed: the child's error, if the child already sent one or
/// died without exec'ing. The child's failure is the cause then, and the parent's (a broken
/// pipe, a namespace gone) only its consequence. None: the child is alive and well.
pub fn child_failure(fd: &impl AsFd, pid: i32) -> Option<ChildError> {
    // Looked at, not reaped (WNOWAIT): the caller still kills and reaps it by its pid.
    // SAFETY: waitid fills `info`, which is zeroed first and read only after success.
    let died = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        if rc != 0 || info.si_pid() == 0 {
            None
        } else if info.si_code == libc::CLD_EXITED {
            Some(format!("exited with status {}", info.si_status()))
        } else {
            let sig = nix::sys::signal::Signal::try_from(info.si_status())
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| format!("signal {}", info.si_status()));
            Some(format!("was killed by {sig}"))
        }
    };
    // A frame already sent is read without waiting; with the child gone, EOF ends the read.
    let raw = fd.as_fd().as_raw_fd();
    // SAFETY: fcntl on a descriptor we hold; the flags are restored below.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if died.is_none() {
        // SAFETY: as above.
        unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    }
    let read = wait_for_exec(fd);
    if died.is_none() {
        // SAFETY: as above.
        unsafe { libc::fcntl(raw, libc::F_SETFL, flags) };
    }
    match (read, died) {
        (Err(e), _) if e.errno != libc::EAGAIN => Some(e),
        (_, Some(how)) => Some(ChildError::new(
            Stage::Setup,
            libc::ECHILD,
            format!("the container's setup process {how} before the container started"),
        )),
        _ => None,
    }
}

const TAG_GO: u8 = 2;

/// Parent -> child: "carry on" (the parent has put the child in its cgroup).
pub fn release(fd: &impl AsFd) -> std::io::Result<()> {
    send(fd.as_fd().as_raw_fd(), &[TAG_GO], MsgFlags::MSG_NOSIGNAL)
        .map(drop)
        .map_err(std::io::Error::from)
}

/// Child side: block until the parent releases us. EOF means the parent gave up (it failed,
/// or died), and the child must not run the command.
pub fn wait_release(fd: &impl AsFd) -> Result<(), ChildError> {
    let mut buf = [0u8; 1];
    loop {
        match recv(fd.as_fd().as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(1) if buf[0] == TAG_GO => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {
                return Err(ChildError::new(
                    Stage::Setup,
                    libc::ECANCELED,
                    "the container's monitor went away before the container started",
                ));
            }
            Err(e) => return Err(ChildError::os(Stage::Setup, "waiting for the monitor", e)),
        }
    }
}

/// Tag of the sync frame that carries the pty master.
pub const TAG_PTY: u8 = 3;

/// Send an fd with a one-byte tag frame.
pub fn send_fd(sock: &impl AsFd, fd: &impl AsFd) -> std::io::Result<()> {
    send_fd_with(sock, fd, &[TAG_PTY])
}

/// Send an fd with these bytes beside it (runc's console socket: the terminal's name).
pub fn send_fd_with(sock: &impl AsFd, fd: &impl AsFd, bytes: &[u8]) -> std::io::Result<()> {
    let fds = [fd.as_fd().as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    nix::sys::socket::sendmsg::<()>(
        sock.as_fd().as_raw_fd(),
        &[std::io::IoSlice::new(bytes)],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(drop)
    .map_err(std::io::Error::from)
}

/// Receive one frame: its bytes, and the fd it carried if any.
pub fn recv_frame(sock: &impl AsFd, buf: &mut [u8]) -> nix::Result<(usize, Option<OwnedFd>)> {
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        sock.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for c in msg.cmsgs()? {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            for raw in fds {
                // SAFETY: the kernel installed this descriptor for us just now.
                let owned = unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) };
                fd.get_or_insert(owned);
            }
        }
    }
    Ok((msg.bytes, fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_and_give_up() {
        let p = pair().expect("pair");
        release(&p.parent).expect("send");
        assert!(wait_release(&p.child).is_ok());
        drop(p.parent);
        assert!(wait_release(&p.child).is_err());
    }

    #[test]
    fn error_frames_round_trip_and_eof_means_exec() {
        let p = pair().expect("pair");
        send_error(
            &p.child,
            &ChildError::new(Stage::Exec, libc::ENOENT, "exec: \"x\": not found"),
        );
        let err = wait_for_exec(&p.parent).expect_err("error frame");
        assert_eq!(err.stage, Stage::Exec);
        assert_eq!(err.exit_code(), 127);
        assert_eq!(err.message, "exec: \"x\": not found");
        drop(p.child);
        assert!(wait_for_exec(&p.parent).is_ok_and(|fd| fd.is_none()));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(
            ChildError::new(Stage::Exec, libc::EACCES, "").exit_code(),
            126
        );
        assert_eq!(
            ChildError::new(Stage::Setup, libc::ENOENT, "").exit_code(),
            125
        );
        assert_eq!(
            ChildError::new(Stage::User, libc::ENOENT, "").exit_code(),
            125
        );
    }
}
