//! The build cache: for each step, the state it produced (layers, blobs, config with history),
//! filed under a key made of the parent's key, the instruction with its arguments expanded,
//! the build args it sees, and (COPY/ADD) the content hash of its sources. A hit needs the
//! file and every layer it names still in the store. Files in `<root>/build-cache/`; layers
//! they name are kept by image garbage collection until `builder prune`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ImageState;
use crate::config::Paths;
use crate::image::store::ImageStore;

pub fn dir(paths: &Paths) -> PathBuf {
    paths.root.join("build-cache")
}

/// Persistent directories of `RUN --mount=type=cache`.
pub fn mounts_dir(paths: &Paths) -> PathBuf {
    dir(paths).join("mounts")
}

pub fn stat_cache_file(paths: &Paths) -> PathBuf {
    dir(paths).join("stat-cache.json")
}

/// The key of a step on top of `parent`.
pub fn key(parent: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    for p in parts {
        h.update(b"\n");
        h.update(p.as_bytes());
    }
    crate::ids::to_hex(&h.finalize())
}

pub fn lookup(paths: &Paths, images: &ImageStore, key: &str) -> Option<ImageState> {
    let path = dir(paths).join(format!("{key}.json"));
    let state: ImageState = crate::state::read_json(&path).ok()?;
    let complete = state.layers.iter().all(|l| images.layer_dir(l).is_dir())
        && state
            .blobs
            .iter()
            .all(|b| images.blob_path(&b.digest).is_file());
    complete.then_some(state)
}

pub fn store(paths: &Paths, state: &ImageState) {
    let d = dir(paths);
    if crate::config::ensure_dir(&d, 0o700).is_ok() {
        let _ = crate::state::write_json(&d.join(format!("{}.json", state.key)), state);
    }
}

/// Layers and blobs the cache refers to (kept by garbage collection).
pub fn live(paths: &Paths) -> (Vec<String>, Vec<String>) {
    let mut layers = Vec::new();
    let mut blobs = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir(paths)) else {
        return (layers, blobs);
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json")
            && let Ok(state) = crate::state::read_json::<ImageState>(&p)
        {
            layers.extend(state.layers);
            blobs.extend(state.blobs.into_iter().map(|b| b.digest));
        }
    }
    (layers, blobs)
}

/// `builder prune`: forget every step and the cache mounts. Returns bytes of files removed.
pub fn prune(paths: &Paths) -> u64 {
    let d = dir(paths);
    let size = du(&d);
    let _ = std::fs::remove_dir_all(&d);
    size
}

/// `system df`: how many build steps the cache remembers, and the bytes of the cache's own
/// files (step records and cache mounts; layers are counted with the images).
pub fn usage(paths: &Paths) -> (usize, u64) {
    let d = dir(paths);
    let steps = std::fs::read_dir(&d)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0);
    (steps, du(&d))
}

fn du(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .map(|d| d.flatten().map(|e| du(&e.path())).sum())
        .unwrap_or(0)
}
