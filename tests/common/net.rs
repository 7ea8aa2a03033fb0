//! Network test helpers shared by the bridge and rootless network tests: a busybox web
//! server, GET from 127.0.0.1, a probe from a network, a monitor killed, files left.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::Env;

/// GET / from 127.0.0.1:port, retried until the server is up (or 10 s pass).
pub fn http_get(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s =
                TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(b) if b.contains("200 OK") => return b,
            _ if Instant::now() > deadline => panic!("no answer from {addr}: {attempt:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A detached busybox httpd serving `text` on port 80.
pub fn web(env: &Env, name: &str, extra: &[&str], text: &str) -> String {
    let script = httpd_script(text);
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    env.ok(&args)
}

/// What `script` prints in a throwaway busybox on `network` (whatever its exit status).
pub fn probe_from(env: &Env, network: &str, script: &str) -> String {
    let out = env.run(&[
        "run",
        "--rm",
        "--network",
        network,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    super::stdout(&out)
}

/// SIGKILL the monitor of container `name`, then wait until `ps` shows it exited.
pub fn kill_monitor_and_wait_exit(env: &Env, name: &str) {
    let monitor: i32 = std::fs::read_dir(env.root.join("containers"))
        .expect("containers")
        .flatten()
        .find_map(|d| {
            let cfg = std::fs::read_to_string(d.path().join("config.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&cfg).ok()?;
            (v["name"] == name).then(|| v["state"]["monitor_pid"].as_i64())?
        })
        .expect("monitor pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = env.ok(&[
            "ps",
            "-a",
            "--format",
            "{{.State}}",
            "-f",
            &format!("name={name}"),
        ]);
        if status == "exited" {
            return;
        }
        assert!(Instant::now() < deadline, "still {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// A name no other test (or run of this one) uses.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `run` arguments after `-p`: a UDP echo server on 5353 in busybox, with the host's python3
/// bound in read-only (busybox's nc has no UDP).
pub const UDP_ECHO: [&str; 10] = [
    "-v",
    "/usr:/usr:ro",
    "-v",
    "/usr/lib:/lib:ro",
    "-v",
    "/usr/lib64:/lib64:ro",
    "busybox",
    "/usr/bin/python3",
    "-c",
    "import socket\ns=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5353))\nwhile True:\n    d, a = s.recvfrom(100)\n    s.sendto(b'got-' + d, a)\n",
];

/// A busybox shell line serving `text` on port 80 (httpd -v logs each client to stderr).
pub fn httpd_script(text: &str) -> String {
    format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -v -p 80 -h /www")
}
