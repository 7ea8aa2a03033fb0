//! `skiff compose`, root and rootless, with compose files written here: a web + database +
//! cache project (named volumes, a custom network, aliases, a healthcheck-gated dependency, a
//! one-shot migration job), the project's original v1 file, several `-f` files with overrides,
//! interpolation from `.env` and `--env-file`, profiles, scaling, recreation on change only,
//! two `up`s at once, a foreground `up`, `run`/`exec`, builds, and every error the issue
//! names (one clear line, nothing half-made left).

mod common;

use common::compose::*;
use common::{Env, require_root, stderr, stdout};

const APP: &str = r#"
name: ${PROJECT}
services:
  db:
    image: busybox
    command: sh -c 'echo db ready > /var/lib/db/state; touch /tmp/up; exec sleep 3600'
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/up"]
      interval: 300ms
      retries: 20
    volumes:
      - dbdata:/var/lib/db
    networks: [back]
  cache:
    image: busybox
    command: ["sleep", "3600"]
    networks:
      back:
        aliases: [memo]
  migrate:
    image: busybox
    command: sh -c 'cat /var/lib/db/state && echo migrated > /var/lib/db/migrated'
    volumes: ["dbdata:/var/lib/db"]
    depends_on:
      db: {condition: service_healthy}
    networks: [back]
  web:
    image: busybox
    command: httpd -f -p 8080 -h /site
    environment:
      GREETING: ${GREETING:-hello}
    ports: ["127.0.0.1:${WEB_PORT}:8080"]
    volumes:
      - ./site:/site:ro
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
      cache:
        condition: service_started
    networks: [back, default]
volumes:
  dbdata:
networks:
  back:
"#;

fn web_db_cache(rootless: bool) {
    let env = if rootless {
        Env::rootless()
    } else {
        Env::root()
    };
    let p = format!("app{}", if rootless { "rl" } else { "rt" });
    let port = free_port();
    let dir = project_dir(
        &env,
        "app",
        &[
            ("compose.yaml", APP),
            (".env", &format!("PROJECT={p}\nWEB_PORT={port}\n")),
            ("site/index.html", "site says hi\n"),
        ],
    );
    let up = compose(&env, &dir, &["up", "-d"]);
    let err = stderr(&up);
    assert!(up.status.success(), "up: {err}");
    for line in [
        format!(" Network {p}_back  Created"),
        format!(" Volume {p}_dbdata  Created"),
        format!(" Container {p}-db-1  Healthy"),
        format!(" Container {p}-migrate-1  Exited"),
        format!(" Container {p}-web-1  Started"),
    ] {
        assert!(err.contains(&line), "{line:?} not in {err}");
    }
    // web started only after db was healthy and migrate had finished.
    let healthy = err.find(&format!("{p}-db-1  Healthy")).expect("healthy");
    let web = err
        .find(&format!("{p}-web-1  Starting"))
        .expect("web start");
    assert!(healthy < web, "{err}");
    assert!(http_get(port).contains("site says hi"));

    // ps: the running services, compose's columns.
    let ps = compose_ok(&env, &dir, &["ps"]);
    assert!(ps.starts_with("NAME"), "{ps}");
    assert!(
        ps.contains(&format!("{p}-web-1")) && ps.contains("(healthy)"),
        "{ps}"
    );
    assert!(
        !ps.contains("migrate"),
        "exited job listed without -a: {ps}"
    );
    let all = compose_ok(&env, &dir, &["ps", "-a", "--format", "json"]);
    let migrate = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .find(|o| o["Service"] == "migrate")
        .expect("migrate listed with -a");
    assert_eq!(migrate["ExitCode"], 0);
    assert_eq!(migrate["Project"], p.as_str());

    // Service names and aliases resolve on the project's networks.
    let out = compose_ok(
        &env,
        &dir,
        &[
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "ping -c1 -W2 memo >/dev/null && ping -c1 -W2 db >/dev/null && echo $GREETING",
        ],
    );
    assert_eq!(out.trim(), "hello");
    // The job ran against the database's volume.
    assert_eq!(
        compose_ok(
            &env,
            &dir,
            &["exec", "-T", "db", "cat", "/var/lib/db/migrated"]
        )
        .trim(),
        "migrated"
    );
    let logs = compose_ok(&env, &dir, &["logs", "--no-color", "migrate"]);
    assert!(
        logs.contains(&format!("{p}-migrate-1  | db ready")),
        "{logs}"
    );
    let ls = compose_ok(&env, &dir, &["ls"]);
    assert!(ls.contains(&p) && ls.contains("running(3)"), "{ls}");

    // Unchanged: up again keeps every container.
    let ids = env.ok(&["ps", "-q", "--no-trunc"]);
    let again = compose(&env, &dir, &["up", "-d"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains(&format!("Container {p}-web-1  Running")));
    for id in ids.lines() {
        assert!(
            env.ok(&["ps", "-q", "--no-trunc"]).contains(id),
            "{id} was recreated"
        );
    }
    // Changed (web's environment): only web is recreated, and its new address is seen.
    let cache_id = env.ok(&["inspect", "-f", "{{.Id}}", &format!("{p}-cache-1")]);
    let envfile = dir.join(".env");
    std::fs::write(
        &envfile,
        format!("PROJECT={p}\nWEB_PORT={port}\nGREETING=bonjour\n"),
    )
    .expect("env");
    let changed = compose(&env, &dir, &["up", "-d"]);
    assert!(
        stderr(&changed).contains(&format!("Container {p}-web-1  Recreated")),
        "{}",
        stderr(&changed)
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Id}}", &format!("{p}-cache-1")]),
        cache_id
    );
    assert_eq!(
        compose_ok(
            &env,
            &dir,
            &["exec", "-T", "web", "sh", "-c", "echo $GREETING"]
        )
        .trim(),
        "bonjour"
    );
    let web_ip = env.ok(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{p}_back\").IPAddress}}}}"),
        &format!("{p}-web-1"),
    ]);
    let hosts = compose_ok(&env, &dir, &["exec", "-T", "cache", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{web_ip}\t{p}-web-1 web")),
        "{hosts}"
    );

    compose_ok(&env, &dir, &["down", "-v", "-t", "1"]);
    assert_gone(&env, &p);
    env.assert_no_mounts();
}

#[test]
fn web_db_cache_project_root() {
    if require_root() {
        web_db_cache(false);
    }
}

#[test]
fn web_db_cache_project_rootless() {
    if require_root() {
        web_db_cache(true);
    }
}

/// The two-service v1 file the project started from: no `services:`, `links`, a quoted port
/// and an SELinux-labelled bind.
#[test]
fn v1_file_from_the_origin() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let port = free_port();
    let data = env.dir.path().join("data/db");
    let file = format!(
        "web:\n  image: busybox\n  command: httpd -f -p 3000 -h /www\n  ports:\n    - \"{port}:3000\"\n  links:\n    - db\n  volumes:\n    - {}:/www:Z\ndb:\n  image: busybox\n  command: sh -c 'echo from db > /data/index.html; exec sleep 3600'\n  volumes:\n    - {}:/data:Z\n",
        data.display(),
        data.display()
    );
    let dir = project_dir(&env, "origin", &[("docker-compose.yml", &file)]);
    let out = compose(&env, &dir, &["-p", "origin", "up", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(data.is_dir(), "bind source made");
    assert!(http_get(port).contains("from db"));
    let ping = compose_ok(
        &env,
        &dir,
        &[
            "-p", "origin", "exec", "-T", "web", "ping", "-c1", "-W2", "db",
        ],
    );
    assert!(ping.contains("1 packets received"), "{ping}");
    compose_ok(&env, &dir, &["-p", "origin", "down"]);
    assert_gone(&env, "origin");
}

#[test]
fn files_overrides_interpolation_and_profiles() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let base = "services:\n  app:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    environment:\n      - A=${A_VALUE:-from-default}\n      - B=base\n    labels:\n      tier: base\n  debug:\n    image: busybox\n    profiles: [debug]\n    command: [\"true\"]\n";
    let over = "services:\n  app:\n    environment:\n      B: override\n    labels:\n      extra: \"yes\"\n";
    let dir = project_dir(
        &env,
        "multi",
        &[
            ("compose.yaml", base),
            ("compose.override.yaml", over),
            ("alt.env", "A_VALUE=from-env-file\n"),
        ],
    );
    // compose.override.yaml is read beside compose.yaml.
    let cfg = compose_ok(&env, &dir, &["config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&cfg).expect("json");
    assert_eq!(v["name"], "multi");
    assert_eq!(v["services"]["app"]["environment"]["A"], "from-default");
    assert_eq!(v["services"]["app"]["environment"]["B"], "override");
    assert_eq!(v["services"]["app"]["labels"]["tier"], "base");
    assert!(v["services"].get("debug").is_none(), "profile not active");
    // --env-file replaces .env; -f given explicitly skips the override.
    let cfg = compose_ok(
        &env,
        &dir,
        &[
            "--env-file",
            "alt.env",
            "-f",
            "compose.yaml",
            "config",
            "--format",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&cfg).expect("json");
    assert_eq!(v["services"]["app"]["environment"]["A"], "from-env-file");
    assert_eq!(v["services"]["app"]["environment"]["B"], "base");
    // Profiles: by flag, by COMPOSE_PROFILES, or by naming the service.
    assert_eq!(
        compose_ok(&env, &dir, &["--profile", "debug", "config", "--services"]),
        "app\ndebug\n"
    );
    assert_eq!(compose_ok(&env, &dir, &["config", "--services"]), "app\n");
    assert_eq!(compose_ok(&env, &dir, &["config", "--profiles"]), "debug\n");
    let out = env
        .cmd(&["compose", "config", "--services"])
        .current_dir(&dir)
        .env("COMPOSE_PROFILES", "debug")
        .output()
        .expect("run");
    assert_eq!(stdout(&out), "app\ndebug\n");
    compose_ok(&env, &dir, &["-p", "multi", "up", "-d", "debug"]);
    assert!(
        env.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("multi-debug-1")
    );
    // The config hash is what the container carries.
    let hash = compose_ok(
        &env,
        &dir,
        &["--profile", "debug", "config", "--hash", "debug"],
    );
    let label = env.ok(&[
        "inspect",
        "-f",
        "{{index .Config.Labels \"com.docker.compose.config-hash\"}}",
        "multi-debug-1",
    ]);
    assert_eq!(hash.trim(), format!("debug {label}"));
    compose_ok(&env, &dir, &["--profile", "debug", "down"]);
    assert_gone(&env, "multi");
}

#[test]
fn scale_up_and_back() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let dir = project_dir(
        &env,
        "scaled",
        &[(
            "compose.yaml",
            "services:\n  worker:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    network_mode: none\n",
        )],
    );
    compose_ok(&env, &dir, &["up", "-d", "--scale", "worker=3"]);
    let names = env.ok(&["ps", "--format", "{{.Names}}"]);
    for n in 1..=3 {
        assert!(names.contains(&format!("scaled-worker-{n}")), "{names}");
    }
    let first = env.ok(&["inspect", "-f", "{{.Id}}", "scaled-worker-1"]);
    compose_ok(&env, &dir, &["up", "-d", "--scale", "worker=1"]);
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]), "scaled-worker-1");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Id}}", "scaled-worker-1"]),
        first
    );
    compose_ok(&env, &dir, &["down", "-t", "1"]);
    assert_gone(&env, "scaled");
}

#[test]
fn two_ups_at_once_make_one_container_per_replica() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let dir = project_dir(
        &env,
        "race",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n  b:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n    deploy:\n      replicas: 2\n",
        )],
    );
    let spawn = || {
        env.cmd(&["compose", "up", "-d"])
            .current_dir(&dir)
            .spawn()
            .expect("spawn")
    };
    let (mut x, mut y) = (spawn(), spawn());
    assert!(x.wait().expect("wait").success());
    assert!(y.wait().expect("wait").success());
    let mut names: Vec<String> = env
        .ok(&["ps", "-a", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(names, vec!["race-a-1", "race-b-1", "race-b-2"]);
    compose_ok(&env, &dir, &["down", "-t", "1"]);
    assert_gone(&env, "race");
}

#[test]
fn foreground_up_run_and_exec() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let file = "services:\n  job:\n    image: busybox\n    command: sh -c 'echo working; sleep 0.5; exit 3'\n  server:\n    image: busybox\n    command: [\"sleep\", \"3600\"]\n";
    let dir = project_dir(&env, "fg", &[("compose.yaml", file)]);
    let out = compose(&env, &dir, &["up", "--no-color", "--exit-code-from", "job"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    // Names padded to the longest shown (fg-server-1) plus one, as docker compose pads them.
    assert!(text.contains("fg-job-1     | working"), "{text}");
    assert!(text.contains("fg-job-1 exited with code 3"), "{text}");
    // Everything was stopped when the job ended.
    assert_eq!(env.ok(&["ps", "-q"]), "");
    // A one-off: its own container, its exit code, removed with --rm.
    let out = compose(
        &env,
        &dir,
        &[
            "run",
            "--rm",
            "-T",
            "server",
            "sh",
            "-c",
            "echo one-off; exit 4",
        ],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(stdout(&out).contains("one-off"));
    assert!(
        !env.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("run")
    );
    compose_ok(&env, &dir, &["up", "-d", "server"]);
    assert_eq!(
        compose_ok(
            &env,
            &dir,
            &["exec", "-T", "-e", "X=1", "server", "sh", "-c", "echo $X"]
        )
        .trim(),
        "1"
    );
    compose_fails(
        &env,
        &dir,
        &["exec", "-T", "nope", "true"],
        &["no such service: nope"],
    );
    compose_ok(&env, &dir, &["stop", "-t", "1"]);
    assert_eq!(env.ok(&["ps", "-q"]), "");
    compose_ok(&env, &dir, &["start", "server"]);
    assert_eq!(env.ok(&["ps", "--format", "{{.Names}}"]), "fg-server-1");
    compose_ok(&env, &dir, &["down", "-t", "1"]);
    assert_gone(&env, "fg");
}

#[test]
fn build_keys_make_the_services_image() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let file = "services:\n  app:\n    build:\n      context: ./app\n      args:\n        MESSAGE: built-by-compose\n    command: [\"cat\", \"/msg\"]\n";
    let dir = project_dir(
        &env,
        "bld",
        &[
            ("compose.yaml", file),
            (
                "app/Dockerfile",
                "FROM busybox\nARG MESSAGE\nRUN echo $MESSAGE > /msg\n",
            ),
        ],
    );
    let out = compose(&env, &dir, &["up", "--no-color"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("built-by-compose"),
        "{}",
        stdout(&out)
    );
    assert!(
        env.ok(&["images", "--format", "{{.Repository}}"])
            .contains("bld-app")
    );
    compose_ok(&env, &dir, &["down", "--rmi", "local"]);
    assert!(
        !env.ok(&["images", "--format", "{{.Repository}}"])
            .contains("bld-app")
    );
    assert_gone(&env, "bld");
}

#[test]
fn bad_input_names_file_service_and_key() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let cases: &[(&str, &[&str])] = &[
        (
            "services:\n  web:\n    image: busybox\n    ports: [\n",
            &["compose.yaml"],
        ),
        (
            "services:\n  web:\n    image: busybox\n    prots: [\"80\"]\n",
            &["compose.yaml:4", "services.web", "\"prots\""],
        ),
        (
            "services:\n  web:\n    image: busybox\n    environment:\n      DB: ${DB:?set DB}\n",
            &[
                "compose.yaml:5",
                "required variable DB is missing a value: set DB",
            ],
        ),
        (
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            &["dependency cycle detected: a -> b -> a"],
        ),
        (
            "services:\n  a:\n    image: busybox\n    volumes: [\"nope:/x\"]\n",
            &["service \"a\"", "undefined volume \"nope\""],
        ),
        (
            "services:\n  a:\n    image: busybox\n    ports: [\"99999:80\"]\n",
            &["service \"a\"", "ports:", "host port must be 1-65535"],
        ),
        (
            "services:\n  a:\n    build: ./missing\n",
            &["service \"a\"", "build context", "not a directory"],
        ),
        (
            "services:\n  a:\n    image: no-such-image-here\n    pull_policy: never\n",
            &["no-such-image-here"],
        ),
    ];
    for (i, (text, needles)) in cases.iter().enumerate() {
        let dir = project_dir(&env, &format!("bad{i}"), &[("compose.yaml", text)]);
        let err = compose_fails(&env, &dir, &["up", "-d"], needles);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert_gone(&env, &format!("bad{i}"));
    }
    // A port already taken: the service's container is not left half-made.
    let port = free_port();
    let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).expect("hold port");
    let dir = project_dir(
        &env,
        "taken",
        &[(
            "compose.yaml",
            &format!(
                "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"60\"]\n    ports: [\"127.0.0.1:{port}:80\"]\n"
            ),
        )],
    );
    compose_fails(&env, &dir, &["up", "-d"], &[&port.to_string()]);
    assert_eq!(env.ok(&["ps", "-q"]), "");
    // down after a failure removes everything the project made.
    compose_ok(&env, &dir, &["down"]);
    assert_gone(&env, "taken");
    // Without a compose file, a clear error.
    let empty = project_dir(&env, "empty", &[]);
    compose_fails(&env, &empty, &["ps"], &["no configuration file provided"]);
}
