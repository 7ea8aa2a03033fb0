//! Rootless, the one connection to the user's systemd is made before skiff joins its user
//! namespace (inside, systemd would refuse the uid skiff claims), and a forked monitor inherits
//! it. Two processes writing one D-Bus connection break it: the second container a long-lived
//! command starts (`compose up`) found it closed. So while a monitor is being started, its
//! systemd calls go back to the command that forked it, which makes them on its own
//! connection: one line of JSON each way over a pair of pipes.

use std::io::{BufRead, BufReader, Write};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::CgroupError;

/// A request from the monitor: `Bus::start_scope`'s arguments.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScopeRequest {
    pub unit: String,
    pub slice: String,
    pub pids: Vec<u32>,
    pub description: String,
    pub delegate: bool,
}

/// The prefix of a request line on the monitor's report pipe.
pub const REQUEST: &str = "systemd-scope\t";

struct Channel {
    to_caller: std::fs::File,
    from_caller: BufReader<std::fs::File>,
}

static RELAY: Mutex<Option<Channel>> = Mutex::new(None);

/// In the forked monitor: send systemd calls to the caller over these pipes from now on.
pub fn install(to_caller: std::fs::File, from_caller: std::fs::File) {
    if let Ok(mut r) = RELAY.lock() {
        *r = Some(Channel {
            to_caller,
            from_caller: BufReader::new(from_caller),
        });
    }
}

/// In the forked monitor, once started: the caller stops listening; later calls (a restart
/// policy's next run) use the inherited connection.
pub fn remove() {
    if let Ok(mut r) = RELAY.lock() {
        *r = None;
    }
}

/// Through the caller, when a relay is installed: None means "make the call yourself".
pub fn start_scope(req: &ScopeRequest) -> Option<Result<(), CgroupError>> {
    let mut guard = RELAY.lock().ok()?;
    let ch = guard.as_mut()?;
    let line = match serde_json::to_string(req) {
        Ok(j) => format!("{REQUEST}{j}\n"),
        Err(e) => return Some(Err(CgroupError::Unsupported(format!("systemd relay: {e}")))),
    };
    if let Err(e) = ch.to_caller.write_all(line.as_bytes()) {
        return Some(Err(CgroupError::Unsupported(format!(
            "systemd relay: writing to the caller: {e}"
        ))));
    }
    let mut answer = String::new();
    Some(match ch.from_caller.read_line(&mut answer) {
        Ok(n) if n > 0 && answer.trim_end() == "ok" => Ok(()),
        Ok(n) if n > 0 => Err(CgroupError::Unsupported(
            answer.trim_end().trim_start_matches("err\t").to_string(),
        )),
        Ok(_) => Err(CgroupError::Unsupported(
            "systemd relay: the caller went away".into(),
        )),
        Err(e) => Err(CgroupError::Unsupported(format!("systemd relay: {e}"))),
    })
}

/// In the caller: carry out one request line (without its prefix) with `start` (its own
/// connection's `Bus::start_scope`, when it has one); the answer line.
pub fn serve(
    request: &str,
    start: Option<impl FnOnce(&ScopeRequest) -> Result<(), CgroupError>>,
) -> String {
    let Some(start) = start else {
        return "err\tsystemd relay: the caller has no connection to systemd\n".into();
    };
    let outcome = serde_json::from_str::<ScopeRequest>(request)
        .map_err(|e| CgroupError::Unsupported(format!("systemd relay: {e}")))
        .and_then(|r| start(&r));
    match outcome {
        Ok(()) => "ok\n".into(),
        Err(e) => format!("err\t{}\n", e.to_string().replace('\n', " ")),
    }
}
