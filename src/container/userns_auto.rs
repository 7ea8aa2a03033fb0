//! `--userns=auto` (root, podman's flag): each container runs in a user namespace of its own
//! whose ids are a range of host ids no other container has, taken from the subordinate ids
//! of the user `containers`. Root in one container is then an unprivileged stranger to the
//! host and to every other container.
//!
//! The image's layers are not copied: at start they are cloned as idmapped mounts (host id
//! `base + c` shows as `c`, see `mount::idmapped`), and the container mounts its overlay inside
//! its own user namespace, so what it writes lands in its upper directory under its own host
//! ids.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::{ContainerError, Ctx, io_err};
use crate::mount::MountOp;
use crate::mount::volume::MountKind;
use crate::ns::idmap::{self, AUTO_USER, AutoRange};
use crate::state::Lock;
use crate::state::container::ContainerRecord;

/// The allocation holds the lock until the container's record, which claims the range, is
/// written: two parallel `create`s never get the same ids.
pub struct Claim {
    pub range: AutoRange,
    _lock: Lock,
}

/// A free range of `size` ids for a new container.
pub fn claim(ctx: &Ctx, size: u32) -> Result<Claim, ContainerError> {
    if ctx.paths.rootless {
        return Err(ContainerError::Invalid(
            "--userns=auto is for root: rootless containers already run in your own subordinate ids (use keep-id to keep your uid inside)".into(),
        ));
    }
    let driver = ctx.storage()?.driver;
    if driver != crate::image::storage::Driver::Overlay {
        return Err(ContainerError::Invalid(format!(
            "--userns=auto needs the overlay storage driver (this store uses {}): its layers are idmapped mounts under an overlay made in the container's user namespace",
            driver.as_str()
        )));
    }
    let lock_path = ctx.paths.root.join("userns-auto.lock");
    let lock = Lock::exclusive_create(&lock_path)?;
    let mut used_uids = Vec::new();
    let mut used_gids = Vec::new();
    for id in ctx.store.ids()? {
        if let Ok(r) = ctx.store.load(&id)
            && let Some(a) = r.config.userns_auto
        {
            used_uids.push((a.uid_base, a.size));
            used_gids.push((a.gid_base, a.size));
        }
    }
    let uid_base = pick("/etc/subuid", &used_uids, size)?;
    let gid_base = pick("/etc/subgid", &used_gids, size)?;
    Ok(Claim {
        range: AutoRange {
            uid_base,
            gid_base,
            size,
        },
        _lock: lock,
    })
}

fn pick(file: &str, used: &[(u32, u32)], size: u32) -> Result<u32, ContainerError> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let ranges: Vec<(u32, u32)> = crate::ns::userns::parse_subid(&text, AUTO_USER, u32::MAX)
        .iter()
        .map(|r| (r.start, r.count))
        .collect();
    if ranges.is_empty() {
        return Err(ContainerError::Invalid(format!(
            "--userns=auto: {file} has no range for the user {AUTO_USER:?}: add one, such as {AUTO_USER}:2147483647:2147483648"
        )));
    }
    idmap::pick_free(&ranges, used, size).ok_or_else(|| {
        ContainerError::Invalid(format!(
            "--userns=auto: no {size} free ids left in {AUTO_USER}'s ranges in {file}: remove containers, give a smaller auto:size=N or a larger range"
        ))
    })
}

/// Give `path` to the container's root (a directory it must write to: its upper layer, a new
/// volume, its hosts and resolv.conf).
pub fn give_to_root(range: &AutoRange, path: &Path) -> Result<(), ContainerError> {
    std::os::unix::fs::lchown(path, Some(range.uid_base), Some(range.gid_base))
        .map_err(io_err(format!("chown {}", path.display())))
}

/// Empty volumes the container is the first to use are given to its root (podman's rule: a
/// volume belongs to the container that fills it first).
pub fn give_volumes(
    ctx: &Ctx,
    record: &ContainerRecord,
    range: &AutoRange,
) -> Result<(), ContainerError> {
    for m in &record.config.mounts {
        if m.kind == MountKind::Volume {
            let data = ctx.volumes.data_dir(&m.source);
            if crate::mount::copyup::is_empty_dir(&data) {
                give_to_root(range, &data)?;
            }
        }
    }
    Ok(())
}

/// Directories the idmapped layers are attached on, in the container's mount namespace only
/// (on the host they stay empty, and go with the container's directory).
pub fn layer_points(
    ctx: &Ctx,
    record: &ContainerRecord,
    count: usize,
) -> Result<Vec<PathBuf>, ContainerError> {
    let dir = ctx.store.dir(&record.id).join("idmapped");
    (0..count)
        .map(|i| {
            let p = dir.join(i.to_string());
            std::fs::create_dir_all(&p).map_err(io_err(format!("creating {}", p.display())))?;
            Ok(p)
        })
        .collect()
}

/// The container's root, made in its mount namespace by us (host root) while it waits: each
/// layer cloned as an idmapped mount through its user namespace, then the overlay over them.
/// Mounted by host root, the overlay reads the store's `trusted.*` whiteout marks, and writes
/// what the container creates under the container's host ids.
pub fn mount_root(
    pid: i32,
    layers: &[PathBuf],
    points: &[PathBuf],
    upper: &Path,
    work: &Path,
    mountpoint: &Path,
    nodev: bool,
) -> Result<(), ContainerError> {
    let open = |what: &str| {
        std::fs::File::open(format!("/proc/{pid}/ns/{what}"))
            .map_err(io_err(format!("opening the container's {what} namespace")))
    };
    let (userns, mntns) = (open("user")?, open("mnt")?);
    let work_in_ns = || -> Result<(), String> {
        // A thread may enter another mount namespace once it no longer shares its root and
        // working directory with the rest of the process.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)
            .map_err(|e| format!("unshare(CLONE_FS): {e}"))?;
        nix::sched::setns(&mntns, nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("entering the container's mount namespace: {e}"))?;
        for (layer, point) in layers.iter().zip(points) {
            use crate::mount::detached::{Target, attach, clone_tree, idmap};
            clone_tree(layer, false)
                .and_then(|tree| {
                    idmap(tree.as_fd(), userns.as_fd())?;
                    attach(tree.as_fd(), Target::Path(point))
                })
                .map_err(|e| {
                format!(
                    "idmapping layer {} (--userns=auto needs kernel 5.19 or later and a store filesystem that supports idmapped mounts): {e}",
                    layer.display()
                )
            })?;
        }
        crate::mount::apply::mount_rootfs(
            mountpoint,
            points,
            upper,
            work,
            false,
            nodev,
            crate::mount::apply::RootDriver::Overlay,
        )
        .map_err(|e| e.to_string())
    };
    std::thread::scope(|s| {
        s.spawn(work_in_ns)
            .join()
            .unwrap_or_else(|_| Err("the mount thread panicked".into()))
    })
    .map_err(ContainerError::Invalid)
}

/// The host paths the container's setup reads or writes: the container's root is a stranger
/// on the host and cannot walk the store's private directories, but needs no walk through a
/// descriptor it inherits. Bind sources become detached trees (op index, descriptor) that the
/// setup attaches (a path opened here would name a mount of the host's namespace, which the
/// kernel will not bind into another); volume directories it copies into or chowns become
/// `O_PATH` handles named `/proc/self/fd/N` in the plan. All must stay open until the clone.
pub fn sources_as_fds(ops: &mut [MountOp]) -> Result<Sources, ContainerError> {
    let mut held = Vec::new();
    let mut trees = Vec::new();
    for (i, op) in ops.iter_mut().enumerate() {
        let opened = |path: &Path, e: std::io::Error| {
            ContainerError::Invalid(format!("opening {}: {e}", path.display()))
        };
        match op {
            MountOp::Bind {
                source, recursive, ..
            } => {
                let tree = crate::mount::detached::clone_tree(source, *recursive)
                    .map_err(|e| opened(source, e))?;
                trees.push((i, tree.as_raw_fd()));
                held.push(tree);
            }
            MountOp::UserBind { source, .. } => {
                let tree = crate::mount::detached::clone_tree(source, true)
                    .map_err(|e| opened(source, e))?;
                trees.push((i, tree.as_raw_fd()));
                held.push(tree);
            }
            MountOp::CopyUp { into: path, .. } | MountOp::Chown { path, .. } => {
                let fd = nix::fcntl::open(
                    path.as_path(),
                    nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| opened(path, e.into()))?;
                *path = crate::mount::target::fd_path(fd.as_fd());
                held.push(fd);
            }
            _ => {}
        }
    }
    Ok(Sources { held, trees })
}

/// What [`sources_as_fds`] opened: every descriptor (to keep open), and which ops' sources
/// are detached trees.
pub struct Sources {
    pub held: Vec<OwnedFd>,
    pub trees: Vec<(usize, RawFd)>,
}
