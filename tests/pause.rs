//! pause / unpause through the cgroup freezer: a counter stops advancing and resumes, docker's
//! Paused state in ps and inspect, exec refused while paused, stop and rm -f still work, and
//! the errors for a stopped or cgroup-less container.

mod common;

use std::time::Duration;

use common::{Env, require_root};

fn counter(env: &Env) -> u64 {
    env.ok(&["exec", "tick", "cat", "/tmp/n"])
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn pause_freezes_and_unpause_resumes() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "tick",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        // Written aside and renamed: a reader never sees the file the redirection just emptied.
        "i=0; while true; do i=$((i+1)); echo $i > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.02; done",
    ]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(env.ok(&["pause", "tick"]).trim(), "tick");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}",
            "tick"
        ])
        .trim(),
        "paused true true"
    );
    let ps = env.ok(&[
        "ps",
        "--filter",
        "status=paused",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(
        ps.starts_with("tick Up ") && ps.trim_end().ends_with("(Paused)"),
        "{ps}"
    );
    env.fails(&["exec", "tick", "true"], 1, "is paused");
    env.fails(&["pause", "tick"], 1, "already paused");
    // The file cannot be read while frozen (exec is refused): thaw, read, compare.
    env.ok(&["unpause", "tick"]);
    let a = counter(&env);
    std::thread::sleep(Duration::from_millis(300));
    let b = counter(&env);
    assert!(b > a, "running again: {a} -> {b}");
    env.ok(&["pause", "tick"]);
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["unpause", "tick"]);
    let c = counter(&env);
    assert!(c < b + 6, "no progress while paused: {b} -> {c}");
    env.fails(&["unpause", "tick"], 1, "not paused");
    // A paused container still stops (thawed to take the signal).
    env.ok(&["pause", "tick"]);
    env.ok(&["stop", "-t", "1", "tick"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "tick"])
            .trim(),
        "exited"
    );
    env.fails(&["pause", "tick"], 1, "not running");
    env.ok(&["rm", "tick"]);
    // Without a cgroup of its own there is nothing to freeze.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "nocg",
        "--network",
        "none",
        "--cgroups",
        "disabled",
        "busybox",
        "sleep",
        "60",
    ]);
    env.fails(&["pause", "nocg"], 1, "no cgroup of its own");
    env.ok(&["rm", "-f", "nocg"]);
    env.assert_no_containers();
}
