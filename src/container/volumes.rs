//! A container's mounts between the parsed flags and the kernel: at create, `--volumes-from`
//! is expanded and volumes are made (named ones on first use, anonymous ones named by a random
//! id); at start, each mount becomes host paths for the mount plan; at removal, anonymous
//! volumes that nobody else uses go with the container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ContainerError, Ctx, io_err};
use crate::mount::plan::UserMount;
use crate::mount::volume::{MountKind, MountOrigin, MountSpec};
use crate::spec::ContainerConfig;
use crate::state::container::ContainerRecord;
use crate::state::volume::VolumeRecord;

/// Expand `--volumes-from`, check bind sources, and create the volumes the config needs.
/// Returns the volumes this call created, for `rollback` if a later step fails.
pub fn prepare(ctx: &Ctx, config: &mut ContainerConfig) -> Result<Vec<String>, ContainerError> {
    expand_volumes_from(ctx, config)?;
    for m in &config.mounts {
        if m.kind == MountKind::Bind && !m.create_source && !Path::new(&m.source).exists() {
            return Err(ContainerError::Invalid(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                m.source
            )));
        }
    }
    let mut created = Vec::new();
    let result = (|| {
        for m in config.mounts.iter_mut() {
            if m.kind != MountKind::Volume {
                continue;
            }
            if m.anonymous && m.source.is_empty() {
                m.source = crate::ids::random_id();
            }
            let (_, new) = ctx.volumes.create(&VolumeRecord {
                name: m.source.clone(),
                driver: "local".into(),
                created_at: crate::timefmt::rfc3339(crate::timefmt::now()),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                anonymous: m.anonymous,
            })?;
            if new {
                ctx.event(
                    "volume",
                    "create",
                    &m.source,
                    &[("driver", "local".to_string())],
                );
                created.push(m.source.clone());
            }
        }
        for m in &config.mounts {
            if m.kind == MountKind::Bind && m.create_source && !Path::new(&m.source).exists() {
                // docker's -v makes a missing host directory.
                std::fs::create_dir_all(&m.source)
                    .map_err(io_err(format!("creating bind source {}", m.source)))?;
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(created),
        Err(e) => {
            rollback(ctx, &created);
            Err(e)
        }
    }
}

/// Remove volumes made by a create that failed afterwards.
pub fn rollback(ctx: &Ctx, created: &[String]) {
    for name in created {
        let _ = ctx.volumes.remove(name);
    }
}

/// `--volumes-from c[:ro|:rw]`: every volume and bind of `c` at the same destination (c's own
/// list already holds what it took from others: transitive by construction). The user's own
/// mounts win over them, and they win over the image's volumes.
fn expand_volumes_from(ctx: &Ctx, config: &mut ContainerConfig) -> Result<(), ContainerError> {
    for from in config.volumes_from.clone() {
        let (name, mode) = match from.rsplit_once(':') {
            Some((n, m @ ("ro" | "rw"))) => (n, Some(m)),
            _ => (from.as_str(), None),
        };
        let source = ctx.find(name)?;
        for m in source
            .config
            .mounts
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
        {
            let dest = m.destination.trim_end_matches('/');
            let same = |o: &MountSpec| o.destination.trim_end_matches('/') == dest;
            if config
                .mounts
                .iter()
                .any(|o| same(o) && o.origin != MountOrigin::Image)
            {
                continue;
            }
            config.mounts.retain(|o| !same(o));
            let mut copy = m.clone();
            copy.origin = MountOrigin::VolumesFrom;
            copy.create_source = false;
            if let Some(mode) = mode {
                copy.readonly = mode == "ro";
            }
            config.mounts.push(copy);
        }
    }
    Ok(())
}

/// The container's mounts as host paths, for the mount plan. `user` is the container's
/// uid:gid (for `:U`).
pub fn user_mounts(
    ctx: &Ctx,
    record: &ContainerRecord,
    user: Option<(u32, u32)>,
) -> Result<Vec<UserMount>, ContainerError> {
    let mut out = Vec::new();
    for m in &record.config.mounts {
        let mut um = UserMount {
            kind: m.kind,
            source: PathBuf::from(&m.source),
            destination: PathBuf::from(&m.destination),
            readonly: m.readonly,
            propagation: m.propagation.clone(),
            copy_up: false,
            chown: if m.chown { user } else { None },
            tmpfs_options: m.tmpfs_options.clone(),
        };
        if m.kind == MountKind::Volume {
            let vol = ctx.volumes.get(&m.source)?;
            match (
                vol.options.get("type").map(String::as_str),
                vol.options.get("device"),
            ) {
                // docker's local driver with `-o type=tmpfs`: a tmpfs of the given options
                // (one per container here: skiff keeps no mount on the host).
                (Some("tmpfs"), _) => {
                    um.kind = MountKind::Tmpfs;
                    um.tmpfs_options = vol.options.get("o").cloned().unwrap_or_default();
                }
                // `-o type=none,o=bind,device=/path`: a named bind mount.
                (Some("none"), Some(device)) => {
                    um.kind = MountKind::Bind;
                    um.source = PathBuf::from(device);
                }
                _ => {
                    um.source = ctx.volumes.data_dir(&m.source);
                    um.copy_up = !m.nocopy;
                }
            }
        }
        out.push(um);
    }
    Ok(out)
}

/// Names of the containers (other than `except`) whose mounts use volume `name`.
pub fn users_of(
    ctx: &Ctx,
    name: &str,
    except: Option<&str>,
) -> Result<Vec<String>, ContainerError> {
    Ok(ctx
        .all()?
        .into_iter()
        .filter(|r| Some(r.id.as_str()) != except)
        .filter(|r| {
            r.config
                .mounts
                .iter()
                .any(|m| m.kind == MountKind::Volume && m.source == name)
        })
        .map(|r| r.name)
        .collect())
}

/// After a container is gone: remove its anonymous volumes that no other container uses
/// (`rm -v`, `run --rm`). Named volumes always stay.
pub fn release_anonymous(ctx: &Ctx, record: &ContainerRecord) {
    for m in &record.config.mounts {
        if m.kind == MountKind::Volume
            && m.anonymous
            && let Ok(users) = users_of(ctx, &m.source, Some(&record.id))
            && users.is_empty()
            && ctx.volumes.remove(&m.source).is_ok()
        {
            ctx.event("volume", "destroy", &m.source, &[]);
        }
    }
}

/// docker fills a new, empty volume with the image's content at its destination when the
/// container is created (so `--volumes-from` of a created-only container sees it). Only
/// forks a helper when some layer has something there.
pub fn copy_up_at_create(ctx: &Ctx, record: &ContainerRecord) -> Result<(), ContainerError> {
    let in_image = |dest: &str| {
        record.config.layers.iter().any(|l| {
            crate::securejoin::secure_join(&ctx.images.layer_dir(l), Path::new(dest))
                .is_ok_and(|p| p.is_dir())
        })
    };
    let todo: Vec<(PathBuf, PathBuf)> = record
        .config
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && !m.nocopy && in_image(&m.destination))
        .filter(|m| {
            ctx.volumes
                .get(&m.source)
                .is_ok_and(|v| v.options.is_empty())
        })
        .map(|m| {
            (
                PathBuf::from(&m.destination),
                ctx.volumes.data_dir(&m.source),
            )
        })
        .filter(|(_, data)| crate::mount::copyup::is_empty_dir(data))
        .collect();
    if todo.is_empty() {
        return Ok(());
    }
    let auto = record.config.userns_auto;
    super::file_view::with_bare_rootfs(ctx, record, move |root| {
        let root = crate::mount::target::RootDir::open(root).map_err(|e| e.to_string())?;
        for (dest, data) in &todo {
            let Some(src) = root.find(dest).map_err(|e| e.to_string())? else {
                continue;
            };
            if crate::mount::copyup::is_empty_dir(data) {
                crate::mount::copyup::copy_tree_from(std::os::fd::AsFd::as_fd(&src), data)
                    .map_err(|e| format!("copying {} into its volume: {e}", dest.display()))?;
                if let Some(a) = &auto {
                    // The image's owners as this container's host ids.
                    crate::mount::copyup::shift_owners(data, a.uid_base, a.gid_base)
                        .map_err(|e| format!("chown {}: {e}", data.display()))?;
                }
            }
        }
        Ok(())
    })
}

/// Bytes of the files under `p` (symlinks not followed).
pub fn tree_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .map(|d| d.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}
