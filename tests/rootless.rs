//! The same commands as an unprivileged user with subordinate ids.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{Env, ensure_test_user, require_root, stdout, test_user_subuid_start};

#[test]
fn rootless_run_exec_stop_and_ownership() {
    if !require_root() {
        return;
    }
    let env = Env::rootless();
    let (uid, _) = ensure_test_user();
    let out = env.run(&["run", "--rm", "busybox", "sh", "-c", "id -u; echo hello"]);
    assert_eq!(
        stdout(&out),
        "0\nhello\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    env.fails(
        &["run", "--rm", "busybox", "no-such-cmd"],
        127,
        "executable file not found",
    );

    let id = env.ok(&["run", "-d", "--name", "r1", "busybox", "sh", "-c",
        "echo data > /root-file; chown 1000:1000 /root-file2 2>/dev/null; touch /sub-file; chown 1000 /sub-file; sleep 60"]);
    assert_eq!(env.ok(&["exec", "r1", "id", "-u"]), "0");
    assert_eq!(env.ok(&["exec", "-u", "nobody", "r1", "id", "-u"]), "65534");
    // What root in the container writes belongs to the user on the host; other container
    // uids map into the user's subordinate range.
    let upper = env.root.join("containers").join(&id).join("upper");
    let wait_file = |p: &std::path::Path| {
        for _ in 0..100 {
            if p.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    wait_file(&upper.join("sub-file"));
    assert_eq!(
        std::fs::metadata(upper.join("root-file"))
            .expect("root-file")
            .uid(),
        uid
    );
    assert_eq!(
        std::fs::metadata(upper.join("sub-file"))
            .expect("sub-file")
            .uid(),
        test_user_subuid_start() + 999
    );
    let ps = env.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps, "r1 running");
    env.ok(&["stop", "-t", "1", "r1"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "r1"]),
        "137"
    );
    env.ok(&["rm", "r1"]);
    env.assert_no_containers();
    env.assert_no_mounts();
}

#[test]
fn rootless_defaults_to_the_users_xdg_dirs() {
    if !require_root() {
        return;
    }
    let env = Env::rootless();
    // Without --root/--runroot: ~/.local/share/skiff and $XDG_RUNTIME_DIR/skiff.
    let home = env.dir.path();
    let xdg_run = env.runroot.join("xdg");
    std::fs::create_dir_all(&xdg_run).expect("xdg dir");
    let (uid, gid) = ensure_test_user();
    nix::unistd::chown(&xdg_run, Some(uid.into()), Some(gid.into())).expect("chown");
    let out = std::process::Command::new("runuser")
        .args(["-u", common::TEST_USER, "--", "env"])
        .arg(format!("HOME={}", home.display()))
        .arg(format!("XDG_RUNTIME_DIR={}", xdg_run.display()))
        .arg(common::binary())
        .args(["ps", "-a"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.join(".local/share/skiff/containers").is_dir());
    let pause = std::fs::read_to_string(xdg_run.join("skiff/pause.pid")).expect("pause pid file");
    let pid: i32 = pause
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("pid");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "skiff-pause");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    // And the pause of the env itself has the same name.
    let images = env.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images, "busybox:latest");
}

#[test]
fn rootless_limits_need_delegation_and_stats_work_without() {
    if !require_root() {
        return;
    }
    let env = Env::rootless();
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        // cgroup v1: an unprivileged user cannot have cgroups; say so, create nothing.
        env.fails(
            &["run", "--rm", "-m", "32m", "busybox", "true"],
            125,
            "cgroup v1",
        );
        assert!(env.all_ids().is_empty());
    }
    // Without limit flags there is no cgroup error, and stats reads /proc instead.
    env.ok(&["run", "-d", "--name", "st", "busybox", "sleep", "60"]);
    let json = env.ok(&["stats", "--no-stream", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["Name"], "st");
    assert_eq!(v["PIDs"], "1");
    assert!(
        v["MemUsage"].as_str().is_some_and(|m| !m.starts_with("0B")),
        "{v}"
    );
    let top = env.ok(&["top", "st"]);
    assert!(top.contains("sleep 60"), "{top}");
    env.ok(&["rm", "-f", "st"]);
}
