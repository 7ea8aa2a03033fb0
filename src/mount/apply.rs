//! Execute a mount plan inside the child's new mount namespace, then pivot_root into it.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::plan::MountOp;
use crate::ns::sync::{ChildError, Stage};
use crate::securejoin::secure_join;

fn os(what: String, e: nix::errno::Errno) -> ChildError {
    ChildError::os(Stage::Setup, what, e)
}

/// How a container's root is put together (the store's storage driver).
pub enum RootDriver<'a> {
    /// The kernel's overlayfs.
    Overlay,
    /// fuse-overlayfs (this program) over an open /dev/fuse (see `mount::fuse`).
    Fuse(&'a Path, std::os::fd::OwnedFd),
    /// The copy driver: this directory, bound as it is.
    Copy(&'a Path),
}

impl<'a> RootDriver<'a> {
    /// The driver for a root, from what the caller knows of the store.
    pub fn pick(
        fuse: Option<(&'a Path, std::os::fd::OwnedFd)>,
        copy_root: Option<&'a Path>,
    ) -> RootDriver<'a> {
        match (fuse, copy_root) {
            (_, Some(root)) => RootDriver::Copy(root),
            (Some((p, fd)), None) => RootDriver::Fuse(p, fd),
            (None, None) => RootDriver::Overlay,
        }
    }
}

/// Make every mount private so nothing we do propagates back to the host, then mount the
/// container's root on `target`.
pub fn mount_rootfs(
    target: &Path,
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    userxattr: bool,
    nodev: bool,
    driver: RootDriver<'_>,
) -> Result<(), ChildError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| {
        if e == nix::errno::Errno::EINVAL && !root_is_mount_point() {
            // No way around it: every mount we made would reach the host through the
            // (shared) mount above the chroot, and pivot_root needs a root mount anyway.
            os(
                "making / private: / is not a mount point here (a chroot, as sbuild's and pbuilder's); bind the chroot's directory onto itself before entering it (mount --rbind DIR DIR), or run skiff outside it".into(),
                e,
            )
        } else {
            os("making / private".into(), e)
        }
    })?;
    let fuse = match driver {
        RootDriver::Overlay => None,
        RootDriver::Fuse(program, dev_fuse) => Some((program, dev_fuse)),
        RootDriver::Copy(root) => {
            // The copy driver: the container's own directory is its root.
            return mount(
                Some(root),
                target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| {
                os(
                    format!("binding {} as the container's root", root.display()),
                    e,
                )
            });
        }
    };
    let mut lowers: Vec<String> = lower.iter().map(|l| l.display().to_string()).collect();
    if lowers.is_empty() {
        // An image with no layers (`FROM scratch`): overlayfs needs at least one lower
        // directory, so an empty one beside the upper stands in.
        let empty = work.with_file_name("empty-lower");
        match nix::unistd::mkdir(&empty, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(os(format!("creating {}", empty.display()), e)),
        }
        lowers.push(empty.display().to_string());
    }
    if let Some((program, dev_fuse)) = fuse {
        return super::fuse::mount(program, dev_fuse, target, &lowers, upper, work, nodev);
    }
    let mut data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    if userxattr {
        data.push_str(",userxattr");
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        if nodev {
            MsFlags::MS_NODEV
        } else {
            MsFlags::empty()
        },
        Some(data.as_str()),
    )
    .map_err(|e| {
        // The common cause of EINVAL: the store itself on overlayfs (a CI job's container),
        // which the kernel refuses as an overlay's upper layer.
        let on_overlay = nix::sys::statfs::statfs(upper)
            .is_ok_and(|st| st.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC);
        let hint = if e == nix::errno::Errno::EINVAL && on_overlay {
            " (skiff's store is on overlayfs, which the kernel refuses as an overlay's upper layer: give --root a directory on another filesystem, such as a volume or a tmpfs)".to_string()
        } else {
            String::new()
        };
        os(
            format!(
                "mounting the container's overlay on {}{hint}",
                target.display()
            ),
            e,
        )
    })
}

/// Whether this process's "/" is a mount point (false in a plain chroot).
fn root_is_mount_point() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|m| m.lines().any(|l| l.split_whitespace().nth(4) == Some("/")))
}

pub fn apply(rootfs: &Path, ops: &[MountOp]) -> Result<(), ChildError> {
    for op in ops {
        apply_one(rootfs, op)?;
    }
    Ok(())
}

fn resolve(rootfs: &Path, path: &Path) -> Result<PathBuf, ChildError> {
    secure_join(rootfs, path).map_err(|e| ChildError::new(Stage::Setup, libc::ELOOP, e.to_string()))
}

fn mkdir_all(path: &Path) -> Result<(), ChildError> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path)
        .map_err(|e| ChildError::io(Stage::Setup, format!("creating {}", path.display()), &e))
}

fn touch(path: &Path) -> Result<(), ChildError> {
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        mkdir_all(parent)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(|e| ChildError::io(Stage::Setup, format!("creating {}", path.display()), &e))
}

/// A directory mountpoint for a directory source, an empty file for anything else.
fn mountpoint_like(source: &Path, dest: &Path) -> Result<(), ChildError> {
    if source.is_dir() {
        mkdir_all(dest)
    } else {
        touch(dest)
    }
}

fn apply_one(rootfs: &Path, op: &MountOp) -> Result<(), ChildError> {
    match op {
        MountOp::Fs {
            target,
            fstype,
            flags,
            data,
        } => {
            let dest = resolve(rootfs, target)?;
            mkdir_all(&dest)?;
            let data = (!data.is_empty()).then_some(data.as_str());
            mount(Some(*fstype), &dest, Some(*fstype), *flags, data)
                .map_err(|e| os(format!("mounting {fstype} on {}", target.display()), e))
        }
        MountOp::Bind {
            source,
            target,
            recursive,
            readonly,
        } => {
            let dest = resolve(rootfs, target)?;
            mountpoint_like(source, &dest)?;
            let mut flags = MsFlags::MS_BIND;
            if *recursive {
                flags |= MsFlags::MS_REC;
            }
            mount(
                Some(source.as_path()),
                &dest,
                None::<&str>,
                flags,
                None::<&str>,
            )
            .map_err(|e| {
                os(
                    format!("bind-mounting {} on {}", source.display(), target.display()),
                    e,
                )
            })?;
            if *readonly {
                remount_readonly(&dest, target)?;
            }
            Ok(())
        }
        MountOp::Mknod {
            target,
            major,
            minor,
        }
        | MountOp::MknodBlock {
            target,
            major,
            minor,
        } => {
            use nix::sys::stat::{Mode, SFlag, makedev, mknod};
            let dest = resolve(rootfs, target)?;
            if let Some(parent) = dest.parent() {
                // --device may name a node in a directory of its own (/dev/net/tun).
                let _ = std::fs::create_dir_all(parent);
            }
            let kind = if matches!(op, MountOp::MknodBlock { .. }) {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFCHR
            };
            mknod(
                &dest,
                kind,
                Mode::from_bits_truncate(0o666),
                makedev(*major, *minor),
            )
            .map_err(|e| os(format!("creating device {}", target.display()), e))?;
            // The umask trimmed the mode: devices must be usable by any container user.
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                &dest,
                Mode::from_bits_truncate(0o666),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| os(format!("chmod {}", target.display()), e))
        }
        MountOp::Symlink { link, to } => {
            let dest = resolve(rootfs, link)?;
            match std::os::unix::fs::symlink(to, &dest) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(ChildError::io(
                    Stage::Setup,
                    format!("creating symlink {}", link.display()),
                    &e,
                )),
            }
        }
        MountOp::Mask(path) => {
            let dest = resolve(rootfs, path)?;
            let Ok(meta) = dest.symlink_metadata() else {
                return Ok(()); // nothing to hide
            };
            let result = if meta.is_dir() {
                mount(
                    Some("tmpfs"),
                    &dest,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    Some("size=0"),
                )
            } else {
                mount(
                    Some("/dev/null"),
                    &dest,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
            };
            result.map_err(|e| os(format!("masking {}", path.display()), e))
        }
        MountOp::UserBind {
            source,
            target,
            readonly,
            propagation,
        } => {
            let dest = resolve(rootfs, target)?;
            mountpoint_like(source, &dest)?;
            mount(
                Some(source.as_path()),
                &dest,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| {
                os(
                    format!("mounting {} on {}", source.display(), target.display()),
                    e,
                )
            })?;
            if !propagation.is_empty() {
                mount(
                    None::<&str>,
                    &dest,
                    None::<&str>,
                    *propagation,
                    None::<&str>,
                )
                .map_err(|e| {
                    os(
                        format!("setting the propagation of {}", target.display()),
                        e,
                    )
                })?;
            }
            if *readonly {
                remount_readonly(&dest, target)?;
            }
            Ok(())
        }
        MountOp::CopyUp { from, into } => {
            let src = resolve(rootfs, from)?;
            if !src.is_dir() || !super::copyup::is_empty_dir(into) {
                return Ok(());
            }
            super::copyup::copy_tree(&src, into).map_err(|e| {
                ChildError::io(
                    Stage::Setup,
                    format!("copying {} into its volume", from.display()),
                    &e,
                )
            })
        }
        MountOp::Chown { path, uid, gid } => {
            super::copyup::chown_tree(path, *uid, *gid).map_err(|e| {
                ChildError::io(
                    Stage::Setup,
                    format!("chown {uid}:{gid} {} (:U)", path.display()),
                    &e,
                )
            })
        }
        MountOp::RootReadOnly => remount_readonly(rootfs, Path::new("/")),
        MountOp::Sysctl { key, value } => {
            let file = rootfs.join("proc/sys").join(key.replace('.', "/"));
            std::fs::write(&file, value.as_bytes()).map_err(|e| {
                ChildError::io(Stage::Setup, format!("setting sysctl {key}={value}"), &e)
            })
        }
        MountOp::ReadOnly(path) => {
            let dest = resolve(rootfs, path)?;
            if dest.symlink_metadata().is_err() {
                return Ok(());
            }
            mount(
                Some(dest.as_path()),
                &dest,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| os(format!("bind-mounting {} read-only", path.display()), e))?;
            remount_readonly(&dest, path)
        }
    }
}

/// The container's cgroup v2 view: cgroup2, read-only, at `target` (in the new root).
pub fn mount_cgroup2(target: &Path) -> Result<(), ChildError> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY;
    mount(
        Some("cgroup2"),
        target,
        Some("cgroup2"),
        flags,
        None::<&str>,
    )
    .map_err(|e| os(format!("mounting cgroup2 on {}", target.display()), e))
}

/// Remount a bind mount read-only, keeping the flags a user namespace may not clear.
fn remount_readonly(dest: &Path, shown: &Path) -> Result<(), ChildError> {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    if let Ok(st) = nix::sys::statvfs::statvfs(dest) {
        use nix::sys::statvfs::FsFlags;
        let f = st.flags();
        for (fs, ms) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if f.contains(fs) {
                flags |= ms;
            }
        }
    }
    mount(None::<&str>, dest, None::<&str>, flags, None::<&str>)
        .map_err(|e| os(format!("remounting {} read-only", shown.display()), e))
}

/// Make `rootfs` the root: the pivot_root(".", ".") idiom needs no directory for the old root.
pub fn pivot(rootfs: &Path) -> Result<(), ChildError> {
    nix::unistd::chdir(rootfs).map_err(|e| os(format!("chdir {}", rootfs.display()), e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| os("pivot_root".into(), e))?;
    // The old root now sits on top of the new one: detach it.
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| os("detaching the old root".into(), e))?;
    nix::unistd::chdir("/").map_err(|e| os("chdir /".into(), e))
}
