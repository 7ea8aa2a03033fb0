//! Rootless networking on a host with no default route (a laptop offline, a sandboxed CI
//! runner): pasta refuses there, so skiff falls back to slirp4netns, and containers and
//! published ports still work. The "host" is a network namespace made for the test, with
//! only a loopback.

mod common;

use std::process::Command;

use common::Env;

/// `cmd` as one shell word list.
fn shell_words(cmd: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    std::iter::once(quote(cmd.get_program()))
        .chain(cmd.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn rootless_containers_work_offline_through_slirp4netns() {
    if !common::require_root() {
        return;
    }
    if common::host_tool("slirp4netns").is_none() {
        eprintln!("SKIP: slirp4netns is missing (apt-get install slirp4netns)");
        return;
    }
    let env = Env::rootless();
    let port = common::compose::free_port();
    let name = format!("offline-{}", std::process::id());
    let serve = env.cmd(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        &common::net::httpd_script("served-offline"),
    ]);
    let list = env.cmd(&["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    let remove = env.cmd(&["rm", "-f", &name]);
    // Without slirp4netns, the failure says why and what to do.
    let bin = env.dir.path().join("noslirp");
    std::fs::create_dir(&bin).expect("bin");
    for tool in ["pasta", "newuidmap", "newgidmap", "env", "runuser"] {
        let found = common::host_tool(tool).expect(tool);
        std::os::unix::fs::symlink(found, bin.join(tool)).expect("symlink");
    }
    let refused = env.cmd(&["run", "--rm", "busybox", "true"]);
    // Everything in one new network namespace: no route out, only lo.
    let script = format!(
        "set -e; ip link set lo up; test -z \"$(ip route show default)\"; \
         if PATH={bin} {refused} 2>&1; then exit 1; fi; \
         echo \"left: $(ls -A {runroot} | grep '^netns' | tr '\\n' ' ')\"; \
         {list}; {serve} >/dev/null; \
         for i in $(seq 100); do busybox wget -qO- http://127.0.0.1:{port}/ && break; sleep 0.1; done; \
         {remove} >/dev/null",
        bin = bin.display(),
        runroot = env.runroot.display(),
        refused = shell_words(&refused),
        list = shell_words(&list),
        serve = shell_words(&serve),
        remove = shell_words(&remove),
    );
    let out = Command::new("unshare")
        .args(["-n", "--", "sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("unshare");
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    let (refusal, rest) = text.split_once('\n').unwrap_or_default();
    assert!(
        refusal.contains("no default route") && refusal.contains("apt-get install slirp4netns"),
        "{refusal}"
    );
    // The refused start left none of its holder's files (pid, logs).
    let (left, rest) = rest.split_once('\n').unwrap_or_default();
    assert_eq!(left.trim(), "left:");
    assert_eq!(rest, "eth0\nlo\nserved-offline\n");
    assert!(env.all_ids().is_empty());
    // Once the namespace's holder has lingered out, none of its files is left, nor any of
    // the refused start's (its logs).
    let netns_files = || -> Vec<String> {
        std::fs::read_dir(&env.runroot)
            .expect("runroot")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("netns"))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !netns_files().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(netns_files().is_empty(), "{:?}", netns_files());
}
