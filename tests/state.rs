//! Crash safety and concurrency of the JSON state: reconcile after kill -9 of a monitor,
//! parallel runs, rm while ps runs, ps/inspect formats, images.

mod common;

use std::time::Duration;

use common::{Env, require_root, stdout};

#[test]
fn kill_9_of_the_monitor_leaves_no_ghost() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&["run", "-d", "--name", "ghost", "busybox", "sleep", "100"]);
    env.ok(&[
        "run", "-d", "--rm", "--name", "ghost-rm", "busybox", "sleep", "100",
    ]);
    let pid: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", "ghost"])
        .parse()
        .expect("pid");
    let ids: Vec<String> = ["ghost", "ghost-rm"]
        .iter()
        .map(|n| env.ok(&["inspect", "-f", "{{.Id}}", n]))
        .collect();
    for name in ["ghost", "ghost-rm"] {
        let monitor = env.monitor_of(name);
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(monitor),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill monitor");
    }
    std::thread::sleep(Duration::from_millis(300));
    // The next command notices: exited with 137, pid 1 gone, and the --rm one removed.
    let ps = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps, "ghost exited");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "ghost"]),
        "137"
    );
    // Dead: gone, or a zombie waiting for the host's init to reap it.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let running = state
        .rfind(')')
        .and_then(|i| state[i + 2..].split_whitespace().next())
        .is_some_and(|s| s != "Z" && s != "X");
    assert!(!running, "container pid 1 survived: {state}");
    env.assert_no_mounts();
    // Their cgroups went with them (the monitor that would have removed them is dead).
    for id in &ids {
        for c in std::fs::read_dir("/sys/fs/cgroup")
            .expect("cgroupfs")
            .flatten()
        {
            let dir = c.path().join(format!("skiff-{id}"));
            assert!(!dir.exists(), "cgroup left: {}", dir.display());
        }
    }
}

#[test]
fn twenty_parallel_runs_all_land() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let children: Vec<_> = (0..20)
        .map(|i| {
            env.cmd(&[
                "run",
                "-d",
                "--name",
                &format!("par{i}"),
                "busybox",
                "sleep",
                "60",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names = env.ok(&["ps", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names.len(), 20, "{names:?}");
    // Removing while listing never corrupts state or fails the listing.
    let removers: Vec<_> = (0..20)
        .map(|i| {
            env.cmd(&["rm", "-f", &format!("par{i}")])
                .spawn()
                .expect("spawn")
        })
        .collect();
    for _ in 0..10 {
        let out = env.run(&["ps", "-a"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for mut r in removers {
        assert!(r.wait().expect("wait").success());
    }
    env.assert_no_containers();
    env.assert_no_mounts();
}

#[test]
fn ps_filters_and_formats() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&["run", "--name", "done0", "busybox", "true"]);
    assert_eq!(
        env.run(&["run", "--name", "done3", "busybox", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    let up = env.ok(&[
        "run", "-d", "--name", "up", "-l", "tier=web", "busybox", "sleep", "60",
    ]);
    assert_eq!(env.ok(&["ps", "-q"]), up[..12]);
    assert_eq!(env.ok(&["ps", "-q", "--no-trunc"]), up);
    assert_eq!(
        env.ok(&["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"]),
        "done3"
    );
    let exited = env.ok(&["ps", "--filter", "status=exited", "--format", "{{.Names}}"]);
    assert_eq!(exited.lines().count(), 2, "{exited}");
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "--filter",
            "label=tier=web",
            "--format",
            "{{.Names}}"
        ]),
        "up"
    );
    assert_eq!(
        env.ok(&[
            "ps",
            "-a",
            "--filter",
            "name=done",
            "--filter",
            "exited=0",
            "--format",
            "{{.Names}}"
        ]),
        "done0"
    );
    assert_eq!(env.ok(&["ps", "-l", "--format", "{{.Names}}"]), "up");
    assert_eq!(env.ok(&["ps", "-n", "2", "-q"]).lines().count(), 2);
    assert_eq!(
        env.ok(&["ps", "-a", "--filter", "ancestor=busybox", "-q"])
            .lines()
            .count(),
        3
    );
    // table header as docker names it
    let table = env.ok(&["ps", "--format", "table {{.ID}}\t{{.Names}}"]);
    assert!(table.starts_with("CONTAINER ID   NAMES\n"), "{table}");
    let default = env.ok(&["ps"]);
    assert!(
        default.starts_with("CONTAINER ID   IMAGE     COMMAND      CREATED"),
        "{default}"
    );
    // json lines
    let json = env.ok(&["ps", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["Names"], "up");
    assert_eq!(v["Command"], "\"sleep 60\"");
}

#[test]
fn inspect_is_docker_shaped() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&["run", "--name", "i1", "-e", "A=1", "busybox", "echo", "x"]);
    let out = env.ok(&["inspect", "i1"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json array");
    let c = &v[0];
    for key in [
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "Name",
        "HostConfig",
        "Config",
        "Mounts",
        "NetworkSettings",
    ] {
        assert!(c.get(key).is_some(), "missing {key}");
    }
    for key in [
        "Status",
        "Running",
        "Paused",
        "Restarting",
        "OOMKilled",
        "Dead",
        "Pid",
        "ExitCode",
        "Error",
        "StartedAt",
        "FinishedAt",
    ] {
        assert!(c["State"].get(key).is_some(), "missing State.{key}");
    }
    assert_eq!(c["Path"], "echo");
    assert_eq!(c["Name"], "/i1");
    assert!(out.contains("\n    {"), "4-space indent like docker");
    assert_eq!(env.ok(&["inspect", "-f", "{{json .Mounts}}", "i1"]), "[]");
    assert!(
        env.ok(&["inspect", "-f", "{{range .Config.Env}}{{.}};{{end}}", "i1"])
            .contains("A=1;")
    );
    let image = env.ok(&[
        "inspect",
        "--type",
        "image",
        "-f",
        "{{.Os}} {{index .RepoTags 0}} {{.RootFS.Type}}",
        "busybox",
    ]);
    assert_eq!(image, "linux busybox:latest layers");
    env.fails(&["inspect", "-f", "{{.Broken", "i1"], 1, "invalid --format");
}

#[test]
fn images_import_rmi_refuses_in_use() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let images = env.ok(&["images"]);
    assert!(
        images.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{images}"
    );
    assert!(images.contains("busybox      latest    "), "{images}");
    env.ok(&["create", "--name", "user1", "busybox", "true"]);
    env.fails(&["rmi", "busybox"], 1, "used by container");
    env.ok(&["rm", "user1"]);
    let out = env.run(&["rmi", "busybox"]);
    let text = stdout(&out);
    assert!(
        text.contains("Untagged: busybox:latest") && text.contains("Deleted: sha256:"),
        "{text}"
    );
    assert_eq!(env.ok(&["images", "-q"]), "");
    let layers = std::fs::read_dir(env.root.join("overlay"))
        .expect("overlay")
        .count();
    assert_eq!(layers, 0, "layers of a removed image are deleted");
    env.fails(
        &["run", "--rm", "--pull=never", "busybox", "true"],
        125,
        "No such image",
    );
    env.fails(&["import", "/no/such.tar"], 1, "/no/such.tar");
    let garbage = env.dir.path().join("garbage.tar");
    std::fs::write(&garbage, b"this is not a tarball at all").expect("write");
    let out = env.run(&["import", garbage.to_str().expect("path"), "junk"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        env.ok(&["images", "-q"]),
        "",
        "a failed import registers nothing"
    );
    let tmp = std::fs::read_dir(env.root.join("tmp"))
        .expect("tmp")
        .count();
    assert_eq!(tmp, 0, "a failed import leaves no scratch files");
}

#[test]
fn hosts_files_live_in_the_runtime_dir_and_come_back_after_a_reboot() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let id = env.ok(&[
        "create",
        "--name",
        "boot1",
        "--network",
        "none",
        "--hostname",
        "h1",
        "--add-host",
        "db:10.0.0.7",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hostname; grep db /etc/hosts",
    ]);
    let userdata = env.runroot.join("userdata").join(id.trim());
    assert!(userdata.join("hosts").is_file(), "written at create");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.HostsPath}}", "boot1"]).trim(),
        userdata.join("hosts").display().to_string()
    );
    // A reboot empties the runtime dir (a tmpfs); start writes them again.
    std::fs::remove_dir_all(&userdata).expect("rm userdata");
    let out = env.ok(&["start", "-a", "boot1"]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["h1", "10.0.0.7", "db"]
    );
    env.ok(&["rm", "boot1"]);
    assert!(!userdata.exists(), "removed with the container");
}
