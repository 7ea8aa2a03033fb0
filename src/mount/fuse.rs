//! A container's root filesystem through `fuse-overlayfs`, for stores the kernel's overlayfs
//! refuses (the store itself on overlayfs, as in a CI job's container).
//!
//! The mount is made by the process that needs it — the container's first process before
//! pivot_root, or a `cp`/build helper — in its private mount namespace, so root and
//! rootless work alike and nothing is mounted on the host. It mounts FUSE itself over a
//! /dev/fuse its parent opened (a container may already be in a devices cgroup that would
//! refuse the open), then starts fuse-overlayfs in the foreground on `/dev/fd/N`. The
//! program dies with its parent (PR_SET_PDEATHSIG) and, for a container, with the
//! container's pid namespace, so no daemon outlives what it serves. It runs in a copy of
//! the mount namespace made just before it starts, so the container's pivot_root does not
//! move its root onto the mount it serves. It is visible in the container's `ps`, as pid 2.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::mount::MsFlags;

use crate::ns::sync::{ChildError, Stage};

/// /dev/fuse, opened for a mount (read and write: the daemon answers through it).
pub fn open_device() -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
}

/// The `-o` options for fuse-overlayfs: its layers (the mount's own options are ours).
pub fn options(lower: &[String], upper: &Path, work: &Path) -> String {
    format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    )
}

/// Mount the overlay on `target` with `program` over `dev_fuse` (an open /dev/fuse):
/// the mount is made here, then fuse-overlayfs serves it from `/dev/fd/N` (libfuse's way of
/// taking a connection a privileged parent set up). Returns once it answers.
pub fn mount(
    program: &Path,
    dev_fuse: OwnedFd,
    target: &Path,
    lower: &[String],
    upper: &Path,
    work: &Path,
    nodev: bool,
) -> Result<(), ChildError> {
    let fd = dev_fuse.as_raw_fd();
    // default_permissions: the kernel checks modes and owners, as on any filesystem;
    // allow_other: the container's processes are other users than the daemon.
    let data = format!(
        "fd={fd},rootmode=40000,user_id={},group_id={},default_permissions,allow_other",
        nix::unistd::geteuid(),
        nix::unistd::getegid()
    );
    let flags = if nodev {
        MsFlags::MS_NODEV
    } else {
        MsFlags::empty()
    };
    nix::mount::mount(
        Some("fuse-overlayfs"),
        target,
        Some("fuse.fuse-overlayfs"),
        flags,
        Some(data.as_str()),
    )
    .map_err(|e| {
        ChildError::os(
            Stage::Setup,
            format!("mounting fuse on {} for fuse-overlayfs", target.display()),
            e,
        )
    })?;
    let mut cmd = Command::new(program);
    cmd.arg("-f")
        .arg("-o")
        .arg(options(lower, upper, work))
        .arg(format!("/dev/fd/{fd}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: prctl and fcntl only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            // A mount namespace of its own, a copy of this one: the pivot_root that follows
            // would otherwise make its root the very mount it serves, and its lookups
            // through /proc/self/fd would wait on themselves.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(std::io::Error::from)?;
            // The descriptor it serves must survive the exec.
            if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    // Only fuse-overlayfs holds the connection now: if it dies, the mount answers ENOTCONN
    // instead of hanging whoever touches it.
    drop(dev_fuse);
    let mut child = spawned.map_err(|e| {
        let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        ChildError::io(
            Stage::Setup,
            format!("starting {} for the container's root", program.display()),
            &e,
        )
    })?;
    // The first request waits until it serves; an error means it is gone.
    if let Err(e) = std::fs::metadata(target) {
        let _ = child.kill();
        let _ = child.wait();
        let mut err = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut err);
        }
        let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        let why = err
            .lines()
            .rfind(|l| !l.contains("unknown argument ignored"))
            .unwrap_or("")
            .trim()
            .to_string();
        return Err(ChildError::io(
            Stage::Setup,
            format!(
                "fuse-overlayfs could not serve the container's root on {}: {why}",
                target.display()
            ),
            &e,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_every_layer_top_most_first() {
        let o = options(
            &["/l/2".into(), "/l/1".into()],
            Path::new("/c/upper"),
            Path::new("/c/work"),
        );
        assert_eq!(o, "lowerdir=/l/2:/l/1,upperdir=/c/upper,workdir=/c/work");
    }
}
