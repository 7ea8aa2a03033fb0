//! A forked helper in a container's files: the mount namespace of a running container, or
//! for a stopped one a private namespace with its root (and, for `cp`, its volumes) mounted.
//! `cp`, `export`, builds and volume copy-up at create work through it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{ContainerError, Ctx};
use crate::mount::MountOp;
use crate::mount::volume::{MountKind, propagation_flags};
use crate::state::container::{ContainerRecord, Status};

pub(super) fn pipe() -> Result<(File, File), ContainerError> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| super::io_err("pipe")(e.into()))?;
    Ok((File::from(r), File::from(w)))
}

/// A forked helper inside the container's file view.
pub(super) struct Helper {
    pid: nix::unistd::Pid,
    errors: File,
}

impl Helper {
    pub(super) fn wait(self) -> Result<(), ContainerError> {
        let mut message = String::new();
        let mut errors = self.errors;
        let _ = errors.read_to_string(&mut message);
        let status = nix::sys::wait::waitpid(self.pid, None);
        if !message.is_empty() {
            return Err(ContainerError::Invalid(message));
        }
        match status {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            _ => Err(ContainerError::Invalid(
                "the copy helper process failed".into(),
            )),
        }
    }
}

/// Run `work` with the container's root filesystem alone (no volumes) mounted privately at
/// the path it is given, host paths still in view; then wait. For copying the image's
/// content into new volumes at create.
pub fn with_bare_rootfs(
    ctx: &Ctx,
    record: &ContainerRecord,
    work: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), ContainerError> {
    let enter = enter_plan(ctx, record, None)?;
    let Enter::Mount { mountpoint, .. } = &enter else {
        return Err(ContainerError::Invalid("no rootfs to mount".into()));
    };
    let root = mountpoint.clone();
    fork_helper(enter, move || work(&root))?.wait()
}

/// Run `work` with the container's root filesystem at the path it is given, without its
/// volumes: a running container's own mount namespace (its root, `/`), or the overlay of a
/// stopped one mounted privately. For `export`.
pub(super) fn with_rootfs(
    ctx: &Ctx,
    record: &ContainerRecord,
    work: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Helper, ContainerError> {
    if record.state.status == Status::Running {
        let enter = enter_plan(ctx, record, Some(Vec::new()))?;
        return fork_helper(enter, move || work(Path::new("/")));
    }
    let enter = enter_plan(ctx, record, None)?;
    let Enter::Mount { mountpoint, .. } = &enter else {
        return Err(ContainerError::Invalid("no rootfs to mount".into()));
    };
    let root = mountpoint.clone();
    fork_helper(enter, move || work(&root))
}

pub(super) fn fork_helper(
    enter: Enter,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<Helper, ContainerError> {
    let (err_r, mut err_w) = pipe()?;
    // SAFETY: skiff is single-threaded; the child only enters namespaces, copies and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| super::io_err("fork")(e.into()))? {
        nix::unistd::ForkResult::Child => {
            drop(err_r);
            let code = match enter.run().and_then(|()| work()) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = err_w.write_all(e.as_bytes());
                    1
                }
            };
            // SAFETY: leave without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(err_w);
            Ok(Helper {
                pid: child,
                errors: err_r,
            })
        }
    }
}

/// How the helper gets to the container's files.
pub(super) enum Enter {
    /// A running container: its mount namespace (root and cwd become the container's).
    Join(OwnedFd),
    /// A stopped one: mount its overlay and volumes privately, chroot there.
    Mount {
        mountpoint: PathBuf,
        lower: Vec<PathBuf>,
        upper: PathBuf,
        work: PathBuf,
        userxattr: bool,
        /// fuse-overlayfs, when the store uses it.
        fuse: Option<PathBuf>,
        /// The copy driver's root directory, when the store uses it.
        copy_root: Option<PathBuf>,
        ops: Vec<MountOp>,
        /// chroot into it (cp); without, the caller works on host paths too.
        chroot: bool,
    },
}

/// How to reach the container's files: `with_mounts` (the user's volumes, already resolved)
/// asks for the container's whole view, chrooted into; None for its root alone.
pub(super) fn enter_plan(
    ctx: &Ctx,
    record: &ContainerRecord,
    with_mounts: Option<Vec<crate::mount::plan::UserMount>>,
) -> Result<Enter, ContainerError> {
    let chroot = with_mounts.is_some();
    if chroot && record.state.status == Status::Running {
        let ns = File::open(format!("/proc/{}/ns/mnt", record.state.pid))
            .map_err(super::io_err("opening the container's mount namespace"))?;
        if !crate::state::proc::is_alive(record.state.pid, record.state.pid_start) {
            return Err(ContainerError::NotRunning(record.name.clone()));
        }
        return Ok(Enter::Join(OwnedFd::from(ns)));
    }
    let dir = ctx.store.dir(&record.id);
    let ops = with_mounts
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.kind != MountKind::Tmpfs)
        .map(|m| MountOp::UserBind {
            source: m.source,
            target: m.destination,
            readonly: m.readonly,
            propagation: if m.propagation.is_empty() {
                nix::mount::MsFlags::empty()
            } else {
                propagation_flags(&m.propagation)
            },
        })
        .collect();
    let mountpoint = ctx.paths.rootfs_mountpoint();
    crate::config::ensure_dir(&mountpoint, 0o700)
        .map_err(super::io_err(format!("creating {}", mountpoint.display())))?;
    Ok(Enter::Mount {
        mountpoint,
        lower: ctx.lower_dirs(record),
        upper: dir.join("upper"),
        work: dir.join("work"),
        userxattr: ctx.paths.rootless,
        fuse: ctx.fuse_program()?,
        copy_root: ctx.copy_rootfs(record)?,
        ops,
        chroot,
    })
}

impl Enter {
    fn run(self) -> Result<(), String> {
        match self {
            Enter::Join(ns) => {
                nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNS)
                    .map_err(|e| format!("joining the container's mount namespace: {e}"))?;
                let _ = ns.as_raw_fd();
                nix::unistd::chdir("/").map_err(|e| e.to_string())
            }
            Enter::Mount {
                mountpoint,
                lower,
                upper,
                work,
                userxattr,
                fuse,
                copy_root,
                ops,
                chroot,
            } => {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
                let dev_fuse = match &fuse {
                    Some(_) => Some(
                        crate::mount::fuse::open_device()
                            .map_err(|e| format!("opening /dev/fuse: {e}"))?,
                    ),
                    None => None,
                };
                crate::mount::apply::mount_rootfs(
                    &mountpoint,
                    &lower,
                    &upper,
                    &work,
                    userxattr,
                    false,
                    crate::mount::apply::RootDriver::pick(
                        fuse.as_deref().zip(dev_fuse.map(OwnedFd::from)),
                        copy_root.as_deref(),
                        false,
                    ),
                )
                .map_err(|e| e.to_string())?;
                crate::mount::apply::apply(&mountpoint, &ops, &[]).map_err(|e| e.to_string())?;
                if !chroot {
                    return Ok(());
                }
                nix::unistd::chroot(&mountpoint).map_err(|e| format!("chroot: {e}"))?;
                nix::unistd::chdir("/").map_err(|e| e.to_string())
            }
        }
    }
}
