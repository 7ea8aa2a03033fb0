//! Helpers of the compose tests: a project directory with files, `skiff compose` in it, and
//! the checks every test ends with.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::{Env, stderr, stdout};

/// A project directory in the env's temp dir, owned by whoever runs skiff.
pub fn project_dir(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = env.dir.path().join(name);
    std::fs::create_dir_all(&dir).expect("project dir");
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent");
        }
        std::fs::write(path, text).expect("write");
    }
    if env.rootless {
        let (uid, gid) = super::ensure_test_user();
        let out = std::process::Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(&dir)
            .output()
            .expect("chown");
        assert!(out.status.success());
    }
    dir
}

pub fn compose(env: &Env, dir: &Path, args: &[&str]) -> Output {
    let mut full = vec!["compose"];
    full.extend_from_slice(args);
    env.cmd(&full)
        .current_dir(dir)
        .output()
        .expect("skiff compose")
}

pub fn compose_ok(env: &Env, dir: &Path, args: &[&str]) -> String {
    let out = compose(env, dir, args);
    assert!(
        out.status.success(),
        "compose {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// A failing compose command: non-zero, and its error names every `needles`.
pub fn compose_fails(env: &Env, dir: &Path, args: &[&str], needles: &[&str]) -> String {
    let out = compose(env, dir, args);
    let err = stderr(&out);
    assert!(!out.status.success(), "compose {args:?} should fail: {err}");
    for n in needles {
        assert!(err.contains(n), "compose {args:?}: {n:?} not in {err:?}");
    }
    err
}

/// A foreground `compose up ARGS` in `dir`, interrupted (SIGINT, as Ctrl-C) once `running`
/// containers are up; its output once it has stopped them.
pub fn up_then_interrupt(env: &Env, dir: &Path, args: &[&str], running: usize) -> Output {
    let mut all = vec!["compose", "up"];
    all.extend_from_slice(args);
    let child = env
        .cmd(&all)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.ok(&["ps", "-q"]).lines().count() < running {
        assert!(std::time::Instant::now() < deadline, "never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    child.wait_with_output().expect("wait")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(b) if b.contains("200") => return b,
            _ if std::time::Instant::now() > deadline => panic!("no answer on {port}: {attempt:?}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

/// Nothing of project `p` is left: containers, networks, volumes.
pub fn assert_gone(env: &Env, p: &str) {
    let label = format!("label=com.docker.compose.project={p}");
    assert_eq!(
        env.ok(&["ps", "-aq", "--filter", &label]),
        "",
        "containers left"
    );
    assert!(
        !env.ok(&["network", "ls"]).contains(&format!("{p}_")),
        "networks left"
    );
    assert!(
        !env.ok(&["volume", "ls", "-q"]).contains(&format!("{p}_")),
        "volumes left"
    );
}
