//! Which storage driver a store uses, chosen once and recorded in `<root>/storage.json`.
//!
//! Layers are always unpacked the same way (`overlay/<diff id>/diff`, overlayfs whiteouts);
//! the driver decides how a container's root filesystem is put together from them:
//!
//! - `overlay`: the kernel's overlayfs (with `userxattr` rootless). The fastest, and the
//!   default wherever the kernel accepts the store's filesystem as an overlay's upper layer.
//! - `fuse-overlayfs`: the same layout served by the `fuse-overlayfs` program, for stores
//!   the kernel refuses: above all a store on overlayfs itself, which is what `/var/lib` is in
//!   any CI job's container (the kernel will not take an upper directory on overlayfs).
//! - `vfs`: a copy of the image per container (`image::vfs`), where neither works.
//!
//! The choice is probed when a store is first used, by mounting a small overlay in a
//! throw-away mount namespace on the store's own filesystem, and never changes afterwards:
//! a container's upper directory means something only to the driver that made it, so a
//! store is never reopened with another (a clear error names the one it was made with).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ImageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Driver {
    #[serde(rename = "overlay")]
    Overlay,
    #[serde(rename = "fuse-overlayfs")]
    FuseOverlayfs,
    /// A copy of the image per container (see `image::vfs`).
    #[serde(rename = "vfs")]
    Vfs,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::FuseOverlayfs => "fuse-overlayfs",
            Driver::Vfs => "vfs",
        }
    }

    /// `--storage-driver` values (docker's `overlay2` is the same as `overlay`).
    pub fn parse(s: &str) -> Result<Driver, String> {
        match s {
            "overlay" | "overlay2" => Ok(Driver::Overlay),
            "fuse-overlayfs" => Ok(Driver::FuseOverlayfs),
            "vfs" => Ok(Driver::Vfs),
            _ => Err(format!(
                "invalid storage driver {s:?}: expected overlay, fuse-overlayfs or vfs"
            )),
        }
    }
}

/// `--storage-opt` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `overlay.mount_program=PATH` (podman's key): the fuse-overlayfs binary.
    pub mount_program: Option<PathBuf>,
}

impl Options {
    pub fn parse(opts: &[String]) -> Result<Options, String> {
        let mut out = Options::default();
        for o in opts {
            let (k, v) = o.split_once('=').ok_or_else(|| {
                format!("invalid --storage-opt {o:?}: expected KEY=VALUE, such as overlay.mount_program=/usr/bin/fuse-overlayfs")
            })?;
            match k {
                "overlay.mount_program" | "mount_program" => {
                    out.mount_program = Some(PathBuf::from(v));
                }
                // docker's `run --storage-opt size=…` (a container's rootfs quota).
                "size" => {
                    return Err(format!(
                        "invalid --storage-opt {o:?}: skiff cannot limit a container's writable layer (docker does it only for overlay on xfs with project quotas, which skiff does not set up); limit its memory with -m, or give it a volume on a filesystem of the size wanted"
                    ));
                }
                _ => {
                    return Err(format!(
                        "invalid --storage-opt {o:?}: unknown key {k:?}; skiff knows overlay.mount_program"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// What the store uses, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    driver: Driver,
}

/// The driver in force for a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub driver: Driver,
    /// The fuse-overlayfs program, for that driver.
    pub mount_program: Option<PathBuf>,
}

fn record_path(root: &Path) -> PathBuf {
    root.join("storage.json")
}

/// The driver a store uses: the recorded one (a different `requested` one is refused), or
/// for a new store the requested one, or the first that works here.
pub fn open(
    root: &Path,
    requested: Option<Driver>,
    opts: &Options,
    rootless: bool,
) -> Result<Storage, ImageError> {
    let invalid = |m: String| ImageError::Storage(m);
    let path = record_path(root);
    let recorded: Option<Driver> = match std::fs::read(&path) {
        Ok(bytes) => Some(
            serde_json::from_slice::<Record>(&bytes)
                .map_err(|source| ImageError::Corrupt {
                    path: path.clone(),
                    source,
                })?
                .driver,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(ImageError::Io { path, source }),
    };
    let driver = match (recorded, requested) {
        (Some(r), Some(q)) if r != q => {
            return Err(invalid(format!(
                "the store at {} was made with the {} storage driver, not {}: use --storage-driver {} or another --root",
                root.display(),
                r.as_str(),
                q.as_str(),
                r.as_str()
            )));
        }
        (Some(r), _) => r,
        (None, Some(q)) => q,
        // A store from before drivers were recorded was always overlay.
        (None, None) if has_containers_or_layers(root) => Driver::Overlay,
        (None, None) => match probe_overlay(root, rootless) {
            Ok(()) => Driver::Overlay,
            Err(_) if fuse_program(opts).is_some() && fuse_usable() => Driver::FuseOverlayfs,
            // The last resort: a copy per container (slow to create, works anywhere).
            Err(_) => Driver::Vfs,
        },
    };
    let mount_program = match driver {
        Driver::Overlay | Driver::Vfs => None,
        Driver::FuseOverlayfs => Some(fuse_program(opts).ok_or_else(|| {
            invalid(
                "the fuse-overlayfs storage driver needs the fuse-overlayfs program: apt-get install fuse-overlayfs (or --storage-opt overlay.mount_program=PATH)"
                    .to_string(),
            )
        })?),
    };
    if recorded.is_none() {
        crate::state::write_json(&path, &Record { driver })?;
    }
    Ok(Storage {
        driver,
        mount_program,
    })
}

/// Whether FUSE can be mounted here: /dev/fuse opens.
fn fuse_usable() -> bool {
    crate::mount::fuse::open_device().is_ok()
}

fn has_containers_or_layers(root: &Path) -> bool {
    ["overlay", "containers"]
        .iter()
        .any(|d| std::fs::read_dir(root.join(d)).is_ok_and(|mut entries| entries.next().is_some()))
}

/// The fuse-overlayfs program: `--storage-opt overlay.mount_program`, else from PATH.
fn fuse_program(opts: &Options) -> Option<PathBuf> {
    opts.mount_program
        .clone()
        .or_else(|| crate::config::find_program("fuse-overlayfs"))
}

/// Whether the kernel mounts an overlay whose layers live on `root`'s filesystem: two
/// lower directories, an upper and a work directory there, mounted in a throw-away mount
/// namespace of a forked child (with `userxattr` rootless, as containers will be).
pub fn probe_overlay(root: &Path, rootless: bool) -> Result<(), String> {
    let dir = root.join(format!("probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["l1", "l2", "u", "w", "m"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let result = probe_in_child(&dir, rootless);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn probe_in_child(dir: &Path, rootless: bool) -> Result<(), String> {
    use nix::mount::{MsFlags, mount};
    let mut data = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        dir.join("l1").display(),
        dir.join("l2").display(),
        dir.join("u").display(),
        dir.join("w").display()
    );
    if rootless {
        data.push_str(",userxattr");
    }
    let target = dir.join("m");
    // SAFETY: skiff is single-threaded; the child only makes syscalls and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))? {
        nix::unistd::ForkResult::Child => {
            let code = (|| -> Result<(), nix::errno::Errno> {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
                // Nothing may propagate back; in a chroot "/" is no mount point, and the
                // mount below is made and gone before this process exits either way.
                let _ = mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                );
                mount(
                    Some("overlay"),
                    &target,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(data.as_str()),
                )?;
                let _ = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH);
                Ok(())
            })()
            .map_or_else(|e| e as i32, |()| 0);
            // SAFETY: leave the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => match nix::sys::wait::waitpid(child, None) {
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Ok(()),
            Ok(nix::sys::wait::WaitStatus::Exited(_, errno)) => {
                Err(nix::errno::Errno::from_raw(errno).desc().to_string())
            }
            Ok(other) => Err(format!("the probe ended as {other:?}")),
            Err(e) => Err(format!("waiting for the probe: {e}")),
        },
    }
}

/// docker's name for the filesystem under `path` (`Backing Filesystem` in `info`).
pub fn backing_filesystem(path: &Path) -> &'static str {
    let Ok(st) = nix::sys::statfs::statfs(path) else {
        return "unknown";
    };
    filesystem_name(st.filesystem_type().0)
}

/// Magic numbers from statfs(2) as moby's `fsmagic` names them.
fn filesystem_name(magic: i64) -> &'static str {
    match magic {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x6573_5546 => "fuse",
        0x2FC1_2FC1 => "zfs",
        0x5346_544E => "ntfs",
        0x6969 => "nfs",
        0x8584_58F6 => "ramfs",
        0xF2F5_2010 => "f2fs",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_and_options_parse_with_clear_errors() {
        assert_eq!(Driver::parse("overlay2"), Ok(Driver::Overlay));
        assert_eq!(Driver::parse("fuse-overlayfs"), Ok(Driver::FuseOverlayfs));
        assert!(
            Driver::parse("aufs")
                .unwrap_err()
                .contains("expected overlay")
        );
        assert_eq!(Driver::parse("vfs"), Ok(Driver::Vfs));
        let o = Options::parse(&["overlay.mount_program=/opt/fo".into()]).expect("valid");
        assert_eq!(o.mount_program, Some(PathBuf::from("/opt/fo")));
        assert!(
            Options::parse(&["size=10G".into()])
                .unwrap_err()
                .contains("cannot limit a container's writable layer")
        );
        assert!(
            Options::parse(&["nokey".into()])
                .unwrap_err()
                .contains("KEY=VALUE")
        );
    }

    #[test]
    fn filesystems_are_named_as_docker_names_them() {
        assert_eq!(filesystem_name(0xEF53), "extfs");
        assert_eq!(filesystem_name(0x794C_7630), "overlayfs");
        assert_eq!(filesystem_name(0x0102_1994), "tmpfs");
        assert_eq!(filesystem_name(1), "unknown");
    }

    #[test]
    fn a_store_keeps_its_driver() {
        let dir = tempfile::tempdir().expect("tmp");
        let opts = Options {
            mount_program: Some(PathBuf::from("/bin/true")),
        };
        let s = open(dir.path(), Some(Driver::FuseOverlayfs), &opts, false).expect("new store");
        assert_eq!(s.driver, Driver::FuseOverlayfs);
        let again = open(dir.path(), None, &opts, false).expect("reopened");
        assert_eq!(again.driver, Driver::FuseOverlayfs);
        let err = open(dir.path(), Some(Driver::Overlay), &opts, false).unwrap_err();
        assert!(
            err.to_string()
                .contains("made with the fuse-overlayfs storage driver, not overlay"),
            "{err}"
        );
    }
}
