//! Crash-safe JSON state: atomic writes, per-object flocks, and reconcile-on-read.

pub mod container;
pub mod events;
pub mod network;
pub mod proc;
pub mod store;
pub mod volume;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: corrupt state file: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("multiple containers match the prefix {0:?}: use more characters of the id")]
    Ambiguous(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("No such volume: {0}")]
    NoSuchVolume(String),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "invalid volume name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed; to mount a host directory, give an absolute path"
    )]
    InvalidVolumeName(String),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `data` to `path` so that readers see either the old or the new content, never a torn
/// file: a temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StateError> {
    write_atomic_with(path, data, true)
}

/// [`write_atomic`], the fsync only when `durable`: readers never see a torn file either way,
/// but without it a power cut may lose the update (or, for a new file, leave it empty). For
/// what does not outlive a power cut anyway (a running container's pid, a `--rm` container);
/// an fsync costs about a millisecond on a plain disk, a tenth of a container start.
pub fn write_atomic_with(path: &Path, data: &[u8], durable: bool) -> Result<(), StateError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_err(path))
}

pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    write_json_with(path, value, true)
}

pub fn write_json_with<T: serde::Serialize>(
    path: &Path,
    value: &T,
    durable: bool,
) -> Result<(), StateError> {
    let data = serde_json::to_vec_pretty(value).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic_with(path, &data, durable)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StateError> {
    let data = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&data).map_err(|source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// An exclusive flock on a file or directory, released when dropped or when the process dies
/// (so a crash never leaves a stale lock).
pub struct Lock {
    _file: File,
}

impl Lock {
    pub fn exclusive(path: &Path) -> Result<Lock, StateError> {
        let file = File::open(path).map_err(io_err(path))?;
        file.lock().map_err(io_err(path))?;
        Ok(Lock { _file: file })
    }

    /// Take the lock if nobody holds it.
    pub fn try_exclusive(path: &Path) -> Result<Option<Lock>, StateError> {
        let file = File::open(path).map_err(io_err(path))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Lock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StateError::Io {
                path: path.to_path_buf(),
                source: e,
            }),
        }
    }

    /// Lock a file that may not exist yet (lock files for stores that have no directory of
    /// their own, such as the image index).
    pub fn exclusive_create(path: &Path) -> Result<Lock, StateError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        file.lock().map_err(io_err(path))?;
        Ok(Lock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.json");
        write_json(&p, &serde_json::json!({"a": 1})).expect("write");
        write_json(&p, &serde_json::json!({"a": 2})).expect("rewrite");
        let v: serde_json::Value = read_json(&p).expect("read");
        assert_eq!(v["a"], 2);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn try_lock_sees_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = Lock::exclusive(dir.path()).expect("lock");
        assert!(Lock::try_exclusive(dir.path()).expect("try").is_none());
        drop(held);
        assert!(Lock::try_exclusive(dir.path()).expect("try").is_some());
    }
}
