//! Container lifecycle: create, start (foreground or with a detached monitor), stop, kill,
//! wait, rm, rename, exec, logs, and the docker-shaped views (ps rows, inspect).

mod cgroups;
pub mod copy;
pub mod create;
pub mod detached;
pub mod exec;
pub mod export;
pub mod file_view;
pub mod health;
pub mod inspect;
pub mod list;
pub mod logs;
pub mod pause;
pub mod remove;
pub mod resources;
mod restart;
mod share;
pub mod start;
pub mod stop;
mod userns_auto;
pub mod volumes;

use crate::cgroup::{self, CgroupManager, Hierarchy};
use crate::config::Paths;
use crate::image::ImageError;
use crate::image::store::ImageStore;
use crate::ns::ChildError;
use crate::spec::SpecError;
use crate::state::container::{ContainerRecord, Status};
use crate::state::store::{Liveness, Store, liveness};
use crate::state::volume::VolumeStore;
use crate::state::{StateError, proc};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Start(#[from] ChildError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error(
        "cannot remove container \"/{0}\": container is running: stop the container before removing or force remove"
    )]
    RemoveRunning(String),
    #[error("{0}")]
    Invalid(String),
}

impl ContainerError {
    /// 126/127 when the command could not be executed, 125 for skiff's own errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            ContainerError::Start(e) => e.exit_code(),
            _ => 125,
        }
    }
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContainerError {
    let what = what.into();
    move |source| ContainerError::Io { what, source }
}

/// Everything a command needs: where things are and the stores.
pub struct Ctx {
    pub paths: Paths,
    pub store: Store,
    pub images: ImageStore,
    pub volumes: VolumeStore,
    pub boot_id: String,
    /// setgroups(2) works (false in a rootless namespace mapped without subordinate gids).
    pub can_setgroups: bool,
    /// The invoking user's uid and gid on the host (rootless: 0 inside our namespace).
    pub host_ids: (u32, u32),
    /// The host's cgroup layout, read on first use (most commands never need it).
    hierarchy: std::sync::OnceLock<Option<Hierarchy>>,
    /// `--cgroup-manager`; None: systemd where it runs this host on cgroup v2.
    pub cgroup_manager: Option<cgroup::Driver>,
    /// The connection to systemd's manager: made by `main` before joining the rootless user
    /// namespace (see `cgroup::systemd::Bus::connect`), or on first use as root.
    systemd: std::sync::OnceLock<Result<cgroup::systemd::Bus, String>>,
    /// `--storage-driver`; None: what the store was made with, or the first that works.
    pub storage_driver: Option<crate::image::storage::Driver>,
    /// `--storage-opt`.
    pub storage_opts: crate::image::storage::Options,
    /// The store's driver, settled on first use (a new store is probed then).
    storage: std::sync::OnceLock<Result<crate::image::storage::Storage, String>>,
}

impl Ctx {
    pub fn open(
        paths: Paths,
        can_setgroups: bool,
        host_ids: (u32, u32),
    ) -> Result<Ctx, ContainerError> {
        let store = Store::open(&paths)?;
        let images = ImageStore::open(&paths)?;
        let volumes = VolumeStore::open(&paths.root)?;
        Ok(Ctx {
            store,
            images,
            volumes,
            boot_id: proc::boot_id(),
            can_setgroups,
            host_ids,
            paths,
            hierarchy: std::sync::OnceLock::new(),
            cgroup_manager: None,
            systemd: std::sync::OnceLock::new(),
            storage_driver: None,
            storage_opts: Default::default(),
            storage: std::sync::OnceLock::new(),
        })
    }

    /// The storage driver in force for this store (see `image::storage`).
    pub fn storage(&self) -> Result<&crate::image::storage::Storage, ContainerError> {
        self.storage
            .get_or_init(|| {
                crate::image::storage::open(
                    &self.paths.root,
                    self.storage_driver,
                    &self.storage_opts,
                    self.paths.rootless,
                )
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| ContainerError::Invalid(e.clone()))
    }

    /// The container's own root directory when the store uses the copy driver (vfs).
    pub fn copy_rootfs(
        &self,
        record: &ContainerRecord,
    ) -> Result<Option<std::path::PathBuf>, ContainerError> {
        Ok(
            (self.storage()?.driver == crate::image::storage::Driver::Vfs)
                .then(|| self.store.dir(&record.id).join("rootfs")),
        )
    }

    /// What the container changed, in the overlay upper layout: its upper directory, or
    /// with the copy driver the differences from its image, written under `scratch`.
    pub fn container_changes(
        &self,
        record: &ContainerRecord,
        scratch: &std::path::Path,
    ) -> Result<std::path::PathBuf, ContainerError> {
        match self.copy_rootfs(record)? {
            None => Ok(self.store.dir(&record.id).join("upper")),
            Some(rootfs) => {
                let out = scratch.join(format!("changes-{}", &record.id[..12]));
                let _ = std::fs::remove_dir_all(&out);
                crate::image::vfs::changes(&self.lower_dirs(record), &rootfs, &out).map_err(
                    io_err(format!("comparing {} with its image", rootfs.display())),
                )?;
                Ok(out)
            }
        }
    }

    /// The fuse-overlayfs program when the store uses it; None for the kernel's overlay.
    pub fn fuse_program(&self) -> Result<Option<std::path::PathBuf>, ContainerError> {
        Ok(self.storage()?.mount_program.clone())
    }

    /// Hand over a connection to systemd made before the rootless namespace was joined.
    pub fn set_systemd_bus(&self, bus: Result<cgroup::systemd::Bus, String>) {
        let _ = self.systemd.set(bus);
    }

    /// Whether a connection to systemd is already held (rootless: made by `main` before the
    /// user namespace was joined). Monitors forked from here relay their calls through it.
    pub fn systemd_connected(&self) -> bool {
        matches!(self.systemd.get(), Some(Ok(_)))
    }

    /// The connection to systemd's manager (made now as root).
    pub fn systemd_bus(&self) -> Result<&cgroup::systemd::Bus, ContainerError> {
        let bus = self.systemd.get_or_init(|| {
            if self.paths.rootless {
                return Err(
                    "skiff did not connect to the user's systemd before joining its user namespace"
                        .into(),
                );
            }
            let socket = cgroup::systemd::socket(false, 0)
                .ok_or_else(|| "systemd is not running this host".to_string())?;
            cgroup::systemd::Bus::connect(&socket).map_err(|e| e.to_string())
        });
        bus.as_ref()
            .map_err(|e| ContainerError::Invalid(format!("the systemd cgroup manager: {e}")))
    }

    pub fn hierarchy(&self) -> Option<&Hierarchy> {
        self.hierarchy.get_or_init(cgroup::host_hierarchy).as_ref()
    }

    /// The container's layer directories, top-most first (overlay's lowerdir order): the
    /// image's own, or its keep-id copies.
    ///
    /// A layer may appear twice in one image (two steps that changed the same way, e.g. an
    /// empty RUN): layers are stored by diff id, and overlayfs refuses a directory twice in
    /// `lowerdir` (ELOOP). Only its top-most occurrence is kept, which shows the same tree: the
    /// upper copy covers every path the lower one has, whiteouts included.
    pub fn lower_dirs(&self, record: &ContainerRecord) -> Vec<std::path::PathBuf> {
        let mut seen = std::collections::HashSet::new();
        record
            .config
            .layers
            .iter()
            .rev()
            .filter(|l| seen.insert(l.as_str()))
            .map(|l| match record.config.keep_id {
                Some(k) => self.images.shifted_layer_dir(l, k),
                None => self.images.layer_dir(l),
            })
            .collect()
    }

    /// Whether containers get docker's device allow-list: only the v1 devices controller does
    /// it (v2 needs an eBPF program skiff does not load). Rootless needs none: a user namespace
    /// can neither make device nodes nor open those on its mounts.
    pub fn device_policy(&self) -> bool {
        self.paths.rootless
            || matches!(self.hierarchy(), Some(Hierarchy::Legacy { controllers, .. })
                if controllers.iter().any(|(c, _)| c == "devices"))
    }

    /// The capabilities of a container's processes: the defaults with its `--cap-add` and
    /// `--cap-drop`.
    pub fn caps_of(&self, record: &ContainerRecord) -> ::caps::CapsHashSet {
        let wanted =
            crate::security::effective_caps(&self.container_caps(), &record.config.security);
        // "All" (`--privileged`, `--cap-add ALL`) means all that skiff itself may hand on:
        // a host (or an outer container) may have narrowed its bounding set.
        match ::caps::read(None, ::caps::CapSet::Bounding) {
            Ok(bounding) => wanted.intersection(&bounding).copied().collect(),
            Err(_) => wanted,
        }
    }

    /// The seccomp filter of a container's processes holding `caps` (empty: unconfined).
    pub fn seccomp_of(
        &self,
        record: &ContainerRecord,
        caps: &::caps::CapsHashSet,
    ) -> Result<Vec<seccompiler::BpfProgram>, ContainerError> {
        let source = if record.config.security.privileged {
            &crate::ns::seccomp::Source::Unconfined
        } else {
            &record.config.security.seccomp
        };
        let cache = self.paths.runroot.join("seccomp");
        crate::ns::seccomp_cache::filter(&cache, source, caps)
            .map_err(|e| ContainerError::Invalid(format!("compiling the seccomp filter: {e}")))
    }

    /// docker's default capabilities, without CAP_MKNOD where no device policy backs it.
    pub fn container_caps(&self) -> ::caps::CapsHashSet {
        let mut set = crate::ns::caps::default_set();
        if !self.device_policy() {
            set.remove(&::caps::Capability::CAP_MKNOD);
        }
        set
    }

    /// The cgroup the container runs in now, if it has one.
    pub fn cgroup_of(&self, record: &ContainerRecord) -> Option<Box<dyn CgroupManager>> {
        if record.state.cgroup.is_empty() {
            return None;
        }
        Some(cgroup::manager(self.hierarchy()?, &record.state.cgroup))
    }

    /// Remove the container's cgroup if it is still there: the recorded one, or (as root, with
    /// cgroupfs) the one a monitor that died before recording it would have made. A systemd
    /// scope goes by itself once its processes are gone.
    pub fn release_cgroup(&self, record: &ContainerRecord) {
        let Some(h) = self.hierarchy() else { return };
        let path = if !record.state.cgroup.is_empty() {
            record.state.cgroup.clone()
        } else if self.paths.rootless {
            return;
        } else {
            match self.cgroup_placement(&record.id, &record.config.cgroup_parent, true, false) {
                Ok(cgroup::Placement::Cgroupfs { path, .. }) => path,
                _ => return,
            }
        };
        let _ = cgroup::manager(h, &path).remove();
    }

    /// Load a container and make its state true: a container whose monitor died (crash,
    /// kill -9, reboot) is recorded as exited, and removed if it was `--rm`.
    pub fn load_live(&self, id: &str) -> Result<ContainerRecord, ContainerError> {
        let record = self.store.load(id)?;
        match liveness(&record, &self.boot_id) {
            Liveness::Lost { exit_code, reason } => self
                .settle_lost(record, exit_code, reason)?
                .ok_or_else(|| StateError::NoSuchContainer(id.to_string()).into()),
            _ => Ok(record),
        }
    }

    /// Resolve a user's name for a container and load it.
    pub fn find(&self, query: &str) -> Result<ContainerRecord, ContainerError> {
        let id = self.store.resolve(query)?;
        self.load_live(&id)
    }

    fn settle_lost(
        &self,
        record: ContainerRecord,
        exit_code: i32,
        reason: &str,
    ) -> Result<Option<ContainerRecord>, StateError> {
        // Whoever holds the lock is changing the record right now; report what we read.
        let Some(_lock) = self.store.try_lock(&record.id)? else {
            return Ok(Some(record));
        };
        let mut fresh = self.store.load(&record.id)?;
        if !matches!(liveness(&fresh, &self.boot_id), Liveness::Lost { .. }) {
            return Ok(Some(fresh));
        }
        // PDEATHSIG normally took pid 1 down with its monitor; make sure of it.
        if proc::is_alive(fresh.state.pid, fresh.state.pid_start) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(fresh.state.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.release_cgroup(&fresh);
        fresh.state.cgroup.clear();
        // Its addresses, ports and rules: the dead monitor held them.
        crate::net::release::detach(&self.paths, &fresh.id);
        fresh.state.networks.clear();
        // The dead monitor's attach socket, if it served one.
        let _ = std::fs::remove_file(crate::attach::socket_path(&self.paths.runroot, &fresh.id));
        fresh.state.status = Status::Exited;
        fresh.state.exit_code = exit_code;
        fresh.state.error = reason.to_string();
        fresh.state.pid = 0;
        fresh.state.monitor_pid = 0;
        fresh.state.finished_at = Some(crate::timefmt::rfc3339(crate::timefmt::now()));
        self.container_event(&fresh, "die", &[("exitCode", exit_code.to_string())]);
        if fresh.config.auto_remove {
            self.remove_container(&fresh, true)?;
            return Ok(None);
        }
        self.store.save_state(&fresh)?;
        Ok(Some(fresh))
    }

    /// Remove the record (the caller holds its lock and made sure it is not running), and
    /// with `volumes` its anonymous volumes that nobody else uses.
    pub fn remove_container(
        &self,
        record: &ContainerRecord,
        volumes: bool,
    ) -> Result<(), StateError> {
        self.store.remove(record)?;
        let _ = std::fs::remove_dir_all(self.userdata_dir(&record.id));
        self.container_event(record, "destroy", &[]);
        if volumes {
            volumes::release_anonymous(self, record);
        }
        Ok(())
    }

    /// All containers, reconciled, newest first.
    pub fn all(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let mut out = Vec::new();
        for id in self.store.ids()? {
            match self.load_live(&id) {
                Ok(r) => out.push(r),
                // Removed while we listed, or being created right now: not there yet.
                Err(ContainerError::State(StateError::NoSuchContainer(_))) => {}
                Err(ContainerError::State(StateError::Io { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Append an event to the journal (best effort).
    pub fn event(&self, kind: &str, action: &str, id: &str, attributes: &[(&str, String)]) {
        let attrs = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        crate::state::events::Journal::new(&self.paths.runroot)
            .append(&crate::state::events::Event::new(kind, action, id, attrs));
    }

    /// An image event: docker names the image in `name`.
    pub fn image_event(&self, action: &str, id: &str, name: &str) {
        self.event("image", action, id, &[("name", name.to_string())]);
    }

    /// A container event, with docker's attributes: image, name, the labels, and `extra`.
    pub fn container_event(
        &self,
        record: &ContainerRecord,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let mut attrs: Vec<(&str, String)> = vec![
            ("image", record.image.clone()),
            ("name", record.name.clone()),
        ];
        for (k, v) in &record.config.labels {
            attrs.push((k.as_str(), v.clone()));
        }
        attrs.extend(extra.iter().cloned());
        self.event("container", action, &record.id, &attrs);
    }

    /// The container's directory of hosts/hostname/resolv.conf: runtime data, on the runtime
    /// dir's tmpfs (podman's layout), remade at start after a reboot.
    pub fn userdata_dir(&self, id: &str) -> std::path::PathBuf {
        self.paths.runroot.join("userdata").join(id)
    }

    pub fn log_path(&self, id: &str) -> std::path::PathBuf {
        self.store.dir(id).join("ctr.log")
    }
}
