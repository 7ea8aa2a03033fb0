//! A private containerd for the runtime-mode tests: its own root, state dir and socket under
//! a temp dir, busybox imported, one ctr namespace per fixture (so the shim's runtime root,
//! `/run/containerd/runc/<namespace>`, is the fixture's own too). Stopped, unmounted and
//! removed on drop; the drop also checks that skiff-runc left no state behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{Env, binary, scratch_dir};

pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub namespace: String,
    child: std::process::Child,
}

/// `skiff-runc`: a link to the test binary, which makes it the runtime by its name.
pub fn runtime_binary() -> &'static Path {
    static LINK: OnceLock<PathBuf> = OnceLock::new();
    LINK.get_or_init(|| {
        let link = scratch_dir().join("bin/skiff-runc");
        let _ = std::os::unix::fs::symlink(binary(), &link);
        link
    })
}

/// busybox as a docker-archive tarball, saved once per test process from a skiff store.
pub fn busybox_image() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let env = Env::root();
        let path = scratch_dir().join("busybox-image.tar");
        env.ok(&[
            "save",
            "-o",
            path.to_str().expect("utf-8"),
            "busybox:latest",
        ]);
        path
    })
}

pub fn have_containerd() -> bool {
    let found = ["containerd", "ctr", "containerd-shim-runc-v2"]
        .iter()
        .all(|b| {
            Command::new("which")
                .arg(b)
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if !found {
        eprintln!("SKIP: containerd is not installed (apt-get install containerd)");
    }
    found
}

impl Containerd {
    pub fn start(tag: &str) -> Containerd {
        let dir = tempfile::Builder::new()
            .prefix("skiff-ctrd-")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             [grpc]\n  address = \"{sock}\"\n\
             [ttrpc]\n  address = \"{sock}.ttrpc\"\n\
             [plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_tcp_service = true\n  \
             stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("config");
        let log = std::fs::File::create(d.join("containerd.log")).expect("log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd");
        let namespace = format!("skiff-{tag}-{}", std::process::id());
        let ctrd = Containerd {
            dir,
            namespace,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ctrd.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start: {}",
                ctrd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let import = ctrd.ctr(&["images", "import", busybox_image().to_str().expect("utf-8")]);
        assert!(
            import.status.success(),
            "import: {}",
            super::stderr(&import)
        );
        ctrd
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The runtime root the shim gives skiff-runc for this namespace.
    pub fn runtime_root(&self) -> PathBuf {
        PathBuf::from("/run/containerd/runc").join(&self.namespace)
    }

    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.socket())
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_cmd(args).output().expect("ctr")
    }

    /// `ctr run --runc-binary skiff-runc …` with `args` after it.
    pub fn run(&self, args: &[&str]) -> Output {
        let bin = runtime_binary().to_str().expect("utf-8").to_string();
        let mut all = vec!["run", "--runc-binary", &bin];
        all.extend_from_slice(args);
        self.ctr(&all)
    }

    /// The container ids skiff-runc still holds state for.
    pub fn runtime_state(&self) -> Vec<String> {
        std::fs::read_dir(self.runtime_root())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Whatever a failed test left: tasks killed and deleted, containers removed.
        let tasks = self.ctr(&["task", "ls", "-q"]);
        for id in super::stdout(&tasks).lines() {
            let _ = self.ctr(&["task", "kill", "-s", "KILL", id]);
            let _ = self.ctr(&["task", "rm", "-f", id]);
        }
        let containers = self.ctr(&["container", "ls", "-q"]);
        for id in super::stdout(&containers).lines() {
            let _ = self.ctr(&["container", "rm", id]);
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        // Snapshot mounts of containerd's private root, if any survived.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.path().join("root"))
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir(self.runtime_root());
        // containerd's parent cgroup for the namespace (`/<namespace>/<id>` per container).
        for c in cgroup_dirs(&self.namespace) {
            let _ = std::fs::remove_dir(c);
        }
    }
}

/// Every cgroup directory named `rel` (relative to a hierarchy's root) that exists.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .chain([PathBuf::from("/sys/fs/cgroup")])
        .map(|m| m.join(rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// Mount points under `dir` still in our mount table.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.display().to_string();
    table
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}
