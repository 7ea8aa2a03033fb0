//! Restart policies, carried out by the detached monitor (`detached.rs`) between two runs of
//! the command, and ended by `stop`, `kill` and `rm -f`. Every step happens under the
//! container's lock, so a user's stop and the monitor's restart never cross: the stop marks
//! the record first, and the monitor reads the mark before it starts anything again.

use super::Ctx;
use crate::ns::spawn::{pidfd_open, pidfd_send_signal};
use crate::state::container::Status;
use crate::state::proc;

/// After the command ended with `code`: record the exit as `Restarting` (releasing the
/// cgroup and the network, as any exit does) and count the restart. False when the container
/// was stopped by a user meanwhile, or removed: then nothing restarts.
pub(super) fn mark_restarting(ctx: &Ctx, id: &str, code: i32) -> bool {
    let Ok(_lock) = ctx.store.lock(id) else {
        return false;
    };
    let Ok(mut record) = ctx.store.load(id) else {
        return false;
    };
    if record.state.stopped_by_user {
        return false;
    }
    let ended = super::start::record_exit(ctx, &mut record, Status::Restarting, code);
    record.restart_count += 1;
    let saved = ctx.store.save_state(&record).is_ok();
    // Given back either way: the next run, if any, takes new leases.
    super::start::release_network(ctx, &record.id, ended);
    saved
}

/// A user ends the container (`stop`, `kill`, `rm -f`), in one step under the lock so that it
/// cannot cross its monitor's restart: a container waiting out its back-off is recorded
/// Exited and its monitor, which has nothing else to do, ended (returns true); a running one
/// is marked stopped by the user before the caller signals it, so its monitor will not bring
/// it back.
pub(super) fn user_stop(ctx: &Ctx, id: &str) -> bool {
    let Ok(_lock) = ctx.store.lock(id) else {
        return false;
    };
    let Ok(mut record) = ctx.store.load(id) else {
        return false;
    };
    let restarting = record.state.status == Status::Restarting;
    if restarting {
        record.state.status = Status::Exited;
    }
    record.state.stopped_by_user = true;
    let _ = ctx.store.save_state(&record);
    if restarting {
        // Under the lock: the monitor cannot be starting the command again right now.
        let (pid, start) = (record.state.monitor_pid, record.state.monitor_start);
        if let Ok(fd) = pidfd_open(pid)
            && proc::is_alive(pid, start)
        {
            let _ = pidfd_send_signal(&fd, libc::SIGKILL);
        }
    }
    restarting
}

/// A restart that could not start the command (its image removed meanwhile, a port now
/// taken…): recorded Exited with the error, as docker records a failed start.
pub(super) fn record_start_failure(ctx: &Ctx, id: &str, e: &super::ContainerError) {
    let Ok(_lock) = ctx.store.lock(id) else {
        return;
    };
    if let Ok(mut record) = ctx.store.load(id) {
        record.state.status = Status::Exited;
        record.state.exit_code = e.exit_code();
        record.state.error = e.to_string();
        let _ = ctx.store.save_state(&record);
    }
}
