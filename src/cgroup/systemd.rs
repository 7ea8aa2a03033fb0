//! The systemd cgroup manager: on a systemd host each container gets a transient scope,
//! `skiff-<id>.scope`, made by systemd (`StartTransientUnit`, `Delegate=yes`) in podman's and
//! docker's slices. Inside the delegated scope skiff makes two cgroups of its own:
//!
//! ```text
//! <slice>/skiff-<id>.scope/          controllers enabled here (it holds no process itself)
//!     container/                     the container's processes; its limits are written here
//!     supervisor/                    the monitor: out of the caller's (terminal's) scope, so
//!                                    closing the terminal does not kill it, and outside the
//!                                    container's limits, so an OOM kill never hits it
//! ```
//!
//! systemd owns the scope's own attributes (it may rewrite them on a reload); the limits live
//! one level down, which delegation gives to skiff, so `update` writes them there too. When the
//! monitor exits the scope is empty and systemd removes it with everything inside.
//!
//! D-Bus goes to systemd's own socket (`/run/systemd/private`, or the user manager's
//! `$XDG_RUNTIME_DIR/systemd/private`): no dbus-daemon is needed, no `Hello` or match rules,
//! and systemd sends its job signals to such direct clients unasked.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dbus::Message;
use dbus::arg::{RefArg, Variant};
use dbus::channel::Channel;
use dbus::message::MessageType;

use super::limits::Resources;
use super::v2::V2;
use super::{CgroupError, CgroupManager, write_file};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long systemd gets to make a scope (its own D-Bus timeout is 25 s).
const TIMEOUT: Duration = Duration::from_secs(20);

/// systemd's private socket for this user, when systemd runs the host (or the user's session).
pub fn socket(rootless: bool, uid: u32) -> Option<PathBuf> {
    if !Path::new("/run/systemd/system").is_dir() {
        return None;
    }
    let path = if rootless {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("/run/user/{uid}")));
        runtime.join("systemd/private")
    } else {
        PathBuf::from("/run/systemd/private")
    };
    path.exists().then_some(path)
}

/// A connection to systemd's manager.
pub struct Bus {
    channel: Channel,
}

impl Bus {
    /// Connect and authenticate. Rootless this happens before skiff joins its user namespace:
    /// the server checks the uid the client claims against the socket's peer credentials, and
    /// inside the namespace skiff would claim uid 0.
    pub fn connect(socket: &Path) -> Result<Bus, CgroupError> {
        let address = format!("unix:path={}", socket.display());
        let channel = Channel::open_private(&address).map_err(|e| {
            CgroupError::Unsupported(format!(
                "connecting to systemd at {}: {}",
                socket.display(),
                e.message().unwrap_or("refused")
            ))
        })?;
        Ok(Bus { channel })
    }

    /// Start the scope `unit` in `slice` with these processes in it, delegated, and wait for
    /// systemd's job to finish. A unit of that name still going away (the previous run of a
    /// restarted container) is waited for, then stopped.
    pub fn start_scope(
        &self,
        unit: &str,
        slice: &str,
        pids: &[u32],
        description: &str,
        delegate: bool,
    ) -> Result<(), CgroupError> {
        // A monitor being started asks its caller, which owns this connection (see relay).
        let request = super::relay::ScopeRequest {
            unit: unit.to_string(),
            slice: slice.to_string(),
            pids: pids.to_vec(),
            description: description.to_string(),
            delegate,
        };
        if let Some(done) = super::relay::start_scope(&request) {
            return done;
        }
        let deadline = Instant::now() + TIMEOUT;
        let mut stopped = false;
        loop {
            match self.start_scope_once(unit, slice, pids, description, delegate, deadline) {
                Err(Refused::Exists) if Instant::now() + Duration::from_secs(18) < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(Refused::Exists) if !stopped => {
                    stopped = true;
                    self.stop_unit(unit, deadline)?;
                }
                Err(Refused::Exists) => {
                    return Err(CgroupError::Unsupported(format!(
                        "systemd: a unit named {unit} exists and does not go away"
                    )));
                }
                Err(Refused::Other(e)) => return Err(e),
                Ok(()) => return Ok(()),
            }
        }
    }

    fn start_scope_once(
        &self,
        unit: &str,
        slice: &str,
        pids: &[u32],
        description: &str,
        delegate: bool,
        deadline: Instant,
    ) -> Result<(), Refused> {
        type Props<'a> = Vec<(&'a str, Variant<Box<dyn RefArg>>)>;
        let props: Props = vec![
            ("Description", Variant(Box::new(description.to_string()))),
            ("Slice", Variant(Box::new(slice.to_string()))),
            ("Delegate", Variant(Box::new(delegate))),
            ("PIDs", Variant(Box::new(pids.to_vec()))),
            // Gone when empty even if something in it failed, so a name never lingers.
            (
                "CollectMode",
                Variant(Box::new("inactive-or-failed".to_string())),
            ),
            // No ordering against shutdown.target and friends: a container is no service.
            ("DefaultDependencies", Variant(Box::new(false))),
        ];
        let aux: Vec<(&str, Props)> = Vec::new();
        let call = Message::new_method_call(DEST, PATH, MANAGER, "StartTransientUnit")
            .map_err(|e| Refused::Other(CgroupError::Unsupported(e)))?
            .append3(unit, "fail", props)
            .append1(aux);
        self.run_job(call, unit, deadline)
    }

    fn stop_unit(&self, unit: &str, deadline: Instant) -> Result<(), CgroupError> {
        let call = Message::new_method_call(DEST, PATH, MANAGER, "StopUnit")
            .map_err(CgroupError::Unsupported)?
            .append2(unit, "replace");
        match self.run_job(call, unit, deadline) {
            Ok(()) => Ok(()),
            Err(Refused::Exists) => Ok(()),
            Err(Refused::Other(e)) => Err(e),
        }
    }

    /// Send a call that queues a job on `unit`, then read until systemd reports the job
    /// removed (JobRemoved comes after the reply, to every direct client).
    fn run_job(&self, call: Message, unit: &str, deadline: Instant) -> Result<(), Refused> {
        let lost = |what: &str| {
            Refused::Other(CgroupError::Unsupported(format!(
                "systemd: {what} while starting {unit}"
            )))
        };
        let serial = self
            .channel
            .send(call)
            .map_err(|()| lost("the connection closed"))?;
        let mut replied = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(lost("no answer in 20 s"));
            }
            let Some(mut msg) = self
                .channel
                .blocking_pop_message(left)
                .map_err(|_| lost("the connection closed"))?
            else {
                continue;
            };
            match msg.msg_type() {
                MessageType::Error if msg.get_reply_serial() == Some(serial) => {
                    let Err(e) = msg.as_result() else { continue };
                    let name = e.name().unwrap_or("");
                    // UnitExists when starting; NoSuchUnit when stopping one already gone.
                    if name.ends_with(".UnitExists") || name.ends_with(".NoSuchUnit") {
                        return Err(Refused::Exists);
                    }
                    return Err(Refused::Other(CgroupError::Unsupported(format!(
                        "systemd refused {unit}: {}",
                        e.message().unwrap_or(name)
                    ))));
                }
                MessageType::MethodReturn if msg.get_reply_serial() == Some(serial) => {
                    replied = true;
                }
                MessageType::Signal
                    if replied
                        && msg.interface().as_deref() == Some(MANAGER)
                        && msg.member().as_deref() == Some("JobRemoved") =>
                {
                    let Ok((_id, _job, name, result)) =
                        msg.read4::<u32, dbus::Path, String, String>()
                    else {
                        continue;
                    };
                    if name != unit {
                        continue;
                    }
                    return if result == "done" {
                        Ok(())
                    } else {
                        Err(Refused::Other(CgroupError::Unsupported(format!(
                            "systemd could not start {unit}: job {result}"
                        ))))
                    };
                }
                _ => {}
            }
        }
    }
}

enum Refused {
    /// UnitExists (start) or NoSuchUnit (stop).
    Exists,
    Other(CgroupError),
}

/// The container's and the monitor's processes, placed in a new scope.
pub struct Admission<'a> {
    pub unit: &'a str,
    pub slice: &'a str,
    pub id: &'a str,
    /// The container's first process.
    pub child: i32,
    /// The monitor (this process).
    pub monitor: i32,
}

/// Make the scope and skiff's two cgroups in it, move each process into its own, enable the
/// controllers and write the limits. Returns the container's cgroup (relative to `mount`).
pub fn admit(
    bus: &Bus,
    mount: &Path,
    a: &Admission,
    resources: &Resources,
) -> Result<String, CgroupError> {
    let description = format!("skiff container {}", &a.id[..a.id.len().min(12)]);
    // A restart policy's next run: the monitor still lives in the scope's supervisor cgroup,
    // and the scope stays (asking systemd for it again would stop it, and the monitor with
    // it); the new command goes into its container cgroup.
    let monitor_at = std::fs::read_to_string(format!("/proc/{}/cgroup", a.monitor))
        .map(|c| super::own_v2_cgroup(&c).trim_matches('/').to_string())
        .unwrap_or_default();
    let scope = match monitor_at.strip_suffix("/supervisor") {
        Some(scope) if scope.ends_with(a.unit) => scope.to_string(),
        _ => {
            bus.start_scope(
                a.unit,
                a.slice,
                &[a.child as u32, a.monitor as u32],
                &description,
                true,
            )?;
            // Where systemd put it (the slice's path depends on the manager: the user's
            // lives under user@UID.service).
            let own =
                std::fs::read_to_string(format!("/proc/{}/cgroup", a.child)).unwrap_or_default();
            super::own_v2_cgroup(&own).trim_matches('/').to_string()
        }
    };
    if !scope.ends_with(a.unit) {
        return Err(CgroupError::Unsupported(format!(
            "systemd put the container in /{scope}, not in its scope {}",
            a.unit
        )));
    }
    let scope_dir = mount.join(&scope);
    let container = scope_dir.join("container");
    let supervisor = scope_dir.join("supervisor");
    for (dir, pid) in [(&container, a.child), (&supervisor, a.monitor)] {
        match std::fs::create_dir(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(super::io_at("creating", dir)(e));
            }
            _ => {}
        }
        let procs = dir.join("cgroup.procs");
        write_file(&procs, &pid.to_string())
            .map_err(super::io_at("moving a process into", &procs))?;
    }
    V2::enable_controllers(&scope_dir)?;
    V2::new(container).apply(resources)?;
    Ok(format!("{scope}/container"))
}

/// Rootless helpers that outlive any one container (the pause process that holds the user
/// namespace, the holder of the user networks' namespace) must not live in the scope of the
/// terminal that happened to start them: closing it would kill them under running
/// containers. The pause process gets a scope of its own, once; the others join it.
pub fn keep_helper_apart(bus: &Bus, pause: i32) -> Result<(), CgroupError> {
    let own = std::fs::read_to_string(format!("/proc/{pause}/cgroup")).unwrap_or_default();
    if super::own_v2_cgroup(&own)
        .rsplit('/')
        .next()
        .is_some_and(|leaf| leaf.starts_with("skiff-pause-"))
    {
        return Ok(());
    }
    bus.start_scope(
        &format!("skiff-pause-{pause}.scope"),
        "user.slice",
        &[pause as u32],
        "skiff's rootless user namespace",
        false,
    )
}

/// Put `pid` in the v2 cgroup `beside` lives in (best effort: a helper that stays where it
/// was started still works, it only shares that cgroup's fate).
pub fn join_cgroup_of(mount: &Path, pid: i32, beside: i32) {
    let own = std::fs::read_to_string(format!("/proc/{beside}/cgroup")).unwrap_or_default();
    let path = super::own_v2_cgroup(&own);
    let procs = mount
        .join(path.trim_start_matches('/'))
        .join("cgroup.procs");
    let _ = write_file(&procs, &pid.to_string());
}
