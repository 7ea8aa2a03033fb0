//! `--userns=auto` (root): each container gets host ids of its own from the `containers`
//! user's subordinate ranges; the image's layers show through idmapped mounts, what the
//! container writes lands under its host ids, volumes it fills are its own, ranges never
//! overlap and come back when a container goes; bad input and rootless are refused cleanly.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{Env, ensure_auto_userns_range, require_root};

/// (container id, host id, count) of a container's uid_map.
fn uid_map(env: &Env, name: &str) -> (u64, u64, u64) {
    let text = env.ok(&["exec", name, "cat", "/proc/self/uid_map"]);
    let f: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    assert_eq!(f.len(), 3, "one line: {text}");
    (f[0], f[1], f[2])
}

#[test]
fn auto_ranges_idmapped_layers_and_volumes() {
    if !require_root() {
        return;
    }
    ensure_auto_userns_range();
    let env = Env::root();
    let sleep = ["busybox", "sleep", "60"];
    let run = |flags: &[&str]| {
        let mut args = vec!["run", "-d", "--network", "none"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&sleep);
        env.ok(&args).trim().to_string()
    };
    let a = run(&["--name", "ua", "--userns=auto", "-v", "autovol:/etc"]);
    run(&["--name", "ub", "--userns", "auto:size=1024"]);
    let (inside_a, host_a, count_a) = uid_map(&env, "ua");
    let (_, host_b, count_b) = uid_map(&env, "ub");
    assert_eq!((inside_a, count_a, count_b), (0, 65536, 1024));
    assert!(
        host_a >= 2_147_483_647,
        "from the containers range: {host_a}"
    );
    assert!(
        host_b >= host_a + count_a || host_a >= host_b + count_b,
        "ranges overlap: {host_a}+{count_a} and {host_b}+{count_b}"
    );

    // Root inside, a stranger outside: the sleeping process runs as host uid host_a.
    let pid = env.ok(&["inspect", "-f", "{{.State.Pid}}", "ua"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).expect("status");
    let uids = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(uids.contains(&host_a.to_string()), "{uids}");
    // The image's files are root's inside (idmapped layers, not copies), writable by it.
    let seen = env.ok(&[
        "exec",
        "ua",
        "sh",
        "-c",
        "id -u; stat -c %u:%g /bin/busybox; touch /made-inside && echo 1.2.3.4 x >> /etc/hosts && echo written",
    ]);
    assert_eq!(
        seen.split_whitespace().collect::<Vec<_>>(),
        ["0", "0:0", "written"]
    );
    let upper = env
        .root
        .join("containers")
        .join(&a)
        .join("upper/made-inside");
    let meta = std::fs::metadata(&upper).expect("the new file is in the upper layer");
    assert_eq!(u64::from(meta.uid()), host_a);
    // The image's /etc was copied into the new volume with owners shifted into the range.
    let data = env.root.join("volumes/autovol/_data");
    let passwd = std::fs::metadata(data.join("passwd")).expect("copied up");
    assert_eq!(u64::from(passwd.uid()), host_a);
    assert_eq!(
        u64::from(std::fs::metadata(&data).expect("data").uid()),
        host_a
    );
    assert_eq!(
        env.ok(&["exec", "ua", "stat", "-c", "%u", "/etc/passwd"])
            .trim(),
        "0"
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.UsernsMode}} {{index .HostConfig.IDMappings.UidMap 0}}",
            "ub"
        ])
        .trim(),
        format!("auto:size=1024 0:{host_b}:1024")
    );

    // commit gives the new layer the container's own ids, not its host ids.
    env.ok(&["commit", "ua", "auto-committed"]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "auto-committed",
            "stat",
            "-c",
            "%u:%g",
            "/made-inside"
        ])
        .trim(),
        "0:0"
    );
    // A removed container's range is handed out again.
    env.ok(&["rm", "-f", "ua"]);
    run(&["--name", "uc", "--userns=auto"]);
    assert_eq!(uid_map(&env, "uc").1, host_a);
    env.ok(&["rm", "-f", "ub", "uc"]);
    env.ok(&["volume", "rm", "autovol"]);
    env.assert_no_mounts();
}

#[test]
fn auto_bad_input_and_rootless_are_refused() {
    if !require_root() {
        return;
    }
    ensure_auto_userns_range();
    let env = Env::root();
    for (flag, needle) in [
        ("--userns=auto:size=0", "auto:size=N"),
        ("--userns=auto:size=lots", "auto:size=N"),
        ("--userns=auto:uidmapping=0:1:1", "only size=N"),
        ("--userns=sometimes", "expected host, keep-id, auto"),
    ] {
        env.fails(&["create", flag, "busybox"], 125, needle);
    }
    assert!(env.all_ids().is_empty(), "nothing created");
    let rootless = Env::rootless();
    rootless.fails(
        &["create", "--userns=auto", "busybox"],
        125,
        "--userns=auto is for root",
    );
    assert!(rootless.all_ids().is_empty());
}
