//! The smaller `run` flags: --cidfile, --label-file, --annotation, --platform, --replace,
//! --log-driver none, and --log-opt rotation read back across every file by `logs`.

mod common;

use common::{Env, require_root};

#[test]
fn cidfile_labels_annotations_platform_replace() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let cid = env.dir.path().join("cid");
    let labels = env.dir.path().join("labels");
    std::fs::write(&labels, "# team labels\ntier=web\n\nowner=ops\n").expect("labels");
    let id = env.ok(&[
        "run",
        "-d",
        "--name",
        "flags",
        "--network",
        "none",
        "--cidfile",
        cid.to_str().expect("path"),
        "--label-file",
        labels.to_str().expect("path"),
        "--label",
        "extra=1",
        "--annotation",
        "org.example/k=v",
        "--platform",
        "linux",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(std::fs::read_to_string(&cid).expect("cidfile"), id.trim());
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Config.Labels.tier}} {{.Config.Labels.owner}} {{.Config.Labels.extra}} {{index .HostConfig.Annotations \"org.example/k\"}}", "flags"]).trim(),
        "web ops 1 v"
    );
    // An existing cidfile is refused before anything is made.
    env.fails(
        &[
            "run",
            "-d",
            "--cidfile",
            cid.to_str().expect("path"),
            "busybox",
            "true",
        ],
        125,
        "container ID file found",
    );
    let other = if cfg!(target_arch = "aarch64") {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    env.fails(
        &["run", "--rm", "--platform", other, "busybox", "true"],
        125,
        "host's platform only",
    );
    env.fails(
        &["run", "--rm", "--annotation", "novalue", "busybox", "true"],
        125,
        "--annotation",
    );
    // --replace: the old one goes, a new one takes the name.
    let new = env.ok(&[
        "run",
        "-d",
        "--replace",
        "--name",
        "flags",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_ne!(new.trim(), id.trim());
    assert_eq!(env.ok(&["ps", "-aq", "--no-trunc"]).trim(), new.trim());
    env.ok(&["rm", "-f", "flags"]);
}

#[test]
fn log_rotation_and_none() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "chatty",
        "--network",
        "none",
        "--log-opt",
        "max-size=10k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done",
    ]);
    env.wait_for("chatty", "{{.State.Status}}", "exited", 20);
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "chatty"]);
    let dir = env.root.join("containers").join(id.trim());
    for f in ["ctr.log", "ctr.log.1", "ctr.log.2"] {
        let len = std::fs::metadata(dir.join(f)).expect(f).len();
        assert!(len <= 10 * 1024, "{f} is {len} bytes");
    }
    assert!(!dir.join("ctr.log.3").exists(), "max-file=3 keeps three");
    let logs = env.ok(&["logs", "chatty"]);
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.last(), Some(&"line-2999"));
    let first: usize = lines[0].trim_start_matches("line-").parse().expect("n");
    assert_eq!(
        lines.len(),
        3000 - first,
        "contiguous across the three files"
    );
    assert!(
        lines.len() > 200,
        "more than the newest file: {}",
        lines.len()
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}",
            "chatty"
        ])
        .trim(),
        "json-file 10k"
    );
    env.ok(&[
        "run",
        "--name",
        "quiet",
        "--network",
        "none",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ]);
    env.fails(&["logs", "quiet"], 1, "--log-driver none");
    for (flag, value, needle) in [
        ("--log-driver", "syslog", "not supported"),
        ("--log-opt", "max-file=2", "needs max-size"),
        ("--log-opt", "max-size=lots", "max-size"),
    ] {
        env.fails(
            &["run", "--rm", flag, value, "busybox", "true"],
            125,
            needle,
        );
    }
    env.ok(&["rm", "chatty", "quiet"]);
    env.assert_no_containers();
}

#[test]
fn debug_logs_the_steps_and_the_default_stays_quiet() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let quiet = env.run(&["run", "--rm", "--network", "none", "busybox", "true"]);
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    for flag in [vec!["-D"], vec!["--log-level", "debug"]] {
        let mut args = flag.clone();
        args.extend(["run", "--rm", "--network", "none", "busybox", "true"]);
        let out = env.run(&args);
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("DEBUG") && err.contains("cloning the container's namespaces"),
            "{err}"
        );
        assert!(err.contains("the command runs"), "{err}");
    }
    let bad = env.run(&["--log-level", "chatty", "ps"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'chatty'"));
}
