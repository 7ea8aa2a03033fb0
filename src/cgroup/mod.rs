//! cgroups: which hierarchy this host has. Limits, stats and the per-container cgroup come with
//! the resource-limits work; this is the detection they build on.

use std::path::{Path, PathBuf};

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

/// What a cgroup backend does for one container; v1 and v2 implement it.
pub trait CgroupManager {
    /// Create the container's cgroup(s) under `root` and return their directories.
    fn create(&self, root: &Path, name: &str) -> std::io::Result<Vec<PathBuf>>;
    fn add_process(&self, pid: i32) -> std::io::Result<()>;
    /// Remove the cgroup(s); the processes must be gone.
    fn remove(&self) -> std::io::Result<()>;
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
    fn pure_v2() {
        let mi = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(
            detect(mi),
            Some(Hierarchy::Unified("/sys/fs/cgroup".into()))
        );
    }
}
