//! The content-addressed image store: blobs by digest, unpacked layers by diff id, and the
//! name index `images.json`, which is written last and atomically so a crash never leaves a
//! half-registered image.

use std::path::PathBuf;

use crate::ns::idmap::{KeepId, shift};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::config::ImageConfig;
use super::reference::{Reference, familiar, split_tag};
use super::{ImageError, io_err};
use crate::config::{Paths, ensure_dir};
use crate::state::{Lock, read_json, write_atomic, write_json};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob (docker's image id).
    pub id: String,
    /// Canonical references, e.g. `docker.io/library/busybox:latest`.
    pub names: Vec<String>,
    pub manifest_digest: String,
    /// When the image entered this store.
    pub added: String,
    /// Unpacked size of all layers, in bytes.
    pub size: u64,
    /// Layer diff ids, lowest first (a copy of the config's, so `run` reads one file less).
    pub layers: Vec<String>,
    /// `registry/repo@sha256:...` it was pulled or pushed as (docker's RepoDigests).
    #[serde(default)]
    pub digests: Vec<String>,
}

impl ImageRecord {
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..12.min(hex.len())]
    }
    /// (REPOSITORY, TAG) pairs as docker lists them; `<none>` for a dangling image.
    pub fn repo_tags(&self) -> Vec<(String, String)> {
        if self.names.is_empty() {
            return vec![("<none>".into(), "<none>".into())];
        }
        self.names
            .iter()
            .map(|n| {
                let (name, tag) = split_tag(n);
                (familiar(name), tag.to_string())
            })
            .collect()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    images: Vec<ImageRecord>,
}

pub struct ImageStore {
    paths: Paths,
    /// Layers keep the tar's `.wh.` whiteout files (fuse-overlayfs and vfs stores).
    whiteout_files: std::sync::OnceLock<bool>,
}

impl ImageStore {
    pub fn open(paths: &Paths) -> Result<ImageStore, ImageError> {
        for dir in [paths.blobs(), paths.layers(), paths.tmp()] {
            ensure_dir(&dir, 0o700).map_err(io_err(&dir))?;
        }
        Ok(ImageStore {
            paths: paths.clone(),
            whiteout_files: std::sync::OnceLock::new(),
        })
    }

    /// Say which storage driver the store uses, once, before layers are unpacked.
    pub fn set_driver(&self, driver: super::storage::Driver) {
        let _ = self
            .whiteout_files
            .set(driver != super::storage::Driver::Overlay);
    }

    /// How layers written into this store mark deleted paths.
    pub fn whiteout_style(&self) -> super::unpack::WhiteoutStyle {
        use super::unpack::WhiteoutStyle;
        if self.whiteout_files.get() == Some(&true) {
            WhiteoutStyle::Files
        } else if self.paths.rootless {
            WhiteoutStyle::User
        } else {
            WhiteoutStyle::Trusted
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// A fresh scratch directory `tmp/<kind>-<pid>.<start>-<random>` for one pull, load,
    /// import or save. The name says who owns it, so scratch left by a killed process (its
    /// pid gone, or reused by another) is swept here, by the next command that needs one.
    pub fn scratch_dir(&self, kind: &str) -> Result<PathBuf, ImageError> {
        let tmp = self.paths.tmp();
        self.sweep_scratch(&tmp);
        let pid = std::process::id() as i32;
        let start = crate::state::proc::start_time(pid).unwrap_or(0);
        let dir = tmp.join(format!(
            "{kind}-{pid}.{start}-{}",
            &crate::ids::random_id()[..16]
        ));
        std::fs::create_dir(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }

    fn sweep_scratch(&self, tmp: &std::path::Path) {
        let Ok(entries) = std::fs::read_dir(tmp) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(owner) = name.to_str().and_then(scratch_owner) else {
                continue;
            };
            if !crate::state::proc::is_alive(owner.0, owner.1) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageError> {
        Ok(self.read_index()?.images)
    }

    fn read_index(&self) -> Result<Index, ImageError> {
        let path = self.paths.images_file();
        if !path.exists() {
            return Ok(Index::default());
        }
        Ok(read_json(&path)?)
    }

    /// Serialize writers of the index; readers never wait.
    fn lock(&self) -> Result<Lock, ImageError> {
        Ok(Lock::exclusive_create(
            &self.paths.root.join("images.lock"),
        )?)
    }

    /// Find an image by name (`busybox`, `busybox:1`), full or short id, or `sha256:` id.
    pub fn lookup(&self, query: &str) -> Result<ImageRecord, ImageError> {
        let images = self.list()?;
        find(&images, query)
            .cloned()
            .ok_or_else(|| ImageError::NoSuchImage(query.to_string()))
    }

    pub fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.paths
            .layers()
            .join(diff_id.strip_prefix("sha256:").unwrap_or(diff_id))
            .join("diff")
    }

    /// Layers copied with shifted owners for `--userns=keep-id` (one copy per host uid:gid).
    fn idmapped_root(&self) -> PathBuf {
        self.paths.root.join("overlay-idmap")
    }

    pub fn shifted_layer_dir(&self, diff_id: &str, keep: KeepId) -> PathBuf {
        self.idmapped_root()
            .join(format!("{}-{}", keep.uid, keep.gid))
            .join(diff_id.strip_prefix("sha256:").unwrap_or(diff_id))
            .join("diff")
    }

    /// The layer as a keep-id container with this host uid:gid needs it, copied on first use
    /// (into scratch, renamed into place: a half copy is never used).
    pub fn ensure_shifted(&self, diff_id: &str, keep: KeepId) -> Result<PathBuf, ImageError> {
        let dir = self.shifted_layer_dir(diff_id, keep);
        if dir.is_dir() {
            return Ok(dir);
        }
        let fail = |e: std::io::Error| ImageError::Unpack {
            entry: diff_id.to_string(),
            reason: format!("copying the layer for --userns=keep-id: {e}"),
        };
        let layer_home = dir.parent().unwrap_or(&dir).to_path_buf();
        let scratch = self.scratch_dir("idmap")?;
        let result = (|| {
            std::fs::create_dir_all(scratch.join("diff"))?;
            crate::mount::copyup::copy_layer_shifted(
                &self.layer_dir(diff_id),
                &scratch.join("diff"),
                &|id| shift(id, keep.uid),
                &|id| shift(id, keep.gid),
            )?;
            if let Some(parent) = layer_home.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::rename(&scratch, &layer_home)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&scratch);
            // Another container made the same copy meanwhile.
            return if dir.is_dir() { Ok(dir) } else { Err(fail(e)) };
        }
        Ok(dir)
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.paths
            .blobs()
            .join(digest.strip_prefix("sha256:").unwrap_or(digest))
    }

    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfig, ImageError> {
        let path = self.blob_path(&image.id);
        let data = std::fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&data).map_err(|source| ImageError::Corrupt { path, source })
    }

    /// Store a small blob (config, manifest) by its digest; returns `sha256:<hex>`.
    pub fn put_blob(&self, data: &[u8]) -> Result<String, ImageError> {
        let digest = format!("sha256:{}", crate::ids::to_hex(&sha2::Sha256::digest(data)));
        let path = self.blob_path(&digest);
        if !path.exists() {
            write_atomic(&path, data)?;
        }
        Ok(digest)
    }

    /// Remember a `repo@digest` name for an image (RepoDigests).
    pub fn add_digest(&self, id: &str, digest_name: &str) -> Result<(), ImageError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        if let Some(img) = index.images.iter_mut().find(|i| i.id == id)
            && !img.digests.iter().any(|d| d == digest_name)
        {
            img.digests.push(digest_name.to_string());
            write_json(&self.paths.images_file(), &index)?;
        }
        Ok(())
    }

    /// Register an image and give it `names`, taking each name away from any other image
    /// (which then becomes dangling, as in docker).
    pub fn register(&self, mut record: ImageRecord) -> Result<ImageRecord, ImageError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        for other in &mut index.images {
            if other.id != record.id {
                other.names.retain(|n| !record.names.contains(n));
            }
        }
        if let Some(existing) = index.images.iter_mut().find(|i| i.id == record.id) {
            for n in &record.names {
                if !existing.names.contains(n) {
                    existing.names.push(n.clone());
                }
            }
            record = existing.clone();
        } else {
            index.images.push(record.clone());
        }
        write_json(&self.paths.images_file(), &index)?;
        Ok(record)
    }

    /// `rmi`: untag a name, or delete an image with its last name or by id. `used_by` names a
    /// container that uses an image id, if any. Returns docker's "Untagged:"/"Deleted:" lines.
    /// Take `name` off the image that carries it, keeping the image (podman's `untag`); the
    /// image's id.
    pub fn untag(&self, name: &str) -> Result<String, ImageError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let canonical = Reference::parse(name)
            .map(|r| r.canonical())
            .unwrap_or_else(|_| name.to_string());
        let image = index
            .images
            .iter_mut()
            .find(|i| i.names.contains(&canonical))
            .ok_or_else(|| ImageError::NoSuchImage(name.to_string()))?;
        image.names.retain(|n| *n != canonical);
        let id = image.id.clone();
        write_json(&self.paths.images_file(), &index)?;
        Ok(id)
    }

    pub fn remove(
        &self,
        query: &str,
        force: bool,
        used_by: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, ImageError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let image = find(&index.images, query)
            .cloned()
            .ok_or_else(|| ImageError::NoSuchImage(query.to_string()))?;
        let by_name = Reference::parse(query)
            .ok()
            .map(|r| r.canonical())
            .filter(|c| image.names.contains(c));
        let mut out = Vec::new();
        if let Some(name) = &by_name
            && image.names.len() > 1
        {
            // Other names remain: only untag.
            index
                .images
                .iter_mut()
                .filter(|i| i.id == image.id)
                .for_each(|i| i.names.retain(|n| n != name));
            write_json(&self.paths.images_file(), &index)?;
            out.push(format!("Untagged: {}", display_name(name)));
            return Ok(out);
        }
        if by_name.is_none() && image.names.len() > 1 && !force {
            return Err(ImageError::MultipleNames(query.to_string()));
        }
        if !force && let Some(container) = used_by(&image.id) {
            return Err(ImageError::InUse {
                image: query.to_string(),
                container,
            });
        }
        for n in &image.names {
            out.push(format!("Untagged: {}", display_name(n)));
        }
        index.images.retain(|i| i.id != image.id);
        write_json(&self.paths.images_file(), &index)?;
        out.push(format!("Deleted: {}", image.id));
        Ok(out)
    }

    /// Delete layers and blobs that no image, no container and no cached build step (`keep_*`)
    /// refers to anymore.
    pub fn collect_garbage(
        &self,
        keep_layers: &[String],
        keep_blobs: &[String],
    ) -> Result<(), ImageError> {
        let _lock = self.lock()?;
        let index = self.read_index()?;
        let mut live_layers: std::collections::HashSet<String> = keep_layers
            .iter()
            .map(|l| l.trim_start_matches("sha256:").to_string())
            .collect();
        let mut live_blobs: std::collections::HashSet<String> = keep_blobs
            .iter()
            .map(|b| b.trim_start_matches("sha256:").to_string())
            .collect();
        for img in &index.images {
            live_layers.extend(
                img.layers
                    .iter()
                    .map(|l| l.trim_start_matches("sha256:").to_string()),
            );
            live_blobs.insert(img.id.trim_start_matches("sha256:").to_string());
            live_blobs.insert(
                img.manifest_digest
                    .trim_start_matches("sha256:")
                    .to_string(),
            );
            if let Ok(data) = std::fs::read(self.blob_path(&img.manifest_digest))
                && let Ok(m) = serde_json::from_slice::<super::config::Manifest>(&data)
            {
                live_blobs.extend(
                    m.layers
                        .iter()
                        .map(|l| l.digest.trim_start_matches("sha256:").to_string()),
                );
            }
        }
        let mut dirs = vec![
            (self.paths.layers(), &live_layers),
            (self.paths.blobs(), &live_blobs),
        ];
        let idmapped: Vec<PathBuf> = std::fs::read_dir(self.idmapped_root())
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        for d in &idmapped {
            dirs.push((d.clone(), &live_layers));
        }
        for (dir, live) in dirs {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !live.contains(&name) {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        Ok(())
    }
}

fn display_name(canonical: &str) -> String {
    let (name, tag) = split_tag(canonical);
    if tag.is_empty() {
        familiar(name)
    } else {
        format!("{}:{tag}", familiar(name))
    }
}

fn find<'a>(images: &'a [ImageRecord], query: &str) -> Option<&'a ImageRecord> {
    if let Ok(r) = Reference::parse(query) {
        let canon = r.canonical();
        if let Some(i) = images
            .iter()
            .find(|i| i.names.contains(&canon) || i.digests.contains(&canon))
        {
            return Some(i);
        }
    }
    let hex = query.strip_prefix("sha256:").unwrap_or(query);
    if crate::ids::is_hex(hex) {
        let mut it = images
            .iter()
            .filter(|i| i.id.trim_start_matches("sha256:").starts_with(hex));
        let first = it.next();
        if it.next().is_none() {
            return first;
        }
    }
    None
}

/// The (pid, start time) in a scratch directory's name, `<kind>-<pid>.<start>-<random>`.
fn scratch_owner(name: &str) -> Option<(i32, u64)> {
    let mut parts = name.splitn(3, '-');
    let (_kind, owner) = (parts.next()?, parts.next()?);
    parts.next()?;
    let (pid, start) = owner.split_once('.')?;
    Some((pid.parse().ok()?, start.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_carry_their_owner() {
        assert_eq!(scratch_owner("pull-123.456-abcdef"), Some((123, 456)));
        assert_eq!(scratch_owner("pull-abcdef"), None);
        assert_eq!(scratch_owner("layer.json"), None);
    }

    fn rec(id: &str, names: &[&str]) -> ImageRecord {
        ImageRecord {
            id: format!("sha256:{id}"),
            names: names.iter().map(|s| s.to_string()).collect(),
            manifest_digest: String::new(),
            added: String::new(),
            size: 0,
            layers: vec![],
            digests: vec![],
        }
    }

    #[test]
    fn lookup_by_name_id_prefix() {
        let a = "a".repeat(64);
        let b = format!("ab{}", "c".repeat(62));
        let images = vec![
            rec(&a, &["docker.io/library/busybox:latest"]),
            rec(&b, &["localhost/x:1"]),
        ];
        assert_eq!(find(&images, "busybox").map(|i| &i.id), Some(&images[0].id));
        assert_eq!(
            find(&images, "localhost/x:1").map(|i| &i.id),
            Some(&images[1].id)
        );
        assert_eq!(find(&images, "abc").map(|i| &i.id), Some(&images[1].id));
        assert!(find(&images, "a").is_none(), "ambiguous prefix");
        assert!(find(&images, "nginx").is_none());
        assert_eq!(
            images[1].repo_tags(),
            vec![("localhost/x".to_string(), "1".to_string())]
        );
        assert_eq!(rec(&a, &[]).repo_tags()[0].0, "<none>");
    }
}
