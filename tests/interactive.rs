//! Interactive containers in a real terminal: tmux runs skiff, send-keys types, capture-pane
//! reads the screen. Plus the same commands in a script with no terminal at all.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, TEST_USER, ensure_test_user, require_root, stderr, stdout};

/// A tmux server of this test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Run `shell` in a new detached session of `cols` x `rows`; after it ends the pane shows
    /// `EXIT=<code>` and stays open.
    fn start(name: &str, shell: &str, cols: u16, rows: u16) -> Tmux {
        let socket = format!("skiff-test-{name}-{}", std::process::id());
        let t = Tmux { socket };
        let script = format!("{shell}; echo EXIT=$?; sleep 600");
        let out = t
            .tmux(&[
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
                &script,
            ])
            .output()
            .expect("tmux (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status().expect("send-keys").success());
    }

    fn screen(&self) -> String {
        let out = self
            .tmux(&["capture-pane", "-p", "-t", "main"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen shows `needle` (at most 10 s); returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "waited for {needle:?}; the screen shows:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn resize(&self, cols: u16, rows: u16) {
        let ok = self
            .tmux(&[
                "resize-window",
                "-t",
                "main",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .status()
            .expect("resize");
        assert!(ok.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).output();
    }
}

/// The shell command line for skiff against this env's store.
fn skiff_line(env: &Env, args: &str) -> String {
    let base = format!(
        "{} --root {} --runroot {} {args}",
        common::binary().display(),
        env.root.display(),
        env.runroot.display()
    );
    if env.rootless {
        format!(
            "runuser -u {TEST_USER} -- env HOME={} XDG_RUNTIME_DIR={} {base}",
            env.dir.path().display(),
            env.runroot.display()
        )
    } else {
        base
    }
}

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP: tmux is not installed (apt-get install tmux)");
    }
    ok
}

#[test]
fn run_it_prompt_resize_detach_attach_and_exit_code() {
    if !require_root() || !have_tmux() {
        return;
    }
    let env = Env::root();
    let t = Tmux::start(
        "run-it",
        &skiff_line(&env, "run -it --name shell busybox sh"),
        100,
        30,
    );
    t.wait_for("/ #");
    t.send(&["echo hello-$((40+2))", "Enter"]);
    t.wait_for("hello-42");
    t.send(&["stty size", "Enter"]);
    t.wait_for("30 100");
    t.resize(120, 40);
    t.send(&["clear; stty size", "Enter"]);
    t.wait_for("40 120");
    // Ctrl-C goes through the terminal to the container's foreground process, not to skiff.
    t.send(&["sleep 1000", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    t.send(&["C-c"]);
    t.send(&["echo after-$((2+2))", "Enter"]);
    t.wait_for("after-4");
    // Ctrl-P Ctrl-Q: the CLI returns 0, the container stays up.
    t.send(&["C-p", "C-q"]);
    t.wait_for("EXIT=0");
    assert!(
        env.ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .starts_with("shell Up")
    );
    drop(t);

    // attach brings the same shell back; exit 3 ends both with 3.
    let t = Tmux::start("attach", &skiff_line(&env, "attach shell"), 80, 24);
    std::thread::sleep(Duration::from_millis(300));
    t.send(&["echo back-$((1+1))", "Enter"]);
    t.wait_for("back-2");
    t.send(&["exit 3", "Enter"]);
    t.wait_for("EXIT=3");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.ExitCode}}", "shell"]),
        "3"
    );
    // logs of a tty container: what the terminal showed.
    let logs = env.ok(&["logs", "shell"]);
    assert!(
        logs.contains("hello-42") && logs.contains("back-2"),
        "{logs}"
    );
    env.ok(&["rm", "shell"]);
    env.assert_no_containers();
}

#[test]
fn exec_it_gets_its_own_pty() {
    if !require_root() || !have_tmux() {
        return;
    }
    let env = Env::root();
    env.ok(&["run", "-d", "--name", "host", "busybox", "sleep", "300"]);
    let t = Tmux::start("exec-it", &skiff_line(&env, "exec -it host sh"), 90, 20);
    t.wait_for("/ #");
    t.send(&["tty; stty size", "Enter"]);
    t.wait_for("20 90");
    assert!(t.screen().contains("/dev/pts/"), "{}", t.screen());
    t.send(&["exit 5", "Enter"]);
    t.wait_for("EXIT=5");
    env.ok(&["rm", "-f", "host"]);
}

#[test]
fn rootless_run_it() {
    if !require_root() || !have_tmux() {
        return;
    }
    let env = Env::rootless();
    ensure_test_user();
    let t = Tmux::start(
        "rootless",
        &skiff_line(&env, "run -it --rm busybox sh"),
        80,
        24,
    );
    t.wait_for("/ #");
    t.send(&["id -u; tty", "Enter"]);
    t.wait_for("/dev/pts/0");
    t.send(&["exit 7", "Enter"]);
    t.wait_for("EXIT=7");
    env.assert_no_containers();
}

#[test]
fn without_a_terminal() {
    if !require_root() {
        return;
    }
    let env = Env::root();
    // -i with pipes: stdin reaches the container, its EOF ends it.
    let mut child = env
        .cmd(&["run", "--rm", "-i", "busybox", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hi\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        (stdout(&out).as_str(), out.status.code()),
        ("hi\n", Some(0))
    );
    // Without -i, stdin is /dev/null.
    assert_eq!(
        env.ok(&["run", "--rm", "busybox", "sh", "-c", "cat; echo done"]),
        "done"
    );
    // -it needs a terminal; -t alone does not.
    env.fails(
        &["run", "--rm", "-it", "busybox", "true"],
        125,
        "the input device is not a TTY",
    );
    let out = env.run(&["run", "--rm", "-t", "busybox", "sh", "-c", "tty; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "/dev/pts/0");
    // run -di, then attach with piped input: the container's stdin is a pipe its monitor
    // holds; the attach ends with the container's exit code.
    env.ok(&[
        "run",
        "-di",
        "--name",
        "cat",
        "busybox",
        "sh",
        "-c",
        "read line; echo got-$line; exit 6",
    ]);
    let mut child = env
        .cmd(&["attach", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .as_mut()
        .expect("stdin")
        .write_all(b"x\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(stdout(&out), "got-x\n");
    // Bad input.
    env.fails(
        &["attach", "cat"],
        1,
        "you cannot attach to a stopped container",
    );
    env.ok(&["run", "-d", "--name", "quiet", "busybox", "sleep", "60"]);
    env.fails(&["attach", "quiet"], 1, "without -i or -t");
    env.ok(&["run", "-dit", "--name", "tty", "busybox", "sh"]);
    env.fails(
        &["attach", "--detach-keys", "ctrl-", "tty"],
        1,
        "invalid --detach-keys",
    );
    env.fails(
        &[
            "run",
            "--rm",
            "--detach-keys",
            "alt-x",
            "-t",
            "busybox",
            "true",
        ],
        125,
        "invalid --detach-keys",
    );
    env.fails(&["attach", "tty"], 1, "the input device is not a TTY");
    // exec -i with pipes.
    let mut child = env
        .cmd(&["exec", "-i", "tty", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"piped\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(stdout(&out), "piped\n");
    env.ok(&["rm", "-f", "cat", "quiet", "tty"]);
    env.assert_no_containers();
    // The attach sockets went with their monitors.
    let left: Vec<_> = std::fs::read_dir(env.runroot.join("attach"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "attach sockets left: {left:?}");
}
