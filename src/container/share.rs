//! Namespaces a container shares with another one (`--network`, `--pid`, `--ipc
//! container:X`): finding X's, joining it for one clone, and remembering who shares a network
//! namespace so that the veths are not taken from a namespace that lives on.

use super::{ContainerError, Ctx, io_err};
use crate::spec::NetworkMode;
use crate::state::container::{ContainerRecord, Status};
use crate::state::proc;

/// Another running container's namespace of `kind` (`net`, `pid`, `ipc`), with its record;
/// `what` names it in errors ("network", "pid namespace").
pub(super) fn other_namespace(
    ctx: &Ctx,
    target: &str,
    kind: &str,
    what: &str,
) -> Result<(std::fs::File, ContainerRecord), ContainerError> {
    let other = ctx.find(target).map_err(|_| {
        ContainerError::Invalid(format!(
            "cannot join the {what} of container {target}: No such container"
        ))
    })?;
    if other.state.status != Status::Running
        || !proc::is_alive(other.state.pid, other.state.pid_start)
    {
        return Err(ContainerError::Invalid(format!(
            "cannot join the {what} of container {target}: it is not running"
        )));
    }
    let ns = std::fs::File::open(format!("/proc/{}/ns/{kind}", other.state.pid))
        .map_err(io_err(format!("opening the {what} of {target}")))?;
    Ok((ns, other))
}

/// While alive, children are born in another pid namespace; dropped, ours again.
pub(super) struct PidSwitch {
    own: std::fs::File,
}

impl PidSwitch {
    pub(super) fn enter(other: std::fs::File) -> Result<PidSwitch, ContainerError> {
        let own = std::fs::File::open("/proc/self/ns/pid")
            .map_err(io_err("opening our own pid namespace"))?;
        nix::sched::setns(&other, nix::sched::CloneFlags::CLONE_NEWPID).map_err(|e| {
            ContainerError::Invalid(format!("joining the other container's pid namespace: {e}"))
        })?;
        Ok(PidSwitch { own })
    }
}

impl Drop for PidSwitch {
    fn drop(&mut self) {
        let _ = nix::sched::setns(&self.own, nix::sched::CloneFlags::CLONE_NEWPID);
    }
}

/// `--network container:X`: X's network namespace, X running; X is told its namespace may
/// outlive it (see `namespace_shared`).
pub(super) fn shared_netns(
    ctx: &Ctx,
    record: &ContainerRecord,
) -> Result<Option<std::fs::File>, ContainerError> {
    if record.config.network != NetworkMode::Container {
        return Ok(None);
    }
    let target = &record.config.net.container;
    let (ns, other) = other_namespace(ctx, target, "net", "network")?;
    let _ = std::fs::write(
        ctx.userdata_dir(&other.id)
            .join(format!("netns-shared-with.{}", record.id)),
        b"",
    );
    Ok(Some(ns))
}

/// Whether a running container joined this one's network namespace (`container:` mode):
/// then the namespace, and its veths, outlive this container.
pub(super) fn namespace_shared(ctx: &Ctx, id: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(ctx.userdata_dir(id)) else {
        return false;
    };
    let mut shared = false;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(other) = name.strip_prefix("netns-shared-with.") else {
            continue;
        };
        match ctx.store.load(other) {
            Ok(r)
                if r.state.status == Status::Running
                    && proc::is_alive(r.state.pid, r.state.pid_start) =>
            {
                shared = true;
            }
            _ => {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    shared
}
