//! `exec` (a process joining a running container, through skiff's own `ns::exec`) and `run`
//! (create + start, then wait in the foreground, forwarding signals).

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::Process;

use super::create::{CreateOptions, create, process_spec, seccomp_of, start};
use super::state::{Root, Status, write_atomic};

#[derive(Debug, Default)]
pub struct ExecOptions {
    /// A process.json (runtime-spec's Process), as containerd's shim passes it.
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub tty: bool,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
}

/// The process to exec: the file's, or the container's own with the flags laid over it.
fn exec_process(spec: &oci_spec::runtime::Spec, o: &ExecOptions) -> Result<Process, String> {
    if let Some(file) = &o.process_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("reading {}: {e}", file.display()))?;
        let p: Process = serde_json::from_str(&text)
            .map_err(|e| format!("invalid process in {}: {e}", file.display()))?;
        super::bundle::check_process(&p)?;
        return Ok(p);
    }
    if o.args.is_empty() {
        return Err("exec needs a command, or --process FILE".into());
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    let mut user = p.user().clone();
    if let Some(u) = &o.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("invalid --user {u:?}: use UID[:GID] as numbers"))
        };
        user.set_uid(num(uid)?);
        user.set_gid(num(gid)?);
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if !o.caps.is_empty() {
        let mut sets = p.capabilities().clone().unwrap_or_default();
        let mut bounding = sets.bounding().clone().unwrap_or_default();
        for c in &o.caps {
            let name = c.trim_start_matches("CAP_");
            let cap = name
                .parse::<oci_spec::runtime::Capability>()
                .map_err(|_| format!("unknown capability {c:?}"))?;
            bounding.insert(cap);
        }
        sets.set_bounding(Some(bounding));
        p.set_capabilities(Some(sets));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    super::bundle::check_process(&p)?;
    Ok(p)
}

/// Returns the exit code to leave with: 0 when detached, else the process's.
pub fn exec(root: &Root, id: &str, o: &ExecOptions) -> Result<i32, String> {
    let record = root.load(id)?;
    if root.status(&record) != Status::Running {
        return Err("cannot exec in a stopped container: container not running".into());
    }
    let spec = super::bundle::load(&record.bundle)?;
    let process = exec_process(&spec, o)?;
    let tty = process.terminal() == Some(true);
    if tty && o.console_socket.is_none() {
        return Err(
            "process.terminal is set: give --console-socket to receive the terminal".into(),
        );
    }
    let caps = super::bundle::capabilities(&process);
    let seccomp = seccomp_of(&spec, &caps)?;
    let can_setgroups = std::fs::read_to_string(format!("/proc/{}/setgroups", record.pid))
        .map(|s| s.trim() != "deny")
        .unwrap_or(true);
    let mut ps = process_spec(&process, seccomp, can_setgroups);
    ps.create_cwd = false;
    let target = crate::ns::exec::JoinTarget {
        pid: record.pid,
        pid_start: record.pid_start,
        cgroup_procs: super::ops::cgroup_of(&record)
            .map(|c| c.procs_files())
            .unwrap_or_default(),
    };
    let (spawned, master) =
        crate::ns::exec::exec_in(&target, &ps, [0, 1, 2], tty).map_err(|e| e.message)?;
    let handed_over = match (&o.console_socket, &master) {
        (Some(socket), Some(master)) => super::create::send_console(socket, master),
        _ => Ok(()),
    }
    .and_then(|()| match &o.pid_file {
        Some(f) => write_atomic(f, &spawned.pid.to_string()),
        None => Ok(()),
    });
    if let Err(e) = handed_over {
        // Nobody could reach or wait for it: the process goes too.
        let _ = crate::ns::spawn::pidfd_send_signal(&spawned.pidfd, libc::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(spawned.pid), None);
        return Err(e);
    }
    if o.detach {
        return Ok(0);
    }
    Ok(wait_forwarding(spawned.pid, &spawned.pidfd))
}

/// Wait for our child `pid`, passing on the signals a foreground runtime receives.
fn wait_forwarding(pid: i32, pidfd: &OwnedFd) -> i32 {
    use nix::sys::signal::SigSet;
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut set = SigSet::empty();
    for s in crate::monitor::FORWARDED {
        set.add(*s);
    }
    let sfd = set
        .thread_block()
        .ok()
        .and_then(|()| SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).ok());
    loop {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &sfd {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        if matches!(poll(&mut fds, PollTimeout::NONE), Err(e) if e != nix::errno::Errno::EINTR) {
            break;
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let signalled = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| !r.is_empty());
        if signalled
            && let Some(s) = &sfd
            && let Ok(Some(info)) = s.read_signal()
        {
            let _ = crate::ns::spawn::pidfd_send_signal(pidfd, info.ssi_signo as i32);
        }
        if exited {
            break;
        }
    }
    use nix::sys::wait::{WaitStatus, waitpid};
    match waitpid(nix::unistd::Pid::from_raw(pid), None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
        _ => 255,
    }
}

/// `run`: create and start; detached, return at once, else wait, delete, and exit as the
/// container did.
pub fn run(root: &Root, id: &str, o: &CreateOptions, detach: bool) -> Result<i32, String> {
    let created = create(root, id, o)?;
    if let Err(e) = start(root, id) {
        let _ = super::ops::delete(root, id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    let code = wait_forwarding(created.record.pid, &created.pidfd);
    super::ops::delete(root, id, true)?;
    Ok(code)
}
