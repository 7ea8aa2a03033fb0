//! cgroups: which hierarchy this host has (v2, v1, or hybrid: v1 controllers beside an empty
//! v2 tree), and one container's cgroup behind the `CgroupManager` trait that `v1` and `v2`
//! implement. `limits` turns docker's flags into the files to write.

pub mod limits;
pub mod placement;
pub mod relay;
pub mod systemd;
pub mod v1;
pub mod v2;

use std::path::{Path, PathBuf};

pub use limits::{HostCpus, ResourceFlags, Resources};
pub use placement::{Driver, Placement};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hierarchy {
    /// Pure cgroup v2 at the mount point.
    Unified(PathBuf),
    /// v1 controllers, each at its own mount, possibly beside an (empty) v2 tree.
    Legacy {
        controllers: Vec<(String, PathBuf)>,
        unified: Option<PathBuf>,
    },
}

/// Read the hierarchy from a mountinfo text (so it is testable on any host).
pub fn detect(mountinfo: &str) -> Option<Hierarchy> {
    let mut controllers = Vec::new();
    let mut unified = None;
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = pre.split_whitespace().nth(4).map(PathBuf::from);
        let mut post_f = post.split_whitespace();
        let fstype = post_f.next();
        let super_opts = post_f.nth(1).unwrap_or("");
        match (fstype, mount_point) {
            (Some("cgroup2"), Some(mp)) => unified = Some(mp),
            (Some("cgroup"), Some(mp)) => {
                for opt in super_opts.split(',') {
                    if !matches!(opt, "rw" | "ro") && !opt.starts_with("name=") {
                        controllers.push((opt.to_string(), mp.clone()));
                    }
                }
            }
            _ => {}
        }
    }
    match (controllers.is_empty(), unified) {
        (true, Some(u)) => Some(Hierarchy::Unified(u)),
        (true, None) => None,
        (false, unified) => Some(Hierarchy::Legacy {
            controllers,
            unified,
        }),
    }
}

pub fn host_hierarchy() -> Option<Hierarchy> {
    detect(&std::fs::read_to_string("/proc/self/mountinfo").ok()?)
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
}

pub(crate) fn io_at(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError::Io { what, path, source }
}

/// What one container used, read from its cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// CPU time of all its processes, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use, without the page cache that can be dropped (docker's figure).
    pub memory: u64,
    /// The memory limit, None when unlimited.
    pub memory_limit: Option<u64>,
    pub pids: u64,
    pub blk_read: u64,
    pub blk_write: u64,
}

/// One container's cgroup on one hierarchy version.
pub trait CgroupManager: Send + Sync {
    /// Create the cgroup's directories (and enable controllers on the way, v2).
    fn create(&self) -> Result<(), CgroupError>;
    /// Write the limits (at start, and again for `update`).
    fn apply(&self, resources: &Resources) -> Result<(), CgroupError>;
    /// The `cgroup.procs` files a process writes "0" into to join the cgroup.
    fn procs_files(&self) -> Vec<PathBuf>;
    /// Processes the kernel's OOM killer has killed in this cgroup.
    fn oom_kills(&self) -> u64;
    fn stats(&self) -> Stats;
    /// Remove the directories; waits briefly for exiting processes, then kills stragglers.
    fn remove(&self) -> std::io::Result<()>;
    /// Freeze (`pause`) or thaw (`unpause`) every process in the cgroup; returns once the
    /// kernel says it is done.
    fn freeze(&self, frozen: bool) -> Result<(), CgroupError>;
}

/// Poll `done` until it holds, for at most two seconds (a freeze completes when every task
/// reaches a safe point; usually at once).
pub(crate) fn settle(what: &str, done: impl Fn() -> bool) -> Result<(), CgroupError> {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while !done() {
        if std::time::Instant::now() > end {
            return Err(CgroupError::Unsupported(format!(
                "{what} did not complete within 2 s"
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(())
}

/// The manager for the cgroup at `path` (relative to the hierarchy's root).
pub fn manager(h: &Hierarchy, path: &str) -> Box<dyn CgroupManager> {
    let path = path.trim_start_matches('/');
    match h {
        Hierarchy::Unified(mount) => Box::new(v2::V2::new(mount.join(path))),
        Hierarchy::Legacy { controllers, .. } => Box::new(v1::V1::new(controllers, path)),
    }
}

/// docker's cgroup v1 view inside a container: for each hierarchy holding the container's
/// cgroup at `path`, (the directory name under /sys/fs/cgroup, the host directory to bind
/// there), and the links for co-mounted controllers (`cpu -> cpu,cpuacct`).
pub fn v1_view(controllers: &[(String, PathBuf)], path: &str) -> V1View {
    let path = path.trim_start_matches('/');
    let mut view = V1View::default();
    for (controller, mount) in controllers {
        if !v1::USED.contains(&controller.as_str()) {
            continue;
        }
        let Some(name) = mount.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !view.binds.iter().any(|(n, _)| *n == name) {
            view.binds.push((name.clone(), mount.join(path)));
        }
        if *controller != name && !view.links.iter().any(|(l, _)| l == controller) {
            view.links.push((controller.clone(), name));
        }
    }
    view
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V1View {
    pub binds: Vec<(String, PathBuf)>,
    pub links: Vec<(String, String)>,
}

/// Our cgroup on the v2 hierarchy, from /proc/self/cgroup's `0::/path` line.
pub fn own_v2_cgroup(proc_cgroup: &str) -> String {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_string()
}

/// Read a file of one number ("max" or a huge v1 value: None).
pub(crate) fn read_u64(path: &Path) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    s.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
pub(crate) fn read_keyed(path: &Path, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    s.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// rmdir, patiently: after pid 1 dies the kernel kills the rest of the pid namespace, which
/// takes a moment; whatever is still there after that is killed.
pub(crate) fn remove_dir_patiently(dir: &Path) -> std::io::Result<()> {
    for attempt in 0..400 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 399 => {
                if attempt >= 40 {
                    kill_all(dir);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn kill_all(dir: &Path) {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Write one value into a cgroup file that must exist (never create it: in a real cgroupfs a
/// missing file means a missing controller or knob, and that deserves its own message).
pub(crate) fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hybrid_host_like_this_one() {
        let mi = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                  35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                  40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let Some(Hierarchy::Legacy {
            controllers,
            unified,
        }) = detect(mi)
        else {
            panic!("expected legacy");
        };
        assert_eq!(
            controllers,
            vec![
                ("cpu".to_string(), PathBuf::from("/sys/fs/cgroup/cpu")),
                ("memory".to_string(), PathBuf::from("/sys/fs/cgroup/memory"))
            ]
        );
        assert_eq!(unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn own_cgroup_line() {
        assert_eq!(
            own_v2_cgroup("4:memory:/x\n0::/user.slice/a.scope\n"),
            "/user.slice/a.scope"
        );
        assert_eq!(own_v2_cgroup(""), "/");
    }

    #[test]
    fn v1_view_binds_each_hierarchy_once() {
        let c = |n: &str, m: &str| (n.to_string(), PathBuf::from(m));
        let controllers = vec![
            c("cpu", "/sys/fs/cgroup/cpu,cpuacct"),
            c("cpuacct", "/sys/fs/cgroup/cpu,cpuacct"),
            c("memory", "/sys/fs/cgroup/memory"),
            c("freezer", "/sys/fs/cgroup/freezer"),
            c("net_cls", "/sys/fs/cgroup/net_cls"),
        ];
        let v = v1_view(&controllers, "/skiff-abc");
        assert_eq!(
            v.binds,
            vec![
                (
                    "cpu,cpuacct".to_string(),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/skiff-abc")
                ),
                (
                    "memory".to_string(),
                    PathBuf::from("/sys/fs/cgroup/memory/skiff-abc")
                ),
                // pause needs the freezer; controllers skiff does not use stay out.
                (
                    "freezer".to_string(),
                    PathBuf::from("/sys/fs/cgroup/freezer/skiff-abc")
                ),
            ]
        );
        assert_eq!(
            v.links,
            vec![
                ("cpu".to_string(), "cpu,cpuacct".to_string()),
                ("cpuacct".to_string(), "cpu,cpuacct".to_string())
            ]
        );
    }

    #[test]
    fn pure_v2() {
        let mi = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            detect(mi),
            Some(Hierarchy::Unified("/sys/fs/cgroup".into()))
        );
    }
}
