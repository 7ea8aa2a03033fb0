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
    env.fails(&["update", "--memory", "1x", "lim"], 1, "invalid --memory");
    env.fails(&["update", "lim"], 1, "at least one thing to change");

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

/// The container sees its own cgroup at /sys/fs/cgroup (v1 here: docker's layout of
/// read-only binds), with its limits, and cannot write there.
#[test]
fn container_reads_its_own_limits() {
    if !require_root() || !is_v1_host() {
        return;
    }
    let env = Env::root();
    let out = env.ok(&[
        "run",
        "--rm",
        "-m",
        "32m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us \
         /sys/fs/cgroup/pids/pids.max; grep -qx 1 /sys/fs/cgroup/pids/cgroup.procs && echo pid1; \
         grep '^0::' /proc/self/cgroup; \
         echo 1 > /sys/fs/cgroup/pids/pids.max 2>/dev/null || echo read-only",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["33554432", "50000", "50", "pid1", "0::/", "read-only"],
        "{out}"
    );
    // --cgroups=disabled: no cgroup at all, so limits are refused and nothing is bound.
    let out = env.ok(&[
        "run",
        "--rm",
        "--cgroups",
        "disabled",
        "busybox",
        "sh",
        "-c",
        "ls /sys/fs/cgroup | wc -l",
    ]);
    assert_eq!(out.trim(), "0");
    env.fails(
        &[
            "run",
            "--rm",
            "--cgroups",
            "disabled",
            "-m",
            "32m",
            "busybox",
            "true",
        ],
        125,
        "--cgroups=disabled",
    );
    env.fails(
        &["run", "--rm", "--cgroups", "maybe", "busybox", "true"],
        125,
        "invalid --cgroups \"maybe\": expected enabled or disabled",
    );
    // This host has no systemd: asking for it is a clear error, and info says cgroupfs.
    env.fails(
        &[
            "--cgroup-manager",
            "systemd",
            "run",
            "--rm",
            "busybox",
            "true",
        ],
        125,
        "--cgroup-manager systemd",
    );
    assert_eq!(
        env.ok(&["info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}}"]),
        "cgroupfs 1"
    );
    env.assert_no_containers();
}

/// The privileged CI container's case on a cgroup2 tree: root at the root of its own cgroup
/// namespace, where the job's processes live. skiff moves them into `init` (as
/// docker-in-docker does) and runs; a busy cgroup that is not the namespace's root is never
/// touched: without limits the container runs without a cgroup, with limits it is refused.
#[test]
fn cgroup_v2_namespace_root_and_busy_parents() {
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
    // Not named skiff-*: the other v2 test counts those at the root.
    let ci = format!("citest-{}", std::process::id());
    let script = format!(
        "set -e; umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup; \
         mount -t cgroup2 none /sys/fs/cgroup; mkdir /sys/fs/cgroup/{ci}; \
         echo $$ > /sys/fs/cgroup/{ci}/cgroup.procs; \
         unshare --cgroup --mount sh -c '\
           set -e; umount /sys/fs/cgroup; mount -t cgroup2 none /sys/fs/cgroup; \
           sleep 60 & job=$!; \
           {bin} {store} run --rm busybox sh -c \"grep ^0:: /proc/self/cgroup; grep -qx 1 /sys/fs/cgroup/cgroup.procs && echo pid1; grep -c cgroup2.*ro, /proc/mounts\"; \
           echo type=$(cat /sys/fs/cgroup/cgroup.type); \
           grep -qx $job /sys/fs/cgroup/init/cgroup.procs && echo job-in-init; \
           mkdir /sys/fs/cgroup/busy; echo $job > /sys/fs/cgroup/busy/cgroup.procs; \
           {bin} {store} run --rm --cgroup-parent /busy busybox echo ran-without; \
           {bin} {store} run --rm --cgroup-parent /busy -m 32m busybox true || echo rc=$?; \
           echo busy=$(cat /sys/fs/cgroup/busy/cgroup.type)/$(cat /sys/fs/cgroup/busy/cgroup.subtree_control)/$(ls /sys/fs/cgroup/busy | grep -c ^skiff- || true); \
           kill $job; wait $job || true'; \
         echo $$ > /sys/fs/cgroup/cgroup.procs; \
         find /sys/fs/cgroup/{ci} -depth -type d -exec rmdir {{}} \\;",
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
    // The container: its own cgroup namespace (its pid 1 at the root), cgroup2 read-only.
    assert_eq!(lines.first().copied(), Some("0::/"), "{text}{err}");
    assert_eq!(lines.get(1).copied(), Some("pid1"), "{text}{err}");
    assert_eq!(lines.get(2).copied(), Some("1"), "{text}{err}");
    // The namespace's root stayed a domain; the job was moved into init.
    assert!(text.contains("type=domain\n"), "{text}{err}");
    assert!(text.contains("job-in-init"), "{text}{err}");
    // A busy parent: the run goes on without a cgroup (said once), limits are refused, and
    // the busy cgroup is exactly as it was.
    assert!(text.contains("ran-without"), "{text}{err}");
    assert!(err.contains("holds processes"), "{err}");
    assert!(text.contains("rc=125"), "{text}");
    assert!(text.contains("busy=domain//0"), "{text}{err}");
    assert!(!Path::new("/sys/fs/cgroup/unified").join(&ci).exists());
    env.assert_no_containers();
}

#[test]
fn missing_containers_exit_as_docker() {
    let env = Env::root();
    let out = env.run(&["rm", "-f", "no-such-container"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("No such container: no-such-container"));
    assert!(stdout(&out).is_empty());
    for cmd in ["rm", "stop", "kill", "start", "logs"] {
        env.fails(&[cmd, "no-such-container"], 1, "No such container");
    }
    env.fails(&["inspect", "no-such-container"], 1, "No such object");
    env.fails(
        &["run", "--rm", "--pull=never", "no-such-image-here", "true"],
        125,
        "No such image",
    );
}
