//! The child side of a new container: from clone() to execve. Runs in the new namespaces; every
//! failure goes home over the sync socket as an (errno, message) frame.

use std::convert::Infallible;
use std::os::fd::RawFd;
use std::path::PathBuf;

use nix::sys::signal::Signal;

use super::process::{ProcessSpec, exec_process};
use super::sync::{ChildError, Stage};
use crate::mount::{MountOp, apply};

pub struct InitSpec {
    /// The empty directory the overlay is mounted on (in this child's mount namespace only).
    pub mountpoint: PathBuf,
    /// Layer directories, top-most first (overlay's lowerdir order).
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub userxattr: bool,
    pub ops: Vec<MountOp>,
    pub hostname: String,
    pub domainname: String,
    pub process: ProcessSpec,
    /// Descriptors that become the container's 0, 1 and 2.
    pub stdio: [RawFd; 3],
    /// Run skiff's own init as pid 1 (`--init`).
    pub init: bool,
}

pub fn container_main(spec: &InitSpec) -> Result<Infallible, ChildError> {
    // Die with the monitor: a container must never outlive the process that records its exit.
    // (getppid() is 0 inside a new pid namespace, so a monitor that died before this line
    // cannot be detected here; reconcile kills such an orphan by its recorded pid.)
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| ChildError::os(Stage::Setup, "prctl(PR_SET_PDEATHSIG)", e))?;
    nix::unistd::setsid().map_err(|e| ChildError::os(Stage::Setup, "setsid", e))?;
    for (target, fd) in spec.stdio.iter().enumerate() {
        if *fd != target as RawFd {
            // SAFETY: dup2 onto 0-2 of this single-threaded child.
            if unsafe { libc::dup2(*fd, target as RawFd) } < 0 {
                return Err(ChildError::io(
                    Stage::Setup,
                    "dup2 stdio",
                    &std::io::Error::last_os_error(),
                ));
            }
        }
    }
    close_inherited_fds();

    apply::mount_rootfs(
        &spec.mountpoint,
        &spec.lower,
        &spec.upper,
        &spec.work,
        spec.userxattr,
    )?;
    apply::apply(&spec.mountpoint, &spec.ops)?;
    apply::pivot(&spec.mountpoint)?;
    nix::unistd::sethostname(&spec.hostname)
        .map_err(|e| ChildError::os(Stage::Setup, format!("sethostname {}", spec.hostname), e))?;
    if !spec.domainname.is_empty() {
        // SAFETY: pointer and length describe a live byte slice.
        let rc =
            unsafe { libc::setdomainname(spec.domainname.as_ptr().cast(), spec.domainname.len()) };
        if rc != 0 {
            return Err(ChildError::io(
                Stage::Setup,
                "setdomainname",
                &std::io::Error::last_os_error(),
            ));
        }
    }
    if spec.init {
        super::initproc::run_as_init(&spec.process)
    } else {
        exec_process(&spec.process)
    }
}

/// Whatever descriptors the invoking shell passed us (beyond 0-2) must not reach the container.
fn close_inherited_fds() {
    // SAFETY: marks fds close-on-exec; the sync socket already is.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}
