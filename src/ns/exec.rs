//! `exec`: start a process inside a running container by joining its namespaces with setns.

use std::fs::File;
use std::os::fd::AsFd;

use nix::sched::{CloneFlags, setns};

use super::process::{ProcessSpec, exec_process, install_stdio};
use super::spawn::{Spawned, clone_child};
use super::sync::{self, ChildError, Stage};

/// The namespaces a container owns, in the order we join them. mnt comes last: after it,
/// paths (and /proc) are the container's.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

pub struct JoinTarget {
    pub pid: i32,
    pub pid_start: u64,
    /// The container's cgroup.procs files (empty: it has no cgroup).
    pub cgroup_procs: Vec<std::path::PathBuf>,
}

/// Fork a process into the container of `target` that runs `spec`; returns once it has exec'd.
/// `stdio` are the descriptors to give it as 0, 1 and 2.
pub fn exec_in(
    target: &JoinTarget,
    spec: &ProcessSpec,
    stdio: [i32; 3],
    tty: bool,
) -> Result<(Spawned, Option<std::os::fd::OwnedFd>), ChildError> {
    let open = |name: &str| {
        File::open(format!("/proc/{}/ns/{name}", target.pid)).map_err(|e| {
            ChildError::io(
                Stage::Setup,
                format!("opening the container's {name} namespace"),
                &e,
            )
        })
    };
    let pid_ns = open("pid")?;
    // A keep-id container has a user namespace of its own: join it first, so that we hold
    // capabilities over its other namespaces.
    let same_userns = std::fs::read_link(format!("/proc/{}/ns/user", target.pid)).ok()
        == std::fs::read_link("/proc/self/ns/user").ok();
    let user_ns = if same_userns {
        None
    } else {
        Some(open("user")?)
    };
    // A namespace the container shares with us (`--pid/--ipc/--uts host`) is not joined:
    // rootless, setns into the host's would be refused.
    let shared = |name: &str| {
        std::fs::read_link(format!("/proc/{}/ns/{name}", target.pid)).ok()
            == std::fs::read_link(format!("/proc/self/ns/{name}")).ok()
    };
    let others: Vec<(File, CloneFlags)> = NAMESPACES
        .iter()
        .filter(|(name, _)| !shared(name))
        .map(|(name, flag)| open(name).map(|f| (f, *flag)))
        .collect::<Result<_, _>>()?;
    // The pid may have been reused between reading the state and opening its namespaces.
    if !crate::state::proc::is_alive(target.pid, target.pid_start) {
        return Err(ChildError::new(
            Stage::Setup,
            libc::ESRCH,
            "the container exited",
        ));
    }
    // setns on a pid namespace only affects children: the child we clone next is born inside.
    if !shared("pid") {
        setns(pid_ns.as_fd(), CloneFlags::CLONE_NEWPID).map_err(|e| {
            ChildError::os(Stage::Setup, "joining the container's pid namespace", e)
        })?;
    }
    let pair = sync::pair().map_err(|e| ChildError::io(Stage::Setup, "socketpair", &e))?;
    let child_fd = std::os::fd::AsRawFd::as_raw_fd(&pair.child);
    // Until execve the child is the skiff binary inside the container's pid namespace: born
    // non-dumpable (it inherits this at clone, so there is no window), no container process
    // may open its /proc/PID/exe (and overwrite skiff through it: CVE-2019-5736) or its fds.
    // execve makes the command dumpable again as usual.
    let was_dumpable = nix::sys::prctl::get_dumpable().unwrap_or(true);
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| ChildError::os(Stage::Setup, "prctl(PR_SET_DUMPABLE)", e))?;
    let spawned = clone_child(0, child_fd, || {
        // Into the container's cgroup while the host's cgroupfs is still in view (before mnt).
        super::init::join_cgroup(&target.cgroup_procs)?;
        if let Some(user) = &user_ns {
            setns(user.as_fd(), CloneFlags::CLONE_NEWUSER).map_err(|e| {
                ChildError::os(Stage::Setup, "joining the container's user namespace", e)
            })?;
        }
        for (fd, flag) in &others {
            setns(fd.as_fd(), *flag).map_err(|e| {
                ChildError::os(Stage::Setup, format!("joining namespace {flag:?}"), e)
            })?;
        }
        install_stdio(stdio, 0)?;
        if tty {
            // In the container's devpts: the mount namespace is joined by now.
            let master = super::pty::open_in_container()?;
            // SAFETY: the sync socket stays open until exec; we only borrow it.
            let sock = unsafe { std::os::fd::BorrowedFd::borrow_raw(child_fd) };
            super::sync::send_fd(&sock, &master)
                .map_err(|e| ChildError::io(Stage::Setup, "sending the pty", &e))?;
        }
        exec_process(spec)
    });
    if was_dumpable {
        let _ = nix::sys::prctl::set_dumpable(true);
    }
    let spawned = spawned.map_err(|e| ChildError::io(Stage::Setup, "clone", &e))?;
    drop(pair.child);
    match sync::wait_for_exec(&pair.parent) {
        Ok(master) => Ok((spawned, master)),
        Err(e) => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(spawned.pid), None);
            Err(e)
        }
    }
}
