//! Rootless networking is root's: the same scenarios run as root and as the unprivileged
//! test user, and what they show must match (interfaces, reachability by address, `--link`
//! hosts and env, `port`, inspect's network settings, connect/disconnect, `--ip` and
//! `--mac-address`, ping). Then what only rootless has: one pasta for all containers, kept
//! and restarted by `skiff-netns`, ports forwarded by the monitors, and nothing left once the
//! last container is gone. Traffic goes to 127.0.0.1, to bridges the tests make, and to a
//! dummy interface the test makes on the host.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::compose::free_port;
use common::net::{UDP_ECHO, http_get, kill_monitor_and_wait_exit, unique, walk, web};
use common::{Env, require_root, stderr};

fn have(tool: &str, package: &str) -> bool {
    let ok = common::host_tool(tool).is_some();
    if !ok {
        eprintln!("SKIP: {tool} is missing (apt-get install {package})");
    }
    ok
}

fn ready() -> bool {
    require_root() && have("pasta", "passt") && have("nft", "nftables")
}

/// Replace each value with its role, so two runs on different subnets compare.
fn roles(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (value, role) in values {
        if !value.is_empty() {
            out = out.replace(value, role);
        }
    }
    out
}

fn inspect(env: &Env, name: &str, format: &str) -> String {
    env.ok(&["inspect", "-f", format, name])
}

/// The shared scenario; returns (what, what was seen) with addresses and ports as roles.
fn scenario(env: &Env) -> Vec<(&'static str, String)> {
    let mut seen = Vec::new();
    let (a, c, net) = (unique("pa"), unique("pc"), unique("pn"));
    let port = free_port();
    web(env, &a, &["-p", &format!("127.0.0.1:{port}:80")], "page");
    let ip = inspect(env, &a, "{{.NetworkSettings.IPAddress}}");
    let gw = inspect(env, &a, "{{.NetworkSettings.Gateway}}");
    let port_text = port.to_string();
    let role = |t: &str| roles(t, &[(&ip, "A_IP"), (&gw, "GW"), (&port_text, "PORT")]);
    seen.push((
        "interfaces inside",
        env.ok(&["exec", &a, "ls", "/sys/class/net"]),
    ));
    seen.push((
        "by address from the default network",
        env.ok(&[
            "run",
            "--rm",
            "busybox",
            "wget",
            "-qO-",
            &format!("http://{ip}/"),
        ]),
    ));
    let linked = env.ok(&[
        "run",
        "--rm",
        "--link",
        &format!("{a}:db"),
        "busybox",
        "sh",
        "-c",
        "grep -w db /etc/hosts | cut -f1; env | grep '^DB_PORT' | sort; wget -qO- http://db/",
    ]);
    seen.push(("--link hosts, env and name", role(&linked)));
    seen.push(("port", role(&env.ok(&["port", &a]))));
    seen.push((
        "served on the host",
        http_get(&format!("127.0.0.1:{port}"))
            .contains("page")
            .to_string(),
    ));
    let settings = inspect(env, &a, "{{json .NetworkSettings.Networks}}");
    let v: serde_json::Value = serde_json::from_str(&settings).expect("networks json");
    let shape: Vec<String> = v
        .as_object()
        .expect("networks")
        .iter()
        .flat_map(|(name, n)| {
            n.as_object().expect("network").iter().map(move |(k, v)| {
                let set = !(v.is_null() || v == "" || v == 0);
                format!("{name}.{k}={set}")
            })
        })
        .collect();
    seen.push(("inspect's network settings", shape.join("\n")));
    seen.push((
        "ping by address",
        role(&env.ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("ping -c1 -W3 {ip} | grep -o '1 packets received'"),
        ])),
    ));
    // connect and disconnect, from a user network.
    env.ok(&["network", "create", &net]);
    let subnet = env.ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        &net,
    ]);
    let base = subnet.rsplit_once('.').expect("subnet").0.to_string();
    let fixed = format!("{base}.77");
    seen.push((
        "--ip and --mac-address",
        roles(
            &env.ok(&[
                "run",
                "--rm",
                "--network",
                &net,
                "--ip",
                &fixed,
                "--mac-address",
                "02:42:ac:11:00:77",
                "busybox",
                "sh",
                "-c",
                "ip addr show eth0 | grep -oE 'inet [0-9./]+|ether [0-9a-f:]+'",
            ]),
            &[(&base, "NET")],
        ),
    ));
    env.ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        &net,
        "busybox",
        "sleep",
        "60",
    ]);
    env.ok(&["network", "connect", "bridge", &c]);
    seen.push((
        "connected: interfaces, the default network reached",
        env.ok(&[
            "exec",
            &c,
            "sh",
            "-c",
            &format!("ls /sys/class/net; wget -qO- http://{ip}/"),
        ]),
    ));
    seen.push((
        "connected: ps networks",
        roles(
            &env.ok(&[
                "ps",
                "--filter",
                &format!("name={c}"),
                "--format",
                "{{.Networks}}",
            ]),
            &[(&net, "NET")],
        ),
    ));
    env.ok(&["network", "disconnect", "bridge", &c]);
    seen.push((
        "disconnected: interfaces",
        env.ok(&["exec", &c, "ls", "/sys/class/net"]),
    ));
    env.ok(&["rm", "-f", &a, &c]);
    env.ok(&["network", "rm", &net]);
    seen
}

#[test]
fn rootless_networking_matches_root() {
    if !ready() {
        return;
    }
    let root = Env::root();
    let user = Env::rootless();
    let (as_root, as_user) = std::thread::scope(|s| {
        let r = s.spawn(|| scenario(&root));
        let u = s.spawn(|| scenario(&user));
        (r.join(), u.join())
    });
    let (as_root, as_user) = (as_root.expect("root run"), as_user.expect("rootless run"));
    for ((what, r), (_, u)) in as_root.iter().zip(&as_user) {
        assert_eq!(r, u, "{what}: root saw {r:?}, rootless {u:?}");
    }
    assert_eq!(as_root.len(), as_user.len());
    // What root saw is what docker users expect, not two equal mistakes.
    let get = |what: &str| &as_root.iter().find(|(w, _)| *w == what).expect(what).1;
    assert_eq!(get("interfaces inside"), "eth0\nlo");
    assert_eq!(get("by address from the default network"), "page");
    assert!(
        get("--link hosts, env and name").starts_with("A_IP\nDB_PORT=tcp://A_IP:80"),
        "{}",
        get("--link hosts, env and name")
    );
    assert_eq!(get("port"), "80/tcp -> 127.0.0.1:PORT");
    assert_eq!(get("ping by address"), "1 packets received");
    assert_eq!(
        get("--ip and --mac-address"),
        "ether 02:42:ac:11:00:77\ninet NET.77/24"
    );
    assert_eq!(
        get("connected: interfaces, the default network reached"),
        "eth0\neth1\nlo\npage"
    );
    assert_eq!(get("connected: ps networks"), "NET,skiff");
    assert_eq!(get("disconnected: interfaces"), "eth0\nlo");
}

/// A line echoed back through a published port.
fn echo(conn: &mut BufReader<TcpStream>, line: &str) -> String {
    conn.get_mut()
        .write_all(format!("{line}\n").as_bytes())
        .expect("send");
    let mut got = String::new();
    conn.read_line(&mut got).expect("echo");
    got.trim().to_string()
}

/// An echo server's connection, retried until it answers.
fn connect_echo(port: u16) -> BufReader<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = TcpStream::connect(("127.0.0.1", port)).and_then(|s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut r = BufReader::new(s);
            r.get_mut().write_all(b"hello\n")?;
            let mut got = String::new();
            r.read_line(&mut got)?;
            if got.trim() == "hello" {
                Ok(r)
            } else {
                Err(std::io::Error::other("no echo yet"))
            }
        });
        match attempt {
            Ok(r) => return r,
            Err(e) => assert!(Instant::now() < deadline, "no echo on {port}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pasta_pid(env: &Env) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(env.runroot.join("netns-pasta.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.starts_with("pasta") || c.starts_with("passt"))
        .then_some(pid)
}

fn holder_pid(env: &Env) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(env.runroot.join("netns.pid"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.trim() == "skiff-netns")
        .then_some(pid)
}

/// An interface of the test's own on the host (a bridge with no ports) with one address, removed on drop: somewhere the
/// containers' outbound traffic may go.
struct HostAddress {
    link: String,
    ip: String,
    server: Option<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl HostAddress {
    fn serve(text: &str, port: u16) -> HostAddress {
        let n = std::process::id() % 250 + 1;
        let link = format!("skt{}", std::process::id() % 100_000);
        let ip = format!("198.18.{n}.1");
        let ipcmd = |args: &[&str]| {
            let ok = std::process::Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?}");
        };
        ipcmd(&["link", "add", &link, "type", "bridge"]);
        // Removed on drop from here on, whatever fails next.
        let mut me = HostAddress {
            link,
            ip,
            server: None,
            _dir: tempfile::tempdir().expect("tempdir"),
        };
        ipcmd(&["addr", "add", &format!("{}/32", me.ip), "dev", &me.link]);
        ipcmd(&["link", "set", &me.link, "up"]);
        std::fs::write(me._dir.path().join("index.html"), text).expect("page");
        let server = std::process::Command::new(common::host_tool("busybox").expect("busybox"))
            .args(["httpd", "-f", "-p", &format!("{}:{port}", me.ip), "-h"])
            .arg(me._dir.path())
            .spawn()
            .expect("httpd");
        me.server = Some(server);
        me
    }
}

impl Drop for HostAddress {
    fn drop(&mut self) {
        if let Some(s) = &mut self.server {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
    }
}

/// What a throwaway container fetches from `url`, retried (pasta may be restarting).
fn fetch_retried(env: &Env, url: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // (busybox 1.35's wget -T crashes: the shell's timeout instead.)
        let fetch = format!("timeout 5 wget -qO- {url}");
        let out = env.run(&["run", "--rm", "busybox", "sh", "-c", &fetch]);
        let text = common::stdout(&out);
        if text.contains(want) {
            return text;
        }
        if Instant::now() > deadline {
            return format!("{text}{}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rootless_ports_survive_neighbours_and_a_killed_pasta() {
    if !ready() {
        return;
    }
    let env = Env::rootless();
    let outside_port = free_port();
    let outside = HostAddress::serve("outside-page", outside_port);
    let outside_url = format!("http://{}:{outside_port}/", outside.ip);
    let (echo_port, web_port, other_port) = (free_port(), free_port(), free_port());
    let (e, w, o) = (unique("recho"), unique("rweb"), unique("rother"));
    env.ok(&[
        "run",
        "-d",
        "--name",
        &e,
        "-p",
        &format!("127.0.0.1:{echo_port}:7"),
        "busybox",
        "nc",
        "-ll",
        "-p",
        "7",
        "-e",
        "cat",
    ]);
    web(
        &env,
        &w,
        &["-p", &format!("127.0.0.1:{web_port}:80")],
        "kept",
    );
    let mut conn = connect_echo(echo_port);
    assert_eq!(echo(&mut conn, "one"), "one");
    // Outbound, through the one pasta.
    assert_eq!(
        fetch_retried(&env, &outside_url, "outside-page"),
        "outside-page"
    );
    // Another container's port comes and goes; this connection stays.
    web(
        &env,
        &o,
        &["-p", &format!("127.0.0.1:{other_port}:80")],
        "other",
    );
    assert!(http_get(&format!("127.0.0.1:{other_port}")).contains("other"));
    env.ok(&["rm", "-f", &o]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", other_port)).is_ok() {
        assert!(Instant::now() < deadline, "port {other_port} still open");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(echo(&mut conn, "two"), "two");
    // pasta killed: skiff-netns starts another; addresses, ports and connections stay.
    let ip_before = inspect(&env, &w, "{{.NetworkSettings.IPAddress}}");
    let old = pasta_pid(&env).expect("pasta runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill pasta");
    let deadline = Instant::now() + Duration::from_secs(10);
    while pasta_pid(&env).is_none_or(|p| p == old) {
        assert!(Instant::now() < deadline, "pasta was not started again");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        fetch_retried(&env, &outside_url, "outside-page"),
        "outside-page"
    );
    assert_eq!(
        inspect(&env, &w, "{{.NetworkSettings.IPAddress}}"),
        ip_before
    );
    assert!(http_get(&format!("127.0.0.1:{web_port}")).contains("kept"));
    assert_eq!(env.ok(&["port", &w, "80"]), format!("127.0.0.1:{web_port}"));
    assert_eq!(echo(&mut conn, "three"), "three");
    // Low ports name the sysctl; a port in use says so; neither leaves a container.
    env.fails(
        &["run", "--rm", "-p", "80:80", "busybox", "true"],
        125,
        "net.ipv4.ip_unprivileged_port_start",
    );
    env.fails(
        &[
            "run",
            "--rm",
            "-p",
            &format!("127.0.0.1:{web_port}:80"),
            "busybox",
            "true",
        ],
        125,
        "already in use",
    );
    assert_eq!(env.all_ids().len(), 2, "a refused run left a container");
    drop(conn);
    env.ok(&["rm", "-f", &e, &w]);
    drop(outside);
}

#[test]
fn rootless_udp_port_is_forwarded() {
    if !ready() {
        return;
    }
    let env = Env::rootless();
    let port = free_port();
    let name = unique("rudp");
    let publish = format!("127.0.0.1:{port}:5353/udp");
    let mut args = vec!["run", "-d", "--name", &name, "-p", &publish];
    args.extend(UDP_ECHO);
    env.ok(&args);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    let got = loop {
        sock.send_to(b"ping-udp\n", ("127.0.0.1", port))
            .expect("send");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            break String::from_utf8_lossy(&buf[..n]).to_string();
        }
        assert!(Instant::now() < deadline, "no UDP echo");
    };
    assert_eq!(got.trim(), "got-ping-udp");
    env.ok(&["rm", "-f", &name]);
    // Its host port is free again at once.
    std::net::UdpSocket::bind(("127.0.0.1", port)).expect("the UDP port was freed");
}

#[test]
fn rootless_namespace_and_pasta_end_with_the_last_container() {
    if !ready() {
        return;
    }
    let env = Env::rootless();
    // Runs in a row share one namespace (its holder lingers two seconds).
    env.ok(&["run", "--rm", "busybox", "true"]);
    let first = holder_pid(&env).expect("holder after a run");
    env.ok(&["run", "--rm", "busybox", "true"]);
    assert_eq!(holder_pid(&env), Some(first));
    let info = env.ok(&["info", "--format", "{{.RootlessNetworkCmd}}"]);
    assert_eq!(info, "pasta (running)");
    let name = unique("rlast");
    env.ok(&["run", "-d", "--name", &name, "busybox", "sleep", "60"]);
    let pasta = pasta_pid(&env).expect("pasta");
    env.ok(&["rm", "-f", &name]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while holder_pid(&env).is_some() || pasta_pid(&env).is_some() {
        assert!(
            Instant::now() < deadline,
            "the namespace outlived its linger"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let comm = std::fs::read_to_string(format!("/proc/{pasta}/comm")).unwrap_or_default();
    assert!(!comm.starts_with("pasta"), "pasta {pasta} still runs");
    let left: Vec<String> = std::fs::read_dir(&env.runroot)
        .expect("runroot")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("netns"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(walk(&env.runroot.join("leases")).is_empty());
    let info = env.ok(&["info", "--format", "{{.RootlessNetworkCmd}}"]);
    assert_eq!(info, "pasta");
}

#[test]
fn rootless_killed_monitor_leaves_no_lease_port_or_namespace() {
    if !ready() {
        return;
    }
    let env = Env::rootless();
    let net = unique("rcrash");
    env.ok(&["network", "create", &net]);
    let port = free_port();
    let name = unique("rcrashweb");
    web(
        &env,
        &name,
        &["--network", &net, "-p", &format!("127.0.0.1:{port}:80")],
        "crash",
    );
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("crash"));
    kill_monitor_and_wait_exit(&env, &name);
    // One more command after the exit was seen: its reconcile has run.
    env.ok(&["ps"]);
    assert!(walk(&env.runroot.join("leases")).is_empty(), "lease left");
    // The port died with the monitor that forwarded it.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let deadline = Instant::now() + Duration::from_secs(10);
    while holder_pid(&env).is_some() {
        assert!(Instant::now() < deadline, "namespace holder left");
        std::thread::sleep(Duration::from_millis(100));
    }
    env.ok(&["rm", &name]);
    env.ok(&["network", "rm", &net]);
}

#[test]
fn rootless_user_networks_are_isolated_and_internal_ones_closed() {
    if !ready() {
        return;
    }
    let env = Env::rootless();
    let (back, other, closed) = (unique("rback"), unique("rother"), unique("rclosed"));
    env.ok(&["network", "create", &back]);
    env.ok(&["network", "create", &other]);
    env.ok(&["network", "create", "--internal", &closed]);
    let db = unique("rdb");
    web(
        &env,
        &db,
        &["--network", &back, "--network-alias", "database"],
        "rootless-db",
    );
    let db_ip = inspect(
        &env,
        &db,
        &format!("{{{{(index .NetworkSettings.Networks \"{back}\").IPAddress}}}}"),
    );
    let probe = |net: &str| {
        let out = env.run(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "sh",
            "-c",
            &format!(
                "grep -c {db} /etc/hosts; timeout 3 wget -qO- http://{db_ip}/ | grep -q rootless-db && echo reached; wget -qO- http://database/"
            ),
        ]);
        common::stdout(&out)
    };
    assert_eq!(
        probe(&back),
        "1\nreached\nrootless-db\n",
        "same network: name, address, alias"
    );
    let text = probe(&other);
    assert!(
        text.starts_with('0') && !text.contains("reached"),
        "another network reached it: {text}"
    );
    // Internal: its bridge only, no default route.
    let links = env.ok(&[
        "run",
        "--rm",
        "--network",
        &closed,
        "busybox",
        "sh",
        "-c",
        "ls /sys/class/net; ip route | grep -c default; true",
    ]);
    assert_eq!(links, "eth0\nlo\n0");
    env.fails(&["network", "rm", &back], 1, "has active endpoints");
    env.ok(&["rm", "-f", &db]);
    for n in [&back, &other, &closed] {
        assert_eq!(&env.ok(&["network", "rm", n]), n);
    }
}

#[test]
fn own_stacks_pasta_and_slirp4netns_and_the_slirp4netns_fallback() {
    if !ready() || !have("slirp4netns", "slirp4netns") {
        return;
    }
    let env = Env::rootless();
    // --network pasta: the container's own pasta, eth0 copying the host; ports through it,
    // which keeps the client's address.
    let port = free_port();
    let name = unique("rpasta");
    web(
        &env,
        &name,
        &["--network", "pasta", "-p", &format!("127.0.0.1:{port}:80")],
        "own-pasta",
    );
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("own-pasta"));
    let log = stderr(&env.run(&["logs", &name]));
    assert!(log.contains("127.0.0.1"), "{log}");
    assert_eq!(inspect(&env, &name, "{{.HostConfig.NetworkMode}}"), "pasta");
    env.ok(&["rm", "-f", &name]);
    assert!(walk(&env.runroot.join("pasta")).is_empty(), "pasta left");
    let links = env.ok(&[
        "run",
        "--rm",
        "--network",
        "slirp4netns:mtu=1400",
        "busybox",
        "cat",
        "/sys/class/net/tap0/mtu",
    ]);
    assert_eq!(links, "1400");
    env.fails(
        &[
            "run",
            "--rm",
            "--network",
            "slirp4netns:color=blue",
            "busybox",
            "true",
        ],
        125,
        "invalid slirp4netns option",
    );
    // Without pasta, the user networks' namespace gets slirp4netns.
    let bin = env.dir.path().join("nopasta");
    std::fs::create_dir(&bin).expect("bin");
    for tool in [
        "slirp4netns",
        "newuidmap",
        "newgidmap",
        "env",
        "runuser",
        "nft",
    ] {
        let found = common::host_tool(tool).expect(tool);
        std::os::unix::fs::symlink(found, bin.join(tool)).expect("symlink");
    }
    let path = bin.to_str().expect("utf8").to_string();
    let run = |args: &[&str]| {
        let out = env.cmd(args).env("PATH", &path).output().expect("skiff");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        common::stdout(&out).trim().to_string()
    };
    let port = free_port();
    let name = unique("rslirp");
    run(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sh",
        "-c",
        &common::net::httpd_script("via-slirp"),
    ]);
    assert_eq!(run(&["exec", &name, "ls", "/sys/class/net"]), "eth0\nlo");
    assert_eq!(
        run(&["info", "--format", "{{.RootlessNetworkCmd}}"]),
        "slirp4netns (running)"
    );
    assert!(http_get(&format!("127.0.0.1:{port}")).contains("via-slirp"));
    run(&["rm", "-f", &name]);
}
