//! A container's cgroup over its start: where it goes (`cgroup::placement`), what exists before
//! the clone (cgroupfs: the directories and limits), what happens once the first process
//! exists (cgroupfs: it is moved in; systemd: the scope is made around it and the monitor),
//! and what the container sees of it at /sys/fs/cgroup.

use std::path::PathBuf;

use super::{ContainerError, Ctx};
use crate::cgroup::placement::{self, MountedTree, Request};
use crate::cgroup::{self, CgroupManager, Driver, Hierarchy, Placement, Resources, systemd};
use crate::state::container::ContainerRecord;

impl Ctx {
    /// The cgroup manager in force: `--cgroup-manager`, else systemd where it runs this host
    /// (for this user) on cgroup v2, else cgroupfs.
    pub fn cgroup_driver(&self) -> Result<Driver, ContainerError> {
        let unified = matches!(self.hierarchy(), Some(Hierarchy::Unified(_)));
        let socket = systemd::socket(self.paths.rootless, self.host_ids.0);
        match self.cgroup_manager {
            Some(Driver::Cgroupfs) => Ok(Driver::Cgroupfs),
            Some(Driver::Systemd) if !unified => Err(ContainerError::Invalid(
                "--cgroup-manager systemd needs cgroup v2 (this host uses v1): use --cgroup-manager cgroupfs".into(),
            )),
            Some(Driver::Systemd) if socket.is_none() => Err(ContainerError::Invalid(format!(
                "--cgroup-manager systemd: no systemd manager is reachable for this user ({}): use --cgroup-manager cgroupfs",
                if self.paths.rootless {
                    "no $XDG_RUNTIME_DIR/systemd/private; is user@UID.service running? `loginctl enable-linger $USER`"
                } else {
                    "systemd is not PID 1 here"
                }
            ))),
            Some(Driver::Systemd) => Ok(Driver::Systemd),
            None if unified && socket.is_some() => Ok(Driver::Systemd),
            None => Ok(Driver::Cgroupfs),
        }
    }

    /// Where this container's cgroup goes (also asked at create, to refuse limits early).
    pub fn cgroup_placement(
        &self,
        record_id: &str,
        parent: &str,
        enabled: bool,
        wants_limits: bool,
    ) -> Result<Placement, ContainerError> {
        let driver = self.cgroup_driver()?;
        let own = cgroup::own_v2_cgroup(
            &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        );
        // v2: paths relative to its mount; v1: to "/", as the controllers' mounts are.
        let mount = match self.hierarchy() {
            Some(Hierarchy::Unified(m)) => m.clone(),
            _ => PathBuf::from("/"),
        };
        let req = Request {
            rootless: self.paths.rootless,
            driver,
            enabled,
            parent,
            id: record_id,
            wants_limits,
            own: &own,
        };
        Ok(placement::decide(
            self.hierarchy(),
            &MountedTree(&mount),
            &req,
        )?)
    }
}

/// A container's cgroup between its placement and the start of its command.
pub(super) enum Planned {
    /// Made before the clone; the child is moved in after.
    Fs {
        path: String,
        manager: Box<dyn CgroupManager>,
        procs: Vec<PathBuf>,
    },
    /// Made by systemd around the child and the monitor, once the child exists.
    Systemd { slice: String, unit: String },
}

impl Planned {
    /// Decide, and for cgroupfs create the cgroup and write its limits (nothing is left
    /// behind on failure). None: the container runs without a cgroup.
    pub fn prepare(ctx: &Ctx, record: &ContainerRecord) -> Result<Option<Planned>, ContainerError> {
        let resources = &record.config.resources;
        let placed = ctx.cgroup_placement(
            &record.id,
            &record.config.cgroup_parent,
            record.config.cgroups_enabled(),
            !resources.is_empty(),
        )?;
        match placed {
            Placement::None { warn } => {
                if let Some(why) = warn {
                    warn_once(ctx, &why);
                }
                Ok(None)
            }
            Placement::Systemd { slice, unit } => Ok(Some(Planned::Systemd { slice, unit })),
            Placement::Cgroupfs {
                path,
                evacuate_root,
            } => {
                let Some(h) = ctx.hierarchy() else {
                    return Ok(None);
                };
                if let (true, Hierarchy::Unified(mount)) = (evacuate_root, h) {
                    cgroup::v2::V2::evacuate(mount)?;
                }
                let manager = cgroup::manager(h, &path);
                if let Err(e) = manager.create().and_then(|()| manager.apply(resources)) {
                    let _ = manager.remove();
                    return Err(e.into());
                }
                let procs = manager.procs_files();
                Ok(Some(Planned::Fs {
                    path,
                    manager,
                    procs,
                }))
            }
        }
    }

    /// What the container sees at /sys/fs/cgroup: on v1 its cgroup of each hierarchy, bound
    /// in before pivot_root (so known now); on v2 a cgroup2 mount made after it enters its
    /// cgroup namespace.
    pub fn v1_view(&self, ctx: &Ctx) -> Option<cgroup::V1View> {
        match (self, ctx.hierarchy()) {
            (Planned::Fs { path, .. }, Some(Hierarchy::Legacy { controllers, .. })) => {
                Some(cgroup::v1_view(controllers, path))
            }
            _ => None,
        }
    }

    /// Once the child exists: put it (and, with systemd, this monitor) in place. Returns the
    /// container's cgroup path, to be recorded. Runs on a thread beside the network plug-in.
    pub fn admit(
        &self,
        ctx: &Ctx,
        id: &str,
        child: i32,
        resources: &Resources,
    ) -> Result<String, ContainerError> {
        match self {
            Planned::Fs { path, procs, .. } => {
                for p in procs {
                    std::fs::write(p, child.to_string()).map_err(super::io_err(format!(
                        "moving the container into {}",
                        p.display()
                    )))?;
                }
                Ok(path.clone())
            }
            Planned::Systemd { slice, unit } => {
                let Some(Hierarchy::Unified(mount)) = ctx.hierarchy() else {
                    return Err(ContainerError::Invalid(
                        "the systemd cgroup manager needs cgroup v2".into(),
                    ));
                };
                let bus = ctx.systemd_bus()?;
                let admission = systemd::Admission {
                    unit,
                    slice,
                    id,
                    child,
                    monitor: std::process::id() as i32,
                };
                Ok(systemd::admit(bus, mount, &admission, resources)?)
            }
        }
    }

    /// Undo after a failed start (the child is dead): remove what skiff made. With systemd the
    /// scope goes by itself once the monitor has left it.
    pub fn undo(&self, ctx: &Ctx, admitted: Option<&str>) {
        match (self, admitted, ctx.hierarchy()) {
            (Planned::Fs { manager, .. }, _, _) => {
                let _ = manager.remove();
            }
            (Planned::Systemd { .. }, Some(path), Some(h)) => {
                let _ = cgroup::manager(h, path).remove();
            }
            _ => {}
        }
    }
}

/// Say once per runroot why containers run without a cgroup (stats then come from /proc and
/// limits are refused): a warning on every run would drown scripts' output.
fn warn_once(ctx: &Ctx, why: &str) {
    let stamp = ctx.paths.runroot.join("cgroups-warned");
    if stamp.exists() {
        return;
    }
    let _ = std::fs::write(&stamp, why);
    eprintln!(
        "skiff: warning: containers run without a cgroup of their own ({why}); resource limits are unavailable"
    );
}
