//! A container's overlay upper directory becomes a layer: a tar diff in docker's format (the
//! overlay whiteouts turned into `.wh.` entries, opaque directories into `.wh..wh..opq`),
//! hashed twice in one pass (the diff id of the tar, the digest of its gzip blob), and stored
//! in the same content-addressed store as pulled layers. The upper directory is already a
//! layer directory in the store's own (overlay) format, so it is renamed into place.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::ns::idmap::AutoRange;

use crate::image::config::{Descriptor, MEDIA_LAYER_GZIP};
use crate::image::store::ImageStore;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> LayerError {
    let path = path.to_path_buf();
    move |source| LayerError::Io { what, path, source }
}

/// A layer made from a directory: its diff id, its blob, and whether anything was in it.
#[derive(Debug, Clone)]
pub struct Made {
    pub diff_id: String,
    pub blob: Descriptor,
    /// Bytes of file content (docker's SIZE).
    pub size: u64,
    pub empty: bool,
}

/// Writes through to `inner`, hashing and counting.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Make a layer of `upper` (an overlay upper directory, or any directory in the store's
/// layer format) into the store: blob written, directory renamed (`keep_dir`: copied through
/// the tar instead, for a container that still runs on it). `scratch` holds the blob until
/// it is complete.
pub fn store_layer(
    store: &ImageStore,
    upper: &Path,
    scratch: &Path,
    keep_dir: bool,
    skip: &[&str],
    owners: Option<AutoRange>,
) -> Result<Made, LayerError> {
    let blob_tmp = scratch.join(format!("blob-{}", &crate::ids::random_id()[..12]));
    let file = std::fs::File::create(&blob_tmp).map_err(io("creating", &blob_tmp))?;
    let outer = Hashing {
        inner: std::io::BufWriter::new(file),
        hasher: Sha256::new(),
        count: 0,
    };
    let gz = flate2::write::GzEncoder::new(outer, flate2::Compression::fast());
    let mut inner = Hashing {
        inner: gz,
        hasher: Sha256::new(),
        count: 0,
    };
    let (entries, size) =
        write_diff(upper, skip, owners, &mut inner).map_err(io("reading", upper))?;
    let gz = inner.inner;
    let diff_id = format!("sha256:{}", crate::ids::to_hex(&inner.hasher.finalize()));
    let mut outer = gz.finish().map_err(io("compressing", &blob_tmp))?;
    outer.flush().map_err(io("writing", &blob_tmp))?;
    let blob_digest = format!("sha256:{}", crate::ids::to_hex(&outer.hasher.finalize()));
    let blob = Descriptor {
        media_type: MEDIA_LAYER_GZIP.into(),
        digest: blob_digest.clone(),
        size: outer.count,
    };
    let layer_dir = store.layer_dir(&diff_id);
    if !layer_dir.exists() {
        let parent = layer_dir.parent().unwrap_or(&layer_dir);
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        if keep_dir {
            let copy = scratch.join(format!("diff-{}", &crate::ids::random_id()[..12]));
            std::fs::create_dir(&copy).map_err(io("creating", &copy))?;
            copy_via_tar(&blob_tmp, &copy, store.whiteout_style())?;
            std::fs::rename(&copy, &layer_dir).map_err(io("storing", &layer_dir))?;
        } else {
            std::fs::rename(upper, &layer_dir).map_err(io("storing", &layer_dir))?;
        }
    }
    let blob_path = store.blob_path(&blob_digest);
    if blob_path.exists() {
        let _ = std::fs::remove_file(&blob_tmp);
    } else {
        std::fs::rename(&blob_tmp, &blob_path).map_err(io("storing", &blob_path))?;
    }
    Ok(Made {
        diff_id,
        blob,
        size,
        empty: entries == 0,
    })
}

/// Unpack the blob just written into `dir`, whiteouts in the store's format.
fn copy_via_tar(
    blob: &Path,
    dir: &Path,
    style: crate::image::unpack::WhiteoutStyle,
) -> Result<(), LayerError> {
    let f = std::fs::File::open(blob).map_err(io("reading", blob))?;
    crate::image::unpack::unpack_layer(flate2::read::GzDecoder::new(f), dir, style)
        .map(drop)
        .map_err(|e| LayerError::Io {
            what: "unpacking",
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
}

/// The mountpoints the runtime makes in a container's upper directory when the image lacks
/// them: empty files standing under the bind mounts of the container's hosts files. They
/// are the container's, not its changes (docker leaves them out of diff and commit).
pub fn runtime_stubs(upper: &Path) -> Vec<&'static str> {
    ["etc/hosts", "etc/hostname", "etc/resolv.conf"]
        .into_iter()
        .filter(|f| {
            std::fs::symlink_metadata(upper.join(f)).is_ok_and(|m| m.is_file() && m.len() == 0)
        })
        .collect()
}

/// What an entry of an overlay upper directory means.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// A deleted path (a 0/0 character device, or a file marked `overlay.whiteout`).
    Whiteout,
    /// A directory that replaced the lower one whole.
    Opaque,
    /// fuse-overlayfs's `.wh.<name>` file: `<name>` is deleted (the tar keeps it as is).
    WhiteoutFile,
    /// fuse-overlayfs's `.wh..wh..opq` file: its directory is opaque (the tar keeps it).
    OpaqueMarker,
    Plain,
}

pub fn classify(path: &Path, meta: &std::fs::Metadata) -> Change {
    let ft = meta.file_type();
    // fuse-overlayfs writes whiteouts as the tar has them where it cannot make devices.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if ft.is_file() && name == ".wh..wh..opq" {
        return Change::OpaqueMarker;
    }
    if ft.is_file() && name.starts_with(".wh.") {
        return Change::WhiteoutFile;
    }
    if ft.is_char_device() && meta.rdev() == 0 {
        return Change::Whiteout;
    }
    let has = |name: &str| {
        xattr::get(path, name)
            .ok()
            .flatten()
            .is_some_and(|v| v == b"y")
    };
    if ft.is_file()
        && meta.len() == 0
        && (has("user.overlay.whiteout") || has("trusted.overlay.whiteout"))
    {
        return Change::Whiteout;
    }
    if ft.is_dir() && (has("trusted.overlay.opaque") || has("user.overlay.opaque")) {
        return Change::Opaque;
    }
    Change::Plain
}

pub use crate::image::tree::walk;

/// Write `upper` as a docker layer tar, without the paths in `skip`; returns (entries, bytes
/// of content). `owners`: the upper belongs to a `--userns=auto` container, whose files carry
/// its host ids on disk; the layer gets the container's own.
fn write_diff(
    upper: &Path,
    skip: &[&str],
    owners: Option<AutoRange>,
    out: &mut impl Write,
) -> std::io::Result<(usize, u64)> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    tar.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut entries = 0;
    let mut size = 0;
    for (rel, path, meta) in walk(upper)? {
        if skip.contains(&rel.as_str()) {
            continue;
        }
        entries += 1;
        match classify(&path, &meta) {
            Change::Whiteout => {
                let (dir, name) = rel.rsplit_once('/').unwrap_or(("", &rel));
                let wh = if dir.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{dir}/.wh.{name}")
                };
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_mtime(meta.mtime().max(0) as u64);
                tar.append_data(&mut h, wh, std::io::empty())?;
                continue;
            }
            Change::Opaque => {
                append_entry(&mut tar, &rel, &path, &meta, owners, &mut links, &mut size)?;
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_mtime(meta.mtime().max(0) as u64);
                tar.append_data(&mut h, format!("{rel}/.wh..wh..opq"), std::io::empty())?;
            }
            Change::WhiteoutFile | Change::OpaqueMarker => {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(0);
                h.set_mode(0o644);
                h.set_mtime(meta.mtime().max(0) as u64);
                tar.append_data(&mut h, &rel, std::io::empty())?;
            }
            Change::Plain => {
                append_entry(&mut tar, &rel, &path, &meta, owners, &mut links, &mut size)?
            }
        }
    }
    tar.finish()?;
    Ok((entries, size))
}

fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    rel: &str,
    path: &Path,
    meta: &std::fs::Metadata,
    owners: Option<AutoRange>,
    links: &mut HashMap<(u64, u64), String>,
    size: &mut u64,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    let (uid, gid) = match owners {
        Some(a) => a.in_container(meta.uid(), meta.gid()),
        None => (meta.uid(), meta.gid()),
    };
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    let ft = meta.file_type();
    // Capabilities set on a file (setcap in a RUN) travel as a PAX record, as docker's do.
    if let Ok(Some(cap)) = xattr::get(path, "security.capability") {
        let key = "SCHILY.xattr.security.capability";
        tar.append_pax_extensions([(key, cap.as_slice())])?;
    }
    if ft.is_file() && meta.nlink() > 1 {
        let key = (meta.dev(), meta.ino());
        if let Some(first) = links.get(&key) {
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            return tar.append_link(&mut h, rel, first);
        }
        links.insert(key, rel.to_string());
    }
    if ft.is_symlink() {
        let target = std::fs::read_link(path)?;
        h.set_size(0);
        return tar.append_link(&mut h, rel, target);
    }
    if ft.is_dir() {
        h.set_size(0);
        return tar.append_data(&mut h, format!("{rel}/"), std::io::empty());
    }
    if ft.is_file() {
        *size += meta.len();
        let f = std::fs::File::open(path)?;
        return tar.append_data(&mut h, rel, f);
    }
    if ft.is_char_device() || ft.is_block_device() {
        h.set_device_major(nix::sys::stat::major(meta.rdev()) as u32)?;
        h.set_device_minor(nix::sys::stat::minor(meta.rdev()) as u32)?;
    }
    h.set_size(0);
    tar.append_data(&mut h, rel, std::io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_puts_parents_first_in_name_order() {
        let t = tempfile::tempdir().expect("tmp");
        for d in ["b/z", "a", "b/a"] {
            std::fs::create_dir_all(t.path().join(d)).expect("dir");
        }
        std::fs::write(t.path().join("b/file"), "x").expect("file");
        let names: Vec<String> = walk(t.path())
            .expect("walk")
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, ["a", "b", "b/a", "b/file", "b/z"]);
    }

    #[test]
    fn diff_tar_names_whiteouts_and_keeps_owners() {
        let t = tempfile::tempdir().expect("tmp");
        let up = t.path();
        std::fs::create_dir(up.join("etc")).expect("dir");
        std::fs::write(up.join("etc/new"), "hello").expect("file");
        // A whiteout as an unprivileged overlay writes it (root could mknod 0/0 too).
        std::fs::write(up.join("etc/gone"), "").expect("file");
        let marked = xattr::set(up.join("etc/gone"), "user.overlay.whiteout", b"y").is_ok();
        std::os::unix::fs::symlink("new", up.join("etc/link")).expect("link");
        let mut out = Vec::new();
        let (n, size) = write_diff(up, &[], None, &mut out).expect("diff");
        assert_eq!(n, 4);
        assert_eq!(size, 5);
        let mut ar = tar::Archive::new(out.as_slice());
        let names: Vec<String> = ar
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                e.path().expect("path").to_string_lossy().into_owned()
            })
            .collect();
        let gone = if marked { "etc/.wh.gone" } else { "etc/gone" };
        assert_eq!(names, ["etc/", gone, "etc/link", "etc/new"]);
    }
}
