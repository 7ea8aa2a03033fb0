//! `skiff compose`, continued: a killed `up` converging, include/extends/secrets and the
//! smaller commands, Ctrl-C, `restart: true` dependents, argv[0], the behaviours docker
//! compose's and podman-compose's fixtures check, anonymous volumes across recreation, and an
//! attached `up` of one service with restarts.

mod common;

use common::compose::*;
use common::{Env, require_root, stderr, stdout};

/// `up -d` killed halfway (waiting on a dependency's health), then run again: the same set
/// of containers, one per replica; `down` then removes all of it.
#[test]
fn killed_up_converges_when_run_again() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let file = "services:\n  slow:\n    image: busybox\n    command: sh -c 'sleep 2; touch /tmp/ok; exec sleep 3600'\n    healthcheck:\n      test: [\"CMD\", \"test\", \"-f\", \"/tmp/ok\"]\n      interval: 200ms\n      retries: 50\n  after:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    deploy: {replicas: 2}\n    depends_on:\n      slow: {condition: service_healthy}\n";
    let dir = project_dir(&env, "killed", &[("compose.yaml", file)]);
    let mut child = env
        .cmd(&["compose", "up", "-d"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until `slow` runs (the command then waits for its health), then kill it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !env
        .ok(&["ps", "--format", "{{.Names}}"])
        .contains("killed-slow-1")
    {
        assert!(std::time::Instant::now() < deadline, "slow never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    compose_ok(&env, &dir, &["up", "-d"]);
    let mut names: Vec<String> = env
        .ok(&["ps", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["killed-after-1", "killed-after-2", "killed-slow-1"]
    );
    compose_ok(&env, &dir, &["down", "-t", "1"]);
    assert_gone(&env, "killed");
}

/// `include`, `extends`, a file secret, and the smaller commands: port, images, top, cp,
/// pause/unpause, restart, kill, rm, wait, version.
#[test]
fn include_extends_secrets_and_the_other_commands() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let port = free_port();
    let main = format!(
        "include:\n  - extra/compose.yaml\nservices:\n  web:\n    extends:\n      file: base.yaml\n      service: httpd\n    ports: [\"127.0.0.1:{port}:80\"]\n    secrets: [token, {{source: api, target: api.key}}]\n    configs: [{{source: motd, target: /etc/motd}}]\nsecrets:\n  token:\n    file: ./token.txt\n  api:\n    environment: API_KEY\nconfigs:\n  motd:\n    content: welcome\n"
    );
    let base = "services:\n  httpd:\n    image: busybox\n    command: httpd -f -p 80 -h /www\n    working_dir: /www\n    environment: [FROM_BASE=1]\n";
    let extra = "services:\n  sidecar:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    volumes: [\"./shared:/shared\"]\n";
    let dir = project_dir(
        &env,
        "misc",
        &[
            ("compose.yaml", &main),
            ("base.yaml", base),
            ("extra/compose.yaml", extra),
            ("extra/shared/note", "from the included dir\n"),
            ("token.txt", "s3cret\n"),
            (".env", "API_KEY=k3y"),
        ],
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&compose_ok(&env, &dir, &["config", "--format", "json"]))
            .expect("json");
    assert_eq!(cfg["services"]["web"]["environment"]["FROM_BASE"], "1");
    assert_eq!(cfg["services"]["web"]["working_dir"], "/www");
    assert_eq!(
        cfg["services"]["sidecar"]["volumes"][0]["source"],
        dir.join("extra/shared").display().to_string()
    );
    compose_ok(&env, &dir, &["up", "-d"]);
    assert_eq!(
        compose_ok(
            &env,
            &dir,
            &["exec", "-T", "web", "cat", "/run/secrets/token"]
        )
        .trim(),
        "s3cret"
    );
    assert_eq!(
        compose_ok(
            &env,
            &dir,
            &[
                "exec",
                "-T",
                "web",
                "cat",
                "/run/secrets/api.key",
                "/etc/motd"
            ]
        ),
        "k3ywelcome"
    );
    assert_eq!(
        compose_ok(
            &env,
            &dir,
            &["exec", "-T", "sidecar", "cat", "/shared/note"]
        )
        .trim(),
        "from the included dir"
    );
    assert_eq!(
        compose_ok(&env, &dir, &["port", "web", "80"]).trim(),
        format!("127.0.0.1:{port}")
    );
    let images = compose_ok(&env, &dir, &["images"]);
    assert!(
        images.contains("misc-web-1") && images.contains("busybox"),
        "{images}"
    );
    let top = compose_ok(&env, &dir, &["top", "web"]);
    assert!(top.contains("misc-web-1") && top.contains("httpd"), "{top}");
    // cp both ways, by service name.
    let local = env.dir.path().join("page.html");
    std::fs::write(&local, "copied in\n").expect("write");
    compose_ok(
        &env,
        &dir,
        &["cp", &local.display().to_string(), "web:/www/index.html"],
    );
    assert!(http_get(port).contains("copied in"));
    let back = env.dir.path().join("back.html");
    compose_ok(
        &env,
        &dir,
        &["cp", "web:/www/index.html", &back.display().to_string()],
    );
    assert_eq!(std::fs::read_to_string(&back).expect("read"), "copied in\n");
    compose_ok(&env, &dir, &["pause", "sidecar"]);
    assert!(compose_ok(&env, &dir, &["ps", "sidecar"]).contains("Paused"));
    compose_ok(&env, &dir, &["unpause", "sidecar"]);
    let before = env.ok(&["inspect", "-f", "{{.State.StartedAt}}", "misc-web-1"]);
    compose_ok(&env, &dir, &["restart", "-t", "1", "web"]);
    assert_ne!(
        env.ok(&["inspect", "-f", "{{.State.StartedAt}}", "misc-web-1"]),
        before
    );
    compose_ok(&env, &dir, &["kill", "sidecar"]);
    // wait prints the exit code and, as docker compose's, exits with it.
    let waited = compose(&env, &dir, &["wait", "sidecar"]);
    assert_eq!(
        (waited.status.code(), stdout(&waited).trim()),
        (Some(137), "137")
    );
    compose_ok(&env, &dir, &["rm", "-f", "sidecar"]);
    assert!(
        !env.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("sidecar")
    );
    assert!(
        compose_ok(&env, &dir, &["version", "--short"])
            .trim()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    );
    compose_ok(&env, &dir, &["down", "-t", "1"]);
    assert_gone(&env, "misc");
}

/// Ctrl-C on a foreground `up` stops every container and ends it.
#[test]
fn interrupted_foreground_up_stops_the_project() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let file = "services:\n  a:\n    image: busybox\n    command: sh -c 'echo started; exec sleep 3600'\n  b:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n";
    let dir = project_dir(&env, "intr", &[("compose.yaml", file)]);
    let out = up_then_interrupt(&env, &dir, &["--no-color", "-t", "1"], 2);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("Gracefully stopping"));
    assert!(
        stdout(&out).contains("intr-a-1  | started"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.ok(&["ps", "-q"]), "");
    compose_ok(&env, &dir, &["down"]);
    assert_gone(&env, "intr");
}

/// `depends_on.restart: true`: recreating the dependency restarts (not recreates) the
/// dependent; without it the dependent is left alone.
#[test]
fn dependents_restart_when_asked() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let file = |v: &str| {
        format!(
            "services:\n  db:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    environment: [V={v}]\n  app:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    depends_on:\n      db: {{condition: service_started, restart: true}}\n  other:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    depends_on: [db]\n"
        )
    };
    let dir = project_dir(&env, "rs", &[("compose.yaml", &file("1"))]);
    compose_ok(&env, &dir, &["up", "-d"]);
    let started = |n: &str| env.ok(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", n]);
    let (app, other) = (started("rs-app-1"), started("rs-other-1"));
    std::fs::write(dir.join("compose.yaml"), file("2")).expect("write");
    let out = compose(&env, &dir, &["up", "-d", "-t", "1"]);
    assert!(
        stderr(&out).contains("Container rs-app-1  Restarting"),
        "{}",
        stderr(&out)
    );
    let app2 = started("rs-app-1");
    assert_eq!(
        app2.split(' ').next(),
        app.split(' ').next(),
        "same container"
    );
    assert_ne!(app2, app, "started again");
    assert_eq!(started("rs-other-1"), other);
    assert_eq!(env.ok(&["ps", "-q"]).lines().count(), 3);
    compose_ok(&env, &dir, &["down", "-t", "1"]);
    assert_gone(&env, "rs");
}

/// Linked as `skiff-compose`, the binary is `skiff compose`.
#[test]
fn runs_as_skiff_compose_through_argv0() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let dir = project_dir(
        &env,
        "argv0",
        &[(
            "compose.yaml",
            "services:\n  one:\n    image: busybox\n  two:\n    image: busybox\n",
        )],
    );
    let link = env.dir.path().join("skiff-compose");
    std::os::unix::fs::symlink(common::binary(), &link).expect("symlink");
    let out = std::process::Command::new(&link)
        .args(["config", "--services"])
        .current_dir(&dir)
        .env("SKIFF_ROOT", &env.root)
        .env("SKIFF_RUNROOT", &env.runroot)
        .output()
        .expect("skiff-compose");
    assert_eq!(stdout(&out), "one\ntwo\n", "{}", stderr(&out));
}

/// Behaviours the upstream fixtures check: `.env` naming the files and profiles, a nested
/// project's `.env`, a broken env_file failing only its service, raw env files, ps's JSON for
/// exposed ports and paused containers, exec into a one-off, `--abort-on-container-failure`,
/// `--wait` with a finished one-shot.
#[test]
fn upstream_fixture_behaviours() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let dir = project_dir(
        &env,
        "fx",
        &[
            (
                ".env",
                "COMPOSE_FILE=other.yaml\nCOMPOSE_PROFILES=extra\nWHO=root\n",
            ),
            (
                "other.yaml",
                "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    expose: [\"7000\"]\n    env_file: [{path: raw.env, format: raw}]\n  b:\n    image: busybox\n    profiles: [extra]\n    command: sh -c 'echo $WHO'\n  broken:\n    image: busybox\n    env_file: /does/not/exist.env\n  job:\n    image: busybox\n    command: [\"true\"]\n  fails:\n    image: busybox\n    profiles: [failing]\n    command: sh -c 'sleep 0.3; exit 111'\n",
            ),
            ("raw.env", "JSON='{\"k\": \"v\"}'\n"),
        ],
    );
    // COMPOSE_FILE and COMPOSE_PROFILES from .env; the broken service fails config only.
    compose_fails(&env, &dir, &["config"], &["service \"broken\"", "env_file"]);
    let cfg = compose_ok(&env, &dir, &["config", "a", "b"]);
    assert!(cfg.contains(r#"JSON: "'{\"k\": \"v\"}'""#), "{cfg}");
    compose_ok(&env, &dir, &["up", "-d", "a", "job", "--wait"]);
    let nest = project_dir(
        &env,
        "nest",
        &[
            (
                "compose.yaml",
                "services:\n  b:\n    image: busybox\n    command: echo ${WHO}\n",
            ),
            (".env", "WHO=root\n"),
            ("sub/.env", "WHO=sub\n"),
        ],
    );
    let out = compose_ok(&env, &nest.join("sub"), &["run", "--rm", "-T", "b"]);
    assert_eq!(out.trim(), "sub", "the working directory's .env wins");
    compose_ok(&env, &nest, &["down"]);
    let ps = compose_ok(&env, &dir, &["ps", "--format", "json", "a"]);
    let a: serde_json::Value = serde_json::from_str(ps.trim()).expect("json");
    assert_eq!(
        a["Publishers"][0],
        serde_json::json!({"URL": "", "TargetPort": 7000, "PublishedPort": 0, "Protocol": "tcp"})
    );
    compose_ok(&env, &dir, &["pause", "a"]);
    assert!(
        compose_ok(&env, &dir, &["ps", "--format", "json", "a"]).contains("\"State\":\"paused\"")
    );
    compose_ok(&env, &dir, &["unpause", "a"]);
    // exec without --index reaches a one-off when the service has no container of its own.
    compose_ok(
        &env,
        &dir,
        &["run", "-d", "--name", "fx-oneoff", "job", "sleep", "60"],
    );
    compose_ok(&env, &dir, &["rm", "-f", "job"]);
    assert_eq!(
        compose_ok(&env, &dir, &["exec", "-T", "job", "echo", "in-one-off"]).trim(),
        "in-one-off"
    );
    let out = compose(
        &env,
        &dir,
        &[
            "--profile",
            "failing",
            "up",
            "--abort-on-container-failure",
            "a",
            "fails",
        ],
    );
    assert_eq!(out.status.code(), Some(111), "{}", stderr(&out));
    compose_ok(&env, &dir, &["down", "-t", "1"]);
    assert_gone(&env, "fx");
}

/// A recreated container keeps the old one's anonymous volumes (as docker compose); `-V`
/// makes new ones; `down -v` leaves none.
#[test]
fn anonymous_volumes_survive_recreation() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let file = |v: &str| {
        format!(
            "services:\n  app:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    network_mode: none\n    environment: [V={v}]\n    volumes: [\"/cache\"]\n"
        )
    };
    let dir = project_dir(&env, "anon", &[("compose.yaml", &file("1"))]);
    compose_ok(&env, &dir, &["up", "-d"]);
    compose_ok(
        &env,
        &dir,
        &["exec", "-T", "app", "sh", "-c", "echo kept > /cache/f"],
    );
    std::fs::write(dir.join("compose.yaml"), file("2")).expect("write");
    let out = compose(&env, &dir, &["up", "-d", "-t", "1"]);
    assert!(stderr(&out).contains("Recreated"), "{}", stderr(&out));
    assert_eq!(
        compose_ok(&env, &dir, &["exec", "-T", "app", "cat", "/cache/f"]).trim(),
        "kept"
    );
    assert_eq!(env.ok(&["volume", "ls", "-q"]).lines().count(), 1);
    compose_ok(
        &env,
        &dir,
        &["up", "-d", "-t", "1", "--force-recreate", "-V"],
    );
    let out = compose(&env, &dir, &["exec", "-T", "app", "cat", "/cache/f"]);
    assert!(!out.status.success(), "a renewed volume is empty");
    assert_eq!(
        env.ok(&["volume", "ls", "-q"]).lines().count(),
        1,
        "the old one went"
    );
    compose_ok(&env, &dir, &["down", "-v", "-t", "1"]);
    assert_eq!(env.ok(&["volume", "ls", "-q"]), "");
    assert_gone(&env, "anon");
}

/// `up app` attaches to app only; Ctrl-C stops app and leaves its dependency running. A
/// restart policy's runs are each reported, and the attached `up` ends after the last.
#[test]
fn attached_up_of_one_service_and_its_restarts() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let file = "services:\n  dep:\n    image: busybox\n    command: sh -c 'echo dep-output; exec sleep 3600'\n  app:\n    image: busybox\n    command: sh -c 'trap \"exit 0\" TERM; echo app-up; sleep 3600 & wait'\n    depends_on: [dep]\n  flaky:\n    image: busybox\n    profiles: [flaky]\n    command: sh -c 'echo try; exit 1'\n    restart: on-failure:2\n";
    let dir = project_dir(&env, "att", &[("compose.yaml", file)]);
    let out = up_then_interrupt(&env, &dir, &["--no-color", "app"], 2);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Attaching to att-app-1\n"), "{text}");
    assert!(
        text.contains("app-up") && !text.contains("dep-output"),
        "{text}"
    );
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]), "att-dep-1");
    let out = compose(
        &env,
        &dir,
        &["--profile", "flaky", "up", "--no-color", "flaky"],
    );
    let text = stdout(&out);
    assert_eq!(
        text.matches("att-flaky-1 exited with code 1").count(),
        3,
        "{text}"
    );
    // Output of runs that restart faster than the attach loop looks (100 ms) may be missed.
    assert!(text.contains("att-flaky-1  | try"), "{text}");
    compose_ok(&env, &dir, &["--profile", "flaky", "down", "-t", "1"]);
    assert_gone(&env, "att");
}
