//! Where skiff keeps things: the persistent root and the runtime dir, for root and rootless.

use std::path::{Path, PathBuf};

/// Resolved locations and identity of the invoking user.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Persistent state: containers, images, layers, volumes.
    pub root: PathBuf,
    /// Runtime state: pause pid, sockets, locks; gone after a reboot on a normal host.
    pub runroot: PathBuf,
    /// True when the invoking user is not root on the host.
    pub rootless: bool,
}

impl Paths {
    /// Default locations: `/var/lib/skiff` + `/run/skiff` as root, XDG dirs rootless.
    pub fn resolve(root: Option<PathBuf>, runroot: Option<PathBuf>, host_uid: u32) -> Paths {
        let rootless = host_uid != 0;
        let root = root.unwrap_or_else(|| {
            if rootless {
                data_home().join("skiff")
            } else {
                PathBuf::from("/var/lib/skiff")
            }
        });
        let runroot = runroot.unwrap_or_else(|| {
            if rootless {
                match std::env::var_os("XDG_RUNTIME_DIR") {
                    Some(d) if !d.is_empty() => PathBuf::from(d).join("skiff"),
                    _ => PathBuf::from(format!("/tmp/skiff-{host_uid}")),
                }
            } else {
                PathBuf::from("/run/skiff")
            }
        });
        Paths {
            root,
            runroot,
            rootless,
        }
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }
    pub fn names(&self) -> PathBuf {
        self.root.join("names")
    }
    pub fn layers(&self) -> PathBuf {
        self.root.join("overlay")
    }
    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }
    pub fn images_file(&self) -> PathBuf {
        self.root.join("images.json")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// The empty directory every container mounts its overlay on, inside its own mount namespace.
    pub fn rootfs_mountpoint(&self) -> PathBuf {
        self.runroot.join("rootfs")
    }
    pub fn pause_pid_file(&self) -> PathBuf {
        self.runroot.join("pause.pid")
    }
}

fn data_home() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local").join("share")
}

/// Create a directory and its parents with the given mode (umask permitting).
pub fn ensure_dir(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A program on $PATH (or, with no $PATH, in the usual directories).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_defaults() {
        let p = Paths::resolve(None, None, 0);
        assert_eq!(p.root, PathBuf::from("/var/lib/skiff"));
        assert_eq!(p.runroot, PathBuf::from("/run/skiff"));
        assert!(!p.rootless);
    }

    #[test]
    fn overrides_win() {
        let p = Paths::resolve(Some("/a".into()), Some("/b".into()), 1000);
        assert_eq!(p.root, PathBuf::from("/a"));
        assert_eq!(p.runroot, PathBuf::from("/b"));
        assert!(p.rootless);
    }
}
