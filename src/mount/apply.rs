//! Execute a mount plan inside the child's new mount namespace, then pivot_root into it.

use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};

use pathrs::Handle;

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use super::plan::MountOp;
use super::target::{Kind, RootDir, fd_path};
use crate::ns::sync::{ChildError, Stage};

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
    /// Mounted already, by the parent in our mount namespace (`--userns=auto`).
    Premounted,
}

impl<'a> RootDriver<'a> {
    /// The driver for a root, from what the caller knows of the store.
    pub fn pick(
        fuse: Option<(&'a Path, std::os::fd::OwnedFd)>,
        copy_root: Option<&'a Path>,
        premounted: bool,
    ) -> RootDriver<'a> {
        if premounted {
            return RootDriver::Premounted;
        }
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
        RootDriver::Premounted => return Ok(()),
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

/// Carry out the plan in `rootfs`. `detached` gives some binds their source as a detached
/// mount tree (index in `ops`, descriptor) instead of a path.
pub fn apply(
    rootfs: &Path,
    ops: &[MountOp],
    detached: &[(usize, RawFd)],
) -> Result<(), ChildError> {
    let root = RootDir::open(rootfs)?;
    for (i, op) in ops.iter().enumerate() {
        let tree = detached.iter().find(|(at, _)| *at == i).map(|(_, fd)| {
            // SAFETY: the parent keeps the descriptor open until we are cloned, and the
            // clone copied it into our table; it lives until we exec.
            unsafe { BorrowedFd::borrow_raw(*fd) }
        });
        apply_one(&root, op, tree)?;
    }
    Ok(())
}

/// Bind `source` (or attach the detached tree standing for it) on `dest`.
fn bind(
    source: &Path,
    tree: Option<BorrowedFd<'_>>,
    dest: &Handle,
    recursive: bool,
) -> Result<(), ChildError> {
    let result = match tree {
        Some(tree) => crate::mount::detached::attach(
            tree,
            crate::mount::detached::Target::Handle(dest.as_fd()),
        )
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL))),
        None => {
            let mut flags = MsFlags::MS_BIND;
            if recursive {
                flags |= MsFlags::MS_REC;
            }
            mount_on(Some(source), dest, None, flags, None)
        }
    };
    result.map_err(|e| os(format!("bind-mounting {}", source.display()), e))
}

/// What a missing mountpoint for `source` (or the detached tree standing for it) is made as.
fn kind_for(source: &Path, tree: Option<BorrowedFd<'_>>) -> Kind {
    let is_dir = match tree {
        Some(fd) => {
            nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        }
        None => source.is_dir(),
    };
    if is_dir { Kind::Dir } else { Kind::File }
}

fn mount_on(
    source: Option<&Path>,
    target: &Handle,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> nix::Result<()> {
    mount(source, &fd_path(target.as_fd()), fstype, flags, data)
}

fn apply_one(root: &RootDir, op: &MountOp, tree: Option<BorrowedFd<'_>>) -> Result<(), ChildError> {
    match op {
        MountOp::Fs {
            target,
            fstype,
            flags,
            data,
        } => {
            let dest = root.mountpoint(target, Kind::Dir)?;
            let data = (!data.is_empty()).then_some(data.as_str());
            mount_on(Some(Path::new(fstype)), &dest, Some(*fstype), *flags, data)
                .map_err(|e| os(format!("mounting {fstype} on {}", target.display()), e))
        }
        MountOp::Bind {
            source,
            target,
            recursive,
            readonly,
        } => {
            let dest = root.mountpoint(target, kind_for(source, tree))?;
            bind(source, tree, &dest, *recursive)?;
            if *readonly {
                remount_readonly_at(root, target)?;
            }
            Ok(())
        }
        MountOp::Generic(g) => generic(root, g, tree),
        MountOp::Device(d) => device(root, d),
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
            use nix::sys::stat::{Mode, SFlag, makedev, mknodat, umask};
            // --device may name a node in a directory of its own (/dev/net/tun).
            let (parent, name) = root.parent_of(target)?;
            let kind = if matches!(op, MountOp::MknodBlock { .. }) {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFCHR
            };
            // Devices must be usable by any container user: no umask trims the mode.
            let old = umask(Mode::empty());
            let made = mknodat(
                parent.as_fd(),
                name.as_os_str(),
                kind,
                Mode::from_bits_truncate(0o666),
                makedev(*major, *minor),
            );
            umask(old);
            made.map_err(|e| os(format!("creating device {}", target.display()), e))
        }
        MountOp::Symlink { link, to } => {
            let (parent, name) = root.parent_of(link)?;
            match nix::unistd::symlinkat(to.as_path(), parent.as_fd(), name.as_os_str()) {
                Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
                Err(e) => Err(os(format!("creating symlink {}", link.display()), e)),
            }
        }
        MountOp::Mask(path) => {
            let Some(dest) = root.find(path)? else {
                return Ok(()); // nothing to hide
            };
            let is_dir = nix::sys::stat::fstat(dest.as_fd())
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
            let result = if is_dir {
                mount_on(
                    Some(Path::new("tmpfs")),
                    &dest,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    Some("size=0"),
                )
            } else {
                mount_on(
                    Some(Path::new("/dev/null")),
                    &dest,
                    None,
                    MsFlags::MS_BIND,
                    None,
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
            let dest = root.mountpoint(target, kind_for(source, tree))?;
            bind(source, tree, &dest, true)?;
            if !propagation.is_empty() {
                // The handle still names the directory under the new mount: look it up again.
                let mounted = mounted_at(root, target)?;
                mount_on(None, &mounted, None, *propagation, None).map_err(|e| {
                    os(
                        format!("setting the propagation of {}", target.display()),
                        e,
                    )
                })?;
            }
            if *readonly {
                remount_readonly_at(root, target)?;
            }
            Ok(())
        }
        MountOp::CopyUp { from, into } => {
            let Some(src) = root.find(from)? else {
                return Ok(());
            };
            if !super::copyup::is_empty_dir(into) {
                return Ok(());
            }
            super::copyup::copy_tree_from(src.as_fd(), into).map_err(|e| {
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
        MountOp::RootReadOnly => remount_readonly(root.shown(), Path::new("/")),
        MountOp::Sysctl { key, value } => {
            let file = Path::new("/proc/sys").join(key.replace('.', "/"));
            let setting = |e: &std::io::Error| {
                ChildError::io(Stage::Setup, format!("setting sysctl {key}={value}"), e)
            };
            let Some(handle) = root.find(&file)? else {
                return Err(setting(&std::io::Error::from_raw_os_error(libc::ENOENT)));
            };
            let write = |v: &str| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(fd_path(handle.as_fd()))
                    .and_then(|mut f| std::io::Write::write_all(&mut f, v.as_bytes()))
            };
            match write(value) {
                // docker's "every group may ping" names gids a user namespace may not map:
                // then every group it does map.
                Err(e)
                    if e.raw_os_error() == Some(libc::EINVAL)
                        && key == crate::security::PING_GROUP_RANGE.0 =>
                {
                    let map = std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
                    let last = crate::ns::idmap::mapped_count(&map).saturating_sub(1);
                    write(&format!("0 {last}")).map_err(|e| setting(&e))
                }
                other => other.map_err(|e| setting(&e)),
            }
        }
        MountOp::ReadOnly(path) => {
            let Some(dest) = root.find(path)? else {
                return Ok(());
            };
            let at = fd_path(dest.as_fd());
            mount(
                Some(at.as_path()),
                &at,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| os(format!("bind-mounting {} read-only", path.display()), e))?;
            remount_readonly_at(root, path)
        }
    }
}

/// The root of the mount just made at `target`: a handle taken before the mount still names
/// the directory underneath it.
fn mounted_at(root: &RootDir, target: &Path) -> Result<Handle, ChildError> {
    root.find(target)?.ok_or_else(|| {
        ChildError::new(
            Stage::Setup,
            libc::ENOENT,
            format!("{} vanished after it was mounted", target.display()),
        )
    })
}

fn remount_readonly_at(root: &RootDir, target: &Path) -> Result<(), ChildError> {
    let mounted = mounted_at(root, target)?;
    remount_readonly(&fd_path(mounted.as_fd()), target)
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
    remount_bind(dest, shown, MsFlags::MS_RDONLY)
}

/// Remount a bind mount with `add` set, keeping the flags it has (a user namespace may not
/// clear the ones it inherited locked).
fn remount_bind(dest: &Path, shown: &Path, add: MsFlags) -> Result<(), ChildError> {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | add;
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
            (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        ] {
            if f.contains(fs) {
                flags |= ms;
            }
        }
    }
    mount(None::<&str>, dest, None::<&str>, flags, None::<&str>)
        .map_err(|e| os(format!("remounting {} ({add:?})", shown.display()), e))
}

/// A device node as an OCI bundle lists it: its type, mode (no umask) and owner.
fn device(root: &RootDir, d: &super::plan::DeviceNode) -> Result<(), ChildError> {
    use nix::sys::stat::{Mode, makedev, mknodat, umask};
    let (parent, name) = root.parent_of(&d.target)?;
    let old = umask(Mode::empty());
    let made = mknodat(
        parent.as_fd(),
        name.as_os_str(),
        d.kind,
        Mode::from_bits_truncate(d.mode),
        makedev(d.major, d.minor),
    );
    umask(old);
    made.map_err(|e| os(format!("creating device {}", d.target.display()), e))?;
    nix::unistd::fchownat(
        parent.as_fd(),
        name.as_os_str(),
        Some(nix::unistd::Uid::from_raw(d.uid)),
        Some(nix::unistd::Gid::from_raw(d.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| os(format!("chown of device {}", d.target.display()), e))
}

/// A mount as an OCI bundle gives it: a bind with its flags applied by a remount, or any
/// filesystem; then its propagation.
fn generic(
    root: &RootDir,
    op: &super::plan::GenericMount,
    tree: Option<BorrowedFd<'_>>,
) -> Result<(), ChildError> {
    let target = &op.target;
    if op.flags.contains(MsFlags::MS_BIND) {
        let dest = root.mountpoint(target, kind_for(&op.source, tree))?;
        bind(&op.source, tree, &dest, op.flags.contains(MsFlags::MS_REC))?;
        let rest = op.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !rest.is_empty() {
            let mounted = mounted_at(root, target)?;
            remount_bind(&fd_path(mounted.as_fd()), target, rest)?;
        }
    } else {
        let dest = root.mountpoint(target, Kind::Dir)?;
        let data = (!op.data.is_empty()).then_some(op.data.as_str());
        let source = if op.source.as_os_str().is_empty() {
            Path::new(&op.fstype)
        } else {
            op.source.as_path()
        };
        mount_on(Some(source), &dest, Some(&op.fstype), op.flags, data)
            .map_err(|e| os(format!("mounting {} on {}", op.fstype, target.display()), e))?;
    }
    if !op.propagation.is_empty() {
        let mounted = mounted_at(root, target)?;
        mount_on(None, &mounted, None, op.propagation, None).map_err(|e| {
            os(
                format!("setting the propagation of {}", target.display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// Make `rootfs` the root: the pivot_root(".", ".") idiom needs no directory for the old root.
pub fn pivot(rootfs: &Path) -> Result<(), ChildError> {
    nix::unistd::chdir(rootfs).map_err(|e| os(format!("chdir {}", rootfs.display()), e))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| os("pivot_root".into(), e))?;
    // The old root now sits on top of the new one: detach it.
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| os("detaching the old root".into(), e))?;
    nix::unistd::chdir("/").map_err(|e| os("chdir /".into(), e))
}
