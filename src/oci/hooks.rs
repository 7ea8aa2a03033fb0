//! The spec's hooks: each program runs with the container's state JSON on its stdin, in the
//! runtime's namespaces, within its timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

/// Run `hooks` in order; the first failure stops them (poststop callers ignore it).
pub fn run(stage: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<(), String> {
    let input = state.to_string();
    for hook in hooks {
        run_one(stage, hook, &input)?;
    }
    Ok(())
}

fn run_one(stage: &str, hook: &Hook, input: &str) -> Result<(), String> {
    let path = hook.path();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(path);
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    let failed = |why: String| format!("{stage} hook {}: {why}", path.display());
    let mut child = cmd.spawn().map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is fine: ignore EPIPE.
        let _ = stdin.write_all(input.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(failed(status.to_string())),
            Ok(None) => {}
            Err(e) => return Err(failed(e.to_string())),
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed("timed out".into()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
