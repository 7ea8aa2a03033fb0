//! Resource limits on this host's cgroups (v1 controllers; v2 on a cgroup2 mount in a mount
//! namespace of the test's own), OOM reporting, update, stats, top, ulimits, shm size.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, require_root, stderr, stdout};

/// The container's directory in one v1 controller's hierarchy.
fn v1_dir(controller: &str, id: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(format!("skiff-{id}"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// No cgroup directory of this container is left in any hierarchy.
fn assert_no_cgroup(id: &str) {
    let leftovers: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .expect("cgroupfs")
        .flatten()
        .map(|c| c.path().join(format!("skiff-{id}")))
        .filter(|p| p.exists())
        .collect();
    assert!(leftovers.is_empty(), "cgroups left: {leftovers:?}");
}

fn is_v1_host() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

#[test]
fn memory_limit_oom_kill_is_reported() {
    if !require_root() || !is_v1_host() {
        return;
    }
    let env = Env::root();
    // dd as pid 1 allocates a 200 MB buffer inside a 32 MB limit (no swap here; memsw is
    // docker's default of twice the memory).
    let out = env.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "32m",
        "--entrypoint",
        "dd",
        "busybox",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=200M",
        "count=1",
    ]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "hog"]),
        "true 137 33554432 67108864"
    );
    assert!(
        env.ok(&["ps", "-a", "--format", "{{.Status}}"])
            .starts_with("Exited (137)"),
        "ps shows it exited"
    );
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "hog"]);
    assert_no_cgroup(&id);
    // Restarted without the hog, the flag is cleared.
    env.ok(&["rm", "hog"]);
    let out = env.run(&["run", "--name", "calm", "-m", "32m", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.OOMKilled}}", "calm"]),
        "false"
    );
    env.ok(&["rm", "calm"]);
    env.assert_no_containers();
}

#[test]
fn pids_cpu_and_live_update() {
    if !require_root() || !is_v1_host() {
        return;
    }
    let env = Env::root();
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "lim",
        "--pids-limit",
        "8",
        "--cpus",
        "0.5",
        "-m",
        "64m",
        "--cpuset-cpus",
        "0",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(read(&v1_dir("pids", &id).join("pids.max")), "8");
    assert_eq!(read(&v1_dir("cpu", &id).join("cpu.cfs_quota_us")), "50000");
    assert_eq!(
        read(&v1_dir("cpu", &id).join("cpu.cfs_period_us")),
        "100000"
    );
    assert_eq!(read(&v1_dir("cpuset", &id).join("cpuset.cpus")), "0");
    assert_eq!(
        read(&v1_dir("memory", &id).join("memory.limit_in_bytes")),
        "67108864"
    );
    // pid 1 is in the cgroup; exec'd processes join it too and hit the pids limit.
    let pid = env.ok(&["inspect", "-f", "{{.State.Pid}}", "lim"]);
    assert!(
        read(&v1_dir("memory", &id).join("cgroup.procs"))
            .lines()
            .any(|l| l == pid)
    );
    // update raises memory above the current memory+swap limit (memsw goes first) and
    // changes the CPU quota, live and in the record.
    assert_eq!(
        env.ok(&["update", "--memory", "256m", "--cpus", "1", "lim"]),
        "lim"
    );
    assert_eq!(
        read(&v1_dir("memory", &id).join("memory.limit_in_bytes")),
        "268435456"
    );
    assert_eq!(read(&v1_dir("cpu", &id).join("cpu.cfs_quota_us")), "100000");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "lim"
        ]),
        "268435456 1000000000 8"
    );
    env.fails(
        &["update", "--memory", "1x", "lim"],
        1,
        "invalid --memory",
    );
    env.fails(&["update", "lim"], 1, "at least one limit");

    // stats: docker's columns, the container's row with one process and its limit.
    let out = env.ok(&["stats", "--no-stream"]);
    let mut lines = out.lines();
    let header = lines.next().expect("header");
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().expect("a row");
    assert!(row.starts_with(&id[..12]) && row.contains("lim"), "{row}");
    assert!(row.contains("/ 256MiB"), "{row}");
    assert!(row.trim_end().ends_with(" 1"), "one process: {row}");
    let json = env.ok(&["stats", "--no-stream", "--format", "json", "lim"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json row");
    assert_eq!(v["Name"], "lim");
    assert_eq!(v["PIDs"], "1");

    // top: the container's process, not the host's.
    let top = env.ok(&["top", "lim"]);
    assert!(top.lines().next().expect("header").contains("PID"));
    assert_eq!(top.lines().count(), 2, "{top}");
    assert!(top.contains("sleep 300"), "{top}");
    let top_aux = env.ok(&["top", "lim", "aux"]);
    assert!(top_aux.lines().next().expect("header").starts_with("USER"));

    // Last, as the sleeps it leaves stay until the container stops.
    let out = env.run(&[
        "exec",
        "lim",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 >/dev/null 2>&1 & done",
    ]);
    assert!(
        stderr(&out).contains("can't fork"),
        "the 9th process must be refused: {}",
        stderr(&out)
    );

    env.ok(&["stop", "-t", "0", "lim"]);
    assert_no_cgroup(&id);
    env.fails(&["top", "lim"], 1, "not running");
    // Limits of a stopped container change in the record and apply at the next start.
    env.ok(&["update", "--pids-limit", "20", "lim"]);
    env.ok(&["start", "lim"]);
    assert_eq!(read(&v1_dir("pids", &id).join("pids.max")), "20");
    env.ok(&["rm", "-f", "lim"]);
    assert_no_cgroup(&id);
    env.assert_no_containers();
}

#[test]
fn devices_cgroup_denies_host_disks() {
    if !require_root() || !is_v1_host() {
        return;
    }
    let env = Env::root();
    // CAP_MKNOD is in docker's default set; the device cgroup is what stops a block device
    // node from reaching the host's disk.
    let out = env.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mknod /tmp/disk b 8 0 && head -c1 /tmp/disk; echo rc=$?; head -c1 /dev/zero | wc -c",
    ]);
    let text = stdout(&out) + &stderr(&out);
    assert!(text.contains("Operation not permitted"), "{text}");
    assert!(text.contains("rc=1"), "{text}");
    assert!(
        stdout(&out).trim_end().ends_with('1'),
        "allowed devices work: {text}"
    );
}

#[test]
fn ulimits_shm_and_cgroup_namespace() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let out = env.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:200",
        "--shm-size",
        "16m",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1; cat /proc/self/cgroup | grep -c ':/$'",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "100");
    assert_eq!(lines[1], "200");
    assert!(lines[2].split_whitespace().nth(1) == Some("16384"), "{out}");
    // A private cgroup namespace is rooted at the container's cgroup: every line reads "/".
    let total = env.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "wc -l < /proc/self/cgroup",
    ]);
    assert_eq!(lines[3], total, "{out}");
    if is_v1_host() {
        let host_view = env.ok(&[
            "run",
            "--rm",
            "--cgroupns",
            "host",
            "busybox",
            "grep",
            "memory",
            "/proc/self/cgroup",
        ]);
        assert!(host_view.contains("/skiff-"), "{host_view}");
    }
    // Above our own hard limit: refused with the reason, nothing left.
    env.fails(
        &[
            "run",
            "--rm",
            "--ulimit",
            "nofile=30000000",
            "busybox",
            "true",
        ],
        125,
        "--ulimit nofile",
    );
    env.assert_no_containers();
}

#[test]
fn bad_limits_are_refused_and_leave_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    // Every run gets a parent cgroup of this test's own: had any of them made a cgroup, it
    // would be found under that parent.
    let parent = format!("skiff-bad-{}", std::process::id());
    for (args, needle) in [
        (&["--memory", "1x"][..], "invalid --memory \"1x\""),
        (&["--cpus", "-1"], "range of CPUs"),
        (&["--cpuset-cpus", "99"], "requested CPUs are not available"),
        (&["--memory", "2k"], "minimum memory limit"),
        (&["--memory-swap", "1g"], "needs --memory"),
        (
            &["--cpus", "1", "--cpu-quota", "5000"],
            "conflicting options",
        ),
        (&["--blkio-weight", "5"], "between 10 and 1000"),
        (&["--ulimit", "nofile=9:1"], "soft limit is above"),
        (&["--ulimit", "files=1"], "unknown limit"),
        (&["--shm-size", "big"], "invalid --shm-size"),
        (&["--cgroupns", "shared"], "invalid --cgroupns"),
        (&["--cgroup-parent", "../x"], "invalid --cgroup-parent"),
    ] {
        let mut full = vec!["run", "--rm"];
        if args[0] != "--cgroup-parent" {
            full.extend_from_slice(&["--cgroup-parent", &parent]);
        }
        full.extend_from_slice(args);
        full.extend_from_slice(&["busybox", "true"]);
        env.fails(&full, 125, needle);
    }
    env.assert_no_containers();
    let made: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .expect("cgroupfs")
        .flatten()
        .map(|c| c.path().join(&parent))
        .filter(|p| p.exists())
        .collect();
    assert!(made.is_empty(), "cgroups made for refused runs: {made:?}");
}

#[test]
fn cgroup_parent_nests_the_container() {
    if !require_root() || !is_v1_host() {
        return;
    }
    let env = Env::root();
    let parent = format!("skiff-test-parent-{}", std::process::id());
    let out = env.ok(&[
        "run",
        "--rm",
        "--cgroup-parent",
        &format!("/{parent}"),
        "--cgroupns",
        "host",
        "busybox",
        "grep",
        "pids",
        "/proc/self/cgroup",
    ]);
    assert!(out.contains(&format!("/{parent}/skiff-")), "{out}");
    // The parent is the user's: skiff made it and leaves it; the test removes it.
    for c in std::fs::read_dir("/sys/fs/cgroup")
        .expect("cgroupfs")
        .flatten()
    {
        let p = c.path().join(&parent);
        if p.is_dir() {
            let _ = std::fs::remove_dir(&p);
        }
    }
}

/// cgroup v2 on a real cgroup2 mount: in a mount namespace of the test's own, the host's
/// (controller-less) v2 tree replaces /sys/fs/cgroup, so skiff sees a pure v2 host.
#[test]
fn cgroup_v2_mount_in_own_namespace() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let bin = common::binary();
    let store = format!(
        "--root {} --runroot {}",
        env.root.display(),
        env.runroot.display()
    );
    let script = format!(
        "set -e; umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup; \
         mount -t cgroup2 none /sys/fs/cgroup; \
         {bin} {store} run --rm --cgroupns host busybox cat /proc/self/cgroup; \
         {bin} {store} run --rm -m 32m busybox true || echo rc=$?; \
         {bin} {store} run --rm busybox sh -c 'mknod /tmp/disk b 8 0 2>/dev/null || echo no-mknod'; \
         ls /sys/fs/cgroup | grep -c '^skiff-' || true",
        bin = bin.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let text = stdout(&out);
    let err = stderr(&out);
    assert!(out.status.success(), "{text}{err}");
    let lines: Vec<&str> = text.lines().collect();
    // The process ran in its own v2 cgroup, named after the container.
    assert!(
        lines.iter().any(|l| l.starts_with("0::/skiff-")),
        "{text}{err}"
    );
    // No memory controller on this v2 tree (the host binds it to v1): a clear refusal.
    assert!(err.contains("memory controller is not available"), "{err}");
    assert!(text.contains("rc=125"), "{text}");
    // No device cgroup on v2 here: no CAP_MKNOD either, so no host disk node can be made.
    assert!(text.contains("no-mknod"), "{text}");
    // Both cgroups were removed.
    assert_eq!(lines.last().copied(), Some("0"), "{text}");
    env.assert_no_containers();
}
