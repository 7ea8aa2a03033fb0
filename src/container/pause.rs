//! `pause` / `unpause`: every process of the container frozen through its cgroup (v1
//! `freezer.state`, v2 `cgroup.freeze`). The record keeps `Running` with `paused` set, as
//! docker's State does (`Status: paused`, `Running: true`, `Paused: true`).

use super::{ContainerError, Ctx};
use crate::state::container::Status;

/// Freeze (`true`) or thaw the container named `query`.
pub fn set_paused(ctx: &Ctx, query: &str, paused: bool) -> Result<(), ContainerError> {
    let found = ctx.find(query)?;
    let _lock = ctx.store.lock(&found.id)?;
    let mut record = ctx.store.load(&found.id)?;
    if record.state.status != Status::Running {
        return Err(ContainerError::Invalid(format!(
            "container {query} is not running"
        )));
    }
    match (paused, record.state.paused) {
        (true, true) => {
            return Err(ContainerError::Invalid(format!(
                "container {query} is already paused"
            )));
        }
        (false, false) => {
            return Err(ContainerError::Invalid(format!(
                "container {query} is not paused"
            )));
        }
        _ => {}
    }
    let cgroup = ctx.cgroup_of(&record).ok_or_else(|| {
        ContainerError::Invalid(format!(
            "cannot pause container {query}: it has no cgroup of its own (it was started with --cgroups disabled, or rootless without a delegated cgroup)"
        ))
    })?;
    cgroup.freeze(paused).map_err(|e| {
        ContainerError::Invalid(format!(
            "cannot {} container {query}: {e}",
            if paused { "pause" } else { "unpause" }
        ))
    })?;
    record.state.paused = paused;
    ctx.store.save_state(&record)?;
    ctx.container_event(&record, if paused { "pause" } else { "unpause" }, &[]);
    Ok(())
}

/// After a signal meant for a paused container: thaw it so that the signal is delivered
/// (a frozen process does not even die of SIGKILL), as docker does for `stop` and `kill`.
pub(super) fn thaw_for_signal(ctx: &Ctx, id: &str) {
    let Ok(_lock) = ctx.store.lock(id) else {
        return;
    };
    let Ok(mut record) = ctx.store.load(id) else {
        return;
    };
    if !record.state.paused {
        return;
    }
    if let Some(cg) = ctx.cgroup_of(&record) {
        let _ = cg.freeze(false);
    }
    record.state.paused = false;
    let _ = ctx.store.save_state(&record);
}
