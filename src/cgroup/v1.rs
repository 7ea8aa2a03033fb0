//! cgroup v1: the container's cgroup is one directory in each controller's hierarchy
//! (controllers mounted together, like `cpu,cpuacct`, share a directory).

use std::path::{Path, PathBuf};

use super::limits::{Resources, Write, v1_writes};
use super::{CgroupError, CgroupManager, Stats, io_at, read_keyed, read_u64, write_file};

/// The controllers skiff uses; others (net_cls, perf_event, ...) are left alone.
pub const USED: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer",
];

/// v1 reports "unlimited" as a huge page-aligned number.
const UNLIMITED: u64 = 1 << 62;

pub struct V1 {
    /// (controller, its directory for this container).
    dirs: Vec<(String, PathBuf)>,
    /// The cgroup path relative to each hierarchy root, for walking the cpuset ancestors.
    path: PathBuf,
    cpuset_mount: Option<PathBuf>,
}

impl V1 {
    pub fn new(controllers: &[(String, PathBuf)], path: &str) -> V1 {
        let dirs = controllers
            .iter()
            .filter(|(c, _)| USED.contains(&c.as_str()))
            .map(|(c, mount)| (c.clone(), mount.join(path)))
            .collect();
        V1 {
            dirs,
            path: PathBuf::from(path),
            cpuset_mount: controllers
                .iter()
                .find(|(c, _)| c == "cpuset")
                .map(|(_, m)| m.clone()),
        }
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(c, _)| c == controller)
            .map(|(_, d)| d.as_path())
    }

    /// Each directory once (co-mounted controllers share one).
    fn unique_dirs(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for (_, d) in &self.dirs {
            if !out.contains(&d.as_path()) {
                out.push(d);
            }
        }
        out
    }

    /// A new cpuset cgroup starts with no CPUs and no memory nodes, and nothing can join it
    /// until both are set: copy them down from the parent at every level we created.
    fn init_cpuset(&self, mount: &Path) -> Result<(), CgroupError> {
        let mut dir = mount.to_path_buf();
        for part in self.path.components() {
            let parent = dir.clone();
            dir.push(part);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let p = dir.join(file);
                let current = std::fs::read_to_string(&p).map_err(io_at("reading", &p))?;
                if current.trim().is_empty() {
                    let from = parent.join(file);
                    let value = std::fs::read_to_string(&from).map_err(io_at("reading", &from))?;
                    write_file(&p, value.trim()).map_err(io_at("writing", &p))?;
                }
            }
        }
        Ok(())
    }

    fn write(&self, w: &Write) -> Result<(), CgroupError> {
        let Some(dir) = self.dir(w.controller) else {
            return Err(CgroupError::Unsupported(format!(
                "the cgroup v1 {} controller is not mounted on this host",
                w.controller
            )));
        };
        let Some(path) = w.files.iter().map(|f| dir.join(f)).find(|p| p.exists()) else {
            if w.optional {
                return Ok(());
            }
            return Err(CgroupError::Unsupported(format!(
                "this kernel does not support {} (no {} in {})",
                w.files[0],
                w.files.join(" or "),
                dir.display()
            )));
        };
        write_file(&path, &w.value).map_err(io_at("writing", &path))
    }
}

impl CgroupManager for V1 {
    fn create(&self) -> Result<(), CgroupError> {
        for dir in self.unique_dirs() {
            std::fs::create_dir_all(dir).map_err(io_at("creating", dir))?;
        }
        if let Some(mount) = &self.cpuset_mount {
            self.init_cpuset(mount)?;
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<(), CgroupError> {
        // The device rules need CAP_SYS_ADMIN over the host: only root has v1 cgroups anyway.
        let writes = v1_writes(resources, self.dir("devices").is_some());
        let mut done = vec![false; writes.len()];
        for (i, w) in writes.iter().enumerate() {
            if done[i] {
                continue;
            }
            match self.write(w) {
                // Raising memory above the current memory+swap limit: the kernel wants memsw
                // raised first (update of a live container).
                Err(CgroupError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::EINVAL)
                        && w.files[0] == "memory.limit_in_bytes" =>
                {
                    if let Some(j) = writes
                        .iter()
                        .position(|x| x.files[0] == "memory.memsw.limit_in_bytes")
                    {
                        self.write(&writes[j])?;
                        done[j] = true;
                    }
                    self.write(w)?;
                }
                other => other?,
            }
            done[i] = true;
        }
        Ok(())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.unique_dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    fn oom_kills(&self) -> u64 {
        self.dir("memory")
            .and_then(|d| read_keyed(&d.join("memory.oom_control"), "oom_kill"))
            .unwrap_or(0)
    }

    fn stats(&self) -> Stats {
        let mut s = Stats::default();
        if let Some(d) = self.dir("cpuacct") {
            s.cpu_ns = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
        }
        if let Some(d) = self.dir("memory") {
            let usage = read_u64(&d.join("memory.usage_in_bytes")).unwrap_or(0);
            let inactive = read_keyed(&d.join("memory.stat"), "total_inactive_file").unwrap_or(0);
            s.memory = usage.saturating_sub(inactive);
            s.memory_limit = read_u64(&d.join("memory.limit_in_bytes")).filter(|l| *l < UNLIMITED);
        }
        if let Some(d) = self.dir("pids") {
            s.pids = read_u64(&d.join("pids.current")).unwrap_or(0);
        }
        if let Some(d) = self.dir("blkio") {
            let text = std::fs::read_to_string(d.join("blkio.throttle.io_service_bytes_recursive"))
                .unwrap_or_default();
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if let [_, op, n] = f[..] {
                    let n: u64 = n.parse().unwrap_or(0);
                    match op {
                        "Read" => s.blk_read += n,
                        "Write" => s.blk_write += n,
                        _ => {}
                    }
                }
            }
        }
        s
    }

    fn remove(&self) -> std::io::Result<()> {
        let mut first_err = None;
        for dir in self.unique_dirs() {
            if let Err(e) = super::remove_dir_patiently(dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        let dir = self.dir("freezer").ok_or_else(|| {
            CgroupError::Unsupported(
                "this host mounts no cgroup v1 freezer hierarchy: pause needs it".into(),
            )
        })?;
        let file = dir.join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        write_file(&file, want).map_err(io_at("writing", &file))?;
        // FREEZING until every task stopped.
        super::settle("freezing the container", || {
            std::fs::read_to_string(&file).is_ok_and(|s| s.trim() == want)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::limits::{HostCpus, ResourceFlags};

    /// A fake v1 tree: one "mount" per controller, with the files the kernel would create in
    /// every new cgroup directory (tmpfs does not create them by itself).
    struct Fake {
        _tmp: tempfile::TempDir,
        controllers: Vec<(String, PathBuf)>,
    }

    const FILES: &[(&str, &[&str])] = &[
        (
            "cpu",
            &["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"],
        ),
        ("cpuset", &["cpuset.cpus", "cpuset.mems"]),
        (
            "memory",
            &[
                "memory.limit_in_bytes",
                "memory.memsw.limit_in_bytes",
                "memory.soft_limit_in_bytes",
                "memory.oom_control",
            ],
        ),
        ("pids", &["pids.max"]),
        ("blkio", &["blkio.bfq.weight"]),
        ("devices", &["devices.allow", "devices.deny"]),
    ];

    impl Fake {
        fn new() -> Fake {
            let tmp = tempfile::tempdir().expect("tmp");
            let mut controllers = Vec::new();
            for (c, _) in FILES {
                let m = tmp.path().join(c);
                std::fs::create_dir(&m).expect("mount dir");
                controllers.push((c.to_string(), m));
            }
            let cpuset = tmp.path().join("cpuset");
            std::fs::write(cpuset.join("cpuset.cpus"), "0-1\n").expect("cpus");
            std::fs::write(cpuset.join("cpuset.mems"), "0\n").expect("mems");
            Fake {
                _tmp: tmp,
                controllers,
            }
        }
        /// What the kernel does on mkdir: the new directories get their control files.
        fn populate(&self, path: &str) {
            for (c, files) in FILES {
                let mut dir = self
                    .controllers
                    .iter()
                    .find(|(n, _)| n == c)
                    .expect("c")
                    .1
                    .clone();
                for part in Path::new(path).components() {
                    dir.push(part);
                    for f in files.iter().chain(&["cgroup.procs"]) {
                        let p = dir.join(f);
                        if !p.exists() {
                            std::fs::write(p, "").expect("file");
                        }
                    }
                }
            }
        }
        fn read(&self, c: &str, path: &str, file: &str) -> String {
            let m = &self.controllers.iter().find(|(n, _)| n == c).expect("c").1;
            std::fs::read_to_string(m.join(path).join(file)).expect(file)
        }
    }

    #[test]
    fn writes_limits_into_each_controller() {
        let fake = Fake::new();
        let path = "ci/skiff-abc";
        let cg = V1::new(&fake.controllers, path);
        // create() makes the directories; the fake kernel then fills them.
        for (_, d) in &cg.dirs {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        fake.populate(path);
        cg.create().expect("create");
        assert_eq!(fake.read("cpuset", "ci", "cpuset.cpus"), "0-1");
        assert_eq!(fake.read("cpuset", path, "cpuset.mems"), "0");

        let flags = ResourceFlags {
            memory: Some("32m".into()),
            cpus: Some("0.5".into()),
            pids_limit: Some(8),
            blkio_weight: Some(300),
            ..Default::default()
        };
        let host = HostCpus {
            cpus: "0-1".into(),
            mems: "0".into(),
        };
        let r = Resources::default().merged(&flags, &host).expect("valid");
        cg.apply(&r).expect("apply");
        assert_eq!(
            fake.read("memory", path, "memory.limit_in_bytes"),
            "33554432"
        );
        assert_eq!(
            fake.read("memory", path, "memory.memsw.limit_in_bytes"),
            "67108864"
        );
        assert_eq!(fake.read("cpu", path, "cpu.cfs_quota_us"), "50000");
        assert_eq!(fake.read("pids", path, "pids.max"), "8");
        // No blkio.weight here: the BFQ name is used.
        assert_eq!(fake.read("blkio", path, "blkio.bfq.weight"), "300");
        // Each write replaces the file in the fake; the last allow rule stays.
        assert_eq!(fake.read("devices", path, "devices.deny"), "a");
        assert_eq!(fake.read("devices", path, "devices.allow"), "c 10:200 rwm");
        assert_eq!(cg.procs_files().len(), 6);
    }

    #[test]
    fn missing_controller_is_a_clear_error() {
        let fake = Fake::new();
        let only_memory: Vec<_> = fake
            .controllers
            .iter()
            .filter(|(c, _)| c == "memory")
            .cloned()
            .collect();
        let cg = V1::new(&only_memory, "skiff-x");
        let r = Resources {
            pids_limit: Some(5),
            ..Default::default()
        };
        let err = cg.apply(&r).expect_err("no pids controller");
        assert!(
            err.to_string().contains("pids controller is not mounted"),
            "{err}"
        );
    }
}
