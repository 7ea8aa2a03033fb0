//! skiff as an OCI runtime: under a real containerd (its shim calling `skiff-runc`), and
//! driven directly with runc's command line over bundles made here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::containerd::{Containerd, cgroup_dirs, have_containerd, mounts_under, runtime_binary};

const IMAGE: &str = "docker.io/library/busybox:latest";

fn containerd(tag: &str) -> Option<Containerd> {
    if !common::require_root() || !have_containerd() {
        return None;
    }
    Some(Containerd::start(tag))
}

fn out(o: &Output) -> String {
    common::stdout(o)
}

fn task_status(c: &Containerd, id: &str) -> String {
    out(&c.ctr(&["task", "ls"]))
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        .unwrap_or_default()
}

fn wait_status(c: &Containerd, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while task_status(c, id) != want {
        assert!(
            Instant::now() < deadline,
            "{id}: {} not {want}",
            task_status(c, id)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// skiff-runc with this runtime root. Its output goes through files, not pipes: a created
/// container inherits the caller's stdio, and would hold a pipe open for its whole life.
fn runtime(root: &Path, args: &[&str]) -> Output {
    let outputs = tempfile::tempdir().expect("tempdir");
    let file = |name: &str| std::fs::File::create(outputs.path().join(name)).expect("file");
    let status = Command::new(runtime_binary())
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file("out"))
        .stderr(file("err"))
        .status()
        .expect("skiff-runc");
    let read = |name: &str| std::fs::read(outputs.path().join(name)).expect("read");
    Output {
        status,
        stdout: read("out"),
        stderr: read("err"),
    }
}

fn assert_left_nothing(c: &Containerd, ids: &[&str]) {
    assert!(
        c.runtime_state().is_empty(),
        "state left: {:?}",
        c.runtime_state()
    );
    for id in ids {
        let cg = cgroup_dirs(&format!("{}/{id}", c.namespace));
        assert!(cg.is_empty(), "cgroups left: {cg:?}");
    }
    let mounts = mounts_under(c.dir.path());
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
}

#[test]
fn ctr_run_gives_the_output_and_exit_code() {
    let Some(c) = containerd("rm") else { return };
    let o = c.run(&[
        "--rm",
        IMAGE,
        "rm1",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 7",
    ]);
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}{}",
        out(&o),
        common::stderr(&o)
    );
    assert_eq!(out(&o).trim(), "out");
    assert!(common::stderr(&o).contains("err"), "{}", common::stderr(&o));
    assert_left_nothing(&c, &["rm1"]);
}

/// The memory limit containerd asked for, read from the container's cgroup on the host.
fn memory_limit(c: &Containerd, id: &str) -> String {
    let rel = format!("{}/{id}", c.namespace);
    for dir in cgroup_dirs(&rel) {
        for file in ["memory.limit_in_bytes", "memory.max"] {
            if let Ok(v) = std::fs::read_to_string(dir.join(file)) {
                return v.trim().to_string();
            }
        }
    }
    String::new()
}

#[test]
fn a_detached_task_execs_pauses_and_goes_without_a_trace() {
    let Some(c) = containerd("life") else { return };
    let o = c.run(&[
        "-d",
        "--memory-limit",
        "67108864",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        IMAGE,
        "life",
        "sleep",
        "300",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert_eq!(memory_limit(&c, "life"), "67108864");
    let e = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "life",
        "sh",
        "-c",
        "echo $FOO; pwd; exit 5",
    ]);
    assert_eq!(e.status.code(), Some(5), "{}", common::stderr(&e));
    assert_eq!(out(&e), "bar\n/tmp\n");
    let pid = out(&c.ctr(&["task", "ls"]))
        .lines()
        .find(|l| l.starts_with("life "))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .expect("pid");
    assert!(out(&c.ctr(&["task", "ps", "life"])).contains(&pid));
    let state = out(&runtime(&c.runtime_root(), &["state", "life"]));
    let doc: serde_json::Value = serde_json::from_str(&state).expect("state JSON");
    assert_eq!(doc["status"], "running");
    assert_eq!(doc["pid"].to_string(), pid);
    assert!(c.ctr(&["task", "pause", "life"]).status.success());
    wait_status(&c, "life", "PAUSED");
    assert!(out(&runtime(&c.runtime_root(), &["state", "life"])).contains("\"paused\""));
    assert!(c.ctr(&["task", "resume", "life"]).status.success());
    wait_status(&c, "life", "RUNNING");
    assert!(
        c.ctr(&["task", "kill", "-s", "KILL", "life"])
            .status
            .success()
    );
    wait_status(&c, "life", "STOPPED");
    assert!(c.ctr(&["task", "rm", "life"]).status.success());
    assert!(c.ctr(&["container", "rm", "life"]).status.success());
    assert_left_nothing(&c, &["life"]);
}

#[test]
fn a_terminal_comes_through_the_console_socket() {
    let Some(c) = containerd("tty") else { return };
    let ctr = format!(
        "ctr --address {} --namespace {} run --runc-binary {} --rm -t {IMAGE} tty1 sh -c 'tty; exit 4'",
        c.socket().display(),
        c.namespace,
        runtime_binary().display()
    );
    // script(1) gives ctr the terminal it wants for -t.
    let o = Command::new("script")
        .args(["-qec", &ctr, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script");
    assert_eq!(o.status.code(), Some(4), "{}", out(&o));
    assert!(out(&o).contains("/dev/pts/0"), "{}", out(&o));
    assert_left_nothing(&c, &["tty1"]);
}

#[test]
fn read_only_root_read_only_bind_and_host_network() {
    let Some(c) = containerd("ro") else { return };
    let host = c.dir.path().join("shared");
    std::fs::create_dir_all(&host).expect("dir");
    std::fs::write(host.join("f"), "data\n").expect("file");
    let mount = format!(
        "type=bind,src={},dst=/data,options=rbind:ro",
        host.display()
    );
    let o = c.run(&[
        "--rm",
        "--read-only",
        "--mount",
        &mount,
        "--net-host",
        IMAGE,
        "ro1",
        "sh",
        "-c",
        "cat /data/f; touch /data/x || echo bind-ro; touch /x || echo root-ro; ls /sys/class/net",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = out(&o);
    assert!(text.starts_with("data\nbind-ro\nroot-ro\n"), "{text}");
    // The host's interfaces, not a fresh namespace's lone lo.
    let host_links: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("net")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        host_links.iter().all(|l| text.contains(l.as_str())),
        "{text}"
    );
    assert!(!host.join("x").exists());
    assert_left_nothing(&c, &["ro1"]);
}

#[test]
fn ten_parallel_tasks_start_and_go() {
    let Some(c) = containerd("par") else { return };
    let ids: Vec<String> = (0..10).map(|i| format!("par{i}")).collect();
    std::thread::scope(|s| {
        for id in &ids {
            let c = &c;
            s.spawn(move || {
                let o = c.run(&["-d", IMAGE, id, "sleep", "300"]);
                assert!(o.status.success(), "{id}: {}", common::stderr(&o));
            });
        }
    });
    for id in &ids {
        assert_eq!(task_status(&c, id), "RUNNING");
    }
    std::thread::scope(|s| {
        for id in &ids {
            let c = &c;
            s.spawn(move || {
                assert!(c.ctr(&["task", "kill", "-s", "KILL", id]).status.success());
                wait_status(c, id, "STOPPED");
                assert!(c.ctr(&["task", "rm", id]).status.success());
                assert!(c.ctr(&["container", "rm", id]).status.success());
            });
        }
    });
    let names: Vec<&str> = ids.iter().map(String::as_str).collect();
    assert_left_nothing(&c, &names);
}

fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let rest = &stat[stat.rfind(')').expect(")") + 2..];
    rest.split_whitespace()
        .nth(1)
        .expect("ppid")
        .parse()
        .expect("number")
}

#[test]
fn a_killed_shim_then_delete_force_leaves_nothing() {
    let Some(c) = containerd("shim") else { return };
    let o = c.run(&["-d", IMAGE, "orphan", "sleep", "300"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let state = out(&runtime(&c.runtime_root(), &["state", "orphan"]));
    let doc: serde_json::Value = serde_json::from_str(&state).expect("state");
    let pid = doc["pid"].as_i64().expect("pid") as i32;
    let shim = parent_of(pid);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill shim");
    let d = runtime(&c.runtime_root(), &["delete", "--force", "orphan"]);
    assert!(d.status.success(), "{}", common::stderr(&d));
    assert!(c.runtime_state().is_empty());
    assert!(cgroup_dirs(&format!("{}/orphan", c.namespace)).is_empty());
    let dead = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s[s.rfind(')').expect(")") + 2..].starts_with('Z'))
            .unwrap_or(true)
    };
    assert!(dead(pid), "the init survived");
    // Again, with the container gone: still 0, as runc.
    assert!(
        runtime(&c.runtime_root(), &["delete", "--force", "orphan"])
            .status
            .success()
    );
    // The dead shim could not unmount its rootfs; containerd's own cleanup is the fixture's.
    for m in mounts_under(c.dir.path()).iter().rev() {
        let _ = Command::new("umount").arg(m).status();
    }
}

/// A bundle: busybox's files as the root, a spec from `skiff-runc spec` changed by `edit`.
fn bundle(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let b = dir.join("bundle");
    std::fs::create_dir_all(b.join("rootfs")).expect("rootfs");
    let tar = Command::new("tar")
        .arg("-xf")
        .arg(common::busybox_tar())
        .arg("-C")
        .arg(b.join("rootfs"))
        .status()
        .expect("tar");
    assert!(tar.success());
    let spec = Command::new(runtime_binary())
        .args(["spec", "--bundle"])
        .arg(&b)
        .status()
        .expect("spec");
    assert!(spec.success());
    let file = b.join("config.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    doc["process"]["terminal"] = false.into();
    edit(&mut doc);
    std::fs::write(&file, doc.to_string()).expect("write");
    b
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("skiff-oci-")
        .tempdir_in("/var/tmp")
        .expect("tempdir")
}

fn hook(script: &str) -> serde_json::Value {
    serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

#[test]
fn a_bare_bundle_runs_through_create_start_kill_delete_with_hooks() {
    if !common::require_root() {
        return;
    }
    let dir = tempdir();
    let d = dir.path().display().to_string();
    let id = format!("bare-{}", std::process::id());
    let b = bundle(dir.path(), |doc| {
        doc["process"]["args"] = serde_json::json!(["sleep", "300"]);
        doc["annotations"] = serde_json::json!({"org.example.k": "v"});
        doc["hooks"] = serde_json::json!({
            "prestart": [hook(&format!("cat > {d}/prestart.json"))],
            "poststart": [hook(&format!("cat > {d}/poststart.json"))],
            "poststop": [hook(&format!("cat > {d}/poststop.json"))],
        });
    });
    let root = dir.path().join("state");
    let pid_file = dir.path().join("pid");
    let r = |args: &[&str]| runtime(&root, args);
    let created = r(&[
        "create",
        "--bundle",
        b.to_str().expect("utf-8"),
        "--pid-file",
        pid_file.to_str().expect("utf-8"),
        &id,
    ]);
    assert!(created.status.success(), "{}", common::stderr(&created));
    let state: serde_json::Value =
        serde_json::from_slice(&r(&["state", &id]).stdout).expect("state");
    assert_eq!(state["status"], "created");
    assert_eq!(state["annotations"]["org.example.k"], "v");
    assert_eq!(
        std::fs::read_to_string(&pid_file).expect("pid file"),
        state["pid"].to_string()
    );
    let prestart = std::fs::read_to_string(dir.path().join("prestart.json")).expect("prestart ran");
    assert!(prestart.contains(&format!("\"id\":\"{id}\"")), "{prestart}");
    let listed: serde_json::Value =
        serde_json::from_slice(&r(&["list", "--format", "json"]).stdout).expect("list");
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(r(&["start", &id]).status.success());
    assert!(dir.path().join("poststart.json").exists());
    let state: serde_json::Value =
        serde_json::from_slice(&r(&["state", &id]).stdout).expect("state");
    assert_eq!(state["status"], "running");
    let again = r(&["start", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(common::stderr(&again).contains("already running"));
    // In use: refused, and the running one untouched.
    let dup = r(&["create", "--bundle", b.to_str().expect("utf-8"), &id]);
    assert!(
        common::stderr(&dup).contains("container with id exists"),
        "{}",
        common::stderr(&dup)
    );
    let busy = r(&["delete", &id]);
    assert!(
        common::stderr(&busy).contains("not stopped"),
        "{}",
        common::stderr(&busy)
    );
    assert!(r(&["kill", &id, "9"]).status.success());
    let pid = state["pid"].as_i64().expect("pid") as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !out(&r(&["state", &id])).contains("\"stopped\"") {
        assert!(Instant::now() < deadline, "not stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = r(&["kill", &id]);
    assert!(common::stderr(&killed).contains("container not running"));
    assert!(r(&["delete", &id]).status.success());
    let poststop = std::fs::read_to_string(dir.path().join("poststop.json")).expect("poststop ran");
    assert!(poststop.contains("\"status\":\"stopped\""), "{poststop}");
    assert!(!root.join(&id).exists());
    assert!(cgroup_dirs(&format!("skiff-runc/{id}")).is_empty());
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
}

#[test]
fn run_in_the_foreground_exits_as_the_container_did() {
    if !common::require_root() {
        return;
    }
    let dir = tempdir();
    let id = format!("fg-{}", std::process::id());
    let b = bundle(dir.path(), |doc| {
        doc["process"]["args"] =
            serde_json::json!(["sh", "-c", "echo $0 in $(hostname) $(uname -m); exit 3"]);
        doc["process"]["env"] = serde_json::json!([]);
        doc["hostname"] = "bundlehost".into();
        doc["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
    });
    let o = runtime(
        &dir.path().join("state"),
        &["run", "--bundle", b.to_str().expect("utf-8"), &id],
    );
    assert_eq!(o.status.code(), Some(3), "{}", common::stderr(&o));
    // No PATH in the env: /bin is still searched, as runc does.
    // linux.personality LINUX32: uname says a 32-bit machine.
    let machine = if cfg!(target_arch = "x86_64") {
        "i686"
    } else {
        "armv8l"
    };
    assert_eq!(out(&o), format!("sh in bundlehost {machine}\n"));
    assert!(!dir.path().join("state").join(&id).exists());
}

#[test]
fn bad_input_is_refused_as_runc_refuses_it() {
    if !common::require_root() {
        return;
    }
    let dir = tempdir();
    let root = dir.path().join("state");
    let log = dir.path().join("log.json");
    let r = |args: &[&str]| runtime(&root, args);
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let log_arg = log.display().to_string();
    let empty_arg = empty.display().to_string();
    let o = r(&[
        "--log",
        &log_arg,
        "--log-format",
        "json",
        "create",
        "--bundle",
        &empty_arg,
        "nocfg",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).expect("log").trim()).expect("json");
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .expect("msg")
            .contains("config.json not found")
    );
    assert!(!root.join("nocfg").exists());

    let b = bundle(dir.path(), |doc| {
        doc["process"]["args"] = serde_json::json!([])
    });
    let o = r(&["create", "--bundle", b.to_str().expect("utf-8"), "badspec"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("process.args"),
        "{}",
        common::stderr(&o)
    );

    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("config.json")).expect("read"))
            .expect("json");
    doc["process"]["args"] = serde_json::json!(["no-such-command"]);
    std::fs::write(b.join("config.json"), doc.to_string()).expect("write");
    let id = format!("nocmd-{}", std::process::id());
    let o = r(&["create", "--bundle", b.to_str().expect("utf-8"), &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        common::stderr(&o).contains("executable file not found"),
        "{}",
        common::stderr(&o)
    );
    assert!(!root.join(&id).exists());
    assert!(cgroup_dirs(&format!("skiff-runc/{id}")).is_empty());

    for args in [
        vec!["state", "ghost"],
        vec!["kill", "ghost"],
        vec!["delete", "ghost"],
        vec!["start", "ghost"],
    ] {
        let o = r(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            common::stderr(&o).contains("does not exist"),
            "{args:?}: {}",
            common::stderr(&o)
        );
    }
    assert!(r(&["delete", "--force", "ghost"]).status.success());
    let o = r(&["--systemd-cgroup", "list"]);
    assert!(common::stderr(&o).contains("--systemd-cgroup"));
    let o = r(&["create", "--bundle", b.to_str().expect("utf-8"), "bad/id"]);
    assert!(common::stderr(&o).contains("invalid container id"));
    let o = r(&["kill", "ghost", "SIGNOPE"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_rootless_bundle_runs_as_an_unprivileged_user() {
    if !common::require_root() {
        return;
    }
    let (uid, gid) = common::ensure_test_user();
    let dir = tempdir();
    let b = bundle(dir.path(), |_| {});
    std::fs::remove_file(b.join("config.json")).expect("rm");
    let chown = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(dir.path())
        .status()
        .expect("chown");
    assert!(chown.success());
    let as_user = |args: &str| {
        Command::new("runuser")
            .args(["-u", common::TEST_USER, "--", "sh", "-c", args])
            .current_dir(&b)
            .output()
            .expect("runuser")
    };
    let bin = runtime_binary().display().to_string();
    let made = as_user(&format!("{bin} spec --rootless"));
    assert!(made.status.success(), "{}", common::stderr(&made));
    let file = b.join("config.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    doc["process"]["terminal"] = false.into();
    doc["process"]["args"] = serde_json::json!(["sh", "-c", "id -u; cat /proc/self/uid_map"]);
    std::fs::write(&file, doc.to_string()).expect("write");
    let state = dir.path().join("state");
    let o = as_user(&format!("{bin} --root {} run rl", state.display()));
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = out(&o);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"));
    let map: Vec<&str> = lines.next().expect("map").split_whitespace().collect();
    assert_eq!(map, vec!["0", &uid.to_string(), "1"]);
    assert!(!state.join("rl").exists());
}

#[test]
fn a_kubernetes_pod_runs_through_containerds_cri() {
    if !common::require_root() || !have_containerd() {
        return;
    }
    // The driver makes its own containerd (CRI plugin, host network), images and a Python
    // CRI client; it prints one line per step and cleans up whatever happens.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cri/run.sh");
    let o = Command::new(script)
        .arg(runtime_binary())
        .stdin(Stdio::null())
        .output()
        .expect("tests/cri/run.sh");
    let text = format!("{}{}", out(&o), common::stderr(&o));
    assert!(o.status.success(), "{text}");
    for step in [
        "RunPodSandbox",
        "ExecSync exit code",
        "UpdateContainerResources",
        "StopContainer",
        "RemovePodSandbox",
        "nothing left",
    ] {
        assert!(text.contains(&format!("ok   {step}")), "{step}: {text}");
    }
}
