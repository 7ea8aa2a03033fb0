//! Test harness: every test gets its own skiff store (root and runroot in a fresh temp dir) with
//! a busybox image imported from the host's busybox-static, so tests run in parallel without
//! seeing each other. Rootless tests run the same binary as an unprivileged user that has
//! /etc/subuid and /etc/subgid ranges. Everything is torn down in Drop, also when a test fails.

#![allow(dead_code)]

pub mod compose;
pub mod containerd;
pub mod net;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const TEST_USER: &str = "skiff-test";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub rootless: bool,
    /// A filesystem the env mounted for its store (unmounted when it goes).
    pub mounted: Option<PathBuf>,
    /// Global flags given to every command (`--storage-driver ...`).
    pub flags: Vec<String>,
}

/// Skip (loudly) unless we are root: namespaces, mounts and the test user need it.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("SKIP: this test needs root (it creates namespaces, mounts and a test user)");
    false
}

/// This test process's scratch directory (`/tmp/skiff-test-<pid>`): the copy of the binary,
/// the busybox tarball and compiled helpers. Removed when the process exits (atexit: libtest
/// ends through `exit` also when tests fail); directories of processes that died without
/// exiting (killed runs) are swept when the next test process starts.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        sweep_dead_scratch_dirs();
        let dir = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe { libc::atexit(remove_scratch_dir) };
        dir
    })
}

const SCRATCH_PREFIX: &str = "skiff-test-";

extern "C" fn remove_scratch_dir() {
    let dir = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
}

/// Remove `skiff-test-<pid>` directories whose process is gone.
fn sweep_dead_scratch_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A copy of the binary that the unprivileged test user can execute (the build tree may sit
/// under a directory it cannot enter, such as /root).
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = scratch_dir().join("bin");
        std::fs::create_dir_all(&dir).expect("bin dir");
        let dest = dir.join("skiff");
        std::fs::copy(env!("CARGO_BIN_EXE_skiff"), &dest).expect("copy binary");
        run_ok(
            Command::new("chmod")
                .args(["-R", "a+rX"])
                .arg(scratch_dir()),
        );
        dest
    })
}

/// The rootfs tarball, made once per test process.
pub fn busybox_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let path = scratch_dir().join("busybox.tar");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/busybox-rootfs.sh");
        let out = Command::new(script).output().expect("busybox-rootfs.sh");
        assert!(
            out.status.success(),
            "busybox-rootfs.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&path, out.stdout).expect("write tar");
        path
    })
}

/// A helper program of the host, by name, from the usual directories (tests that give skiff
/// a PATH of their own link it there).
pub fn host_tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The first subordinate uid of the test user (container uid 1 maps to it).
pub fn test_user_subuid_start() -> u32 {
    ensure_test_user();
    let content = std::fs::read_to_string("/etc/subuid").expect("/etc/subuid");
    content
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{TEST_USER}:")))
        .and_then(|rest| rest.split(':').next())
        .and_then(|s| s.parse().ok())
        .expect("subuid range of the test user")
}

/// Create the unprivileged test user with subordinate id ranges (idempotent, parallel-safe).
pub fn ensure_test_user() -> (u32, u32) {
    static USER: OnceLock<(u32, u32)> = OnceLock::new();
    *USER.get_or_init(|| {
        let lock = std::fs::File::create("/tmp/skiff-test-user.lock").expect("lock file");
        lock.lock().expect("lock");
        // Rootless networking (pasta) opens /dev/net/tun, which distros ship 0666; this
        // machine's is 0600.
        let _ = Command::new("chmod")
            .args(["0666", "/dev/net/tun"])
            .status();
        if Command::new("id")
            .arg(TEST_USER)
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            run_ok(Command::new("useradd").args(["-m", "-s", "/bin/sh", TEST_USER]));
        }
        for file in ["/etc/subuid", "/etc/subgid"] {
            let content = std::fs::read_to_string(file).unwrap_or_default();
            if !content
                .lines()
                .any(|l| l.starts_with(&format!("{TEST_USER}:")))
            {
                let mut c = content;
                c.push_str(&format!("{TEST_USER}:300000:65536\n"));
                std::fs::write(file, c).expect("subid");
            }
        }
        let id = |flag: &str| -> u32 {
            let o = Command::new("id")
                .args([flag, TEST_USER])
                .output()
                .expect("id");
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        (id("-u"), id("-g"))
    })
}

impl Env {
    pub fn root() -> Env {
        Env::new(false)
    }

    pub fn rootless() -> Env {
        Env::new(true)
    }

    /// An env whose store lives on a filesystem mounted for it: `overlay` (what `/var/lib`
    /// is in a CI job's container) or `tmpfs`.
    pub fn on_filesystem(rootless: bool, fs: &str) -> Env {
        Env::create(rootless, Some(fs), &[])
    }

    /// An env whose every command, the first import included, carries these global flags.
    pub fn with_flags(rootless: bool, flags: &[&str]) -> Env {
        Env::create(rootless, None, flags)
    }

    fn new(rootless: bool) -> Env {
        Env::create(rootless, None, &[])
    }

    /// An env on a mounted filesystem (`fs`) and with global flags, both optional.
    pub fn create_with(rootless: bool, fs: Option<&str>, flags: &[&str]) -> Env {
        Env::create(rootless, fs, flags)
    }

    fn create(rootless: bool, fs: Option<&str>, flags: &[&str]) -> Env {
        let dir = tempfile::Builder::new()
            .prefix("skiff-it-")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let mounted = fs.map(|fs| {
            let m = dir.path().join("m");
            for sub in ["m", "l", "u", "w"] {
                std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
            }
            let mut mount = Command::new("mount");
            match fs {
                "overlay" => mount.args(["-t", "overlay", "overlay", "-o"]).arg(format!(
                    "lowerdir={},upperdir={},workdir={}",
                    dir.path().join("l").display(),
                    dir.path().join("u").display(),
                    dir.path().join("w").display()
                )),
                other => mount.args(["-t", other, other]),
            };
            run_ok(mount.arg(&m));
            m
        });
        let base = mounted.clone().unwrap_or_else(|| dir.path().to_path_buf());
        let root = base.join("root");
        let runroot = base.join("run");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&runroot).expect("runroot");
        if rootless {
            let (uid, gid) = ensure_test_user();
            run_ok(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{uid}:{gid}"))
                    .arg(dir.path()),
            );
            run_ok(Command::new("chmod").arg("755").arg(dir.path()));
            if let Some(m) = &mounted {
                run_ok(Command::new("chmod").arg("755").arg(m));
            }
        }
        let env = Env {
            dir,
            root,
            runroot,
            rootless,
            mounted,
            flags: flags.iter().map(|f| f.to_string()).collect(),
        };
        let tar = std::fs::File::open(busybox_tar()).expect("tar");
        let out = env
            .cmd(&["import", "--change", "CMD [\"sh\"]", "-", "busybox"])
            .stdin(tar)
            .output()
            .expect("import");
        assert!(
            out.status.success(),
            "import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        env
    }

    /// A skiff command against this env's store, as root or as the test user.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let bin = binary();
        let mut c = if self.rootless {
            let mut c = Command::new("runuser");
            c.args(["-u", TEST_USER, "--"])
                .arg("env")
                .arg(format!("HOME={}", self.dir.path().display()))
                .arg(format!("XDG_RUNTIME_DIR={}", self.runroot.display()))
                .arg(bin);
            c
        } else {
            Command::new(bin)
        };
        c.arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot);
        c.args(&self.flags);
        c.args(args);
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run skiff")
    }

    /// Run and require success; returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "skiff {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Assert a failure with this exit code and a one-line error mentioning `needle`.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "skiff {args:?}: {err}");
        assert!(
            err.contains(needle),
            "skiff {args:?}: expected {needle:?} in {err:?}"
        );
        assert_eq!(
            err.trim().lines().count(),
            1,
            "one-line error expected: {err:?}"
        );
    }

    /// Container ids, running or not.
    pub fn all_ids(&self) -> Vec<String> {
        self.ok(&["ps", "-aq"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Nothing of this env is mounted anywhere.
    pub fn assert_no_mounts(&self) {
        let mi = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let me = self.dir.path().display().to_string();
        assert!(!mi.contains(&me), "leaked mount under {me}");
    }

    /// No container directory is left in the store.
    pub fn assert_no_containers(&self) {
        assert!(
            self.all_ids().is_empty(),
            "containers left: {:?}",
            self.all_ids()
        );
        let dirs: Vec<_> = std::fs::read_dir(self.root.join("containers"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(dirs.is_empty(), "container dirs left: {dirs:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.all_ids_quiet() {
            let _ = self.cmd(&["rm", "-f", &id]).output();
        }
        // Bridges and the nftables table belong to the host: remove this store's networks
        // (the last one out deletes the table).
        if !self.rootless {
            let ids = self.run(&["network", "ls", "-q", "--no-trunc"]).stdout;
            for id in String::from_utf8_lossy(&ids).lines() {
                let _ = self.cmd(&["network", "rm", id]).output();
            }
        }
        // The rootless pause process keeps the user namespace of this env alive; a failed
        // test may also have left the holder of its user networks' namespace.
        for file in ["netns.pid", "pause.pid"] {
            if let Ok(p) = std::fs::read_to_string(self.runroot.join(file))
                && let Some(pid) = p
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse::<i32>().ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if let Some(m) = &self.mounted {
            let _ = Command::new("umount").arg("-l").arg(m).output();
        }
    }
}

impl Env {
    fn all_ids_quiet(&self) -> Vec<String> {
        self.run(&["ps", "-aq"])
            .stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A throwaway docker-registry (Debian's distribution server) on 127.0.0.1, optionally with
/// htpasswd Basic auth and a self-signed TLS certificate. Killed and removed on drop.
pub struct Registry {
    pub host: String,
    pub dir: tempfile::TempDir,
    child: std::process::Child,
    /// /etc/containers/certs.d/<host> written for this registry (TLS only).
    certs_dir: Option<PathBuf>,
}

pub const REGISTRY_USER: &str = "tester";
pub const REGISTRY_PASSWORD: &str = "s3cret-pw";

impl Registry {
    pub fn start(with_auth: bool, with_tls: bool) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("skiff-registry-")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        Registry::start_in(dir, with_auth, with_tls, "")
    }

    /// In `dir`, with `extra` appended to the registry's config (an `auth:` section).
    pub fn start_in(
        dir: tempfile::TempDir,
        with_auth: bool,
        with_tls: bool,
        extra: &str,
    ) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}/data\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().display()
        );
        let mut certs_dir = None;
        if with_tls {
            // A CA of the test's own, and the registry's certificate signed by it (webpki
            // refuses a self-signed CA certificate as a server's own).
            let p = |n: &str| dir.path().join(n);
            let (ca, ca_key, crt, key, csr, ext) = (
                p("ca.crt"),
                p("ca.key"),
                p("tls.crt"),
                p("tls.key"),
                p("tls.csr"),
                p("ext.cnf"),
            );
            std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\n").expect("ext");
            let openssl = |args: &[&std::ffi::OsStr]| {
                run_ok(Command::new("openssl").args(args).stderr(Stdio::null()));
            };
            let s = |x: &str| std::ffi::OsString::from(x);
            openssl(&[
                &s("req"),
                &s("-x509"),
                &s("-newkey"),
                &s("rsa:2048"),
                &s("-nodes"),
                &s("-days"),
                &s("2"),
                &s("-subj"),
                &s("/CN=skiff-test-ca"),
                &s("-keyout"),
                ca_key.as_os_str(),
                &s("-out"),
                ca.as_os_str(),
            ]);
            openssl(&[
                &s("req"),
                &s("-newkey"),
                &s("rsa:2048"),
                &s("-nodes"),
                &s("-subj"),
                &s("/CN=127.0.0.1"),
                &s("-keyout"),
                key.as_os_str(),
                &s("-out"),
                csr.as_os_str(),
            ]);
            openssl(&[
                &s("x509"),
                &s("-req"),
                &s("-days"),
                &s("2"),
                &s("-CAcreateserial"),
                &s("-in"),
                csr.as_os_str(),
                &s("-CA"),
                ca.as_os_str(),
                &s("-CAkey"),
                ca_key.as_os_str(),
                &s("-out"),
                crt.as_os_str(),
                &s("-extfile"),
                ext.as_os_str(),
            ]);
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                crt.display(),
                key.display()
            ));
            let cd = PathBuf::from("/etc/containers/certs.d").join(&host);
            std::fs::create_dir_all(&cd).expect("certs.d");
            std::fs::copy(dir.path().join("ca.crt"), cd.join("ca.crt")).expect("ca.crt");
            certs_dir = Some(cd);
        }
        if with_auth {
            let out = Command::new("htpasswd")
                .args(["-Bbn", REGISTRY_USER, REGISTRY_PASSWORD])
                .output()
                .expect("htpasswd (apt-get install apache2-utils)");
            std::fs::write(dir.path().join("htpasswd"), out.stdout).expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}/htpasswd\n",
                dir.path().display()
            ));
        }
        config.push_str(extra);
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let reg = Registry {
            host,
            dir,
            child,
            certs_dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(&reg.host).is_ok() {
                return reg;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("docker-registry did not start on {}", reg.host);
    }

    /// Where the registry keeps a blob's bytes (to corrupt it in a test).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self.certs_dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

pub fn have_registry() -> bool {
    let ok = Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        eprintln!("SKIP: docker-registry is not installed (apt-get install docker-registry)");
    }
    ok
}

/// `--userns=auto` hands out ids of the user `containers` (podman's convention): give it the
/// upper half of the id space, as podman's docs suggest, unless the machine has a range.
pub fn ensure_auto_userns_range() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let lock = std::fs::File::create("/tmp/skiff-test-user.lock").expect("lock file");
        lock.lock().expect("lock");
        for file in ["/etc/subuid", "/etc/subgid"] {
            let mut content = std::fs::read_to_string(file).unwrap_or_default();
            if !content.lines().any(|l| l.starts_with("containers:")) {
                content.push_str("containers:2147483647:2147483648\n");
                std::fs::write(file, content).expect("subid");
            }
        }
    });
}

impl Env {
    /// Poll `inspect -f FORMAT NAME` until it prints `want`; fails the test after `secs`.
    pub fn wait_for(&self, name: &str, format: &str, want: &str, secs: u64) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let mut seen = String::new();
        while std::time::Instant::now() < end {
            seen = self.ok(&["inspect", "-f", format, name]).trim().to_string();
            if seen == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{name}: {format} is {seen:?}, not {want:?} after {secs} s");
    }

    /// The pid of the process that monitors a running container (its pid 1's parent).
    pub fn monitor_of(&self, name: &str) -> i32 {
        let pid = self.ok(&["inspect", "-f", "{{.State.Pid}}", name]);
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).expect("stat");
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        after
            .split_whitespace()
            .nth(1)
            .expect("ppid")
            .parse()
            .expect("ppid number")
    }
}
