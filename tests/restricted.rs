//! Restricted hosts, as CI containers are: a read-only cgroup tree (containers run without a
//! cgroup, warned once; limits refused clearly) and no /dev/net/tun rootless (the error
//! names the device and the fix; --network none still works); `system check` reports both
//! with their fixes. Each runs skiff inside a mount
//! namespace made for the test, so the host is untouched.

mod common;

use std::process::Command;

use common::{Env, TEST_USER, binary, require_root, stderr, stdout};

/// Run a shell script in a private mount namespace; `SKIFF` in it is skiff with the env's
/// store (run as the test user for a rootless env).
fn in_mount_ns(env: &Env, setup: &str, script: &str) -> std::process::Output {
    let skiff = format!(
        "{} --root {} --runroot {}",
        binary().display(),
        env.root.display(),
        env.runroot.display()
    );
    let body = if env.rootless {
        format!(
            "{setup}\nrunuser -u {TEST_USER} -- env HOME={home} XDG_RUNTIME_DIR={run} SKIFF='{skiff}' sh -c '{script}'",
            home = env.dir.path().display(),
            run = env.runroot.display(),
        )
    } else {
        format!("{setup}\nexport SKIFF='{skiff}'\n{script}")
    };
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &body])
        .output()
        .expect("unshare")
}

#[test]
fn read_only_cgroup_tree_runs_without_a_cgroup_and_refuses_limits() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let setup = "for c in /sys/fs/cgroup /sys/fs/cgroup/*; do mount -o remount,bind,ro $c 2>/dev/null; done\n\
                 touch /sys/fs/cgroup/memory/skiff-probe 2>/dev/null && echo WRITABLE";
    let out = in_mount_ns(
        &env,
        setup,
        "$SKIFF run --rm --network none busybox echo first; echo rc=$?; \
         $SKIFF run --rm --network none busybox echo second; echo rc=$?; \
         $SKIFF run --rm --network none -m 32m busybox echo limited; echo rc=$?; \
         $SKIFF system check; echo check=$?",
    );
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(
        !o.contains("WRITABLE"),
        "the test could not make the tree read-only"
    );
    assert!(o.contains("first\nrc=0\nsecond\nrc=0\n"), "{o}\n{e}");
    assert!(o.contains("rc=125") && !o.contains("limited"), "{o}\n{e}");
    // One warning for the two runs, then the refusal naming the cause and the fix.
    assert_eq!(
        e.matches("warning: containers run without a cgroup")
            .count(),
        1,
        "{e}"
    );
    assert!(
        e.contains("resource limits are not available: the cgroup tree is read-only here")
            && e.contains("writable /sys/fs/cgroup"),
        "{e}"
    );
    // `system check` says so, with the fix, and still passes: containers run.
    assert!(
        o.contains("cgroups            warn    v1: containers run without limits"),
        "{o}"
    );
    assert!(o.contains("fix: resource limits are not available"), "{o}");
    assert!(
        o.contains("storage            ok      overlay on extfs"),
        "{o}"
    );
    assert!(o.contains("check=0"), "{o}");
    let json = env.ok(&["system", "check", "--json"]);
    let checks: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert!(
        checks
            .as_array()
            .expect("a list")
            .iter()
            .any(|c| c["check"] == "storage" && c["status"] == "ok"),
        "{json}"
    );
    assert_eq!(env.all_ids(), Vec::<String>::new());
}

#[test]
fn no_tun_device_rootless_names_the_device_and_none_still_works() {
    if !require_root() {
        return;
    }
    let env = Env::rootless();
    let out = in_mount_ns(
        &env,
        "mount -t tmpfs tmpfs /dev/net",
        "$SKIFF run --rm busybox true; echo rc=$?; $SKIFF run --rm --network none busybox echo isolated; \
         $SKIFF system check; echo check=$?",
    );
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(o.contains("rc=125\nisolated"), "{o}\n{e}");
    assert!(
        o.contains("/dev/net/tun       warn    cannot be opened"),
        "{o}"
    );
    assert!(o.contains("id mapping         ok"), "{o}");
    assert!(o.contains("check=0"), "{o}");
    assert!(
        e.contains("/dev/net/tun must exist with mode 0666") && e.contains("--network none"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}

/// The first lines of a CI job: `version` and `info` answer, as docker's do, with no daemon.
#[test]
fn version_answers_like_docker() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let text = env.ok(&["version"]);
    assert!(text.starts_with("Client: skiff\n Version:"), "{text}");
    assert!(text.contains("\nServer: skiff"), "{text}");
    let ours = env!("CARGO_PKG_VERSION");
    assert_eq!(
        env.ok(&["version", "--format", "{{.Server.Version}}"]),
        ours
    );
    assert_eq!(
        env.ok(&["version", "-f", "{{.Client.Os}}/{{.Client.Arch}}"]),
        "linux/amd64"
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["version", "--format", "{{json .}}"])).expect("json");
    assert_eq!(json["Client"]["Version"], ours);
    assert!(env.run(&["version", "--format", "{{.Nope"]).status.code() == Some(1));
}
