//! Confinement, root and rootless: the default seccomp filter (docker's default profile in
//! effect: the dangerous calls refused with EPERM, clone3 with ENOSYS, ordinary programs
//! untouched), `seccomp=unconfined`, a JSON profile, `no-new-privileges`,
//! `systempaths=unconfined`, `--cap-add`/`--cap-drop`, exec under the container's filter,
//! inspect's HostConfig, and bad input (one line, exit 125, nothing left).

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Env, require_root, stderr};

/// The static helper of tests/helpers/syscalls.c, built once per test binary.
fn syscall_helper() -> Option<PathBuf> {
    static HELPER: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    HELPER
        .get_or_init(|| {
            let dir = common::scratch_dir().join("sec");
            std::fs::create_dir_all(&dir).ok()?;
            let out = dir.join("syscalls");
            let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/helpers/syscalls.c");
            let ok = Command::new("cc")
                .args(["-static", "-O1", "-o"])
                .arg(&out)
                .arg(src)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("skipped: cc -static failed (apt-get install build-essential)");
                return None;
            }
            Command::new("chmod")
                .args(["-R", "a+rX"])
                .arg(&dir)
                .status()
                .ok()?;
            Some(out)
        })
        .clone()
}

const CALLS: &[&str] = &[
    "clone",
    "clone_newuser",
    "clone3",
    "unshare_user",
    "keyctl",
    "add_key",
    "bpf",
    "reboot",
    "swapon",
    "kexec_load",
    "open_by_handle_at",
    "io_uring_setup",
    "mount",
    "personality_query",
    "personality_norandom",
];

/// `run --rm FLAGS busybox sh -c SCRIPT`, required to succeed; its trimmed output.
fn sh_in(env: &Env, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    env.ok(&args)
}

/// `name=errno` for each call, run in a container with `flags`.
fn calls(env: &Env, flags: &[&str]) -> std::collections::HashMap<String, i32> {
    let helper = syscall_helper().expect("helper");
    let bind = format!("{}:/syscalls:ro", helper.display());
    let mut args = vec!["run", "--rm", "--network", "none", "-v", &bind];
    args.extend_from_slice(flags);
    args.push("busybox");
    args.push("/syscalls");
    args.extend_from_slice(CALLS);
    env.ok(&args)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("errno")))
        .collect()
}

fn default_filter_refuses_as_docker(env: &Env) {
    let status = env.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "grep",
        "-E",
        "^(Seccomp|NoNewPrivs):",
        "/proc/self/status",
    ]);
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t0"), "{status}");
    if syscall_helper().is_none() {
        return;
    }
    let got = calls(env, &[]);
    let eperm = [
        "clone_newuser",
        "unshare_user",
        "keyctl",
        "add_key",
        "bpf",
        "reboot",
        "swapon",
        "kexec_load",
        "open_by_handle_at",
        "io_uring_setup",
        "mount",
        "personality_norandom",
    ];
    for c in eperm {
        assert_eq!(got[c], libc::EPERM, "{c}: {got:?}");
    }
    assert_eq!(got["clone3"], libc::ENOSYS, "{got:?}");
    assert_eq!(got["clone"], 0, "{got:?}");
    assert_eq!(got["personality_query"], 0, "{got:?}");
    // Unconfined: the kernel answers (no EPERM where the filter alone refused).
    let open = calls(env, &["--security-opt", "seccomp=unconfined"]);
    assert_ne!(open["clone3"], libc::ENOSYS, "{open:?}");
    assert_ne!(open["keyctl"], libc::EPERM, "{open:?}");
    assert_ne!(open["io_uring_setup"], libc::EPERM, "{open:?}");
    assert_eq!(open["personality_norandom"], 0, "{open:?}");
    // Ordinary programs are untouched: a pipeline, a fork, ping on loopback's raw socket.
    let out = env.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo a | tr a b; (sleep 0.1 &) ; wait; ping -c1 -W1 127.0.0.1 >/dev/null && echo pinged",
    ]);
    assert_eq!(out, "b\npinged");
}

#[test]
fn default_filter_root() {
    if !require_root() {
        return;
    }
    default_filter_refuses_as_docker(&Env::root());
}

#[test]
fn default_filter_rootless() {
    if !require_root() {
        return;
    }
    default_filter_refuses_as_docker(&Env::rootless());
}

#[test]
fn options_profiles_and_capabilities() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let sh = |flags: &[&str], script: &str| {
        sh_in(&env, &[&["--network", "none"], flags].concat(), script)
    };
    assert_eq!(
        sh(
            &["--security-opt", "seccomp=unconfined"],
            "grep Seccomp: /proc/self/status"
        ),
        "Seccomp:\t0"
    );
    assert_eq!(
        sh(
            &["--security-opt", "no-new-privileges"],
            "grep NoNewPrivs /proc/self/status"
        ),
        "NoNewPrivs:\t1"
    );
    // A profile in docker's format that refuses mkdir with EACCES.
    let profile = env.dir.path().join("deny-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
    )
    .expect("profile");
    let opt = format!("seccomp={}", profile.display());
    assert_eq!(
        sh(
            &["--security-opt", &opt],
            "mkdir /x 2>&1; touch /y && echo touched"
        ),
        "mkdir: can't create directory '/x': Permission denied\ntouched"
    );
    // Masked and read-only paths, or none.
    let ro = "grep -c ' /proc/sys ' /proc/self/mountinfo || true";
    assert_eq!(sh(&[], ro), "1");
    assert_eq!(sh(&["--security-opt", "systempaths=unconfined"], ro), "0");
    // Capabilities.
    assert_eq!(
        sh(&["--cap-drop", "ALL"], "chown 1 /tmp 2>&1; echo $?"),
        "chown: /tmp: Operation not permitted\n1"
    );
    assert_eq!(
        sh(&["--cap-drop", "chown"], "grep CapEff /proc/self/status"),
        "CapEff:\t00000000a80425fa"
    );
    assert_eq!(
        sh(
            &["--cap-add", "NET_ADMIN"],
            "ip link set lo mtu 1400 && echo set"
        ),
        "set"
    );
    assert_eq!(sh(&[], "ip link set lo mtu 1400 2>/dev/null; echo $?"), "2");
    // CAP_SYS_ADMIN lets the filter allow mount and unshare, as docker's profile does.
    assert_eq!(
        sh(
            &["--cap-add", "SYS_ADMIN"],
            "mkdir -p /m && mount -t tmpfs t /m && echo mounted"
        ),
        "mounted"
    );
    // exec runs under the container's filter and capabilities; inspect records them.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "sec-exec",
        "--cap-add",
        "net_admin",
        "--security-opt",
        "no-new-privileges=true",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        env.ok(&[
            "exec",
            "sec-exec",
            "grep",
            "-E",
            "^(Seccomp|NoNewPrivs):",
            "/proc/self/status"
        ]),
        "NoNewPrivs:\t1\nSeccomp:\t2"
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{json .HostConfig.CapAdd}} {{json .HostConfig.SecurityOpt}} {{json .HostConfig.CapDrop}}", "sec-exec"]),
        r#"["CAP_NET_ADMIN"] ["no-new-privileges=true"] null"#
    );
    env.ok(&["rm", "-f", "sec-exec"]);
    let info = env.ok(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("name=seccomp,profile=builtin"), "{info}");
}

#[test]
fn bad_security_input_is_one_line_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let bad = env.dir.path().join("bad.json");
    std::fs::write(&bad, "{not json").expect("bad profile");
    let bad_opt = format!("seccomp={}", bad.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--cap-add", "FLY"],
            "invalid --cap-add \"FLY\": unknown capability",
        ),
        (
            vec!["--cap-drop", "CAP_NOPE"],
            "invalid --cap-drop \"CAP_NOPE\"",
        ),
        (
            vec!["--security-opt", "speed=fast"],
            "invalid --security-opt \"speed=fast\": expected",
        ),
        (vec!["--security-opt", &bad_opt], "not a seccomp profile"),
        (
            vec!["--security-opt", "seccomp=/no/such.json"],
            "reading /no/such.json",
        ),
        (
            vec!["--security-opt", "no-new-privileges=maybe"],
            "takes true or false",
        ),
    ];
    for (flags, needle) in cases {
        let mut args = vec!["run", "--rm", "--name", "sec-bad"];
        args.extend_from_slice(&flags);
        args.extend_from_slice(&["busybox", "true"]);
        env.fails(&args, 125, needle);
        assert_eq!(
            env.all_ids(),
            Vec::<String>::new(),
            "{flags:?} left a container"
        );
    }
    let out = env.run(&["create", "--cap-add", "FLY", "busybox"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
}

/// Found tried as a new user would: `cp -` of a gzip tar or of garbage, and `export` or
/// `cp CTR:PATH -` into a reader that stops early, must all end (never hang).
#[test]
fn cp_from_stdin_and_early_closing_readers_never_hang() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&["run", "-d", "--name", "pipes", "busybox", "sleep", "60"]);
    let src = env.dir.path().join("src");
    std::fs::create_dir_all(&src).expect("src");
    std::fs::write(src.join("note"), "from a gzip tar\n").expect("note");
    let tgz = Command::new("tar")
        .arg("czf")
        .arg("-")
        .arg("-C")
        .arg(&src)
        .arg("note")
        .output()
        .expect("tar");
    let with_input = |args: &[&str], input: &[u8]| {
        let mut child = env
            .cmd(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, input).expect("write");
        drop(stdin);
        child.wait_with_output().expect("wait")
    };
    let out = with_input(&["cp", "-", "pipes:/tmp"], &tgz.stdout);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.ok(&["exec", "pipes", "cat", "/tmp/note"]),
        "from a gzip tar"
    );
    let out = with_input(&["cp", "-", "pipes:/tmp"], b"garbage\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("stdin is not a tar archive"),
        "{}",
        stderr(&out)
    );
    // Readers that stop after 100 bytes: both commands end, quietly.
    let readers: [&[&str]; 2] = [&["export", "pipes"], &["cp", "pipes:/bin", "-"]];
    for args in readers {
        let mut child = env
            .cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = [0u8; 100];
        std::io::Read::read_exact(child.stdout.as_mut().expect("stdout"), &mut first)
            .expect("first bytes");
        drop(child.stdout.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "{args:?}: {status}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{args:?} hangs");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    env.ok(&["rm", "-f", "pipes"]);
}

fn read_only_sysctl_groups(env: &Env) {
    let sh = |flags: &[&str], script: &str| sh_in(env, flags, script);
    assert_eq!(
        sh(
            &["--network", "none", "--read-only"],
            "touch /x 2>&1; touch /tmp/x /run/x /var/tmp/x /dev/shm/x && echo writable"
        ),
        "touch: /x: Read-only file system\nwritable"
    );
    assert_eq!(
        sh(
            &["--sysctl", "net.ipv4.ip_forward=1"],
            "cat /proc/sys/net/ipv4/ip_forward"
        ),
        "1"
    );
    assert_eq!(
        sh(
            &[
                "--network",
                "none",
                "--group-add",
                "nogroup",
                "--group-add",
                "1234"
            ],
            "id -G"
        ),
        "0 1234 65534"
    );
    assert_eq!(
        sh(
            &["--network", "none", "--oom-score-adj", "500"],
            "cat /proc/self/oom_score_adj"
        ),
        "500"
    );
    // docker's network sysctls in a network namespace of the container's own: any group may
    // ping (every group the namespace maps, rootless), any user may bind a low port.
    let ping = sh(
        &["--network", "none", "-u", "65534"],
        "cat /proc/sys/net/ipv4/ping_group_range; httpd -p 80 -h /tmp && echo bound-80",
    );
    let (range, bound) = ping.split_once('\n').expect("two lines");
    assert!(range.starts_with("0\t"), "{ping}");
    let last: u64 = range[2..].parse().expect("number");
    assert!(last >= 65535, "{ping}");
    assert_eq!(bound, "bound-80");
    assert_eq!(
        sh(
            &[
                "--network",
                "none",
                "--sysctl",
                "net.ipv4.ping_group_range=0 10"
            ],
            "cat /proc/sys/net/ipv4/ping_group_range"
        ),
        "0\t10"
    );
}

#[test]
fn read_only_sysctl_group_add_oom_root() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    read_only_sysctl_groups(&env);
    env.ok(&[
        "create",
        "--name",
        "hc",
        "--read-only",
        "--sysctl",
        "net.core.somaxconn=1024",
        "--group-add",
        "7",
        "--oom-score-adj",
        "10",
        "busybox",
    ]);
    assert_eq!(
        env.ok(&[
            "inspect", "-f",
            "{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.Sysctls}} {{json .HostConfig.GroupAdd}} {{.HostConfig.OomScoreAdj}}",
            "hc",
        ]),
        r#"true {"net.core.somaxconn":"1024"} ["7"] 10"#
    );
    env.ok(&["rm", "hc"]);
    for (flags, needle) in [
        (
            &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"][..],
            "not allowed in the host's network namespace",
        ),
        (
            &["--sysctl", "vm.swappiness=1"][..],
            "vm.swappiness is not namespaced",
        ),
        (&["--oom-score-adj", "2000"][..], "between -1000 and 1000"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "true"]);
        env.fails(&args, 125, needle);
    }
    assert_eq!(env.all_ids(), Vec::<String>::new());
}

#[test]
fn read_only_sysctl_group_add_oom_rootless() {
    if !require_root() {
        return;
    }
    read_only_sysctl_groups(&Env::rootless());
}

fn host_namespaces(env: &Env) {
    let sh = |flags: &[&str], script: &str| {
        sh_in(env, &[&["--network", "none"], flags].concat(), script)
    };
    let host_pid1 = std::fs::read_to_string("/proc/1/comm").expect("comm");
    assert_eq!(sh(&["--pid", "host"], "cat /proc/1/comm"), host_pid1.trim());
    assert_eq!(sh(&[], "cat /proc/1/comm; true"), "sh");
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").expect("ipc");
    assert_eq!(
        sh(&["--ipc", "host"], "readlink /proc/self/ns/ipc"),
        host_ipc.display().to_string()
    );
    assert_ne!(
        sh(&[], "readlink /proc/self/ns/ipc"),
        host_ipc.display().to_string()
    );
    let host_name = nix::unistd::gethostname().expect("hostname");
    assert_eq!(
        sh(&["--uts", "host"], "hostname"),
        host_name.to_string_lossy()
    );
    // exec joins such a container without touching the host's namespaces.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hostns",
        "--pid",
        "host",
        "--uts",
        "host",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(
        env.ok(&["exec", "hostns", "cat", "/proc/1/comm"]),
        host_pid1.trim()
    );
    env.ok(&["rm", "-f", "hostns"]);
}

#[test]
fn host_pid_ipc_uts_root() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    host_namespaces(&env);
    env.fails(
        &[
            "run",
            "--rm",
            "--ipc",
            "host",
            "--sysctl",
            "kernel.shmmax=1",
            "busybox",
            "true",
        ],
        125,
        "not allowed in a shared IPC namespace",
    );
    env.fails(
        &["run", "--rm", "--uts", "container:x", "busybox", "true"],
        125,
        "invalid --uts \"container:x\": expected host or private",
    );
}

#[test]
fn host_pid_ipc_uts_rootless() {
    if !require_root() {
        return;
    }
    host_namespaces(&Env::rootless());
}

#[test]
fn devices_and_privileged() {
    if !require_root() {
        return;
    }
    for env in [Env::root(), Env::rootless()] {
        assert_eq!(
            env.ok(&[
                "run",
                "--rm",
                "--network",
                "none",
                "--device",
                "/dev/null:/dev/xnull",
                "busybox",
                "sh",
                "-c",
                "echo gone > /dev/xnull && echo written",
            ]),
            "written"
        );
        env.fails(
            &["run", "--rm", "--device", "/dev/nope", "busybox", "true"],
            125,
            "invalid --device \"/dev/nope\": /dev/nope is not a device on this host",
        );
        assert_eq!(env.all_ids(), Vec::<String>::new());
    }
    let env = Env::root();
    // Privileged: no filter, the host's devices, mount allowed, /sys writable.
    let out = env.ok(&[
        "run", "--rm", "--network", "none", "--privileged", "busybox", "sh", "-c",
        "grep Seccomp: /proc/self/status; ls /dev | wc -l; mkdir /m && mount -t tmpfs t /m && echo mounted; grep ' /sys ' /proc/self/mountinfo | grep -c ' rw,'",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Seccomp:\t0", "{out}");
    let host_devices = std::fs::read_dir("/dev").expect("/dev").count();
    let seen: usize = lines[1].trim().parse().expect("count");
    assert!(
        seen > 20 && seen + 10 >= host_devices / 2,
        "{out} vs {host_devices} on the host"
    );
    assert_eq!(&lines[2..], ["mounted", "1"], "{out}");
    env.ok(&[
        "create",
        "--name",
        "priv",
        "--privileged",
        "--device",
        "/dev/null:/dev/n2:rw",
        "busybox",
    ]);
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.Privileged}} {{json .HostConfig.Devices}}",
            "priv"
        ]),
        r#"true [{"CgroupPermissions":"rw","PathInContainer":"/dev/n2","PathOnHost":"/dev/null"}]"#
    );
    env.ok(&["rm", "priv"]);
}

/// CVE-2019-5736: a container process must never get at the skiff binary through
/// /proc/PID/exe — not of `--init`'s pid 1 (skiff itself, for the container's life), not of
/// a `skiff exec` on its way into the container. A watcher in the container tries to read
/// the exe of every process named skiff while execs come and go; the binary stays as it was.
#[test]
fn container_processes_cannot_reach_the_skiff_binary() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    assert_eq!(
        env.ok(&[
            "run", "--rm", "--init", "--network", "none", "busybox", "sh", "-c",
            "grep Name: /proc/1/status; cat /proc/1/exe >/dev/null 2>&1 && echo READ || echo denied",
        ]),
        "Name:\tskiff\ndenied"
    );
    let before = std::fs::read(common::binary()).expect("binary");
    // A read that succeeds after the process exec'd its command reads busybox: only a read
    // that yields something else reached skiff.
    let watcher = "while :; do for p in /proc/[0-9]*; do \
        if grep -q '^Name:.skiff' $p/status 2>/dev/null && cat $p/exe >/tmp/exe 2>/dev/null \
        && ! cmp -s /tmp/exe /bin/busybox; then echo $p >> /tmp/reached; fi; done; done";
    env.ok(&[
        "run",
        "-d",
        "--name",
        "watched",
        "--network",
        "none",
        "busybox",
        "sh",
        "-c",
        watcher,
    ]);
    // The window is short: without the protection about one exec in a hundred is reached.
    for _ in 0..200 {
        env.ok(&["exec", "watched", "true"]);
    }
    assert_eq!(
        env.ok(&[
            "exec",
            "watched",
            "sh",
            "-c",
            "cat /tmp/reached 2>/dev/null | wc -l"
        ]),
        "0"
    );
    env.ok(&["rm", "-f", "watched"]);
    assert!(std::fs::read(common::binary()).expect("binary") == before);
}

#[test]
fn masks_and_device_cgroup_rules() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let sh = |flags: &[&str], script: &str| {
        sh_in(&env, &[&["--network", "none"], flags].concat(), script)
    };
    let keys = "grep -c ' /proc/keys ' /proc/self/mountinfo || true";
    assert_eq!(sh(&[], keys), "1");
    assert_eq!(sh(&["--security-opt", "unmask=/proc/keys"], keys), "0");
    assert_eq!(
        sh(
            &["--security-opt", "mask=/etc/passwd"],
            "wc -c < /etc/passwd"
        ),
        "0"
    );
    // /dev/fuse is outside docker's default device rules: opening a node of it needs a rule.
    let open_fuse = "mknod /f c 10 229; (exec 3</f) 2>/dev/null && echo opened || echo refused";
    assert_eq!(sh(&[], open_fuse), "refused");
    assert_eq!(
        sh(&["--device-cgroup-rule", "c 10:229 rw"], open_fuse),
        "opened"
    );
    env.fails(
        &[
            "run",
            "--rm",
            "--device-cgroup-rule",
            "c 10 rw",
            "busybox",
            "true",
        ],
        125,
        "invalid --device-cgroup-rule \"c 10 rw\"",
    );
    env.fails(
        &[
            "run",
            "--rm",
            "--security-opt",
            "mask=etc",
            "busybox",
            "true",
        ],
        125,
        "is not an absolute path",
    );
}

/// CVE-2024-21626 and its kind: the container's processes get descriptors 0, 1 and 2 and
/// nothing else of skiff's — in every network mode, with --init, with a tty, and in exec.
#[test]
fn no_descriptor_leaks_into_the_container() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    // The shell globs its own fd directory: no child process, no pipe of its own; the glob's
    // directory is the lowest free descriptor, 3, so anything leaked would push it up.
    let probe = "for f in /proc/$$/fd/*; do printf '%s ' ${f##*/}; done";
    for flags in [
        &["--network", "none"][..],
        &["--network", "host"][..],
        &[][..],
        &["--init"][..],
        &["-t"][..],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", probe]);
        assert_eq!(env.ok(&args).trim(), "0 1 2 3", "{flags:?}");
    }
    env.ok(&["run", "-d", "--name", "fds", "busybox", "sleep", "60"]);
    assert_eq!(
        env.ok(&["exec", "fds", "sh", "-c", probe]).trim(),
        "0 1 2 3"
    );
    assert_eq!(
        env.ok(&["exec", "-t", "fds", "sh", "-c", probe]).trim(),
        "0 1 2 3"
    );
    env.ok(&["rm", "-f", "fds"]);
}

#[test]
fn pid_and_ipc_of_another_container() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "nsowner",
        "--network",
        "none",
        "busybox",
        "sleep",
        "60",
    ]);
    // Its pid 1 is ours to see.
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--pid",
            "container:nsowner",
            "busybox",
            "sh",
            "-c",
            "cat /proc/1/cmdline | tr '\\0' ' '",
        ])
        .trim(),
        "sleep 60"
    );
    if let Some(helper) = syscall_helper() {
        let bind = format!("{}:/syscalls:ro", helper.display());
        let run = |flags: &[&str], call: &str| {
            let mut args = vec!["run", "--rm", "--network", "none", "-v", &bind];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["busybox", "/syscalls", call]);
            env.ok(&args)
        };
        // A System V segment made in the owner's IPC namespace...
        assert_eq!(
            run(&["--ipc", "container:nsowner"], "shm_create"),
            "shm_create=0"
        );
        // ...is there for another container sharing it, not for one of its own.
        assert_eq!(
            run(&["--ipc", "container:nsowner"], "shm_find"),
            "shm_find=0"
        );
        assert_eq!(run(&[], "shm_find"), format!("shm_find={}", libc::ENOENT));
    }
    assert_eq!(
        env.ok(&[
            "create",
            "--name",
            "nsuser",
            "--pid",
            "container:nsowner",
            "--ipc",
            "container:nsowner",
            "busybox",
        ])
        .len(),
        64
    );
    assert_eq!(
        env.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}",
            "nsuser"
        ]),
        "container:nsowner container:nsowner"
    );
    env.ok(&["rm", "nsuser"]);
    env.fails(
        &[
            "run",
            "--rm",
            "--pid",
            "container:nobody-here",
            "busybox",
            "true",
        ],
        125,
        "cannot join the pid namespace of container nobody-here: No such container",
    );
    env.ok(&["rm", "-f", "nsowner"]);
    assert_eq!(env.all_ids(), Vec::<String>::new());
}
