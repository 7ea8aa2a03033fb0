//! cgroup v2: the container's cgroup is one directory of the unified hierarchy; controllers
//! must be enabled in every ancestor's `cgroup.subtree_control` on the way down.

use std::path::{Path, PathBuf};

use super::limits::{Resources, v2_writes};
use super::placement::V2_CONTROLLERS;
use super::{CgroupError, CgroupManager, Stats, io_at, read_keyed, read_u64, write_file};

pub struct V2 {
    dir: PathBuf,
}

impl V2 {
    pub fn new(dir: PathBuf) -> V2 {
        V2 { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Enable in `parent` what it offers of skiff's controllers and has not enabled yet, in one
    /// write: the kernel applies all of them or none, and its refusal is reported as it is.
    /// (Never called on a cgroup that holds processes: `placement` sees to that.)
    pub fn enable_controllers(parent: &Path) -> Result<(), CgroupError> {
        let offered =
            std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
        let enabled =
            std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default();
        let wanted: Vec<String> = offered
            .split_whitespace()
            .filter(|c| V2_CONTROLLERS.contains(c) && !enabled.split_whitespace().any(|e| e == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let file = parent.join("cgroup.subtree_control");
        write_file(&file, &wanted.join(" ")).map_err(|source| {
            if source.raw_os_error() == Some(libc::EBUSY) {
                // Name who is in the way: processes living in the parent itself.
                let procs =
                    std::fs::read_to_string(parent.join("cgroup.procs")).unwrap_or_default();
                let who: Vec<String> = procs
                    .split_whitespace()
                    .map(|pid| {
                        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                            .unwrap_or_default();
                        format!("{pid} ({})", comm.trim())
                    })
                    .collect();
                return CgroupError::Unsupported(format!(
                    "enabling {} in {}: the kernel refuses while processes live there: {}",
                    wanted.join(" "),
                    file.display(),
                    if who.is_empty() {
                        "none left now".to_string()
                    } else {
                        who.join(", ")
                    }
                ));
            }
            CgroupError::Io {
                what: "enabling controllers",
                path: file.clone(),
                source,
            }
        })
    }

    /// docker-in-docker's first step, for root at the root of its own cgroup namespace: move
    /// the processes living in `root` into the leaf `root/init`, so controllers can be enabled
    /// there. Repeated while processes still appear (a fork may race the move).
    pub fn evacuate(root: &Path) -> Result<(), CgroupError> {
        let init = root.join("init");
        match std::fs::create_dir(&init) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(io_at("creating", &init)(e));
            }
            _ => {}
        }
        let procs = init.join("cgroup.procs");
        for _ in 0..20 {
            let pids = std::fs::read_to_string(root.join("cgroup.procs")).unwrap_or_default();
            if pids.trim().is_empty() {
                return Ok(());
            }
            for pid in pids.split_whitespace() {
                match write_file(&procs, pid) {
                    // Gone meanwhile, or a kernel thread that cannot move: not ours to keep.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH | libc::EINVAL)) => {}
                    Err(e) => return Err(io_at("moving a process into", &procs)(e)),
                    Ok(()) => {}
                }
            }
        }
        Ok(())
    }
}

impl CgroupManager for V2 {
    fn create(&self) -> Result<(), CgroupError> {
        // Walk down from the first existing ancestor, enabling controllers in each parent;
        // on failure the directories made here go again.
        let mut missing = Vec::new();
        let mut dir = self.dir.as_path();
        while !dir.exists() {
            missing.push(dir.to_path_buf());
            dir = match dir.parent() {
                Some(p) => p,
                None => break,
            };
        }
        let mut made: Vec<&Path> = Vec::new();
        let result = missing.iter().rev().try_for_each(|d| {
            if let Some(parent) = d.parent() {
                Self::enable_controllers(parent)?;
            }
            match std::fs::create_dir(d) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    Err(io_at("creating", d)(e))
                }
                Err(_) => Ok(()),
                Ok(()) => {
                    made.push(d);
                    Ok(())
                }
            }
        });
        if result.is_err() {
            for d in made.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
        result
    }

    fn apply(&self, resources: &Resources) -> Result<(), CgroupError> {
        for w in v2_writes(resources) {
            let Some(path) = w
                .files
                .iter()
                .map(|f| self.dir.join(f))
                .find(|p| p.exists())
            else {
                if w.optional {
                    continue;
                }
                return Err(CgroupError::Unsupported(format!(
                    "the {} controller is not available for {} (no {}): enable it in the parent's cgroup.subtree_control, or delegate it to this user",
                    w.controller,
                    self.dir.display(),
                    w.files.join(" or ")
                )));
            };
            write_file(&path, &w.value).map_err(io_at("writing", &path))?;
        }
        Ok(())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.dir.join("cgroup.procs")]
    }

    fn oom_kills(&self) -> u64 {
        read_keyed(&self.dir.join("memory.events"), "oom_kill").unwrap_or(0)
    }

    fn stats(&self) -> Stats {
        let d = &self.dir;
        let usage = read_u64(&d.join("memory.current")).unwrap_or(0);
        let inactive = read_keyed(&d.join("memory.stat"), "inactive_file").unwrap_or(0);
        let mut s = Stats {
            cpu_ns: read_keyed(&d.join("cpu.stat"), "usage_usec").unwrap_or(0) * 1000,
            memory: usage.saturating_sub(inactive),
            memory_limit: read_u64(&d.join("memory.max")),
            pids: read_u64(&d.join("pids.current")).unwrap_or(0),
            ..Stats::default()
        };
        let io = std::fs::read_to_string(d.join("io.stat")).unwrap_or_default();
        for field in io.split_whitespace() {
            if let Some(n) = field.strip_prefix("rbytes=") {
                s.blk_read += n.parse::<u64>().unwrap_or(0);
            } else if let Some(n) = field.strip_prefix("wbytes=") {
                s.blk_write += n.parse::<u64>().unwrap_or(0);
            }
        }
        s
    }

    fn remove(&self) -> std::io::Result<()> {
        super::remove_dir_patiently(&self.dir)
    }

    fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let file = self.dir.join("cgroup.freeze");
        write_file(&file, if frozen { "1" } else { "0" }).map_err(io_at("writing", &file))?;
        let events = self.dir.join("cgroup.events");
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        super::settle("freezing the container", || {
            std::fs::read_to_string(&events).is_ok_and(|s| s.lines().any(|l| l == want))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::limits::{HostCpus, ResourceFlags};

    #[test]
    fn writes_limits_and_enables_controllers() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        std::fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids hugetlb",
        )
        .expect("controllers");
        std::fs::write(root.join("cgroup.subtree_control"), "").expect("subtree");
        let cg = V2::new(root.join("skiff-abc"));
        cg.create().expect("create");
        // One write for all of them (the kernel takes all or none); hugetlb is not skiff's.
        assert_eq!(
            std::fs::read_to_string(root.join("cgroup.subtree_control")).expect("read"),
            "+cpuset +cpu +io +memory +pids"
        );
        for f in [
            "memory.max",
            "memory.swap.max",
            "cpu.max",
            "pids.max",
            "cpuset.cpus",
        ] {
            std::fs::write(cg.dir.join(f), "").expect("file");
        }
        let host = HostCpus {
            cpus: "0-1".into(),
            mems: "0".into(),
        };
        let flags = ResourceFlags {
            memory: Some("32m".into()),
            cpus: Some("1.5".into()),
            pids_limit: Some(8),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        let r = Resources::default().merged(&flags, &host).expect("valid");
        cg.apply(&r).expect("apply");
        let read = |f: &str| std::fs::read_to_string(cg.dir.join(f)).expect(f);
        assert_eq!(read("memory.max"), "33554432");
        assert_eq!(read("memory.swap.max"), "33554432");
        assert_eq!(read("cpu.max"), "150000 100000");
        assert_eq!(read("pids.max"), "8");
        assert_eq!(read("cpuset.cpus"), "0");

        // A limit whose controller the parent does not offer is refused by name.
        let io = Resources {
            blkio_weight: Some(100),
            ..Default::default()
        };
        let err = cg.apply(&io).expect_err("no io files");
        assert!(
            err.to_string().contains("io controller is not available"),
            "{err}"
        );

        std::fs::remove_dir_all(&cg.dir).expect("clean fake files");
        cg.remove().expect("remove of a gone cgroup is fine");
    }

    #[test]
    fn stats_from_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let d = tmp.path();
        std::fs::write(d.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").expect("w");
        std::fs::write(d.join("memory.current"), "10485760\n").expect("w");
        std::fs::write(d.join("memory.stat"), "anon 1\ninactive_file 4096\n").expect("w");
        std::fs::write(d.join("memory.max"), "max\n").expect("w");
        std::fs::write(d.join("pids.current"), "3\n").expect("w");
        std::fs::write(
            d.join("io.stat"),
            "8:0 rbytes=100 wbytes=200 rios=1\n8:16 rbytes=1 wbytes=2\n",
        )
        .expect("w");
        std::fs::write(d.join("memory.events"), "low 0\noom 1\noom_kill 1\n").expect("w");
        let cg = V2::new(d.to_path_buf());
        let s = cg.stats();
        assert_eq!(s.cpu_ns, 1_500_000);
        assert_eq!(s.memory, 10485760 - 4096);
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.pids, 3);
        assert_eq!((s.blk_read, s.blk_write), (101, 202));
        assert_eq!(cg.oom_kills(), 1);
    }
}
