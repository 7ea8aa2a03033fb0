//! The last steps before a container process runs its command, shared by a container's first
//! process and by `exec`: user and groups, capabilities, working directory, signals, execve.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ::caps::CapsHashSet;
use nix::errno::Errno;
use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, sigprocmask};

use super::caps;
use super::sync::{ChildError, Stage};
use super::users;

#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `-u` as given (empty: root).
    pub user: String,
    pub caps: CapsHashSet,
    /// Create the working directory when missing (docker does for `run -w`, not for `exec -w`).
    pub create_cwd: bool,
    /// Whether setgroups(2) is allowed (denied in a user namespace mapped by hand).
    pub can_setgroups: bool,
    /// Kill the process when the one that started it dies: a container's pid 1 must not
    /// outlive its monitor, but `exec -d` must outlive the CLI.
    pub die_with_parent: bool,
    /// The seccomp programs to install (none: unconfined), see `ns::seccomp`.
    pub seccomp: Vec<seccompiler::BpfProgram>,
    /// Set no_new_privs before the command (`--security-opt no-new-privileges`).
    pub no_new_privs: bool,
    /// `--group-add`: more groups, by name (the image's /etc/group) or number.
    pub extra_groups: Vec<String>,
    /// `--oom-score-adj`.
    pub oom_score_adj: Option<i64>,
    /// The umask the command starts with (None: inherited).
    pub umask: Option<u32>,
    /// An OCI process's own capability sets (None: docker's rule from `caps`).
    pub cap_sets: Option<caps::CapSets>,
    /// An OCI `create`: with everything checked, close this sync socket (the caller's "ready")
    /// and wait at this exec FIFO until `start` opens it (descriptors: sync, fifo).
    pub start_gate: Option<(std::os::fd::RawFd, std::os::fd::RawFd)>,
}

/// The gid of a `--group-add` entry: a number, or a name in the image's /etc/group.
fn group_id(entry: &str, group_file: &str) -> Option<u32> {
    entry.parse().ok().or_else(|| {
        group_file.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(entry))
                .then(|| f.nth(1)?.parse().ok())
                .flatten()
        })
    })
}

/// Switch to the container's user, enter its working directory and exec its command.
/// Called inside the container's mount namespace with the container's root as `/`.
pub fn exec_process(spec: &ProcessSpec) -> Result<Infallible, ChildError> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let user = users::resolve(&spec.user, &passwd, &group)
        .map_err(|e| ChildError::new(Stage::User, libc::ENOENT, e.to_string()))?;

    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }

    if let Some(adj) = spec.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            ChildError::io(Stage::Setup, format!("setting oom_score_adj to {adj}"), &e)
        })?;
    }
    caps::limit_bounding(&spec.caps)?;
    // Keep the permitted set across setuid only as long as needed to set it explicitly below.
    if spec.can_setgroups {
        let mut all = user.groups.clone();
        for entry in &spec.extra_groups {
            let gid = group_id(entry, &group).ok_or_else(|| {
                ChildError::new(
                    Stage::User,
                    libc::ENOENT,
                    format!("--group-add {entry}: no such group in the image's /etc/group"),
                )
            })?;
            if !all.contains(&gid) {
                all.push(gid);
            }
        }
        let gids: Vec<nix::unistd::Gid> =
            all.iter().map(|g| nix::unistd::Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&gids)
            .map_err(|e| ChildError::os(Stage::User, format!("setgroups {:?}", user.groups), e))?;
    }
    if spec.create_cwd {
        // Made while still root and handed to the user, as docker does for a missing -w.
        create_cwd(&spec.cwd, user.uid, user.gid)?;
    }
    if !spec.no_new_privs {
        // Without no_new_privs installing a filter needs CAP_SYS_ADMIN: before the switch
        // to the container's user, which may drop it. What follows until execve is on the
        // allow-list (setgroups, setres[ug]id, capset, prctl, chdir, execve).
        super::seccomp::install(&spec.seccomp)?;
    }
    if spec.cap_sets.is_some() {
        // Keep the permitted set across setuid: the sets are then cut to what was asked.
        nix::sys::prctl::set_keepcaps(true)
            .map_err(|e| ChildError::os(Stage::Setup, "prctl(PR_SET_KEEPCAPS)", e))?;
    }
    let gid = nix::unistd::Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| ChildError::os(Stage::User, format!("setgid {}", user.gid), e))?;
    let uid = nix::unistd::Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid)
        .map_err(|e| ChildError::os(Stage::User, format!("setuid {}", user.uid), e))?;
    match &spec.cap_sets {
        Some(sets) => {
            caps::apply_sets(sets)?;
            let _ = nix::sys::prctl::set_keepcaps(false);
        }
        None => caps::apply_for_user(user.uid, &spec.caps)?,
    }

    nix::unistd::chdir(spec.cwd.as_str())
        .map_err(|e| ChildError::os(Stage::Cwd, format!("chdir to {}", spec.cwd), e))?;
    let program = find_program(&spec.argv, &env)?;
    reset_signals();
    // A uid change clears the parent-death signal: set it again so the container dies with
    // its monitor instead of running on unsupervised.
    if spec.die_with_parent {
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    }

    let argv = to_cstrings(&spec.argv)?;
    let envp = to_cstrings(&env)?;
    if let Some(mask) = spec.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if spec.no_new_privs {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| ChildError::os(Stage::Setup, "prctl(PR_SET_NO_NEW_PRIVS)", e))?;
        super::seccomp::install(&spec.seccomp)?;
    }
    if let Some((sync_fd, fifo_fd)) = spec.start_gate {
        wait_for_start(sync_fd, fifo_fd);
    }
    let err = nix::unistd::execve(&program, &argv, &envp)
        .err()
        .unwrap_or(Errno::EINVAL);
    Err(exec_error(&spec.argv[0], err))
}

/// An OCI container between `create` and `start`: tell the caller we are ready by closing
/// the sync socket, then block opening the exec FIFO for writing until `start` opens it for
/// reading. Past the socket nobody hears an error: one here ends the process (exit 1).
fn wait_for_start(sync_fd: std::os::fd::RawFd, fifo_fd: std::os::fd::RawFd) {
    // SAFETY: our own copy of the socket, not used after this.
    unsafe { libc::close(sync_fd) };
    let path = format!("/proc/self/fd/{fifo_fd}");
    let opened = std::fs::OpenOptions::new().write(true).open(&path);
    let written = opened.and_then(|mut f| std::io::Write::write_all(&mut f, b"0"));
    // SAFETY: the O_PATH descriptor of the FIFO is not needed past this point.
    unsafe { libc::close(fifo_fd) };
    if let Err(e) = written {
        eprintln!("skiff: waiting for start on the exec FIFO: {e}");
        // SAFETY: _exit in this single-threaded child.
        unsafe { libc::_exit(1) };
    }
}

fn exec_error(cmd: &str, err: Errno) -> ChildError {
    match err {
        Errno::ENOENT => ChildError::new(
            Stage::Exec,
            libc::ENOENT,
            format!("exec: \"{cmd}\": no such file or directory"),
        ),
        Errno::EACCES => ChildError::new(
            Stage::Exec,
            libc::EACCES,
            format!("exec: \"{cmd}\": permission denied"),
        ),
        other => ChildError::os(Stage::Exec, format!("exec: \"{cmd}\""), other),
    }
}

fn create_cwd(cwd: &str, uid: u32, gid: u32) -> Result<(), ChildError> {
    if Path::new(cwd).is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(cwd)
        .map_err(|e| ChildError::io(Stage::Cwd, format!("creating working directory {cwd}"), &e))?;
    nix::unistd::chown(
        cwd,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(|e| ChildError::os(Stage::Cwd, format!("chown {cwd}"), e))
}

/// execvp's search, with the container's PATH rather than ours.
fn find_program(argv: &[String], env: &[String]) -> Result<CString, ChildError> {
    let cmd = argv
        .first()
        .ok_or_else(|| ChildError::new(Stage::Exec, libc::ENOENT, "no command given"))?;
    if cmd.contains('/') {
        return CString::new(cmd.as_bytes()).map_err(|_| {
            ChildError::new(Stage::Exec, libc::EINVAL, "command contains a NUL byte")
        });
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(crate::spec::DEFAULT_PATH);
    let mut denied = None;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate: PathBuf = Path::new(dir).join(cmd);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file()
                && nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok()
            {
                return CString::new(candidate.as_os_str().as_bytes()).map_err(|_| {
                    ChildError::new(Stage::Exec, libc::EINVAL, "path contains a NUL byte")
                });
            }
            denied.get_or_insert(candidate);
        }
    }
    match denied {
        Some(p) => Err(ChildError::new(
            Stage::Exec,
            libc::EACCES,
            format!("exec: \"{cmd}\": {}: permission denied", p.display()),
        )),
        None => Err(ChildError::new(
            Stage::Exec,
            libc::ENOENT,
            format!("exec: \"{cmd}\": executable file not found in $PATH"),
        )),
    }
}

fn to_cstrings(items: &[String]) -> Result<Vec<CString>, ChildError> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes()).map_err(|_| {
                ChildError::new(
                    Stage::Exec,
                    libc::EINVAL,
                    format!("argument {s:?} contains a NUL byte"),
                )
            })
        })
        .collect()
}

/// Undo what skiff itself changed: Rust ignores SIGPIPE and the monitor blocks the signals it
/// forwards. Both would otherwise be inherited across execve.
pub fn reset_signals() {
    // SAFETY: installing SIG_DFL is always sound.
    unsafe {
        let _ = nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Make `stdio` the process's 0, 1 and 2, and mark every other inherited descriptor (from
/// 3 + `keep` on) close-on-exec: what the invoking shell passed us must not reach the container (the sync
/// socket already is close-on-exec).
pub fn install_stdio(stdio: [i32; 3], keep: u32) -> Result<(), ChildError> {
    for (target, fd) in stdio.iter().enumerate() {
        // SAFETY: dup2 onto 0-2 of this single-threaded child.
        if *fd != target as i32 && unsafe { libc::dup2(*fd, target as i32) } < 0 {
            return Err(ChildError::io(
                Stage::Setup,
                "dup2 stdio",
                &std::io::Error::last_os_error(),
            ));
        }
    }
    // SAFETY: only changes the close-on-exec flag of descriptors >= 3.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32 + keep,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_add_takes_numbers_and_names() {
        let groups = "root:x:0:\naudio:x:29:\nstaff:x:50:alice\n";
        assert_eq!(group_id("29", groups), Some(29));
        assert_eq!(group_id("staff", groups), Some(50));
        assert_eq!(group_id("video", groups), None);
    }
}
