//! `-t`: the container's pseudo-terminal. The container's process opens it in its own devpts
//! instance (so `tty` inside names /dev/pts/0 of the container), makes the slave its
//! controlling terminal and its stdio, and hands the master to its parent over the sync socket
//! (SCM_RIGHTS, through `sync::send_fd`), as runc's console socket does. Also the termios and
//! window-size helpers the attaching side needs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::sync::{ChildError, Stage};

/// In the container (after pivot_root): open a pty from /dev/ptmx, make its slave the
/// controlling terminal and fds 0-2, and return the master to send home.
pub fn open_in_container() -> Result<OwnedFd, ChildError> {
    use nix::fcntl::OFlag;
    let err = |what: &str, e: nix::errno::Errno| ChildError::os(Stage::Setup, what, e);
    // A terminal becomes controlling only for a session leader (exec's process is not one
    // yet; a container's first process already is, and then this fails harmlessly).
    let _ = nix::unistd::setsid();
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| err("opening /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| err("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| err("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| err("ptsname", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| err("opening the pty slave", e))?;
    // SAFETY: TIOCSCTTY on a terminal we just opened; we are a session leader.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(ChildError::io(
            Stage::Setup,
            "making the pty the controlling terminal",
            &std::io::Error::last_os_error(),
        ));
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors of this single-threaded child.
        unsafe { libc::dup2(slave.as_raw_fd(), fd) };
    }
    drop(slave);
    // SAFETY: the master gives up its descriptor; we are its only owner from here.
    Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) })
}

/// The window size of a terminal, or None when it is not one.
pub fn window_size(fd: BorrowedFd) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data; zero is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills the struct we pass.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

pub fn set_window_size(fd: BorrowedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the struct we pass.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
}

/// The caller's terminal in raw mode for as long as this lives; restored on drop (normal
/// return, error, detach; signals that end the process go through the caller's handlers,
/// which drop it too).
pub struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    pub fn enter() -> Option<RawMode> {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{SetArg, tcsetattr};
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}
