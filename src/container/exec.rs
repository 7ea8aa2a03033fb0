//! `exec`: run another process in a running container.

use std::os::fd::AsRawFd;

use super::{ContainerError, Ctx, io_err};
use crate::monitor::{self, Relay};
use crate::ns::exec::{JoinTarget, exec_in};
use crate::ns::process::ProcessSpec;
use crate::spec::parse_env;
use crate::state::container::Status;

#[derive(Debug, Default)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub detach: bool,
    pub interactive: bool,
    pub tty: bool,
}

/// Returns the exit code of the process (0 right away with `detach`).
pub fn exec(ctx: &Ctx, query: &str, req: &ExecRequest) -> Result<i32, ContainerError> {
    let record = ctx.find(query)?;
    if record.state.status != Status::Running {
        return Err(ContainerError::NotRunning(record.id));
    }
    if record.state.paused {
        return Err(ContainerError::Invalid(format!(
            "container {query} is paused: unpause it before exec"
        )));
    }
    if req.command.is_empty() {
        return Err(ContainerError::Invalid(
            "exec needs a command to run".into(),
        ));
    }
    let host_env = |k: &str| std::env::var(k).ok();
    let mut env = record.config.env.clone();
    env.push(format!("HOSTNAME={}", record.config.hostname));
    if req.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    for e in &req.env {
        if let Some(kv) = parse_env(e, &host_env)? {
            let key = kv.split('=').next().unwrap_or("").to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(kv);
        }
    }
    if let Some(w) = &req.workdir
        && !w.starts_with('/')
    {
        return Err(ContainerError::Invalid(format!(
            "invalid working directory {w:?}: it must be an absolute path"
        )));
    }
    if let Some(u) = &req.user {
        crate::spec::validate_user(u)?;
    }
    let caps = ctx.caps_of(&record);
    let spec = ProcessSpec {
        argv: req.command.clone(),
        env,
        cwd: req
            .workdir
            .clone()
            .unwrap_or_else(|| record.config.working_dir.clone()),
        user: req
            .user
            .clone()
            .unwrap_or_else(|| record.config.user.clone()),
        caps: caps.clone(),
        create_cwd: false,
        can_setgroups: ctx.can_setgroups,
        die_with_parent: !req.detach,
        seccomp: ctx.seccomp_of(&record, &caps)?,
        no_new_privs: record.config.security.no_new_privileges,
        extra_groups: record.config.security.group_add.clone(),
        oom_score_adj: record.config.security.oom_score_adj,
        umask: None,
        cap_sets: None,
        start_gate: None,
    };
    let target = JoinTarget {
        pid: record.state.pid,
        pid_start: record.state.pid_start,
        cgroup_procs: ctx
            .cgroup_of(&record)
            .map(|cg| cg.procs_files())
            .unwrap_or_default(),
    };
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(io_err("opening /dev/null"))?;
    let n = null.as_raw_fd();
    // docker's action names the command: "exec_start: sh -c date".
    ctx.container_event(
        &record,
        &format!("exec_start: {}", req.command.join(" ")),
        &[("execID", crate::ids::random_id())],
    );
    if req.detach {
        let child = exec_in(&target, &spec, [n, n, n], req.tty)?;
        // The process now belongs to the container: its init reaps it when we exit.
        drop(child);
        return Ok(0);
    }
    if req.tty {
        // Its own pty: this terminal in raw mode, relayed until the process exits.
        let (child, master) = exec_in(&target, &spec, [n, n, n], true)?;
        drop(null);
        if let Some(master) = master {
            crate::attach::relay_local_pty(&master, &child.pidfd, req.interactive)
                .map_err(io_err("relaying the terminal"))?;
        }
        return Ok(monitor::reap(child.pid));
    }
    monitor::block_forwarded();
    let stdin = if req.interactive { 0 } else { n };
    let (child, _) = exec_in(&target, &spec, [stdin, 1, 2], false)?;
    drop(null);
    Ok(monitor::supervise(
        &child,
        None,
        Relay {
            log: None,
            echo: false,
            forward_signals: true,
            end_on_signal: false,
            interactive: None,
            tap: None,
            ticker: None,
        },
    ))
}
