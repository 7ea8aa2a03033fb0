//! Paths inside the container's root, resolved and pinned without a race (runc's
//! CVE-2021-30465 class): each target is opened as an `O_PATH` handle with `openat2`'s
//! `RESOLVE_IN_ROOT` (libpathrs, which walks by hand on kernels without it), and the mount,
//! node or write then goes through that handle (`/proc/self/fd/N`), never through the path
//! again. A container that shares a volume with this one cannot swap a directory on the way
//! for a symlink to the host between the check and the mount: there is no second lookup.

use std::ffi::OsString;
use std::fs::Permissions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use pathrs::error::ErrorKind;
use pathrs::{Handle, Root};

use crate::ns::sync::{ChildError, Stage};

/// What a missing mount target is made as: a directory for a directory source, else a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// The container's root directory, held open.
pub struct RootDir {
    root: Root,
    shown: PathBuf,
}

fn failed(what: String, e: &pathrs::error::Error) -> ChildError {
    let errno = match e.kind() {
        ErrorKind::OsError(Some(n)) => n,
        // A symlink that tried to leave the root, a /proc magic link, and the like.
        ErrorKind::SafetyViolation => libc::EXDEV,
        _ => libc::EINVAL,
    };
    // pathrs says what step failed; the OS error behind it is further down the chain.
    let mut text = format!("{what}: {e}");
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    ChildError::new(Stage::Setup, errno, text)
}

fn is_missing(e: &pathrs::error::Error) -> bool {
    matches!(e.kind(), ErrorKind::OsError(Some(libc::ENOENT)))
}

/// The path through which the kernel reaches exactly this open inode.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

impl RootDir {
    pub fn open(path: &Path) -> Result<Self, ChildError> {
        let root = Root::open(path).map_err(|e| {
            failed(
                format!("opening the container's root {}", path.display()),
                &e,
            )
        })?;
        Ok(RootDir {
            root,
            shown: path.to_path_buf(),
        })
    }

    /// The inode at `path` (symlinks followed, inside the root), or None when there is none.
    pub fn find(&self, path: &Path) -> Result<Option<Handle>, ChildError> {
        // The kernel's own confinement first: one openat2 call. libpathrs does the same with
        // checks through /proc around it, and walks by hand where openat2 is missing.
        use nix::fcntl::{OpenHow, ResolveFlag, openat2};
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        match openat2(self.root.as_fd(), path, how) {
            Ok(fd) => return Ok(Some(Handle::from_fd(fd))),
            Err(nix::errno::Errno::ENOENT) => return Ok(None),
            // EAGAIN: a rename somewhere during the walk; ENOSYS: a kernel before 5.6.
            Err(_) => {}
        }
        match self.root.resolve(path) {
            Ok(h) => Ok(Some(h)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(failed(format!("resolving {}", path.display()), &e)),
        }
    }

    /// The inode at `path`, made first (with its parents) as `kind` when missing.
    pub fn mountpoint(&self, path: &Path, kind: Kind) -> Result<Handle, ChildError> {
        if let Some(h) = self.find(path)? {
            return Ok(h);
        }
        let (parent, name) = self.parent_of(path)?;
        // Made and opened relative to the pinned parent, the last step not followed: nothing
        // can redirect it. (libpathrs' mkdir_all would do the same with many more checks
        // through /proc; this runs a dozen times per container start.)
        let creating = |e: nix::errno::Errno| {
            ChildError::os(Stage::Setup, format!("creating {}", path.display()), e)
        };
        let made = match kind {
            Kind::Dir => nix::sys::stat::mkdirat(
                parent.as_fd(),
                name.as_os_str(),
                Mode::from_bits_truncate(0o755),
            ),
            Kind::File => nix::fcntl::openat(
                parent.as_fd(),
                name.as_os_str(),
                OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop),
        };
        match made {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(creating(e)),
        }
        nix::fcntl::openat(
            parent.as_fd(),
            name.as_os_str(),
            OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map(Handle::from_fd)
        .map_err(creating)
    }

    /// The directory that holds `path` (made when missing) and the last component's name.
    pub fn parent_of(&self, path: &Path) -> Result<(Handle, OsString), ChildError> {
        let name = path.file_name().ok_or_else(|| {
            ChildError::new(
                Stage::Setup,
                libc::EINVAL,
                format!("{}: no file name", path.display()),
            )
        })?;
        let parent = path.parent().unwrap_or(Path::new("/"));
        let handle = match self.find(parent)? {
            Some(h) => h,
            None => self
                .root
                .mkdir_all(parent, &Permissions::from_mode(0o755))
                .map_err(|e| failed(format!("creating {}", parent.display()), &e))?,
        };
        Ok((handle, name.to_os_string()))
    }

    /// The root's own path, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_resolve_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root_path = dir.path().join("root");
        std::fs::create_dir_all(root_path.join("etc")).expect("mkdir");
        symlink("/", root_path.join("up")).expect("symlink");
        symlink("../../../../../etc", root_path.join("climb")).expect("symlink");
        let root = RootDir::open(&root_path).expect("open");
        // A mountpoint made through a link to "/" lands in the container's root.
        let made = root
            .mountpoint(Path::new("/up/var/lib/x"), Kind::Dir)
            .expect("mountpoint");
        assert!(root_path.join("var/lib/x").is_dir());
        assert_eq!(
            std::fs::read_link(fd_path(made.as_fd())).expect("readlink"),
            root_path.join("var/lib/x")
        );
        let file = root
            .mountpoint(Path::new("climb/hosts"), Kind::File)
            .expect("file");
        assert!(root_path.join("etc/hosts").is_file());
        drop(file);
        assert!(root.find(Path::new("/missing/x")).expect("find").is_none());
    }

    #[test]
    fn a_handle_keeps_naming_what_was_resolved_after_a_swap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root_path = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root_path.join("shared/sub")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let root = RootDir::open(&root_path).expect("open");
        let pinned = root
            .mountpoint(Path::new("shared/sub"), Kind::Dir)
            .expect("resolve");
        // What a hostile container sharing the volume does between the check and the use.
        std::fs::rename(root_path.join("shared/sub"), root_path.join("shared/moved"))
            .expect("rename");
        symlink(&outside, root_path.join("shared/sub")).expect("symlink");
        std::fs::write(fd_path(pinned.as_fd()).join("marker"), "x").expect("write");
        assert!(root_path.join("shared/moved/marker").is_file());
        assert!(!outside.join("marker").exists());
        // A new lookup follows the link inside the root, where that host path does not exist.
        assert!(root.find(Path::new("shared/sub")).expect("find").is_none());
    }
}
