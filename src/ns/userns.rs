//! Rootless: one user namespace per user (and runtime dir), holding the user's uid as root plus
//! its /etc/subuid and /etc/subgid ranges. A tiny pause process keeps it alive; every skiff
//! command joins it with setns early in main, while still single-threaded.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;

use nix::sched::{CloneFlags, setns, unshare};
use nix::unistd::{ForkResult, Pid, fork};

use crate::config::{Paths, ensure_dir};
use crate::state::{Lock, proc};

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create a user namespace ({0}): {why}", why = userns_refused_why(&host_userns_settings()))]
    Unshare(nix::errno::Errno),
    #[error(
        "{tool} is not installed: rootless skiff needs it to map your subordinate ids (apt-get install uidmap)"
    )]
    MissingTool { tool: &'static str },
    #[error(
        "{tool} failed: {detail} (check the ranges for your user in /etc/subuid and /etc/subgid)"
    )]
    MapFailed { tool: &'static str, detail: String },
    #[error("joining the rootless user namespace of pid {pid}: {errno}")]
    Join { pid: i32, errno: nix::errno::Errno },
}

/// The host settings that decide whether an ordinary user may make a user namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UsernsSettings {
    /// kernel.apparmor_restrict_unprivileged_userns (Ubuntu 23.10+).
    pub apparmor_restrict: Option<String>,
    /// kernel.unprivileged_userns_clone (Debian's older kernels).
    pub unprivileged_clone: Option<String>,
    /// user.max_user_namespaces.
    pub max_user_namespaces: Option<String>,
}

pub fn host_userns_settings() -> UsernsSettings {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    UsernsSettings {
        apparmor_restrict: read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        unprivileged_clone: read("/proc/sys/kernel/unprivileged_userns_clone"),
        max_user_namespaces: read("/proc/sys/user/max_user_namespaces"),
    }
}

/// Which setting refuses user namespaces here, and how to allow them.
pub fn userns_refused_why(s: &UsernsSettings) -> String {
    if s.max_user_namespaces.as_deref() == Some("0") {
        return "user.max_user_namespaces is 0: sysctl -w user.max_user_namespaces=28633".into();
    }
    if s.unprivileged_clone.as_deref() == Some("0") {
        return "kernel.unprivileged_userns_clone is 0: sysctl -w kernel.unprivileged_userns_clone=1"
            .into();
    }
    if s.apparmor_restrict.as_deref() == Some("1") {
        return "AppArmor refuses unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): give skiff a profile that allows them (/etc/apparmor.d/skiff: `abi <abi/4.0>, include <tunables/global> profile skiff /usr/local/bin/skiff flags=(unconfined) { userns, }`, then apparmor_parser -r /etc/apparmor.d/skiff), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0".into();
    }
    "the kernel refuses unprivileged user namespaces here (in a container, its seccomp profile or a missing CAP_SYS_ADMIN may be why): run skiff as root, or where user namespaces are allowed".into()
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> UsernsError {
    let what = what.into();
    move |source| UsernsError::Io { what, source }
}

/// One `name:start:count` line of /etc/subuid or /etc/subgid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub start: u32,
    pub count: u32,
}

/// The ranges for a user, matched by name or by numeric id, as shadow-utils does.
pub fn parse_subid(contents: &str, user: &str, id: u32) -> Vec<IdRange> {
    contents
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            if owner != user && owner.parse::<u32>().ok() != Some(id) {
                return None;
            }
            Some(IdRange {
                start: start.parse().ok()?,
                count: count.parse().ok()?,
            })
        })
        .filter(|r| r.count > 0)
        .collect()
}

/// Arguments for newuidmap/newgidmap: container id 0 is the user, 1.. the subordinate ranges.
pub fn map_args(own: u32, ranges: &[IdRange]) -> Vec<String> {
    let mut args = vec!["0".to_string(), own.to_string(), "1".to_string()];
    let mut next = 1u32;
    for r in ranges {
        args.extend([next.to_string(), r.start.to_string(), r.count.to_string()]);
        next = next.saturating_add(r.count);
    }
    args
}

fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
            })
        })
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default()
}

/// Whether the subordinate ranges are in place, so `setgroups` works in the namespace.
pub fn has_subid_ranges(uid: u32) -> bool {
    let name = user_name(uid);
    let subuid = std::fs::read_to_string("/etc/subuid").unwrap_or_default();
    !parse_subid(&subuid, &name, uid).is_empty()
}

/// Join the user's namespace, creating it (and its pause process) when needed.
pub fn enter(paths: &Paths, uid: u32, gid: u32) -> Result<(), UsernsError> {
    ensure_dir(&paths.runroot, 0o700)
        .map_err(io(format!("creating {}", paths.runroot.display())))?;
    if let Some(pid) = live_pause(&paths.pause_pid_file()) {
        return join(pid);
    }
    let lock_path = paths.runroot.join("pause.lock");
    let _lock = Lock::exclusive_create(&lock_path).map_err(|e| UsernsError::Io {
        what: format!("locking {}", lock_path.display()),
        source: std::io::Error::other(e.to_string()),
    })?;
    // Someone may have created it while we waited for the lock.
    if let Some(pid) = live_pause(&paths.pause_pid_file()) {
        return join(pid);
    }
    let pid = create_pause(paths, uid, gid)?;
    join(pid)
}

/// The live pause process, if any.
pub fn pause_pid(paths: &Paths) -> Option<i32> {
    live_pause(&paths.pause_pid_file())
}

fn live_pause(pid_file: &Path) -> Option<i32> {
    let content = std::fs::read_to_string(pid_file).ok()?;
    let mut f = content.split_whitespace();
    let pid: i32 = f.next()?.parse().ok()?;
    let start: u64 = f.next()?.parse().ok()?;
    proc::is_alive(pid, start).then_some(pid)
}

fn join(pid: i32) -> Result<(), UsernsError> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/user"))
        .map_err(io(format!("opening the user namespace of pid {pid}")))?;
    setns(ns.as_fd(), CloneFlags::CLONE_NEWUSER)
        .map_err(|errno| UsernsError::Join { pid, errno })?;
    // Changing user namespace made this process non-dumpable, and so every container it
    // clones until that one execs: pasta could not open the new container's /proc/<pid>/ns
    // files. Everything that could look at us is the user's own.
    let _ = nix::sys::prctl::set_dumpable(true);
    Ok(())
}

fn create_pause(paths: &Paths, uid: u32, gid: u32) -> Result<i32, UsernsError> {
    let (mut ready_r, mut ready_w) = pipe()?;
    let (mut go_r, mut go_w) = pipe()?;
    // SAFETY: skiff is single-threaded here; the child only makes syscalls and pauses.
    match unsafe { fork() }.map_err(|e| io("fork")(e.into()))? {
        ForkResult::Child => {
            drop(ready_r);
            drop(go_w);
            let status: u8 = match unshare(CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0,
                Err(e) => e as i32 as u8,
            };
            let _ = ready_w.write_all(&[status]);
            drop(ready_w);
            let mut b = [0u8; 1];
            if status != 0 || go_r.read_exact(&mut b).is_err() {
                // SAFETY: plain exit of the forked child.
                unsafe { libc::_exit(1) };
            }
            become_pause()
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(go_r);
            let mut status = [0u8; 1];
            ready_r
                .read_exact(&mut status)
                .map_err(io("waiting for the pause process"))?;
            let result = if status[0] != 0 {
                Err(UsernsError::Unshare(nix::errno::Errno::from_raw(
                    i32::from(status[0]),
                )))
            } else {
                write_maps(child, uid, gid)
            };
            if let Err(e) = result {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(child, None);
                return Err(e);
            }
            let pid = child.as_raw();
            let start = proc::start_time(pid).unwrap_or(0);
            crate::state::write_atomic(
                &paths.pause_pid_file(),
                format!("{pid} {start}\n").as_bytes(),
            )
            .map_err(|e| io("writing the pause pid file")(std::io::Error::other(e.to_string())))?;
            go_w.write_all(&[1])
                .map_err(io("releasing the pause process"))?;
            Ok(pid)
        }
    }
}

fn pipe() -> Result<(std::fs::File, std::fs::File), UsernsError> {
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io("pipe")(e.into()))?;
    Ok((std::fs::File::from(r), std::fs::File::from(w)))
}

fn write_maps(child: Pid, uid: u32, gid: u32) -> Result<(), UsernsError> {
    let name = user_name(uid);
    let subuid = parse_subid(
        &std::fs::read_to_string("/etc/subuid").unwrap_or_default(),
        &name,
        uid,
    );
    let subgid = parse_subid(
        &std::fs::read_to_string("/etc/subgid").unwrap_or_default(),
        &name,
        uid,
    );
    if subuid.is_empty() || subgid.is_empty() {
        // No subordinate ids: map just ourselves, which the kernel allows without helpers.
        let p = format!("/proc/{}", child.as_raw());
        std::fs::write(format!("{p}/uid_map"), format!("0 {uid} 1\n"))
            .map_err(io("writing uid_map"))?;
        std::fs::write(format!("{p}/setgroups"), "deny\n").map_err(io("writing setgroups"))?;
        std::fs::write(format!("{p}/gid_map"), format!("0 {gid} 1\n"))
            .map_err(io("writing gid_map"))?;
        return Ok(());
    }
    run_map_tool("newuidmap", child, &map_args(uid, &subuid))?;
    run_map_tool("newgidmap", child, &map_args(gid, &subgid))
}

fn run_map_tool(tool: &'static str, child: Pid, args: &[String]) -> Result<(), UsernsError> {
    let out = Command::new(tool)
        .arg(child.as_raw().to_string())
        .args(args)
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                UsernsError::MissingTool { tool }
            } else {
                UsernsError::Io {
                    what: format!("running {tool}"),
                    source: e,
                }
            }
        })?;
    if !out.status.success() {
        return Err(UsernsError::MapFailed {
            tool,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

fn become_pause() -> ! {
    let _ = nix::unistd::setsid();
    let _ = nix::unistd::chdir("/");
    // SAFETY: closes this process's descriptors so it holds no terminal or file open.
    unsafe {
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    }
    let _ = nix::sys::prctl::set_name(c"skiff-pause");
    for sig in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        // SAFETY: ignoring a signal is always sound.
        unsafe {
            let _ = nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn);
        }
    }
    loop {
        nix::unistd::pause();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_user_namespace_names_the_setting_and_the_fix() {
        let mut s = UsernsSettings::default();
        assert!(userns_refused_why(&s).contains("run skiff as root"));
        s.apparmor_restrict = Some("1".into());
        assert!(userns_refused_why(&s).contains("apparmor_restrict_unprivileged_userns=1"));
        s.unprivileged_clone = Some("0".into());
        assert!(userns_refused_why(&s).contains("unprivileged_userns_clone=1"));
        s.max_user_namespaces = Some("0".into());
        assert!(userns_refused_why(&s).contains("user.max_user_namespaces=28633"));
    }

    #[test]
    fn subid_by_name_or_id() {
        let f = "alice:100000:65536\n1001:200000:1000\nbob:300000:0\n";
        assert_eq!(
            parse_subid(f, "alice", 1000),
            vec![IdRange {
                start: 100000,
                count: 65536
            }]
        );
        assert_eq!(
            parse_subid(f, "carol", 1001),
            vec![IdRange {
                start: 200000,
                count: 1000
            }]
        );
        assert!(
            parse_subid(f, "bob", 1002).is_empty(),
            "zero-sized range ignored"
        );
    }

    #[test]
    fn maps_put_the_user_at_zero() {
        let args = map_args(
            1000,
            &[IdRange {
                start: 100000,
                count: 65536,
            }],
        );
        assert_eq!(args, ["0", "1000", "1", "1", "100000", "65536"]);
    }
}
