//! Detached mount trees (the new mount API: `open_tree`, `mount_setattr`, `move_mount`), for
//! `--userns=auto`, where the container's setup runs as a stranger to the host:
//!
//! - an image layer cloned as an idmapped mount (kernel 5.12+; as an overlayfs layer 5.19+): a
//!   file the image gives to id `c` shows as the host id the container's namespace maps `c`
//!   to. The layers stay shared and unchanged on disk; no copy per container. Made as host
//!   root, on a thread inside the container's mount namespace.
//! - a bind source (a volume, the hosts file) cloned by the parent before the container is
//!   born and attached by the container's setup: a descriptor needs no walk through the store's
//!   private directories, and unlike a path opened in another mount namespace, a detached tree
//!   may be attached in the container's.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstring(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in a path"))
}

fn check(rc: libc::c_long) -> std::io::Result<libc::c_long> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A detached copy of the mount at `source` (with the mounts below it when `recursive`).
pub fn clone_tree(source: &Path, recursive: bool) -> std::io::Result<OwnedFd> {
    let src = cstring(source)?;
    let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree with a NUL-terminated path; returns a new descriptor or -1.
    let fd =
        check(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, src.as_ptr(), flags) })?;
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("open_tree: bad descriptor"))?;
    // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Make a detached tree show owners through `userns`'s id mapping.
pub fn idmap(tree: BorrowedFd<'_>, userns: BorrowedFd<'_>) -> std::io::Result<()> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: the attr struct lives across the call and its size is passed with it.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })?;
    Ok(())
}

/// Attach a detached tree on the directory or file `target` (a path, or an open handle).
pub fn attach(tree: BorrowedFd<'_>, target: Target<'_>) -> std::io::Result<()> {
    let (dirfd, path, extra) = match target {
        Target::Path(p) => (libc::AT_FDCWD, cstring(p)?, 0),
        Target::Handle(fd) => (
            fd.as_raw_fd(),
            CString::default(),
            libc::MOVE_MOUNT_T_EMPTY_PATH,
        ),
    };
    // SAFETY: both paths are NUL-terminated; the descriptors are borrowed for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            dirfd,
            path.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | extra,
        )
    })?;
    Ok(())
}

pub enum Target<'a> {
    Path(&'a Path),
    Handle(BorrowedFd<'a>),
}
