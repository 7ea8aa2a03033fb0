//! stop, kill, wait, restart: signals through pidfds (never to a reused pid), then waiting for
//! the monitor so the exit is recorded before we return.

use std::os::fd::OwnedFd;

use super::{ContainerError, Ctx};
use crate::ns::spawn::{pidfd_open, pidfd_send_signal, pidfd_wait};
use crate::spec::parse_signal;
use crate::state::container::{ContainerRecord, Status};
use crate::state::proc;

/// A pidfd for `pid` if it is still the process that started at `start`.
fn verified_pidfd(pid: i32, start: u64) -> Option<OwnedFd> {
    let fd = pidfd_open(pid).ok()?;
    // Checked after opening: from here the pidfd pins exactly that process.
    proc::is_alive(pid, start).then_some(fd)
}

/// Wait until the container's monitor has recorded its exit.
fn wait_for_monitor(ctx: &Ctx, record: &ContainerRecord) {
    if let Some(fd) = verified_pidfd(record.state.monitor_pid, record.state.monitor_start) {
        pidfd_wait(&fd, -1);
    }
    // The monitor may be the CLI of a foreground run that is still writing: reconcile covers a
    // monitor that died instead.
    let _ = ctx.load_live(&record.id);
}

pub fn stop(
    ctx: &Ctx,
    query: &str,
    timeout: Option<i64>,
    signal: Option<&str>,
) -> Result<(), ContainerError> {
    let record = ctx.find(query)?;
    let sig = parse_signal(signal.unwrap_or(&record.config.stop_signal))?;
    if !matches!(record.state.status, Status::Running | Status::Restarting)
        || super::restart::user_stop(ctx, &record.id)
    {
        return Ok(());
    }
    let Some(pidfd) = verified_pidfd(record.state.pid, record.state.pid_start) else {
        wait_for_monitor(ctx, &record);
        return Ok(());
    };
    let _ = pidfd_send_signal(&pidfd, sig);
    ctx.container_event(&record, "kill", &[("signal", sig.to_string())]);
    super::pause::thaw_for_signal(ctx, &record.id);
    let timeout = timeout.unwrap_or_else(|| record.config.stop_timeout());
    let exited = if timeout < 0 {
        pidfd_wait(&pidfd, -1)
    } else {
        pidfd_wait(
            &pidfd,
            (timeout.min(i64::from(i32::MAX / 1000)) * 1000) as i32,
        )
    };
    if !exited {
        let _ = pidfd_send_signal(&pidfd, libc::SIGKILL);
        ctx.container_event(&record, "kill", &[("signal", libc::SIGKILL.to_string())]);
        pidfd_wait(&pidfd, -1);
    }
    wait_for_monitor(ctx, &record);
    ctx.container_event(&record, "stop", &[]);
    Ok(())
}

pub fn kill(ctx: &Ctx, query: &str, signal: &str) -> Result<(), ContainerError> {
    let record = ctx.find(query)?;
    let sig = parse_signal(signal)?;
    // A signal meant to end it ends its restart policy too (docker's manual stop); others
    // (SIGHUP to reload, SIGUSR1…) leave the policy in force.
    let ending = [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT].contains(&sig)
        || parse_signal(&record.config.stop_signal).is_ok_and(|s| s == sig);
    if record.state.status == Status::Restarting && ending {
        super::restart::user_stop(ctx, &record.id);
        return Ok(());
    }
    if record.state.status != Status::Running {
        return Err(ContainerError::NotRunning(query.to_string()));
    }
    if ending && super::restart::user_stop(ctx, &record.id) {
        return Ok(());
    }
    let pidfd = verified_pidfd(record.state.pid, record.state.pid_start)
        .ok_or_else(|| ContainerError::NotRunning(query.to_string()))?;
    pidfd_send_signal(&pidfd, sig)
        .map_err(super::io_err(format!("sending signal {sig} to {query}")))?;
    ctx.container_event(&record, "kill", &[("signal", sig.to_string())]);
    if record.state.paused && ending {
        super::pause::thaw_for_signal(ctx, &record.id);
    }
    if sig == libc::SIGKILL {
        // Nothing can survive it: return once the exit is recorded, as docker does.
        pidfd_wait(&pidfd, -1);
        wait_for_monitor(ctx, &record);
    }
    Ok(())
}

/// Block until the container exits; returns its exit code.
pub fn wait(ctx: &Ctx, query: &str) -> Result<i32, ContainerError> {
    let id = ctx.store.resolve(query)?;
    loop {
        let record = ctx.load_live(&id)?;
        match record.state.status {
            Status::Running => wait_for_monitor(ctx, &record),
            Status::Exited | Status::Dead => return Ok(record.state.exit_code),
            // Created (or being started): docker's wait blocks until it has run and exited.
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

pub fn restart(ctx: &Ctx, query: &str, timeout: Option<i64>) -> Result<(), ContainerError> {
    stop(ctx, query, timeout, None)?;
    let id = ctx.store.resolve(query)?;
    super::start::start_detached(ctx, &id, None)
}
