//! Storage drivers and where CI runs: a store on overlayfs (a CI job's container) goes through
//! fuse-overlayfs for run in every network mode, build, commit, diff, cp and volumes, root and
//! rootless; the copy driver (vfs) forced does the same; a store on tmpfs keeps the kernel's
//! overlay; a store keeps the driver it was made with and refuses another; bad storage flags;
//! and the child's own error, not a consequence of its death, in every network mode, with
//! nothing left behind.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Env, binary, require_root, stderr, stdout};

fn have_fuse_overlayfs() -> bool {
    let ok = Path::new("/usr/bin/fuse-overlayfs").exists() && Path::new("/dev/fuse").exists();
    if !ok {
        eprintln!("skipped: fuse-overlayfs or /dev/fuse missing (apt-get install fuse-overlayfs)");
    }
    ok
}

/// Live fuse-overlayfs processes serving this env's store (zombies, which this host's pid 1
/// reaps late, are not live).
fn fuse_daemons(env: &Env) -> Vec<String> {
    let store = env.root.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let p = entry.path();
        let Ok(cmdline) = std::fs::read(p.join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let state = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let zombie = state
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if cmdline.contains("fuse-overlayfs") && cmdline.contains(&store) && !zombie {
            found.push(cmdline);
        }
    }
    found
}

/// No fuse-overlayfs left for this store (they die with what they served; allow a moment).
fn assert_no_daemons(env: &Env) {
    for _ in 0..50 {
        if fuse_daemons(env).is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("fuse-overlayfs left running: {:?}", fuse_daemons(env));
}

fn info_storage(env: &Env) -> (String, String) {
    let driver = env.ok(&["info", "--format", "{{.Driver}}"]);
    let backing = env.ok(&["info", "--format", "{{json .DriverStatus}}"]);
    (driver, backing)
}

fn every_operation_on(env: &Env) {
    let tag = if env.rootless { "rl" } else { "root" };
    let modes: &[&str] = &["none", "host", "default"];
    for mode in modes {
        let out = env.ok(&[
            "run",
            "--rm",
            "--network",
            mode,
            "busybox",
            "sh",
            "-c",
            "rm /bin/ls && echo changed > /etc/motd && cat /etc/motd && ls /bin/ls 2>&1 || true",
        ]);
        assert!(out.starts_with("changed"), "{mode}: {out}");
        assert!(out.contains("No such file"), "{mode}: {out}");
    }
    // A stopped container: diff (the deletion shown as docker shows it), cp, commit.
    let name = format!("st-{tag}-{}", std::process::id());
    env.ok(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "rm /bin/ls && mkdir /d && echo kept > /d/f",
    ]);
    let diff = env.ok(&["diff", &name]);
    assert!(diff.lines().any(|l| l == "D /bin/ls"), "{diff}");
    assert!(diff.lines().any(|l| l == "A /d"), "{diff}");
    assert!(diff.lines().any(|l| l == "A /d/f"), "{diff}");
    assert!(!diff.lines().any(|l| l == "C /etc"), "{diff}");
    let out = env.run(&["cp", &format!("{name}:/d/f"), "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept"));
    let image = format!("committed-{tag}");
    env.ok(&["commit", &name, &image]);
    let out = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "cat /d/f; ls /bin/ls 2>&1 || true",
    ]);
    assert!(
        out.starts_with("kept") && out.contains("No such file"),
        "{out}"
    );
    env.ok(&["rm", &name]);

    // A build: RUN, COPY, and its deletion carried in the layer.
    let ctx = tempfile::Builder::new()
        .prefix("skiff-st-ctx-")
        .tempdir_in("/var/tmp")
        .expect("ctx");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nRUN rm /bin/cat && echo built > /built\nCOPY note /note\n",
    )
    .expect("Dockerfile");
    std::fs::write(ctx.path().join("note"), "copied\n").expect("note");
    Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(ctx.path())
        .status()
        .expect("chmod");
    let built = format!("built-{tag}");
    env.ok(&[
        "build",
        "-q",
        "-t",
        &built,
        ctx.path().to_str().expect("utf8"),
    ]);
    let vol = format!("stvol-{tag}-{}", std::process::id());
    let out = env.ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/data"),
        &built,
        "sh",
        "-c",
        "echo v > /data/v; cat /built /note /data/v; ls /bin/cat 2>&1 || true",
    ]);
    assert!(out.starts_with("built\ncopied\nv"), "{out}");
    assert!(out.contains("No such file"), "{out}");
    env.ok(&["rmi", &built, &image]);
    env.ok(&["volume", "rm", &vol]);
    assert_no_daemons(env);
}

#[test]
fn store_on_overlayfs_goes_through_fuse_overlayfs_root() {
    if !require_root() || !have_fuse_overlayfs() {
        return;
    }
    let env = Env::on_filesystem(false, "overlay");
    let (driver, backing) = info_storage(&env);
    assert_eq!(driver, "fuse-overlayfs");
    assert!(backing.contains("\"overlayfs\""), "{backing}");
    let text = env.ok(&["info"]);
    assert!(
        text.contains(" Storage Driver: fuse-overlayfs\n  Backing Filesystem: overlayfs"),
        "{text}"
    );
    every_operation_on(&env);
}

#[test]
fn store_on_overlayfs_goes_through_fuse_overlayfs_rootless() {
    if !require_root() || !have_fuse_overlayfs() {
        return;
    }
    let env = Env::on_filesystem(true, "overlay");
    assert_eq!(info_storage(&env).0, "fuse-overlayfs");
    every_operation_on(&env);
}

#[test]
fn store_on_tmpfs_keeps_the_kernel_overlay() {
    if !require_root() {
        return;
    }
    let env = Env::on_filesystem(false, "tmpfs");
    let (driver, backing) = info_storage(&env);
    assert_eq!(driver, "overlay");
    assert!(backing.contains("\"tmpfs\""), "{backing}");
    assert_eq!(
        env.ok(&["run", "--rm", "--network", "none", "busybox", "echo", "hi"]),
        "hi"
    );
}

#[test]
fn a_store_keeps_its_driver_and_refuses_another() {
    if !require_root() || !have_fuse_overlayfs() {
        return;
    }
    // Forced on ext4 when the store is made: it stays so without the flag.
    let env = Env::with_flags(false, &["--storage-driver", "fuse-overlayfs"]);
    assert_eq!(info_storage(&env).0, "fuse-overlayfs");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "echo",
            "forced"
        ]),
        "forced"
    );
    let plain = |args: &[&str]| {
        Command::new(binary())
            .arg("--root")
            .arg(&env.root)
            .arg("--runroot")
            .arg(&env.runroot)
            .args(args)
            .output()
            .expect("skiff")
    };
    let out = plain(&["info", "--format", "{{.Driver}}"]);
    assert_eq!(stdout(&out).trim(), "fuse-overlayfs");
    // --storage-opt overlay.mount_program: that program serves the containers' roots.
    let program = env.dir.path().join("my-fuse-overlayfs");
    std::os::unix::fs::symlink("/usr/bin/fuse-overlayfs", &program).expect("symlink");
    let opt = format!("overlay.mount_program={}", program.display());
    let out = plain(&[
        "--storage-opt",
        &opt,
        "info",
        "--format",
        "{{json .DriverStatus}}",
    ]);
    assert!(
        stdout(&out).contains(&program.display().to_string()),
        "{}",
        stdout(&out)
    );
    let out = plain(&[
        "--storage-opt",
        &opt,
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        "cat /proc/2/cmdline | tr '\\0' ' '",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&program.display().to_string()),
        "{}",
        stdout(&out)
    );
    for (args, code) in [
        (&["--storage-driver", "overlay", "ps"][..], 1),
        (
            &[
                "--storage-driver",
                "overlay2",
                "run",
                "--rm",
                "busybox",
                "true",
            ][..],
            125,
        ),
    ] {
        let out = plain(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains("was made with the fuse-overlayfs storage driver, not overlay: use --storage-driver fuse-overlayfs"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // Bad storage flags: one line naming what is wrong and what would be right.
    let out = plain(&[
        "--storage-opt",
        "size=10G",
        "run",
        "--rm",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot limit a container's writable layer"),
        "{}",
        stderr(&out)
    );
    let out = plain(&["--storage-opt", "colour=red", "ps"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("unknown key \"colour\"; skiff knows overlay.mount_program"));
    let out = plain(&["--storage-driver", "zfs", "ps"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("expected overlay, fuse-overlayfs or vfs"),
        "{}",
        stderr(&out)
    );
}

/// The child's own failure reaches the user in every network mode: the cause, its exit
/// code, nothing left behind.
#[test]
fn the_childs_own_error_in_every_network_mode() {
    if !require_root() {
        return;
    }
    // The kernel's overlay forced on an overlayfs store: the mount fails in the child.
    let broken = Env::create_with(false, Some("overlay"), &["--storage-driver", "overlay"]);
    for mode in ["none", "host", "default"] {
        let out = broken.run(&["run", "--rm", "--network", mode, "busybox", "true"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{mode}: {err}");
        assert!(
            err.contains("mounting the container's overlay") && err.contains("on overlayfs"),
            "{mode}: {err}"
        );
        assert!(
            !err.contains("Broken pipe") && !err.contains("network namespace"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(
            broken.all_ids(),
            Vec::<String>::new(),
            "{mode}: a container was left"
        );
        let leases: Vec<_> = std::fs::read_dir(broken.runroot.join("leases"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|net| {
                std::fs::read_dir(net.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|l| l.path())
            .collect();
        assert!(leases.is_empty(), "{mode}: leases left: {leases:?}");
    }
    let env = Env::on_filesystem(false, "overlay");
    // A missing command, in each mode, on the working (fuse) store: 127 and its name.
    for mode in ["none", "host", "default"] {
        let out = env.run(&["run", "--rm", "--network", mode, "busybox", "/no/such/cmd"]);
        assert_eq!(out.status.code(), Some(127), "{mode}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("/no/such/cmd"),
            "{mode}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
    }
    // A missing -w on a read-only root: the child cannot make it, and says so.
    for mode in ["none", "host", "default"] {
        let out = env.run(&[
            "run",
            "--rm",
            "--network",
            mode,
            "--read-only",
            "-w",
            "/nonexistent",
            "busybox",
            "true",
        ]);
        assert_eq!(out.status.code(), Some(125), "{mode}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("creating working directory /nonexistent: Read-only file system"),
            "{mode}: {}",
            stderr(&out)
        );
    }
    assert_eq!(env.all_ids(), Vec::<String>::new());
}

#[test]
fn copy_driver_forced_runs_everything_root() {
    if !require_root() {
        return;
    }
    let env = Env::with_flags(false, &["--storage-driver", "vfs"]);
    let (driver, backing) = info_storage(&env);
    assert_eq!(driver, "vfs");
    assert!(backing.contains("\"extfs\""), "{backing}");
    every_operation_on(&env);
}

#[test]
fn copy_driver_forced_runs_everything_rootless() {
    if !require_root() {
        return;
    }
    let env = Env::with_flags(true, &["--storage-driver", "vfs"]);
    assert_eq!(info_storage(&env).0, "vfs");
    every_operation_on(&env);
}
