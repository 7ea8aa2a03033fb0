//! The event journal: every command (and every container monitor) appends docker-shaped
//! events, one JSON line each, to `<runroot>/events.log`. One `write` on an `O_APPEND`
//! descriptor per line: the kernel puts each at the end whole, so parallel commands never
//! interleave their lines. Past `MAX_BYTES` the file is moved to `events.log.1` (one older
//! file kept), under a lock so two writers never both rotate. It lives in the runtime dir, as
//! docker's events live in its daemon's memory: a reboot starts a new history.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Lock;

/// Rotation threshold: about 40,000 events per file.
pub const MAX_BYTES: u64 = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// docker's events message (`docker events --format json` prints exactly this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The old fields docker still sends for containers and images.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// A `kind` event (container, image, volume, network) `action` on `id`, now.
    pub fn new(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Event {
        let now = jiff::Timestamp::now();
        let legacy = matches!(kind, "container" | "image");
        Event {
            status: if legacy {
                action.to_string()
            } else {
                String::new()
            },
            id: if legacy {
                id.to_string()
            } else {
                String::new()
            },
            from: if kind == "container" {
                attributes.get("image").cloned().unwrap_or_default()
            } else {
                String::new()
            },
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: now.as_second(),
            time_nano: i64::try_from(now.as_nanosecond()).unwrap_or(i64::MAX),
        }
    }
}

pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    pub fn new(runroot: &Path) -> Journal {
        Journal {
            dir: runroot.to_path_buf(),
        }
    }

    pub fn current(&self) -> PathBuf {
        self.dir.join("events.log")
    }

    fn older(&self) -> PathBuf {
        self.dir.join("events.log.1")
    }

    /// Append one event (best effort: a full disk must not fail the command that caused it).
    pub fn append(&self, event: &Event) {
        let Ok(mut line) = serde_json::to_vec(event) else {
            return;
        };
        line.push(b'\n');
        let path = self.current();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() >= MAX_BYTES) {
            self.rotate();
        }
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
        {
            // One write: O_APPEND places it at the end as a whole.
            let _ = f.write(&line);
        }
    }

    fn rotate(&self) {
        let Ok(_lock) = Lock::exclusive_create(&self.dir.join("events.lock")) else {
            return;
        };
        // Whoever held the lock before us may have rotated already.
        if std::fs::metadata(self.current()).is_ok_and(|m| m.len() >= MAX_BYTES) {
            let _ = std::fs::rename(self.current(), self.older());
        }
    }

    /// Every event kept, oldest first (lines that do not parse are skipped).
    pub fn read_all(&self) -> Vec<Event> {
        let mut out = Vec::new();
        for path in [self.older(), self.current()] {
            if let Ok(text) = std::fs::read_to_string(&path) {
                out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_append_whole_and_rotate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let j = Journal::new(dir.path());
        let attrs = BTreeMap::from([("image".to_string(), "busybox".to_string())]);
        j.append(&Event::new("container", "start", "abc", attrs.clone()));
        j.append(&Event::new("volume", "create", "data", BTreeMap::new()));
        let all = j.read_all();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].from.as_str(), all[0].status.as_str()),
            ("busybox", "start")
        );
        assert!(all[1].status.is_empty() && all[1].actor.id == "data");
        // Past the cap the next append starts a new file; the old one is still read.
        std::fs::OpenOptions::new()
            .append(true)
            .open(j.current())
            .and_then(|f| f.set_len(MAX_BYTES))
            .expect("grow");
        j.append(&Event::new("container", "die", "abc", attrs));
        assert!(j.older().exists());
        let last = j.read_all().pop().expect("events");
        assert_eq!(last.action, "die");
    }
}
