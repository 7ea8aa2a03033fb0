//! `skiff build`, `commit`, `diff`, root and rootless: docker's data-volume-container tutorial
//! with a built image, every Dockerfile instruction checked through `inspect` and `run`,
//! ONBUILD, multi-stage builds and --target, .dockerignore, ADD of archives and URLs, the
//! cache, whiteouts, commit, push/pull and save/load of built images, the layer tar's owners
//! in rootless mode, bad input (one line, exit 1, nothing left behind), a build killed
//! mid-RUN, and stdin / -o / --iidfile / --label.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{Env, Registry, have_registry, require_root, stderr, stdout};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A build context: a fresh directory under /var/tmp with these files (parents made), readable
/// by the rootless test user too.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("skiff-build-ctx-")
        .tempdir_in("/var/tmp")
        .expect("context dir");
    for (name, content) in files {
        write(dir.path(), name, content);
    }
    dir
}

fn write(dir: &Path, name: &str, content: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(&p, content).expect("write");
    let out = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir)
        .output()
        .expect("chmod");
    assert!(out.status.success());
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// `skiff build ARGS... CONTEXT`.
fn build(env: &Env, args: &[&str], ctx: &Path) -> Output {
    let mut all: Vec<&str> = vec!["build"];
    all.extend_from_slice(args);
    all.push(s(ctx));
    env.run(&all)
}

/// `skiff build`, required to succeed; returns stdout (the progress lines).
fn build_ok(env: &Env, args: &[&str], ctx: &Path) -> String {
    let out = build(env, args, ctx);
    assert!(
        out.status.success(),
        "build {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// A skiff command with `input` on its stdin.
fn with_stdin(env: &Env, args: &[&str], input: &[u8]) -> Output {
    let mut child = env
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn skiff");
    let mut sin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer");
    out
}

fn config_json(env: &Env, image: &str) -> serde_json::Value {
    let text = env.ok(&["inspect", "-f", "{{json .Config}}", image]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("config of {image}: {e}: {text}"))
}

fn image_ids(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = env
        .ok(&["images", "-q", "--no-trunc"])
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Scratch directories of builds under the store's tmp.
fn build_scratch(env: &Env) -> Vec<String> {
    std::fs::read_dir(env.root.join("tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("build-"))
                .collect()
        })
        .unwrap_or_default()
}

fn run_host(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(out.status.success(), "{cmd:?}: {}", stderr(&out));
    out
}

/// A one-shot HTTP server on 127.0.0.1 answering every GET with `body`; stopped on drop.
struct HttpServer {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    fn start(body: Vec<u8>) -> HttpServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            }
        });
        HttpServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("f");
    std::fs::write(&p, data).expect("write");
    let out = run_host(Command::new("sha256sum").arg(&p));
    stdout(&out)
        .split_whitespace()
        .next()
        .expect("sum")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. The tutorial's data-packed volume container

fn data_volume_container(env: &Env) {
    let ctx = context(&[
        ("htdocs/index.html", "<h1>packed in the image</h1>\n"),
        (
            "Dockerfile",
            "FROM busybox\nADD htdocs/ /usr/local/apache2/htdocs\nVOLUME /usr/local/apache2/htdocs\n",
        ),
    ]);
    build_ok(env, &["-t", "data"], ctx.path());
    env.ok(&["create", "--name", "dc", "data"]);
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "dc",
            "busybox",
            "cat",
            "/usr/local/apache2/htdocs/index.html",
        ]),
        "<h1>packed in the image</h1>"
    );
    env.ok(&["rm", "-v", "dc"]);
}

#[test]
fn tutorial_data_volume_container_root() {
    if !require_root() {
        return;
    }
    data_volume_container(&Env::root());
}

#[test]
fn tutorial_data_volume_container_rootless() {
    if !require_root() {
        return;
    }
    data_volume_container(&Env::rootless());
}

// ---------------------------------------------------------------------------------------------
// 2. Every instruction

const EVERY_INSTRUCTION: &str = r#"ARG BASE=busybox
FROM $BASE
ARG VERSION=1.0
ARG FROMCLI=default-value
ENV A=1 B="two words"
ENV C three
ENV V=$VERSION W=${FROMCLI}
LABEL org.test.version="$VERSION" other=x
MAINTAINER Jane Doe <jane@example.com>
EXPOSE 80 53/udp
ADD add.txt /added/
COPY --chown=1:1 --chmod=0600 copy.txt /copied/copy.txt
VOLUME /data
WORKDIR /a
WORKDIR b
WORKDIR c
RUN echo "shell-form $VERSION" > /shell.txt && pwd > /pwd.txt && echo "$B" > /b.txt
RUN ["/bin/sh", "-c", "echo exec-form > /exec.txt"]
RUN <<EOF
echo heredoc-line-1 > /heredoc.txt
echo heredoc-line-2 >> /heredoc.txt
EOF
ONBUILD RUN echo from-onbuild
SHELL ["/bin/sh", "-ec"]
RUN echo "shell $0" > /shell0.txt
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=30s CMD true
USER 1:1
CMD ["-c", "echo hi from $A"]
ENTRYPOINT ["/bin/sh"]
"#;

#[test]
fn every_instruction() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[
        ("Dockerfile", EVERY_INSTRUCTION),
        ("add.txt", "added\n"),
        ("copy.txt", "copied\n"),
    ]);
    build_ok(
        &env,
        &["-t", "every:1", "--build-arg", "VERSION=2.0"],
        ctx.path(),
    );
    let c = config_json(&env, "every:1");
    let envs: Vec<&str> = c["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .map(|v| v.as_str().expect("str"))
        .collect();
    for want in ["A=1", "B=two words", "C=three", "V=2.0", "W=default-value"] {
        assert!(envs.contains(&want), "{want} in {envs:?}");
    }
    // Build args are not kept in the image's environment.
    assert!(
        !envs
            .iter()
            .any(|e| e.starts_with("VERSION=") || e.starts_with("FROMCLI=")),
        "{envs:?}"
    );
    assert_eq!(c["Labels"]["org.test.version"], "2.0", "{c}");
    assert_eq!(c["Labels"]["other"], "x", "{c}");
    let ports = c["ExposedPorts"].as_object().expect("ExposedPorts");
    assert!(
        ports.contains_key("80/tcp") && ports.contains_key("53/udp") && ports.len() == 2,
        "{ports:?}"
    );
    let vols = c["Volumes"].as_object().expect("Volumes");
    assert!(vols.contains_key("/data") && vols.len() == 1, "{vols:?}");
    assert_eq!(c["User"], "1:1");
    assert_eq!(c["WorkingDir"], "/a/b/c");
    assert_eq!(c["StopSignal"], "SIGUSR1");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"]),
        "{c}"
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000i64, "{c}");
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo from-onbuild"]));
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(c["Cmd"], serde_json::json!(["-c", "echo hi from $A"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh"]));
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Author}}", "every:1"]),
        "Jane Doe <jane@example.com>"
    );

    let sh = |script: &str| -> String {
        env.ok(&[
            "run",
            "--rm",
            "-u",
            "0",
            "--entrypoint",
            "",
            "every:1",
            "sh",
            "-c",
            script,
        ])
    };
    assert_eq!(sh("stat -c '%u:%g %a' /copied/copy.txt"), "1:1 600");
    assert_eq!(sh("cat /copied/copy.txt"), "copied");
    assert_eq!(sh("stat -c '%u:%g' /added/add.txt"), "0:0");
    assert_eq!(sh("cat /added/add.txt"), "added");
    assert_eq!(sh("cat /shell.txt"), "shell-form 2.0");
    assert_eq!(sh("cat /pwd.txt"), "/a/b/c");
    assert_eq!(sh("cat /b.txt"), "two words");
    assert_eq!(sh("cat /exec.txt"), "exec-form");
    assert_eq!(sh("cat /heredoc.txt"), "heredoc-line-1\nheredoc-line-2");
    // The RUN after SHELL ran through the new shell (its $0 is /bin/sh, with -e).
    assert_eq!(sh("cat /shell0.txt"), "shell /bin/sh");
    assert_eq!(sh("test -d /a/b/c && pwd"), "/a/b/c");
    // The image's own defaults: user 1, workdir /a/b/c, ENTRYPOINT + CMD.
    assert_eq!(env.ok(&["run", "--rm", "every:1"]), "hi from 1");
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "",
            "every:1",
            "sh",
            "-c",
            "id -u; id -g; pwd"
        ]),
        "1\n1\n/a/b/c"
    );

    // The history has the steps (newest first), metadata ones as #(nop).
    let history = env.ok(&["history", "--no-trunc", "every:1"]);
    for want in [
        "ENV A=1",
        "ENV C=three",
        "WORKDIR /a/b/c",
        "USER 1:1",
        "exec-form",
        "heredoc-line-1",
        "EXPOSE",
        "HEALTHCHECK",
        "COPY",
        "ADD",
    ] {
        assert!(history.contains(want), "{want:?} in history:\n{history}");
    }
    let steps = history.lines().count();
    assert!(steps >= 25, "one history row per step: {history}");

    // The default of VERSION without --build-arg.
    let out = build_ok(&env, &["-t", "every:default"], ctx.path());
    assert!(out.contains("Successfully tagged every:default"), "{out}");
    let c = config_json(&env, "every:default");
    assert!(
        c["Env"]
            .as_array()
            .expect("Env")
            .iter()
            .any(|e| e == "V=1.0"),
        "{c}"
    );
    assert_eq!(c["Labels"]["org.test.version"], "1.0");
}

// ---------------------------------------------------------------------------------------------
// 3. ENTRYPOINT + CMD

#[test]
fn entrypoint_exec_form_with_cmd_default_args() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nENTRYPOINT [\"echo\", \"say:\"]\nCMD [\"default-arg\"]\n",
    )]);
    build_ok(&env, &["-t", "ep"], ctx.path());
    assert_eq!(env.ok(&["run", "--rm", "ep"]), "say: default-arg");
    assert_eq!(
        env.ok(&["run", "--rm", "ep", "other", "words"]),
        "say: other words"
    );
    // An ENTRYPOINT alone drops the CMD inherited from the base image (busybox's sh).
    let ctx2 = context(&[(
        "Dockerfile",
        "FROM busybox\nENTRYPOINT [\"echo\", \"only\"]\n",
    )]);
    build_ok(&env, &["-t", "ep2"], ctx2.path());
    assert_eq!(env.ok(&["run", "--rm", "ep2"]), "only");
    assert_eq!(config_json(&env, "ep2")["Cmd"], serde_json::Value::Null);
}

/// docker stops reading its own flags at the image: `run IMAGE -x ...` gives `-x ...` to the
/// entrypoint (here `sh -c`, the common way to pass a script to an ENTRYPOINT ["/bin/sh"]).
#[test]
fn run_args_after_the_image_may_start_with_a_dash() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nENTRYPOINT [\"/bin/sh\"]\nCMD [\"-c\", \"echo default\"]\n",
    )]);
    build_ok(&env, &["-t", "shep"], ctx.path());
    assert_eq!(env.ok(&["run", "--rm", "shep"]), "default");
    assert_eq!(
        env.ok(&["run", "--rm", "shep", "-c", "echo replaced"]),
        "replaced"
    );
    assert_eq!(
        env.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/echo",
            "busybox",
            "-d",
            "x"
        ]),
        "-d x"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. ONBUILD

#[test]
fn onbuild_triggers_run_in_the_child() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let parent = context(&[(
        "Dockerfile",
        "FROM busybox\nONBUILD RUN echo triggered > /onbuild\n",
    )]);
    build_ok(&env, &["-t", "obparent"], parent.path());
    assert_eq!(
        config_json(&env, "obparent")["OnBuild"],
        serde_json::json!(["RUN echo triggered > /onbuild"])
    );
    // The parent itself did not run it.
    let out = env.run(&["run", "--rm", "obparent", "test", "-e", "/onbuild"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let child = context(&[("Dockerfile", "FROM obparent\nRUN true\n")]);
    let log = build_ok(&env, &["-t", "obchild"], child.path());
    assert!(log.contains("trigger"), "{log}");
    assert_eq!(
        env.ok(&["run", "--rm", "obchild", "cat", "/onbuild"]),
        "triggered"
    );
    let c = config_json(&env, "obchild");
    assert!(
        c["OnBuild"].is_null() || c["OnBuild"] == serde_json::json!([]),
        "the child has no OnBuild: {c}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Multi-stage

#[test]
fn multi_stage_copy_from_and_target() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS builder\n\
         RUN echo built-artifact > /artifact && echo builder-ran\n\
         \n\
         FROM busybox AS unused\n\
         RUN echo unused-stage-marker && false\n\
         \n\
         FROM busybox\n\
         COPY --from=builder /artifact /final/artifact\n\
         CMD [\"cat\", \"/final/artifact\"]\n",
    )]);
    let log = build_ok(&env, &["-t", "ms"], ctx.path());
    assert!(
        !log.contains("unused-stage-marker"),
        "the unused stage was built:\n{log}"
    );
    assert!(log.contains("builder-ran"), "{log}");
    assert_eq!(env.ok(&["run", "--rm", "ms"]), "built-artifact");
    // The final stage has no trace of the builder's file outside what it copied.
    let out = env.run(&["run", "--rm", "ms", "test", "-e", "/artifact"]);
    assert_eq!(out.status.code(), Some(1));

    // --target builder: that stage only (and it is the tagged image).
    let log = build_ok(
        &env,
        &["--target", "builder", "-t", "ms-builder"],
        ctx.path(),
    );
    assert!(!log.contains("unused-stage-marker"), "{log}");
    assert!(!log.contains("COPY --from"), "{log}");
    assert_eq!(
        env.ok(&["run", "--rm", "ms-builder", "cat", "/artifact"]),
        "built-artifact"
    );
    let out = env.run(&["run", "--rm", "ms-builder", "test", "-e", "/final"]);
    assert_eq!(out.status.code(), Some(1));
    // --target unused does build the failing stage.
    let out = build(&env, &["--target", "unused"], ctx.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("unused-stage-marker"));
}

// ---------------------------------------------------------------------------------------------
// 6. .dockerignore

#[test]
fn dockerignore_with_exception_and_cache() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx\n"),
        (".dockerignore", "*.txt\n!keep.txt\n"),
        ("keep.txt", "keep\n"),
        ("drop.txt", "drop\n"),
        ("other.txt", "other\n"),
        ("data.bin", "bin\n"),
    ]);
    let id1 = build_ok(&env, &["-q", "-t", "ign"], ctx.path())
        .trim()
        .to_string();
    let listing = env.ok(&["run", "--rm", "ign", "ls", "/ctx"]);
    let names: Vec<&str> = listing.lines().collect();
    assert!(names.contains(&"keep.txt"), "{names:?}");
    assert!(names.contains(&"data.bin"), "{names:?}");
    assert!(
        !names.contains(&"drop.txt") && !names.contains(&"other.txt"),
        "{names:?}"
    );
    // Changing an ignored file: still a cache hit, the same image.
    write(ctx.path(), "drop.txt", "changed and still ignored\n");
    let out = build_ok(&env, &["-t", "ign"], ctx.path());
    assert!(out.contains("Using cache"), "{out}");
    let id2 = env.ok(&["inspect", "-f", "{{.Id}}", "ign"]);
    assert_eq!(id1, id2);
    // Changing the kept one: a miss.
    write(ctx.path(), "keep.txt", "keep v2\n");
    let id3 = build_ok(&env, &["-q", "-t", "ign"], ctx.path())
        .trim()
        .to_string();
    assert_ne!(id1, id3);
    assert_eq!(
        env.ok(&["run", "--rm", "ign", "cat", "/ctx/keep.txt"]),
        "keep v2"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. ADD: archives, URLs, --checksum

#[test]
fn add_tar_gz_and_url_with_checksum() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[("payload/inner/hello.txt", "from the archive\n")]);
    run_host(
        Command::new("tar")
            .arg("czf")
            .arg(ctx.path().join("payload.tar.gz"))
            .arg("-C")
            .arg(ctx.path())
            .arg("payload"),
    );
    // docker's builder also unpacks bzip2 and xz archives.
    for (flag, name) in [("cjf", "payload.tar.bz2"), ("cJf", "payload.tar.xz")] {
        run_host(
            Command::new("tar")
                .arg(flag)
                .arg(ctx.path().join(name))
                .arg("-C")
                .arg(ctx.path())
                .arg("payload"),
        );
    }
    std::fs::remove_dir_all(ctx.path().join("payload")).expect("rm payload");
    let body = b"downloaded over http\n".to_vec();
    let sum = sha256_hex(&body);
    let server = HttpServer::start(body);
    let url = format!("http://127.0.0.1:{}/files/remote.txt", server.port);
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM busybox\nADD payload.tar.gz /unpacked/\nADD payload.tar.bz2 /bz2/\nADD payload.tar.xz /xz/\nADD {url} /dl/\nADD --checksum=sha256:{sum} {url} /checked.txt\nCOPY payload.tar.gz /copied/\n"
        ),
    );
    build_ok(&env, &["-t", "adder"], ctx.path());
    let sh = |script: &str| env.ok(&["run", "--rm", "adder", "sh", "-c", script]);
    assert_eq!(
        sh("cat /unpacked/payload/inner/hello.txt"),
        "from the archive"
    );
    assert_eq!(
        sh("cat /bz2/payload/inner/hello.txt /xz/payload/inner/hello.txt"),
        "from the archive\nfrom the archive"
    );
    // COPY does not extract.
    assert_eq!(sh("ls /copied"), "payload.tar.gz");
    assert_eq!(sh("cat /dl/remote.txt"), "downloaded over http");
    assert_eq!(sh("stat -c '%a %u:%g' /dl/remote.txt"), "600 0:0");
    assert_eq!(sh("cat /checked.txt"), "downloaded over http");

    // A wrong checksum fails the build.
    let bad = context(&[(
        "Dockerfile",
        &format!(
            "FROM busybox\nADD --checksum=sha256:{} {url} /x.txt\n",
            "0".repeat(64)
        ),
    )]);
    let before = image_ids(&env);
    let out = build(&env, &["-t", "badsum"], bad.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));
    assert_eq!(image_ids(&env), before);
    assert!(build_scratch(&env).is_empty());
    drop(server);
}

// ---------------------------------------------------------------------------------------------
// 8. The cache

#[test]
fn cache_hits_misses_no_cache_and_prune() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN echo marker-one-$((20+3))\nCOPY src.txt /src.txt\nRUN echo marker-two-$((40+2)) && cat /src.txt\nENV DONE=1\n",
        ),
        ("src.txt", "version 1\n"),
    ]);
    let first = build_ok(&env, &["-t", "cached"], ctx.path());
    assert!(first.contains("marker-one-23"), "{first}");
    assert!(first.contains("marker-two-42"), "{first}");
    let id1 = env.ok(&["inspect", "-f", "{{.Id}}", "cached"]);

    // The same again: every step from the cache, no RUN output, the same id.
    let second = build_ok(&env, &["-t", "cached"], ctx.path());
    assert_eq!(second.matches("Using cache").count(), 4, "{second}");
    assert!(
        !second.contains("marker-one-23") && !second.contains("marker-two-42"),
        "a RUN ran again:\n{second}"
    );
    let quiet = build_ok(&env, &["-q"], ctx.path());
    assert_eq!(quiet.trim(), id1, "-q prints only the id");

    // A changed source: the first RUN hits, the COPY and later steps miss.
    write(ctx.path(), "src.txt", "version 2\n");
    let third = build_ok(&env, &["-t", "cached"], ctx.path());
    assert_eq!(third.matches("Using cache").count(), 1, "{third}");
    assert!(!third.contains("marker-one-23"), "{third}");
    assert!(third.contains("marker-two-42"), "{third}");
    assert!(third.contains("version 2"), "{third}");
    let id2 = env.ok(&["inspect", "-f", "{{.Id}}", "cached"]);
    assert_ne!(id1, id2);

    // --no-cache: everything runs.
    let fourth = build_ok(&env, &["--no-cache", "-t", "cached"], ctx.path());
    assert!(!fourth.contains("Using cache"), "{fourth}");
    assert!(
        fourth.contains("marker-one-23") && fourth.contains("marker-two-42"),
        "{fourth}"
    );

    // builder prune: the next build runs everything again.
    let pruned = env.ok(&["builder", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    let fifth = build_ok(&env, &["-t", "cached"], ctx.path());
    assert!(!fifth.contains("Using cache"), "{fifth}");
    assert!(
        fifth.contains("marker-one-23") && fifth.contains("marker-two-42"),
        "{fifth}"
    );
    assert_eq!(
        env.ok(&["run", "--rm", "cached", "cat", "/src.txt"]),
        "version 2"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Whiteouts and diff

#[test]
fn deleted_file_is_absent_and_diff_shows_changes() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN rm /etc/group\n")]);
    build_ok(&env, &["-t", "nogroup"], ctx.path());
    env.ok(&["run", "--rm", "nogroup", "test", "!", "-e", "/etc/group"]);
    env.ok(&["run", "--rm", "busybox", "test", "-e", "/etc/group"]);

    env.ok(&[
        "run",
        "--name",
        "differ",
        "busybox",
        "sh",
        "-c",
        "echo new > /tmp/newfile && rm /etc/passwd",
    ]);
    let diff = env.ok(&["diff", "differ"]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in ["A /tmp/newfile", "D /etc/passwd", "C /tmp", "C /etc"] {
        assert!(lines.contains(&want), "{want:?} in diff:\n{diff}");
    }
    // Nothing the runtime made for the container itself (hosts files) is an image change.
    for l in &lines {
        assert!(
            !l.ends_with("/etc/hosts")
                && !l.ends_with("/etc/resolv.conf")
                && !l.ends_with("/etc/hostname"),
            "runtime mountpoint in diff: {diff}"
        );
    }
    env.ok(&["rm", "differ"]);
}

// ---------------------------------------------------------------------------------------------
// 10. commit

#[test]
fn commit_with_message_and_change() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    env.ok(&[
        "run",
        "--name",
        "tocommit",
        "busybox",
        "sh",
        "-c",
        "echo committed content > /hello",
    ]);
    let id = env.ok(&[
        "commit",
        "-m",
        "my commit message",
        "-a",
        "Tester <t@example.com>",
        "-c",
        "CMD [\"cat\",\"/hello\"]",
        "tocommit",
        "committed:1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(env.ok(&["inspect", "-f", "{{.Id}}", "committed:1"]), id);
    assert_eq!(env.ok(&["run", "--rm", "committed:1"]), "committed content");
    assert_eq!(
        config_json(&env, "committed:1")["Cmd"],
        serde_json::json!(["cat", "/hello"])
    );
    let history = env.ok(&["history", "--no-trunc", "committed:1"]);
    assert!(history.contains("my commit message"), "{history}");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Author}}", "committed:1"]),
        "Tester <t@example.com>"
    );
    // One layer more than busybox.
    let layers = |img: &str| {
        env.ok(&["inspect", "-f", "{{len .RootFS.Layers}}", img])
            .parse::<usize>()
            .expect("layer count")
    };
    assert_eq!(layers("committed:1"), layers("busybox") + 1);
    // The container is untouched and can be removed; the image stays.
    env.ok(&["rm", "tocommit"]);
    assert_eq!(env.ok(&["run", "--rm", "committed:1"]), "committed content");
}

// ---------------------------------------------------------------------------------------------
// 11. Push a built image, pull it into a fresh store

#[test]
fn built_image_push_pull_run() {
    if !require_root() || !have_registry() {
        return;
    }
    let reg = Registry::start(false, false);
    let env = Env::root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nCOPY msg.txt /msg.txt\nRUN echo ran >> /msg.txt\nCMD [\"cat\", \"/msg.txt\"]\n",
        ),
        ("msg.txt", "pushed build\n"),
    ]);
    let name = format!("{}/test/built:1", reg.host);
    build_ok(&env, &["-t", &name], ctx.path());
    let push = env
        .cmd(&["push", &name])
        .env("XDG_RUNTIME_DIR", env.dir.path())
        .output()
        .expect("push");
    assert!(push.status.success(), "push: {}", stderr(&push));
    let id = env.ok(&["inspect", "-f", "{{.Id}}", &name]);
    env.ok(&["rmi", &name]);

    let other = Env::root();
    let pull = other
        .cmd(&["pull", "-q", &name])
        .env("XDG_RUNTIME_DIR", other.dir.path())
        .output()
        .expect("pull");
    assert!(pull.status.success(), "pull: {}", stderr(&pull));
    assert_eq!(other.ok(&["inspect", "-f", "{{.Id}}", &name]), id);
    assert_eq!(other.ok(&["run", "--rm", &name]), "pushed build\nran");
}

// ---------------------------------------------------------------------------------------------
// 12. save / load through skopeo

#[test]
fn built_image_save_load_through_skopeo() {
    if !require_root() {
        return;
    }
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("SKIP: skopeo is not installed");
        return;
    }
    let env = Env::root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo saved > /saved.txt && rm /etc/group\nCMD [\"cat\", \"/saved.txt\"]\n",
    )]);
    build_ok(&env, &["-t", "savedbuild:1"], ctx.path());
    let id = env.ok(&["inspect", "-f", "{{.Id}}", "savedbuild:1"]);
    let dir = env.dir.path();
    let saved = dir.join("saved.tar");
    env.ok(&["save", "-o", s(&saved), "savedbuild:1"]);
    let oci = dir.join("via-skopeo.tar");
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .arg(format!("docker-archive:{}", saved.display()))
        .arg(format!("oci-archive:{}:savedbuild:1", oci.display()))
        .output()
        .expect("skopeo");
    assert!(out.status.success(), "skopeo: {}", stderr(&out));
    let other = Env::root();
    other.ok(&["load", "-i", s(&oci)]);
    assert_eq!(other.ok(&["run", "--rm", "savedbuild:1"]), "saved");
    // The whiteout survived as a whiteout.
    other.ok(&[
        "run",
        "--rm",
        "savedbuild:1",
        "test",
        "!",
        "-e",
        "/etc/group",
    ]);
    other.ok(&["run", "--rm", "savedbuild:1", "test", "-e", "/etc/passwd"]);
    // skopeo re-encodes the config as Go does (`>` as \u003e, `&` as \u0026); docker's
    // configs are Go-encoded already, so their id survives the trip. skiff's must too.
    assert_eq!(
        other.ok(&["inspect", "-f", "{{.Id}}", "savedbuild:1"]),
        id,
        "the image id changed through skopeo (config JSON not encoded as Go/docker does)"
    );
}

// ---------------------------------------------------------------------------------------------
// 13. Rootless: RUN, COPY --chown, and the layer's owners are the container's

/// `tar -tvf` listing (numeric owners) of every layer in a docker-archive, by layer path.
fn layer_listings(archive: &Path, work: &Path) -> Vec<(String, String)> {
    run_host(
        Command::new("tar")
            .arg("xf")
            .arg(archive)
            .arg("-C")
            .arg(work),
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.join("manifest.json")).expect("manifest.json"),
    )
    .expect("json");
    manifest[0]["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| {
            let l = l.as_str().expect("str").to_string();
            let out = run_host(
                Command::new("tar")
                    .args(["--numeric-owner", "-tvf"])
                    .arg(work.join(&l)),
            );
            (l, stdout(&out))
        })
        .collect()
}

#[test]
fn rootless_build_run_copy_chown_and_layer_owners() {
    if !require_root() {
        return;
    }
    let env = Env::rootless();
    let (host_uid, _) = common::ensure_test_user();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nRUN mkdir /made && echo run > /made/by-run && chown 2:2 /made/by-run\nCOPY --chown=1:1 owned.txt /owned/owned.txt\nCOPY plain.txt /plain.txt\n",
        ),
        ("owned.txt", "owned\n"),
        ("plain.txt", "plain\n"),
    ]);
    build_ok(&env, &["-t", "rl"], ctx.path());
    let sh = |script: &str| env.ok(&["run", "--rm", "rl", "sh", "-c", script]);
    assert_eq!(sh("stat -c '%u:%g' /owned/owned.txt"), "1:1");
    assert_eq!(
        sh("stat -c '%u:%g' /plain.txt /made /made/by-run"),
        "0:0\n0:0\n2:2"
    );
    assert_eq!(sh("cat /owned/owned.txt /made/by-run"), "owned\nrun");

    let work = tempfile::Builder::new()
        .prefix("skiff-build-save-")
        .tempdir_in("/var/tmp")
        .expect("tmp");
    let archive = env.dir.path().join("rl.tar");
    env.ok(&["save", "-o", s(&archive), "rl"]);
    let layers = layer_listings(&archive, work.path());
    assert_eq!(layers.len(), 4, "busybox + RUN + 2 COPY: {layers:?}");
    let all: String = layers.iter().map(|(_, t)| t.as_str()).collect();
    let owner_of = |name: &str| -> String {
        all.lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} in layers:\n{all}"))
            .split_whitespace()
            .nth(1)
            .expect("owner column")
            .to_string()
    };
    assert_eq!(owner_of("owned/owned.txt"), "1/1");
    assert_eq!(owner_of("plain.txt"), "0/0");
    assert_eq!(owner_of("made/by-run"), "2/2");
    assert_eq!(owner_of("made/"), "0/0");
    let host = format!("{host_uid}/");
    for l in all.lines() {
        let owner = l.split_whitespace().nth(1).unwrap_or("");
        assert!(
            !owner.starts_with(&host) && !owner.starts_with("30000"),
            "a host id leaked into the layer: {l}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 14. Bad input

/// A build that must fail with exit 1, a one-line error containing `needle`, and leave no
/// container, image or scratch directory behind.
fn build_fails(env: &Env, dockerfile: &str, extra: &[&str], needle: &str) {
    let ctx = context(&[("Dockerfile", dockerfile), ("present.txt", "x\n")]);
    let before = image_ids(env);
    let mut args = vec!["build", "-t", "shouldnotexist"];
    args.extend_from_slice(extra);
    args.push(s(ctx.path()));
    let out = env.run(&args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{dockerfile:?}: stdout {}\nstderr {err}",
        stdout(&out)
    );
    assert!(
        err.contains(needle),
        "{dockerfile:?}: {needle:?} in {err:?}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line error: {err:?}");
    env.assert_no_containers();
    assert_eq!(image_ids(env), before, "{dockerfile:?} left an image");
    assert!(
        build_scratch(env).is_empty(),
        "{dockerfile:?} left {:?}",
        build_scratch(env)
    );
    let out = env.run(&["inspect", "shouldnotexist"]);
    assert!(!out.status.success());
}

#[test]
fn bad_input_is_one_line_exit_1_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    // A missing Dockerfile.
    let empty = context(&[("x.txt", "x")]);
    let out = build(&env, &[], empty.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Dockerfile"), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    let out = build(&env, &["-f", "/nonexistent/Dockerfile.nope"], empty.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    // A missing context.
    let out = env.run(&["build", "/nonexistent/context-dir"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // Syntax errors name the file and line.
    build_fails(&env, "FROM busybox\nRUN true\nENV\n", &[], "Dockerfile:3");
    build_fails(
        &env,
        "FROM busybox\nCOPY [\"unterminated\n",
        &[],
        "Dockerfile:2",
    );
    build_fails(
        &env,
        "FROM busybox\nRUN true\nFROBNICATE now\n",
        &[],
        "unknown instruction",
    );
    build_fails(
        &env,
        "FROM busybox\nRUN true\nFROBNICATE now\n",
        &[],
        "Dockerfile:3",
    );
    build_fails(&env, "RUN true\n", &[], "FROM");
    // COPY sources outside the context, or missing.
    build_fails(&env, "FROM busybox\nCOPY ../x /\n", &[], "../x");
    build_fails(
        &env,
        "FROM busybox\nCOPY missing.txt /\n",
        &[],
        "missing.txt",
    );
    build_fails(
        &env,
        "FROM busybox\nCOPY missing-*.txt /\n",
        &[],
        "missing-*.txt",
    );
    // --target naming no stage.
    build_fails(
        &env,
        "FROM busybox AS one\nRUN true\n",
        &["--target", "nosuchstage"],
        "nosuchstage",
    );
    // A failing RUN.
    build_fails(
        &env,
        "FROM busybox\nRUN echo before\nRUN exit 3\n",
        &[],
        "returned a non-zero code: 3",
    );
    // An unknown base image that cannot be pulled (no network needed: a closed port).
    build_fails(&env, "FROM 127.0.0.1:1/nope/nope:1\n", &[], "127.0.0.1:1");
    build_fails(
        &env,
        "FROM busybox\nCOPY --chown=nosuchuser present.txt /\n",
        &[],
        "nosuchuser",
    );
    // A bad --chmod.
    build_fails(
        &env,
        "FROM busybox\nCOPY --chmod=rwx present.txt /\n",
        &[],
        "chmod",
    );
}

#[test]
fn killed_build_leaves_no_step_container() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN sleep 30.0417\n")]);
    let mut child = env
        .cmd(&["build", "-t", "killed", s(ctx.path())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn build");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = false;
    while std::time::Instant::now() < deadline {
        if !env.all_ids().is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "no step container appeared in ps -a");
    // Let the container run state settle (the RUN's process may outlive its build).
    std::thread::sleep(std::time::Duration::from_millis(300));

    let trivial = context(&[("Dockerfile", "FROM busybox\nRUN echo next\n")]);
    build_ok(&env, &["-t", "next"], trivial.path());
    assert_eq!(env.all_ids(), Vec::<String>::new(), "step container left");
    env.assert_no_containers();
    assert!(env.run(&["inspect", "killed"]).status.code() != Some(0));
    assert!(build_scratch(&env).is_empty(), "{:?}", build_scratch(&env));
    // And the RUN's process is gone with its container.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let alive = std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .any(|c| c == b"sleep\x0030.0417\x00");
        if !alive {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the killed build's RUN process is still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// 15. stdin, -o, --iidfile, --label

#[test]
fn dockerfile_on_stdin_and_tar_context_on_stdin() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[("ctxfile.txt", "from the context\n")]);
    // -f -: the Dockerfile on stdin, the context a directory.
    let df = b"FROM busybox\nCOPY ctxfile.txt /ctxfile.txt\nCMD [\"cat\", \"/ctxfile.txt\"]\n";
    let out = with_stdin(
        &env,
        &["build", "-f", "-", "-t", "stdin-df", s(ctx.path())],
        df,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.ok(&["run", "--rm", "stdin-df"]), "from the context");

    // -: a tar context on stdin (with its own Dockerfile).
    write(
        ctx.path(),
        "Dockerfile",
        "FROM busybox\nCOPY ctxfile.txt /from-tar.txt\nCMD [\"cat\", \"/from-tar.txt\"]\n",
    );
    let tar = run_host(
        Command::new("tar")
            .arg("cf")
            .arg("-")
            .arg("-C")
            .arg(ctx.path())
            .arg("."),
    )
    .stdout;
    let out = with_stdin(&env, &["build", "-t", "stdin-tar", "-"], &tar);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.ok(&["run", "--rm", "stdin-tar"]), "from the context");
    // Gzipped too.
    let tgz = run_host(
        Command::new("sh")
            .arg("-c")
            .arg(format!("tar cf - -C {} . | gzip", ctx.path().display())),
    )
    .stdout;
    let out = with_stdin(&env, &["build", "-t", "stdin-tgz", "-"], &tgz);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.ok(&["run", "--rm", "stdin-tgz"]), "from the context");

    // -: a bare Dockerfile on stdin, no context.
    let out = with_stdin(
        &env,
        &["build", "-t", "stdin-bare", "-"],
        b"FROM busybox\nRUN echo bare > /bare.txt\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.ok(&["run", "--rm", "stdin-bare", "cat", "/bare.txt"]),
        "bare"
    );
    // ... where COPY has nothing to copy.
    let out = with_stdin(
        &env,
        &["build", "-t", "stdin-nocopy", "-"],
        b"FROM busybox\nCOPY ctxfile.txt /\n",
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("ctxfile.txt"), "{}", stderr(&out));
    // stdin for both: refused.
    let out = with_stdin(&env, &["build", "-f", "-", "-"], b"FROM busybox\n");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn tar_entries(file: &Path) -> Vec<String> {
    stdout(&run_host(Command::new("tar").arg("tf").arg(file)))
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect()
}

#[test]
fn output_local_and_tar() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let dest = tempfile::Builder::new()
        .prefix("skiff-build-out-")
        .tempdir_in("/var/tmp")
        .expect("tmp");
    let before = image_ids(&env);

    // A final stage on busybox: its whole filesystem.
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox AS build\nRUN echo artifact > /artifact.txt\n\
         FROM busybox\nCOPY --from=build /artifact.txt /out/artifact.txt\nRUN rm /etc/group\n",
    )]);
    let local = dest.path().join("local");
    build_ok(
        &env,
        &["-o", &format!("type=local,dest={}", local.display())],
        ctx.path(),
    );
    assert_eq!(
        std::fs::read_to_string(local.join("out/artifact.txt")).expect("artifact"),
        "artifact\n"
    );
    assert!(local.join("bin/busybox").is_file());
    assert!(local.join("etc/passwd").is_file());
    assert!(
        !local.join("etc/group").exists(),
        "a deleted file was written"
    );
    assert!(
        !local.join("artifact.txt").exists(),
        "the build stage's file"
    );
    let tarfile = dest.path().join("out.tar");
    build_ok(
        &env,
        &["-o", &format!("type=tar,dest={}", tarfile.display())],
        ctx.path(),
    );
    let entries = tar_entries(&tarfile);
    for want in ["out/artifact.txt", "bin/busybox", "etc/passwd"] {
        assert!(entries.iter().any(|e| e == want), "{want} in {entries:?}");
    }
    assert!(!entries.iter().any(|e| e == "etc/group"), "{entries:?}");
    // -o makes no image.
    assert_eq!(image_ids(&env), before);

    // The usual use: a scratch stage holding only the artifacts.
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox AS build\nRUN mkdir -p /out && echo artifact > /out/artifact.txt\n\
             FROM scratch\nCOPY --from=build /out/ /\nCOPY extra.txt /extra.txt\n",
        ),
        ("extra.txt", "extra\n"),
    ]);
    let local = dest.path().join("scratch-local");
    build_ok(&env, &["-o", s(&local)], ctx.path());
    assert_eq!(file_names(&local), ["artifact.txt", "extra.txt"]);
    assert_eq!(
        std::fs::read_to_string(local.join("artifact.txt")).expect("artifact"),
        "artifact\n"
    );
    let tarfile = dest.path().join("scratch.tar");
    build_ok(
        &env,
        &["-o", &format!("type=tar,dest={}", tarfile.display())],
        ctx.path(),
    );
    let mut entries = tar_entries(&tarfile);
    entries.sort();
    assert_eq!(entries, ["artifact.txt", "extra.txt"]);
    assert_eq!(image_ids(&env), before);
}

/// `FROM scratch` + COPY: the stage has no command; copying into it must not need one.
#[test]
fn scratch_stage_with_copy() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[
        ("Dockerfile", "FROM scratch\nCOPY hello.txt /hello.txt\n"),
        ("hello.txt", "from scratch\n"),
    ]);
    build_ok(&env, &["-t", "fromscratch"], ctx.path());
    let layers = env.ok(&["inspect", "-f", "{{len .RootFS.Layers}}", "fromscratch"]);
    assert_eq!(layers, "1");
    let work = tempfile::Builder::new()
        .prefix("skiff-build-save-")
        .tempdir_in("/var/tmp")
        .expect("tmp");
    let archive = work.path().join("img.tar");
    env.ok(&["save", "-o", s(&archive), "fromscratch"]);
    let x = work.path().join("x");
    std::fs::create_dir(&x).expect("mkdir");
    let layers = layer_listings(&archive, &x);
    assert_eq!(layers.len(), 1);
    assert!(layers[0].1.contains("hello.txt"), "{layers:?}");
}

#[test]
fn iidfile_and_label() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[("Dockerfile", "FROM busybox\nLABEL from.file=yes\n")]);
    let dest = tempfile::Builder::new()
        .prefix("skiff-build-iid-")
        .tempdir_in("/var/tmp")
        .expect("tmp");
    let iid = dest.path().join("iid");
    let out = build_ok(
        &env,
        &[
            "--iidfile",
            s(&iid),
            "--label",
            "com.example.a=one",
            "--label",
            "com.example.b=two words",
            "--label",
            "from.file=overridden",
            "-t",
            "labelled",
        ],
        ctx.path(),
    );
    assert!(out.contains("Successfully tagged labelled"), "{out}");
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id:?}");
    assert_eq!(env.ok(&["inspect", "-f", "{{.Id}}", "labelled"]), id);
    let c = config_json(&env, "labelled");
    assert_eq!(c["Labels"]["com.example.a"], "one", "{c}");
    assert_eq!(c["Labels"]["com.example.b"], "two words", "{c}");
    assert_eq!(c["Labels"]["from.file"], "overridden", "{c}");
    // -q prints the same id the iidfile has.
    let q = build_ok(
        &env,
        &[
            "-q",
            "--label",
            "com.example.a=one",
            "--label",
            "com.example.b=two words",
            "--label",
            "from.file=overridden",
        ],
        ctx.path(),
    );
    assert_eq!(q.trim(), id);
}

// ---------------------------------------------------------------------------------------------
// 16. The live view a terminal gets (`--progress tty` forces it on a pipe)

#[test]
fn live_view_redraws_steps_and_keeps_a_failing_steps_output() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo live-one && sleep 0.2 && printf '10%%\\r100%%\\n'\nENV X=1\n",
    )]);
    let first = build_ok(&env, &["--progress", "tty", "-t", "liveview"], ctx.path());
    // Each step's line, then the RUN's output under it while it ran, wiped when it ended
    // (cursor up + clear), and the plain lines' arrows nowhere.
    assert!(
        first.contains("=> Step 2/3 : RUN echo live-one && sleep 0.2"),
        "{first:?}"
    );
    assert!(first.contains("live-one"), "{first:?}");
    assert!(
        first.contains("\x1b[2F\x1b[J") || first.contains("\x1b[3F\x1b[J"),
        "{first:?}"
    );
    assert!(!first.contains(" ---> "), "{first:?}");
    assert!(
        first.contains("Successfully tagged liveview:latest"),
        "{first:?}"
    );
    let again = build_ok(&env, &["--progress", "tty", "-t", "liveview"], ctx.path());
    assert!(again.contains("CACHED"), "{again:?}");
    assert!(!again.contains("live-one\n"), "{again:?}");

    let failing = context(&[(
        "Dockerfile",
        "FROM busybox\nRUN echo before-the-failure; echo on-stderr >&2; exit 3\n",
    )]);
    let out = build(&env, &["--progress", "tty"], failing.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let shown = stdout(&out);
    // The failed step's output stays on screen after its line, not wiped.
    let tail = &shown[shown.rfind("=> Step 2/2").expect("step line")..];
    assert!(
        tail.contains("before-the-failure\n") && tail.contains("on-stderr\n"),
        "{shown:?}"
    );
    assert!(
        stderr(&out).contains("returned a non-zero code: 3"),
        "{}",
        stderr(&out)
    );
    assert!(build_scratch(&env).is_empty());
    env.ok(&["rmi", "liveview"]);
}

/// Ctrl-C during a RUN ends the build at once (the RUN's process is killed whatever it does
/// with SIGINT), with one line naming the signal and no step container left.
#[test]
fn ctrl_c_during_a_run_cancels_the_build() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    let dir = context(&[("Dockerfile", "FROM busybox\nRUN sleep 600\n")]);
    let child = env
        .cmd(&["build", "--progress", "plain", "-t", "never", s(dir.path())])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while env.ok(&["ps", "-q"]).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("interrupted (SIGINT)"),
        "{}",
        stderr(&out)
    );
    assert!(env.all_ids().is_empty(), "step container left");
    assert!(
        !env.ok(&["images", "--format", "{{.Repository}}"])
            .contains("never")
    );
}
