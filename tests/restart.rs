//! Restart policies carried out by the container's own monitor: on-failure's limit and
//! docker's back-off, always until a user stops it, no ghost when the monitor is killed,
//! `start --all --at-boot` as a host's boot would run it, `update --restart`, bad input.

mod common;

use std::time::Duration;

use common::{Env, require_root};

#[test]
fn on_failure_stops_after_its_limit() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--network",
        "none",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 3",
    ]);
    // 100 + 200 + 400 ms of back-off, then it stays down.
    env.wait_for(
        "flaky",
        "{{.State.Status}} {{.RestartCount}}",
        "exited 3",
        20,
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"]).trim(),
        "3 on-failure 3"
    );
    assert_eq!(
        env.ok(&["logs", "flaky"]).lines().count(),
        4,
        "the first run and 3 restarts"
    );
    // A clean exit is not a failure: no restart.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "clean",
        "--network",
        "none",
        "--restart",
        "on-failure",
        "busybox",
        "true",
    ]);
    env.wait_for("clean", "{{.State.Status}}", "exited", 10);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.RestartCount}}", "clean"])
            .trim(),
        "0"
    );
    env.ok(&["rm", "flaky", "clean"]);
}

#[test]
fn always_until_a_user_stops_it_and_back_at_boot() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--network",
        "none",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3",
    ]);
    env.wait_for("again", "{{gt .RestartCount 1}}", "true", 20);
    let ps = env.ok(&[
        "ps",
        "-a",
        "--filter",
        "name=again",
        "--format",
        "{{.Status}}",
    ]);
    assert!(
        ps.starts_with("Up ") || ps.starts_with("Restarting ("),
        "{ps}"
    );
    // rm without -f refuses a restarting or running one; stop ends the loop.
    env.ok(&["stop", "again"]);
    let count = env.ok(&["inspect", "-f", "{{.RestartCount}}", "again"]);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.RestartCount}}",
            "again"
        ])
        .trim(),
        format!("exited {}", count.trim()),
        "stopped means stopped"
    );
    // unless-stopped, stopped by the user, stays down at boot; always comes back.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "unless",
        "--network",
        "none",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "60",
    ]);
    env.ok(&["stop", "-t", "0", "unless"]);
    // A killed monitor leaves no ghost: the next command sees the container exited.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "orphan",
        "--network",
        "none",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "60",
    ]);
    let monitor = env.monitor_of("orphan");
    let _ = std::process::Command::new("kill")
        .args(["-9", &monitor.to_string()])
        .status();
    env.wait_for("orphan", "{{.State.Status}}", "exited", 10);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "orphan"])
            .trim(),
        "exited"
    );
    // What the boot unit runs.
    env.ok(&["start", "--all", "--at-boot"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "orphan"])
            .trim(),
        "running"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "unless"])
            .trim(),
        "exited"
    );
    assert!(
        matches!(
            env.ok(&["inspect", "-f", "{{.State.Status}}", "again"])
                .trim(),
            "running" | "restarting"
        ),
        "always comes back even after a user's stop"
    );
    let unit = env.ok(&["generate", "systemd"]);
    assert!(
        unit.contains("start --all --at-boot") && unit.contains("[Install]"),
        "{unit}"
    );
    // podman's per-container unit names the container by id.
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "unless"]);
    let unit = env.ok(&["generate", "systemd", "-t", "3", "unless"]);
    assert!(
        unit.contains(&format!("start {}", id.trim()))
            && unit.contains(&format!("stop -t 3 {}", id.trim())),
        "{unit}"
    );
    // start --all with podman's filter starts only that policy's stopped containers.
    env.ok(&[
        "start",
        "--all",
        "--filter",
        "restart-policy=unless-stopped",
    ]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "unless"])
            .trim(),
        "running"
    );
    env.fails(
        &["start", "--all", "--filter", "colour=red"],
        1,
        "restart-policy=NAME",
    );
    env.ok(&["rm", "-f", "again", "unless", "orphan"]);
    env.assert_no_containers();
}

#[test]
fn a_foreground_run_shows_the_first_run_and_leaves_the_policy_running() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let out = env.run(&[
        "run",
        "--name",
        "fg",
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "the first run's exit code");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "run");
    env.wait_for("fg", "{{.State.Status}} {{.RestartCount}}", "exited 2", 20);
    env.ok(&["rm", "fg"]);
}

#[test]
fn restart_policy_bad_input_and_update() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.fails(
        &["run", "-d", "--restart", "sometimes", "busybox", "true"],
        125,
        "invalid restart policy \"sometimes\"",
    );
    env.fails(
        &["run", "-d", "--restart", "always:2", "busybox", "true"],
        125,
        "only be used with 'on-failure'",
    );
    env.fails(
        &["run", "--rm", "--restart", "always", "busybox", "true"],
        125,
        "--restart and --rm",
    );
    assert!(env.all_ids().is_empty(), "nothing created");
    env.ok(&["create", "--name", "later", "busybox", "true"]);
    env.ok(&["update", "--restart", "on-failure:2", "later"]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "later"
        ])
        .trim(),
        "on-failure:2"
    );
    env.fails(
        &["update", "--restart", "never", "later"],
        1,
        "invalid restart policy",
    );
    env.ok(&["rm", "later"]);
}
