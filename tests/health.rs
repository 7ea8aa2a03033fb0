//! Healthchecks run by the container's monitor: healthy, then unhealthy when the checked file
//! goes (ps, its health filter, inspect's State.Health with the last five probes), the image's
//! HEALTHCHECK and --no-healthcheck, a probe's timeout, `healthcheck run`, and bad flags.

mod common;

use common::{Env, require_root};

const HEALTH: &str = "{{if .State.Health}}{{.State.Health.Status}}{{end}}";

#[test]
fn healthy_then_unhealthy_and_back() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "touch /tmp/ok; sleep 60",
    ]);
    let first = env.ok(&["ps", "--filter", "name=hc", "--format", "{{.Status}}"]);
    assert!(
        first.contains("(health: starting)") || first.contains("(healthy)"),
        "{first}"
    );
    env.wait_for("hc", HEALTH, "healthy", 10);
    assert!(
        env.ok(&["ps", "--format", "{{.Status}}", "--filter", "name=hc"])
            .contains("(healthy)")
    );
    assert_eq!(
        env.ok(&["ps", "-q", "--filter", "health=healthy"])
            .lines()
            .count(),
        1
    );
    env.ok(&["exec", "hc", "rm", "/tmp/ok"]);
    env.wait_for("hc", HEALTH, "unhealthy", 10);
    let streak = env.ok(&["inspect", "-f", "{{.State.Health.FailingStreak}}", "hc"]);
    assert!(
        streak.trim().parse::<u32>().expect("number") >= 2,
        "{streak}"
    );
    assert_eq!(
        env.ok(&[
            "ps",
            "--filter",
            "health=unhealthy",
            "--format",
            "{{.Names}}"
        ])
        .trim(),
        "hc"
    );
    let log = env.ok(&[
        "inspect",
        "-f",
        "{{len .State.Health.Log}} {{(index .State.Health.Log 0).Output}}",
        "hc",
    ]);
    assert!(
        log.starts_with("5 ") || log.starts_with("4 ") || log.starts_with("3 "),
        "{log}"
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{index .Config.Healthcheck.Test 0}} {{.Config.Healthcheck.Retries}}",
            "hc"
        ])
        .trim(),
        "CMD-SHELL 2"
    );
    // By hand: exit 1 while the file is missing, 0 (and healthy at once) when it is back.
    let out = env.run(&["healthcheck", "run", "hc"]);
    assert_eq!(out.status.code(), Some(1));
    env.ok(&["exec", "hc", "touch", "/tmp/ok"]);
    assert_eq!(
        env.run(&["healthcheck", "run", "hc"]).status.code(),
        Some(0)
    );
    env.wait_for("hc", HEALTH, "healthy", 5);
    env.ok(&["rm", "-f", "hc"]);
}

#[test]
fn image_healthcheck_timeout_and_none() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = env.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).expect("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=200ms --timeout=2s CMD [\"true\"]\n",
    )
    .expect("Dockerfile");
    env.ok(&["build", "-q", "-t", "hc-image", ctx.to_str().expect("path")]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "fromimage",
        "--network",
        "none",
        "hc-image",
        "sleep",
        "60",
    ]);
    env.wait_for("fromimage", HEALTH, "healthy", 10);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "disabled",
        "--network",
        "none",
        "--no-healthcheck",
        "hc-image",
        "sleep",
        "60",
    ]);
    assert_eq!(
        env.ok(&["ps", "--filter", "health=none", "--format", "{{.Names}}"])
            .trim(),
        "disabled"
    );
    env.fails(&["healthcheck", "run", "disabled"], 1, "has no healthcheck");
    // A probe that outlives its timeout counts as a failure, with docker's message.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--network",
        "none",
        "--health-cmd",
        "sleep 5",
        "--health-timeout",
        "200ms",
        "--health-interval",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "60",
    ]);
    env.wait_for("slow", HEALTH, "unhealthy", 10);
    let probe = env.ok(&[
        "inspect",
        "-f",
        "{{with index .State.Health.Log 0}}{{.ExitCode}} {{.Output}}{{end}}",
        "slow",
    ]);
    assert!(
        probe.starts_with("-1 Health check exceeded timeout"),
        "{probe}"
    );
    env.ok(&["rm", "-f", "fromimage", "disabled", "slow"]);
    env.assert_no_containers();
}

#[test]
fn health_flags_bad_input() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    for (args, needle) in [
        (
            vec!["--health-cmd", "true", "--health-interval", "-1s"],
            "cannot be negative",
        ),
        (
            vec!["--health-cmd", "true", "--health-timeout", "soon"],
            "invalid duration",
        ),
        (
            vec!["--health-cmd", "true", "--health-retries", "-1"],
            "cannot be negative",
        ),
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "conflicts",
        ),
        (vec!["--health-interval", "1s"], "needs a command"),
    ] {
        let mut full = vec!["run", "-d"];
        full.extend(args);
        full.extend(["busybox", "true"]);
        env.fails(&full, 125, needle);
    }
    assert!(env.all_ids().is_empty(), "nothing created");
    env.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "60"]);
    env.fails(&["ps", "--filter", "health=sick"], 1, "health=sick");
    env.ok(&["rm", "-f", "plain"]);
}
