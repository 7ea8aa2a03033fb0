//! The container store: one directory per container, names reserved by atomic symlinks, lookup
//! by id, name or unique id prefix. Reads take no lock; writers lock the container's directory.

use std::path::{Path, PathBuf};

use super::container::{ContainerRecord, Status};
use super::{Lock, StateError, io_err, proc, read_json, write_json, write_json_with};
use crate::config::{Paths, ensure_dir};

const RECORD_FILE: &str = "config.json";

pub struct Store {
    containers: PathBuf,
    names: PathBuf,
}

impl Store {
    pub fn open(paths: &Paths) -> Result<Store, StateError> {
        let s = Store {
            containers: paths.containers(),
            names: paths.names(),
        };
        ensure_dir(&s.containers, 0o700).map_err(io_err(&s.containers))?;
        ensure_dir(&s.names, 0o700).map_err(io_err(&s.names))?;
        Ok(s)
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.containers.join(id)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(RECORD_FILE)
    }

    /// Reserve the record's name and write it. Fails with NameInUse without touching anything
    /// when another container holds the name.
    pub fn create(&self, record: &ContainerRecord) -> Result<(), StateError> {
        self.reserve_name(&record.name, &record.id)?;
        let dir = self.dir(&record.id);
        let result = std::fs::create_dir(&dir)
            .map_err(io_err(&dir))
            // A `--rm` container ends with its run: nothing of it has to survive a power cut.
            .and_then(|()| {
                write_json_with(
                    &self.record_path(&record.id),
                    record,
                    !record.config.auto_remove,
                )
            });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
            self.release_name(&record.name, &record.id);
        }
        result
    }

    /// Atomically claim `name` for `id`: symlink creation either succeeds or finds the name
    /// taken, so two parallel `run --name x` can never both win.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<(), StateError> {
        if !crate::ids::valid_name(name) {
            return Err(StateError::InvalidName(name.to_string()));
        }
        let link = self.names.join(name);
        loop {
            match std::os::unix::fs::symlink(id, &link) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_link(&link)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if holder == id {
                        return Ok(());
                    }
                    // A name whose container directory is gone was left by a crash between
                    // reservation and removal: reclaim it.
                    if !holder.is_empty() && !self.record_path(&holder).exists() {
                        let _ = std::fs::remove_file(&link);
                        continue;
                    }
                    return Err(StateError::NameInUse {
                        name: name.to_string(),
                        id: holder,
                    });
                }
                Err(e) => return Err(io_err(&link)(e)),
            }
        }
    }

    /// Drop the name only if it still points at `id`.
    pub fn release_name(&self, name: &str, id: &str) {
        let link = self.names.join(name);
        if std::fs::read_link(&link).is_ok_and(|t| t == Path::new(id)) {
            let _ = std::fs::remove_file(&link);
        }
    }

    pub fn load(&self, id: &str) -> Result<ContainerRecord, StateError> {
        let path = self.record_path(id);
        match read_json(&path) {
            Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(StateError::NoSuchContainer(id.to_string()))
            }
            other => other,
        }
    }

    pub fn save(&self, record: &ContainerRecord) -> Result<(), StateError> {
        write_json(&self.record_path(&record.id), record)
    }

    /// Save a change of run state only (started, exited): after a power cut no container runs
    /// and the next command reconciles whatever the record says, so no fsync is owed.
    pub fn save_state(&self, record: &ContainerRecord) -> Result<(), StateError> {
        write_json_with(&self.record_path(&record.id), record, false)
    }

    /// Exclusive lock on one container (its directory), for every read-modify-write.
    pub fn lock(&self, id: &str) -> Result<Lock, StateError> {
        let dir = self.dir(id);
        if !dir.exists() {
            return Err(StateError::NoSuchContainer(id.to_string()));
        }
        Lock::exclusive(&dir)
    }

    pub fn try_lock(&self, id: &str) -> Result<Option<Lock>, StateError> {
        Lock::try_exclusive(&self.dir(id))
    }

    /// All container ids with a record. Directories of removals that a crash interrupted
    /// (`.removing-<id>`) are finished off on the way.
    pub fn ids(&self) -> Result<Vec<String>, StateError> {
        let mut ids = Vec::new();
        let entries = std::fs::read_dir(&self.containers).map_err(io_err(&self.containers))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if crate::ids::is_full_id(&name) {
                ids.push(name);
            } else if name.starts_with(".removing-") && abandoned(&entry) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(ids)
    }

    /// docker's lookup order: full id, exact name, unique id prefix.
    pub fn resolve(&self, query: &str) -> Result<String, StateError> {
        let query = query.strip_prefix('/').unwrap_or(query);
        if query.is_empty() {
            return Err(StateError::NoSuchContainer(query.to_string()));
        }
        if crate::ids::is_full_id(query) && self.record_path(query).exists() {
            return Ok(query.to_string());
        }
        if let Ok(target) = std::fs::read_link(self.names.join(query)) {
            let id = target.to_string_lossy().into_owned();
            if self.record_path(&id).exists() {
                return Ok(id);
            }
        }
        if crate::ids::is_hex(query) {
            let matches: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|id| id.starts_with(query))
                .collect();
            match matches.len() {
                1 => return Ok(matches.into_iter().next().unwrap_or_default()),
                0 => {}
                _ => return Err(StateError::Ambiguous(query.to_string())),
            }
        }
        Err(StateError::NoSuchContainer(query.to_string()))
    }

    /// Remove a container's record and name. The directory is first renamed out of the way so
    /// that readers never see half a container.
    pub fn remove(&self, record: &ContainerRecord) -> Result<(), StateError> {
        let dir = self.dir(&record.id);
        let trash = self.containers.join(format!(".removing-{}", record.id));
        std::fs::rename(&dir, &trash).map_err(io_err(&dir))?;
        self.release_name(&record.name, &record.id);
        match std::fs::remove_dir_all(&trash) {
            // A concurrent sweep finished the job.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.map_err(io_err(&trash)),
        }
    }
}

/// A `.removing-` directory that no `rm` is working on any more: a crash left it. Fresh ones
/// belong to a removal in progress.
fn abandoned(entry: &std::fs::DirEntry) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 60)
}

/// What a reader concludes about a record whose status says Running.
#[derive(Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Not recorded as running: nothing to check.
    NotRunning,
    Alive,
    /// The container's pid 1 is gone but its monitor lives: the exit is being recorded.
    Exiting,
    /// Monitor and container gone without the exit being recorded (crash, kill -9, reboot).
    Lost {
        exit_code: i32,
        reason: &'static str,
    },
}

pub fn liveness(record: &ContainerRecord, boot_id: &str) -> Liveness {
    let st = &record.state;
    if st.status == Status::Restarting {
        // Only its monitor lives between two runs: with it gone, nothing restarts.
        let gone = (!st.boot_id.is_empty() && st.boot_id != boot_id)
            || !proc::is_alive(st.monitor_pid, st.monitor_start);
        return if gone {
            Liveness::Lost {
                exit_code: st.exit_code,
                reason: "the monitor of a restarting container died",
            }
        } else {
            Liveness::NotRunning
        };
    }
    if st.status != Status::Running {
        return Liveness::NotRunning;
    }
    if !st.boot_id.is_empty() && st.boot_id != boot_id {
        // Docker reports 255 for containers that a daemon or host restart took away.
        return Liveness::Lost {
            exit_code: 255,
            reason: "the host rebooted while the container was running",
        };
    }
    let monitor_alive = proc::is_alive(st.monitor_pid, st.monitor_start);
    let ctr_alive = proc::is_alive(st.pid, st.pid_start);
    match (monitor_alive, ctr_alive) {
        (true, true) => Liveness::Alive,
        (true, false) => Liveness::Exiting,
        // The monitor's death kills pid 1 by PDEATHSIG (SIGKILL): report that.
        (false, _) => Liveness::Lost {
            exit_code: 137,
            reason: "the container's monitor process died",
        },
    }
}
