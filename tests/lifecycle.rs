//! Containers as root: run, exit codes, the detached lifecycle, and bad input leaving nothing.

mod common;

use std::time::{Duration, Instant};

use common::{Env, require_root, stderr, stdout};

#[test]
fn run_prints_and_passes_exit_codes() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let out = env.run(&["run", "--rm", "busybox", "echo", "hello"]);
    assert_eq!(stdout(&out), "hello\n");
    assert_eq!(out.status.code(), Some(0));

    let out = env.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), "to-err\n");

    // 128+N when a signal ends the command (under --init: pid 1 cannot be killed from inside).
    let out = env.run(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "kill -KILL $$",
    ]);
    assert_eq!(out.status.code(), Some(137));

    env.fails(
        &["run", "--rm", "busybox", "no-such-cmd"],
        127,
        "executable file not found",
    );
    env.fails(
        &["run", "--rm", "busybox", "/etc/passwd"],
        126,
        "permission denied",
    );
    env.assert_no_containers();
    env.assert_no_mounts();
}

#[test]
fn bad_input_is_one_line_exit_125_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.fails(
        // --pull=never: tests never reach out to Docker Hub.
        &["run", "--rm", "--pull=never", "no-such-image", "true"],
        125,
        "No such image: no-such-image",
    );
    env.fails(
        &["run", "--rm", "-u", "ghost", "busybox", "true"],
        125,
        "unable to find user ghost",
    );
    env.fails(
        &["run", "--rm", "-u", "a:b:c", "busybox", "true"],
        125,
        "invalid user",
    );
    env.fails(
        &["run", "--rm", "-e", "=x", "busybox", "true"],
        125,
        "invalid environment variable",
    );
    env.fails(
        &[
            "run",
            "--rm",
            "--env-file",
            "/no/such/file",
            "busybox",
            "true",
        ],
        125,
        "--env-file /no/such/file",
    );
    env.fails(
        &["run", "--rm", "-w", "relative", "busybox", "true"],
        125,
        "absolute path",
    );
    env.fails(
        &["run", "--rm", "--stop-signal", "NOPE", "busybox", "true"],
        125,
        "invalid signal",
    );
    env.fails(
        &["run", "--rm", "--name", "bad/name", "busybox", "true"],
        125,
        "invalid container name",
    );
    env.fails(
        &["run", "--rm", "--network", "nosuchnet", "busybox", "true"],
        125,
        "network nosuchnet not found",
    );
    env.fails(&["stop", "nosuch"], 1, "No such container: nosuch");
    env.fails(&["logs", "nosuch"], 1, "No such container: nosuch");
    env.fails(&["ps", "--filter", "color=red"], 1, "invalid filter");
    // No command: the image's CMD is reset by an empty --entrypoint and none is given.
    env.fails(
        &["run", "--rm", "--entrypoint", "", "busybox"],
        125,
        "no command specified",
    );
    env.assert_no_containers();
    env.assert_no_mounts();

    env.ok(&["run", "-d", "--name", "taken", "busybox", "sleep", "60"]);
    env.fails(
        &["run", "--name", "taken", "busybox", "true"],
        125,
        "is already in use",
    );
    env.fails(&["rm", "taken"], 1, "container is running");
    assert_eq!(env.all_ids().len(), 1);
    assert_eq!(env.ok(&["rm", "-f", "taken"]), "taken");
    env.assert_no_containers();
}

#[test]
fn detached_lifecycle_with_logs_exec_stop_wait_rename() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let script =
        "echo out; echo err >&2; trap 'echo bye; exit 7' TERM; while true; do sleep 0.1; done";
    let id = env.ok(&["run", "-d", "--name", "web", "busybox", "sh", "-c", script]);
    assert_eq!(id.len(), 64, "{id}");

    let ps = env.ok(&["ps", "--format", "{{.Names}}|{{.Status}}|{{.Image}}"]);
    assert!(ps.starts_with("web|Up "), "{ps}");
    assert!(ps.ends_with("|busybox"), "{ps}");

    // stdout and stderr stay apart in the log.
    wait_for(|| env.ok(&["logs", "web"]).contains("out"));
    let logs = env.run(&["logs", "web"]);
    assert_eq!(stdout(&logs), "out\n");
    assert_eq!(stderr(&logs), "err\n");

    // exec joins every namespace (pid too: it sees the container's pid 1) and passes codes.
    let ps_in = env.ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert!(ps_in.starts_with("sh -c echo out"), "{ps_in}");
    let out = env.run(&[
        "exec",
        "-e",
        "X=42",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "web",
        "sh",
        "-c",
        "echo $X $(pwd) $(id -u); exit 4",
    ]);
    assert_eq!(stdout(&out), "42 /tmp 65534\n");
    assert_eq!(out.status.code(), Some(4));
    env.fails(
        &["exec", "web", "no-such-cmd"],
        127,
        "executable file not found",
    );

    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.Running}} {{.Name}} {{index .Args 0}}",
            "web"
        ]),
        "running true /web -c"
    );
    let pid: i32 = env
        .ok(&["inspect", "-f", "{{.State.Pid}}", "web"])
        .parse()
        .expect("pid");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    assert_eq!(env.ok(&["stop", "web"]), "web");
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{.State.Status}}",
            "web"
        ]),
        "7 exited"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid 1 must be gone"
    );
    assert_eq!(env.ok(&["wait", "web"]), "7");
    assert!(env.ok(&["logs", "web"]).contains("bye"));
    let status = env.ok(&["ps", "-a", "--format", "{{.Status}}"]);
    assert!(status.starts_with("Exited (7) "), "{status}");

    env.ok(&["rename", "web", "web2"]);
    env.fails(
        &["inspect", "--type", "container", "web"],
        1,
        "No such object",
    );
    env.ok(&["start", "web2"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Running}}", "web2"]),
        "true"
    );
    // exec -d returns at once; its process runs on inside the container.
    env.ok(&[
        "exec",
        "-d",
        "web2",
        "sh",
        "-c",
        "sleep 0.2; touch /tmp/from-exec-d",
    ]);
    wait_for(|| {
        env.run(&["exec", "web2", "test", "-f", "/tmp/from-exec-d"])
            .status
            .success()
    });
    // restart: a new pid 1, running again.
    let before = env.ok(&["inspect", "-f", "{{.State.Pid}}", "web2"]);
    assert_eq!(env.ok(&["restart", "-t", "1", "web2"]), "web2");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Running}}", "web2"]),
        "true"
    );
    assert_ne!(env.ok(&["inspect", "-f", "{{.State.Pid}}", "web2"]), before);
    env.ok(&["kill", "web2"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "web2"]),
        "137"
    );
    env.ok(&["rm", &id[..12]]);
    env.assert_no_containers();
    env.assert_no_mounts();
}

#[test]
fn create_then_start_attached() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let id = env.ok(&[
        "create",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo started; exit 2",
    ]);
    assert_eq!(env.ok(&["ps", "-a", "--format", "{{.Status}}"]), "Created");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.StartedAt}}", &id]),
        "0001-01-01T00:00:00Z"
    );
    let out = env.run(&["start", "-a", "c1"]);
    assert_eq!(stdout(&out), "started\n");
    assert_eq!(out.status.code(), Some(2));
    env.ok(&["rm", "c1"]);
}

#[test]
fn config_flags_reach_the_process() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let envfile = env.dir.path().join("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=yes\n\nOVER=file\n").expect("env file");
    let out = env.ok(&[
        "run",
        "--rm",
        "-e",
        "OVER=flag",
        "--env-file",
        envfile.to_str().expect("path"),
        "-w",
        "/work/dir",
        "-u",
        "33:33",
        "--hostname",
        "box1",
        "busybox",
        "sh",
        "-c",
        "echo $FROM_FILE $OVER $(pwd) $(id -u):$(id -g) $(hostname) $HOME",
    ]);
    assert_eq!(out, "yes flag /work/dir 33:33 box1 /var/www");
    // Root in the container has docker's default capabilities, not all of them.
    let caps = env.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    assert_eq!(caps, "CapEff:\t00000000a80425fb");
    let caps = env.ok(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "busybox",
        "sh",
        "-c",
        "grep CapEff /proc/self/status",
    ]);
    assert_eq!(caps, "CapEff:\t0000000000000000");
    // Docker's masked and read-only paths, and the container's own /etc/hostname.
    let out = env.run(&[
        "run",
        "--rm",
        "--hostname",
        "h2",
        "busybox",
        "sh",
        "-c",
        "cat /proc/kcore | wc -c; echo 1 > /proc/sys/vm/drop_caches || echo ro; cat /etc/hostname",
    ]);
    assert_eq!(stdout(&out), "0\nro\nh2\n");
    // --entrypoint replaces the image's command.
    assert_eq!(
        env.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]),
        "a b"
    );
}

#[test]
fn init_is_pid_one_and_forwards_stop_signal() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    // With --init the command is not pid 1.
    assert_eq!(
        env.ok(&["run", "--rm", "--init", "busybox", "sh", "-c", "echo $$"]),
        "2"
    );
    // Orphans are reaped: a background child that exits must not stay a zombie.
    let zombies = env.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "sh -c 'sleep 0.1 &' ; sleep 0.5; ps -o stat | grep -c Z || true",
    ]);
    assert_eq!(zombies, "0");
    // sleep as pid 1 ignores SIGTERM (killed after the timeout: 137); under --init it dies of it.
    env.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        "with-init",
        "busybox",
        "sleep",
        "100",
    ]);
    env.ok(&["run", "-d", "--name", "no-init", "busybox", "sleep", "100"]);
    env.ok(&["stop", "-t", "1", "with-init", "no-init"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "with-init"]),
        "143"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "no-init"]),
        "137"
    );
}

#[test]
fn foreground_run_forwards_signals() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let mut child = env
        .cmd(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "trap 'exit 5' INT; echo ready; while true; do sleep 0.1; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 6];
    std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut first).expect("ready");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(5));
    env.assert_no_containers();
}

#[test]
fn host_network_shares_the_hosts_interfaces() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let host = nix::unistd::gethostname()
        .expect("hostname")
        .to_string_lossy()
        .into_owned();
    let out = env.ok(&["run", "--rm", "--network", "host", "busybox", "hostname"]);
    assert_eq!(out, host);
    let links = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net",
    ]);
    assert_eq!(links, "lo", "--network none has only lo");
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "condition not met in 10s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn logs_tail_timestamps_and_follow_ends_with_container() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "--name",
        "lg",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; done",
    ]);
    assert_eq!(env.ok(&["logs", "--tail", "1", "lg"]), "line3");
    let ts = env.ok(&["logs", "-t", "--tail", "1", "lg"]);
    assert!(
        ts.ends_with(" line3") && ts.contains('T') && ts.contains('Z'),
        "{ts}"
    );
    env.fails(
        &["logs", "--since", "yesterday", "lg"],
        1,
        "invalid --since",
    );

    env.ok(&[
        "run",
        "-d",
        "--name",
        "fl",
        "busybox",
        "sh",
        "-c",
        "sleep 0.5; echo late; sleep 0.5",
    ]);
    let start = Instant::now();
    let followed = env.ok(&["logs", "-f", "fl"]);
    assert_eq!(followed, "late");
    assert!(start.elapsed() < Duration::from_secs(10));
}
