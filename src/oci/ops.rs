//! The runtime's commands on an existing container: state, list, kill, delete, pause and
//! resume, ps, update, events. `exec` and `run` are in `exec.rs`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::hooks;
use super::state::{Record, Root, Status, oci_state};

/// The manager of the container's cgroup, if it has one.
pub fn cgroup_of(record: &Record) -> Option<Box<dyn crate::cgroup::CgroupManager>> {
    if record.cgroup.is_empty() {
        return None;
    }
    let h = crate::cgroup::host_hierarchy()?;
    Some(crate::cgroup::manager(&h, &record.cgroup))
}

/// Every process in the container's cgroup (the init alone without one).
pub fn pids_of(record: &Record) -> Vec<i32> {
    let Some(cg) = cgroup_of(record) else {
        return vec![record.pid];
    };
    let Some(procs) = cg.procs_files().into_iter().next() else {
        return vec![record.pid];
    };
    std::fs::read_to_string(procs)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

pub fn state(root: &Root, id: &str) -> Result<(), String> {
    let record = root.load(id)?;
    let doc = oci_state(&record, root.status(&record));
    print_json(&doc)
}

fn print_json(doc: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| e.to_string())
}

pub fn list(root: &Root, format: &str, quiet: bool) -> Result<(), String> {
    let records = root.list();
    let mut out = std::io::stdout().lock();
    if quiet {
        for r in &records {
            let _ = writeln!(out, "{}", r.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let docs: Vec<serde_json::Value> = records
                .iter()
                .map(|r| oci_state(r, root.status(r)))
                .collect();
            let text = serde_json::to_string(&docs).map_err(|e| e.to_string())?;
            let _ = writeln!(out, "{text}");
        }
        "table" => {
            let mut rows = vec![[
                "ID".to_string(),
                "PID".into(),
                "STATUS".into(),
                "BUNDLE".into(),
                "CREATED".into(),
                "OWNER".into(),
            ]];
            for r in &records {
                let status = root.status(r);
                let pid = if status == Status::Stopped { 0 } else { r.pid };
                rows.push([
                    r.id.clone(),
                    pid.to_string(),
                    status.as_str().into(),
                    r.bundle.display().to_string(),
                    r.created.clone(),
                    r.owner.clone(),
                ]);
            }
            let widths: Vec<usize> = (0..6)
                .map(|i| rows.iter().map(|row| row[i].len()).max().unwrap_or(0))
                .collect();
            for row in rows {
                let line: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                let _ = writeln!(out, "{}", line.join("   ").trim_end());
            }
        }
        other => {
            return Err(format!(
                "invalid format option {other:?}: use table or json"
            ));
        }
    }
    Ok(())
}

pub fn kill(root: &Root, id: &str, signal: &str, all: bool) -> Result<(), String> {
    let record = root.load(id)?;
    let sig = crate::spec::parse_signal(signal).map_err(|e| e.to_string())?;
    // `--all` signals whatever is still in the cgroup, also after the init died: containerd
    // sends it to clean up a container that shared its pod's pid namespace (runc's way).
    if root.status(&record) == Status::Stopped && !all {
        return Err("container not running".into());
    }
    if all {
        for pid in pids_of(&record) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::try_from(sig).ok(),
            );
        }
        return Ok(());
    }
    let pidfd = crate::ns::spawn::pidfd_open(record.pid)
        .map_err(|e| format!("container not running: {e}"))?;
    // The pidfd names the process we checked: a pid reused since cannot be hit.
    if !crate::state::proc::is_alive(record.pid, record.pid_start) {
        return Err("container not running".into());
    }
    crate::ns::spawn::pidfd_send_signal(&pidfd, sig).map_err(|e| format!("kill: {e}"))
}

/// Wait until the init is gone (reaped by its parent, or a zombie), at most `limit`.
fn wait_gone(record: &Record, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while crate::state::proc::is_alive(record.pid, record.pid_start) {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

pub fn delete(root: &Root, id: &str, force: bool) -> Result<(), String> {
    let dir = root.container_dir(id);
    if !super::state::valid_id(id) || !dir.exists() {
        if force {
            return Ok(());
        }
        return Err(format!("container {id:?} does not exist"));
    }
    let record = match root.load(id) {
        Ok(r) => r,
        // A create killed half-way leaves a directory without a record.
        Err(_) if force => {
            return std::fs::remove_dir_all(&dir).map_err(|e| format!("removing {id}: {e}"));
        }
        Err(e) => return Err(e),
    };
    let status = root.status(&record);
    match status {
        Status::Stopped => {}
        // A container never started goes without --force, as in runc.
        Status::Created => kill_and_wait(&record)?,
        Status::Running | Status::Paused if force => {
            if status == Status::Paused
                && let Some(cg) = cgroup_of(&record)
            {
                let _ = cg.freeze(false);
            }
            kill_and_wait(&record)?;
        }
        _ => {
            return Err(format!(
                "cannot delete container {id} that is not stopped: {}",
                status.as_str()
            ));
        }
    }
    if let Some(cg) = cgroup_of(&record) {
        cg.remove()
            .map_err(|e| format!("removing the cgroup of {id}: {e}"))?;
        remove_default_parent(&record.cgroup);
    }
    if let Some(h) = &record.hooks {
        let state = oci_state(&record, Status::Stopped);
        if let Err(e) = hooks::run(
            "poststop",
            &h.poststop().clone().unwrap_or_default(),
            &state,
        ) {
            eprintln!("skiff: warning: {e}");
        }
    }
    match std::fs::remove_dir_all(&dir) {
        // Another delete got there first (containerd cleans up after a dead shim itself).
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("removing the state of {id}: {e}"))
        }
        _ => Ok(()),
    }
}

/// Our own parent cgroup (`skiff-runc/`, used when the spec names none) goes with its last
/// container; one a caller named (containerd's `/default`) is the caller's.
fn remove_default_parent(cgroup: &str) {
    if !cgroup.starts_with(super::create::DEFAULT_CGROUP_PARENT) {
        return;
    }
    let mounts: Vec<std::path::PathBuf> = match crate::cgroup::host_hierarchy() {
        Some(crate::cgroup::Hierarchy::Unified(m)) => vec![m],
        Some(crate::cgroup::Hierarchy::Legacy { controllers, .. }) => {
            controllers.into_iter().map(|(_, m)| m).collect()
        }
        None => Vec::new(),
    };
    for m in mounts {
        // Fails while another container is inside: as it should.
        let _ = std::fs::remove_dir(m.join(super::create::DEFAULT_CGROUP_PARENT));
    }
}

fn kill_and_wait(record: &Record) -> Result<(), String> {
    let targets = pids_of(record);
    for pid in targets {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    if let Ok(pidfd) = crate::ns::spawn::pidfd_open(record.pid)
        && crate::state::proc::is_alive(record.pid, record.pid_start)
    {
        let _ = crate::ns::spawn::pidfd_send_signal(&pidfd, libc::SIGKILL);
    }
    if wait_gone(record, Duration::from_secs(10)) {
        Ok(())
    } else {
        Err(format!("container {} did not die after SIGKILL", record.id))
    }
}

pub fn pause(root: &Root, id: &str, frozen: bool) -> Result<(), String> {
    let record = root.load(id)?;
    let status = root.status(&record);
    match (status, frozen) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Stopped, _) => return Err("container not running".into()),
        (Status::Created, _) => {
            return Err(format!("container {id} is not running: created"));
        }
        (Status::Paused, true) => return Err(format!("container {id} is already paused")),
        (Status::Running, false) => return Err(format!("container {id} is not paused")),
    }
    let cg = cgroup_of(&record).ok_or("the container has no cgroup: pause needs its freezer")?;
    cg.freeze(frozen).map_err(|e| e.to_string())
}

pub fn ps(root: &Root, id: &str, format: &str, ps_args: &[String]) -> Result<(), String> {
    let record = root.load(id)?;
    let pids = if root.status(&record) == Status::Stopped {
        Vec::new()
    } else {
        pids_of(&record)
    };
    let mut out = std::io::stdout().lock();
    match format {
        "json" => {
            let text = serde_json::to_string(&pids).map_err(|e| e.to_string())?;
            let _ = writeln!(out, "{text}");
            Ok(())
        }
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let run = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| format!("running ps: {e}"))?;
            let text = String::from_utf8_lossy(&run.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let column = header
                .split_whitespace()
                .position(|c| c == "PID")
                .ok_or("ps printed no PID column")?;
            let _ = writeln!(out, "{header}");
            for line in lines {
                let pid = line
                    .split_whitespace()
                    .nth(column)
                    .and_then(|p| p.parse::<i32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    let _ = writeln!(out, "{line}");
                }
            }
            Ok(())
        }
        other => Err(format!(
            "invalid format option {other:?}: use table or json"
        )),
    }
}

/// `update`: the limits given as a resources document and/or flags, written live.
pub fn update(root: &Root, id: &str, resources: crate::cgroup::Resources) -> Result<(), String> {
    let record = root.load(id)?;
    if root.status(&record) == Status::Stopped {
        return Err("container not running".into());
    }
    let cg = cgroup_of(&record).ok_or("the container has no cgroup to update")?;
    cg.apply(&resources).map_err(|e| e.to_string())
}

/// One stats event, in runc's shape (the fields containerd and people read).
fn stats_event(record: &Record) -> serde_json::Value {
    let s = cgroup_of(record).map(|c| c.stats()).unwrap_or_default();
    serde_json::json!({
        "type": "stats",
        "id": record.id,
        "data": {
            "cpu": { "usage": { "total": s.cpu_ns } },
            "memory": { "usage": { "usage": s.memory, "limit": s.memory_limit.unwrap_or(0) } },
            "pids": { "current": s.pids },
            "blkio": { "ioServiceBytesRecursive": [
                { "op": "Read", "value": s.blk_read },
                { "op": "Write", "value": s.blk_write }
            ] }
        }
    })
}

/// `events`: stats once (`--stats`), or every `interval` until the container stops.
pub fn events(root: &Root, id: &str, once: bool, interval: Duration) -> Result<(), String> {
    let record = root.load(id)?;
    if root.status(&record) == Status::Stopped {
        return Err("container not running".into());
    }
    loop {
        let line = stats_event(&record).to_string();
        if writeln!(std::io::stdout().lock(), "{line}").is_err() || once {
            return Ok(());
        }
        let end = Instant::now() + interval;
        while Instant::now() < end {
            if root.status(&record) == Status::Stopped {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100).min(interval));
        }
    }
}

/// `spec`: a starting config.json in the bundle directory (never over an existing one).
pub fn spec(bundle: &Path, rootless: bool) -> Result<(), String> {
    let file = bundle.join("config.json");
    if file.exists() {
        return Err("File config.json exists. Remove it first".into());
    }
    let spec = if rootless {
        oci_spec::runtime::Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        oci_spec::runtime::Spec::default()
    };
    let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    std::fs::write(&file, text + "\n").map_err(|e| format!("writing {}: {e}", file.display()))
}
