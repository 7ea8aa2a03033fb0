//! What the runtime remembers of each container it made: `<root>/<id>/state.json` (passive
//! data), beside the exec FIFO that holds a created container before `start`. The status is
//! never stored: it is read from the process, the FIFO and the freezer each time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// The init's start time, so a reused pid is never taken for it.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, as runc prints it.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The cgroup, relative to the hierarchy's root (empty: none).
    #[serde(default)]
    pub cgroup: String,
    /// The spec's hooks: poststop runs at `delete`, when the bundle may be gone.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The runtime's state directory (`--root`).
pub struct Root {
    pub dir: PathBuf,
}

/// runc's rule for ids: they become directory names.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
}

impl Root {
    /// `--root`, or runc's place for it under skiff's name.
    pub fn resolve(given: Option<PathBuf>) -> Root {
        let dir = given.unwrap_or_else(|| {
            if nix::unistd::geteuid().is_root() {
                PathBuf::from("/run/skiff-runc")
            } else {
                let runtime = std::env::var_os("XDG_RUNTIME_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| {
                        PathBuf::from(format!("/tmp/skiff-runc-{}", nix::unistd::geteuid()))
                    });
                runtime.join("skiff-runc")
            }
        });
        Root { dir }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn fifo(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("exec.fifo")
    }

    /// The record, or runc's "does not exist" (containerd matches that text).
    pub fn load(&self, id: &str) -> Result<Record, String> {
        if !valid_id(id) {
            return Err(format!("container {id:?} does not exist"));
        }
        let file = self.container_dir(id).join("state.json");
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("reading {}: {e}", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("container {id:?} does not exist"))
            }
            Err(e) => Err(format!("reading {}: {e}", file.display())),
        }
    }

    pub fn save(&self, record: &Record) -> Result<(), String> {
        let dir = self.container_dir(&record.id);
        let tmp = dir.join("state.json.tmp");
        let bytes = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, dir.join("state.json")))
            .map_err(|e| format!("writing the state of {}: {e}", record.id))
    }

    /// Every container with a readable record, by id.
    pub fn list(&self) -> Vec<Record> {
        let mut out: Vec<Record> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| self.load(e.file_name().to_str()?).ok())
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub fn status(&self, record: &Record) -> Status {
        if !crate::state::proc::is_alive(record.pid, record.pid_start) {
            return Status::Stopped;
        }
        if self.fifo(&record.id).exists() {
            return Status::Created;
        }
        if frozen(&record.cgroup) {
            return Status::Paused;
        }
        Status::Running
    }
}

/// Whether the cgroup's freezer holds it (v2 `cgroup.freeze`, v1 `freezer.state`).
fn frozen(cgroup: &str) -> bool {
    if cgroup.is_empty() {
        return false;
    }
    let rel = cgroup.trim_start_matches('/');
    match crate::cgroup::host_hierarchy() {
        Some(crate::cgroup::Hierarchy::Unified(mount)) => {
            std::fs::read_to_string(mount.join(rel).join("cgroup.freeze"))
                .is_ok_and(|s| s.trim() == "1")
        }
        Some(crate::cgroup::Hierarchy::Legacy { controllers, .. }) => controllers
            .iter()
            .find(|(c, _)| c == "freezer")
            .and_then(|(_, m)| std::fs::read_to_string(m.join(rel).join("freezer.state")).ok())
            .is_some_and(|s| s.trim() != "THAWED"),
        None => false,
    }
}

/// The OCI state document (`state`, and the hooks' stdin).
pub fn oci_state(record: &Record, status: Status) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": "1.2.0",
        "id": record.id,
        "pid": if status == Status::Stopped { 0 } else { record.pid },
        "status": status.as_str(),
        "bundle": record.bundle,
        "rootfs": record.rootfs,
        "created": record.created,
        "owner": record.owner,
        "annotations": record.annotations,
    })
}

/// Write a file whole or not at all (the pid file containerd reads).
pub fn write_atomic(path: &Path, content: &str) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".skiff-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, content)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("writing {}: {e}", path.display())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_directory_names() {
        assert!(valid_id("abc-1.2_x+y"));
        assert!(!valid_id(""));
        assert!(!valid_id(".."));
        assert!(!valid_id("a/b"));
        assert!(!valid_id("a b"));
    }
}
