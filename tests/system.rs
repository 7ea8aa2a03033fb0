//! `system df`, `system prune` (stopped containers, unused networks, dangling images, the
//! build cache and, with --volumes, anonymous volumes), `container prune`, the `container`
//! group and `container exists`.

mod common;

use common::{Env, require_root};

fn df_row(env: &Env, kind: &str) -> Vec<String> {
    let out = env.ok(&["system", "df"]);
    let line = out
        .lines()
        .find(|l| l.starts_with(kind))
        .unwrap_or_else(|| panic!("no {kind} row in {out}"));
    line[kind.len()..]
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn df_and_prune() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let header = env.ok(&["system", "df"]);
    assert!(
        header.starts_with("TYPE           TOTAL     ACTIVE    SIZE      RECLAIMABLE"),
        "{header}"
    );
    env.ok(&[
        "run",
        "--name",
        "stopped",
        "--network",
        "none",
        "-v",
        "/anon",
        "busybox",
        "sh",
        "-c",
        "echo x > /anon/f; echo y > /file",
    ]);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "running",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    env.ok(&["network", "create", "unusednet"]);
    // A dangling image: imported without a name.
    let tar = common::busybox_tar();
    let dangling = env.ok(&["import", tar.to_str().expect("path")]);
    assert_eq!(df_row(&env, "Containers")[..2], ["2", "1"]);
    assert_eq!(df_row(&env, "Local Volumes")[..2], ["1", "1"]);
    env.ok(&["container", "rm", "stopped"]);
    assert_eq!(
        df_row(&env, "Local Volumes")[..2],
        ["1", "0"],
        "anonymous volume left unused"
    );
    env.ok(&[
        "run",
        "--name",
        "stopped2",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    let out = env.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.contains("Deleted Containers:") && out.contains("Deleted Networks:\nunusednet"),
        "{out}"
    );
    assert!(
        out.contains("Deleted Volumes:") && out.contains("Deleted Images:"),
        "{out}"
    );
    assert!(
        out.contains(dangling.trim()) || out.contains(&dangling.trim()[7..19]),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space:"), "{out}");
    let names = env.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names.trim(), "running", "the running one stays");
    assert_eq!(df_row(&env, "Local Volumes")[0], "0");
    assert!(
        env.ok(&["images", "-q"]).lines().count() == 1,
        "busybox stays: it is in use and named"
    );
    // container prune, and the group's aliases.
    env.ok(&[
        "container",
        "run",
        "--name",
        "stopped3",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    assert_eq!(
        env.run(&["container", "exists", "stopped3"]).status.code(),
        Some(0)
    );
    assert_eq!(
        env.run(&["container", "exists", "nosuch"]).status.code(),
        Some(1)
    );
    let out = env.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert_eq!(
        env.run(&["container", "exists", "stopped3"]).status.code(),
        Some(1)
    );
    assert_eq!(
        env.ok(&["container", "ls", "--format", "{{.Names}}"])
            .trim(),
        "running"
    );
    env.fails(
        &["system", "prune", "-f", "--filter", "colour=red"],
        1,
        "invalid filter",
    );
    // The system and image groups' aliases.
    assert_eq!(
        env.ok(&["system", "info", "--format", "{{.ContainersRunning}}"])
            .trim(),
        "1"
    );
    let saved = env.dir.path().join("saved.tar");
    env.ok(&[
        "image",
        "save",
        "-o",
        saved.to_str().expect("path"),
        "busybox",
    ]);
    assert!(std::fs::metadata(&saved).expect("archive").len() > 1_000_000);
    env.ok(&["rm", "-f", "running"]);
}
