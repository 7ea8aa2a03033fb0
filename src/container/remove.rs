//! rm and rename.

use super::{ContainerError, Ctx};
use crate::state::container::Status;

/// `rm [-f] [-v]`: `volumes` also removes the container's anonymous volumes that no other
/// container uses.
pub fn remove(ctx: &Ctx, query: &str, force: bool, volumes: bool) -> Result<(), ContainerError> {
    let record = ctx.find(query)?;
    if record.state.status == Status::Restarting {
        if !force {
            return Err(ContainerError::Invalid(format!(
                "cannot remove container {query}: it is restarting: stop it first, or force the removal (-f)"
            )));
        }
        super::restart::user_stop(ctx, &record.id);
    }
    if record.state.status == Status::Running {
        if !force {
            return Err(ContainerError::RemoveRunning(record.name));
        }
        super::stop::kill(ctx, &record.id, "SIGKILL").or_else(|e| match e {
            // It exited on its own meanwhile: fine.
            ContainerError::NotRunning(_) => Ok(()),
            other => Err(other),
        })?;
    }
    let _lock = match ctx.store.lock(&record.id) {
        // A --rm container removed itself when it was killed.
        Err(crate::state::StateError::NoSuchContainer(_)) if force => return Ok(()),
        other => other?,
    };
    let record = ctx.store.load(&record.id)?;
    if record.state.status == Status::Running {
        return Err(ContainerError::RemoveRunning(record.name));
    }
    ctx.release_cgroup(&record);
    Ok(ctx.remove_container(&record, volumes)?)
}

pub fn rename(ctx: &Ctx, query: &str, new_name: &str) -> Result<(), ContainerError> {
    let id = ctx.store.resolve(query)?;
    let _lock = ctx.store.lock(&id)?;
    let mut record = ctx.store.load(&id)?;
    let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
    if record.name == new_name {
        return Err(ContainerError::Invalid(format!(
            "renaming a container with the same name as its current name: {new_name}"
        )));
    }
    ctx.store.reserve_name(new_name, &id)?;
    let old = std::mem::replace(&mut record.name, new_name.to_string());
    if let Err(e) = ctx.store.save(&record) {
        ctx.store.release_name(new_name, &id);
        return Err(e.into());
    }
    ctx.store.release_name(&old, &id);
    ctx.container_event(&record, "rename", &[("oldName", format!("/{old}"))]);
    Ok(())
}
