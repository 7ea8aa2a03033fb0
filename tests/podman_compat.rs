//! podman's conveniences, so scripts written for podman run unchanged: --all on stop, kill,
//! pause, unpause, restart and rm; --ignore; rm -t and --depend; ps --sort/--noheading/--size;
//! untag; exists for containers, images, volumes and networks.

mod common;

use common::{Env, require_root};

#[test]
fn all_ignore_depend_and_listing_options() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    for n in ["b-one", "a-two"] {
        env.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "none",
            "busybox",
            "sleep",
            "60",
        ]);
    }
    env.ok(&[
        "run",
        "-d",
        "--name",
        "c-user",
        "--network",
        "container:b-one",
        "busybox",
        "sleep",
        "60",
    ]);
    let sorted = env.ok(&[
        "ps",
        "--sort",
        "names",
        "--noheading",
        "--format",
        "table {{.Names}}",
    ]);
    assert_eq!(
        sorted.split_whitespace().collect::<Vec<_>>(),
        ["a-two", "b-one", "c-user"]
    );
    let sized = env.ok(&["ps", "--size", "--filter", "name=a-two"]);
    assert!(
        sized.lines().next().is_some_and(|h| h.ends_with("SIZE")),
        "{sized}"
    );
    assert!(sized.contains("(virtual "), "{sized}");
    env.ok(&["pause", "--all"]);
    assert_eq!(
        env.ok(&["ps", "-q", "--filter", "status=paused"])
            .lines()
            .count(),
        3
    );
    env.ok(&["unpause", "--all"]);
    env.ok(&["stop", "--ignore", "-t", "0", "a-two", "no-such-container"]);
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "a-two"])
            .trim(),
        "exited"
    );
    env.fails(&["stop", "no-such-container"], 1, "No such container");
    // --depend: what shares b-one's network namespace goes first, then b-one.
    let out = env.ok(&["rm", "-f", "--depend", "b-one"]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["c-user", "b-one"]
    );
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    env.ok(&["rm", "-t", "0", "slow"]);
    env.ok(&["kill", "--all"]);
    env.ok(&["rm", "--all"]);
    env.assert_no_containers();
    assert_eq!(
        env.run(&["container", "exists", "slow"]).status.code(),
        Some(1)
    );
    // exists and untag.
    assert_eq!(
        env.run(&["image", "exists", "busybox"]).status.code(),
        Some(0)
    );
    assert_eq!(
        env.run(&["image", "exists", "nosuch"]).status.code(),
        Some(1)
    );
    env.ok(&["tag", "busybox", "extra:1"]);
    env.ok(&["untag", "busybox", "extra:1"]);
    assert_eq!(
        env.run(&["image", "exists", "extra:1"]).status.code(),
        Some(1)
    );
    assert_eq!(
        env.run(&["image", "exists", "busybox"]).status.code(),
        Some(0)
    );
    env.ok(&["volume", "create", "vv"]);
    assert_eq!(env.run(&["volume", "exists", "vv"]).status.code(), Some(0));
    assert_eq!(env.run(&["volume", "exists", "ww"]).status.code(), Some(1));
    assert_eq!(
        env.run(&["network", "exists", "nonet"]).status.code(),
        Some(1)
    );
    let vols = env.ok(&["volume", "ls", "--noheading"]);
    assert!(
        vols.trim().ends_with("vv") && !vols.contains("VOLUME NAME"),
        "{vols}"
    );
    env.ok(&["volume", "rm", "vv"]);
}

#[test]
fn ps_filters_for_every_docker_key() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&["network", "create", "psfilter-net"]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "first",
        "--network",
        "none",
        "-v",
        "psvol:/data",
        "busybox",
        "sleep",
        "60",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "second",
        "--network",
        "psfilter-net",
        "-p",
        "127.0.0.1:18555:80",
        "--expose",
        "9000",
        "busybox",
        "sleep",
        "60",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "third",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    let names = |filter: &str| -> Vec<String> {
        let mut v: Vec<String> = env
            .ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("before=third"), ["first", "second"]);
    assert_eq!(names("since=first"), ["second", "third"]);
    assert_eq!(names("volume=psvol"), ["first"]);
    assert_eq!(names("volume=/data"), ["first"]);
    assert_eq!(names("network=psfilter-net"), ["second"]);
    assert_eq!(names("publish=18555"), ["second"]);
    assert_eq!(names("publish=18000-19000/tcp"), ["second"]);
    assert!(names("publish=18555/udp").is_empty());
    assert_eq!(names("expose=80"), ["second"]);
    assert_eq!(names("expose=9000"), ["second"]);
    assert!(names("is-task=true").is_empty());
    assert_eq!(names("is-task=false").len(), 3);
    env.fails(&["ps", "--filter", "publish=eighty"], 1, "publish=eighty");
    env.fails(&["ps", "--filter", "before=nosuch"], 1, "No such container");
    env.ok(&["rm", "-f", "first", "second", "third"]);
    env.ok(&["volume", "rm", "psvol"]);
    env.ok(&["network", "rm", "psfilter-net"]);
}
