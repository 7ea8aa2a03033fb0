//! Volumes, in docker's layout: `<root>/volumes/<name>/_data` holds the data and
//! `<root>/volumes/<name>/volume.json` the record. A volume appears whole or not at all: it is
//! assembled in a scratch directory and renamed into place, and removed by renaming it away
//! first, so parallel `run -v name:/x` never see half a volume.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{StateError, io_err, read_json, write_json};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `-o` driver options: `type`, `device`, `o` (docker's local driver).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, image VOLUME), not named by a user.
    #[serde(default)]
    pub anonymous: bool,
}

pub struct VolumeStore {
    dir: PathBuf,
    tmp: PathBuf,
}

/// docker's rule for volume names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl VolumeStore {
    pub fn open(root: &Path) -> Result<VolumeStore, StateError> {
        let dir = root.join("volumes");
        let tmp = root.join("tmp");
        for d in [&dir, &tmp] {
            crate::config::ensure_dir(d, 0o700).map_err(io_err(d))?;
        }
        Ok(VolumeStore { dir, tmp })
    }

    /// Where the volume's data lives on the host.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord, StateError> {
        if !valid_name(name) {
            return Err(StateError::NoSuchVolume(name.to_string()));
        }
        match read_json(&self.record_path(name)) {
            Err(StateError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Err(StateError::NoSuchVolume(name.to_string()))
            }
            other => other,
        }
    }

    /// Create the volume, or return the existing one of that name (docker's `volume create`
    /// is idempotent). The bool says whether this call created it.
    pub fn create(&self, record: &VolumeRecord) -> Result<(VolumeRecord, bool), StateError> {
        if !valid_name(&record.name) {
            return Err(StateError::InvalidVolumeName(record.name.clone()));
        }
        if let Ok(existing) = self.get(&record.name) {
            return Ok((existing, false));
        }
        let scratch = self.tmp.join(format!("volume-{}", crate::ids::random_id()));
        let result = (|| {
            std::fs::create_dir(&scratch).map_err(io_err(&scratch))?;
            let data = scratch.join("_data");
            std::fs::create_dir(&data).map_err(io_err(&data))?;
            // docker's _data is world-traversable: container users other than root use it.
            std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(io_err(&data))?;
            write_json(&scratch.join("volume.json"), record)?;
            let dest = self.dir.join(&record.name);
            std::fs::rename(&scratch, &dest).map_err(io_err(&dest))
        })();
        match result {
            Ok(()) => Ok((record.clone(), true)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                // Someone else created it at the same moment: theirs wins.
                match self.get(&record.name) {
                    Ok(existing) => Ok((existing, false)),
                    Err(_) => Err(e),
                }
            }
        }
    }

    pub fn list(&self) -> Result<Vec<VolumeRecord>, StateError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)
            .map_err(io_err(&self.dir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Ok(v) = self.get(&name) {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Remove the volume and its data (the caller checked that nothing uses it).
    pub fn remove(&self, name: &str) -> Result<(), StateError> {
        self.get(name)?;
        let dir = self.dir.join(name);
        let trash = self
            .dir
            .join(format!(".removing-{name}-{}", std::process::id()));
        std::fs::rename(&dir, &trash).map_err(io_err(&dir))?;
        std::fs::remove_dir_all(&trash).map_err(io_err(&trash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            created_at: "2026-12-02T00:00:00Z".into(),
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            anonymous: false,
        }
    }

    #[test]
    fn create_is_idempotent_and_remove_cleans() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = VolumeStore::open(tmp.path()).expect("open");
        let (v, created) = store.create(&rec("data")).expect("create");
        assert!(created);
        assert!(store.data_dir("data").is_dir());
        let (again, created) = store
            .create(&VolumeRecord {
                anonymous: true,
                ..rec("data")
            })
            .expect("again");
        assert!(!created);
        assert_eq!(again, v);
        assert_eq!(store.list().expect("list").len(), 1);
        store.remove("data").expect("remove");
        assert!(matches!(
            store.get("data"),
            Err(StateError::NoSuchVolume(_))
        ));
        assert_eq!(
            std::fs::read_dir(tmp.path().join("volumes"))
                .expect("dir")
                .count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(tmp.path().join("tmp"))
                .expect("dir")
                .count(),
            0
        );
    }

    #[test]
    fn names() {
        for ok in ["data", "a", "my_vol.1", "0abc-x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", ".x", "a/b", "a b", "../x"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
