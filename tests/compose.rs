//! `skiff compose`, root and rootless, with compose files written here: a web + database +
//! cache project (named volumes, a custom network, aliases, a healthcheck-gated dependency, a
//! one-shot migration job), the project's original v1 file, several `-f` files with overrides,
//! interpolation from `.env` and `--env-file`, profiles, scaling, recreation on change only,
//! two `up`s at once, a foreground `up`, `run`/`exec`, builds, and every error the issue
//! names (one clear line, nothing half-made left).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Env, require_root, stderr, stdout};

/// A project directory in the env's temp dir, owned by whoever runs skiff.
fn project_dir(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).expect("project dir");
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent");
        }
        std::fs::write(path, text).expect("write");
    }
    if env.rootless {
        let (uid, gid) = common::ensure_test_user();
        let out = std::process::Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(&dir)
            .output()
            .expect("chown");
        assert!(out.status.success());
    }
    dir
}

fn compose(env: &Env, dir: &Path, args: &[&str]) -> Output {
    let mut full = vec!["compose"];
    full.extend_from_slice(args);
    env.cmd(&full)
        .current_dir(dir)
        .output()
        .expect("skiff compose")
}

fn compose_ok(env: &Env, dir: &Path, args: &[&str]) -> String {
    let out = compose(env, dir, args);
    assert!(
        out.status.success(),
        "compose {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// A failing compose command: non-zero, and its error names every `needles`.
fn compose_fails(env: &Env, dir: &Path, args: &[&str], needles: &[&str]) -> String {
    let out = compose(env, dir, args);
    let err = stderr(&out);
    assert!(!out.status.success(), "compose {args:?} should fail: {err}");
    for n in needles {
        assert!(err.contains(n), "compose {args:?}: {n:?} not in {err:?}");
    }
    err
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(b) if b.contains("200") => return b,
            _ if std::time::Instant::now() > deadline => panic!("no answer on {port}: {attempt:?}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

/// Nothing of project `p` is left: containers, networks, volumes.
fn assert_gone(env: &Env, p: &str) {
    let label = format!("label=com.docker.compose.project={p}");
    assert_eq!(
        env.ok(&["ps", "-aq", "--filter", &label]),
        "",
        "containers left"
    );
    assert!(
        !env.ok(&["network", "ls"]).contains(&format!("{p}_")),
        "networks left"
    );
    assert!(
        !env.ok(&["volume", "ls", "-q"]).contains(&format!("{p}_")),
        "volumes left"
    );
}

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
    let child = env
        .cmd(&["compose", "up", "--no-color", "-t", "1"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.ok(&["ps", "-q"]).lines().count() < 2 {
        assert!(std::time::Instant::now() < deadline, "never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = child.wait_with_output().expect("wait");
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
    let child = env
        .cmd(&["compose", "up", "--no-color", "app"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.ok(&["ps", "-q"]).lines().count() < 2 {
        assert!(std::time::Instant::now() < deadline, "never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = child.wait_with_output().expect("wait");
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
