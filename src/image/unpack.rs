//! Unpack one layer tarball into a directory: entries confined to the directory, OCI whiteouts
//! turned into overlayfs whiteouts, ownership, modes, links and xattrs kept.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ImageError;
use crate::securejoin::{clean_relative, secure_join};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// How overlayfs whiteouts are written: as root the kernel's trusted xattrs, in a user
/// namespace the `user.overlay.*` ones that an overlay mounted with `userxattr` reads; for
/// fuse-overlayfs stores the tar's own `.wh.` files, which it reads and which need neither
/// device nodes nor trusted xattrs (both refused on an overlayfs-backed store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutStyle {
    Trusted,
    User,
    Files,
}

impl WhiteoutStyle {
    fn opaque_xattr(self) -> &'static str {
        match self {
            WhiteoutStyle::Trusted => "trusted.overlay.opaque",
            WhiteoutStyle::User | WhiteoutStyle::Files => "user.overlay.opaque",
        }
    }
}

#[derive(Debug, Default)]
pub struct UnpackStats {
    pub bytes: u64,
    pub entries: u64,
    /// Device nodes that could not be created (no CAP_MKNOD in a user namespace).
    pub skipped_devices: u64,
}

pub fn unpack_layer<R: Read>(
    reader: R,
    dest: &Path,
    style: WhiteoutStyle,
) -> Result<UnpackStats, ImageError> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let mut stats = UnpackStats::default();
    let entries = archive.entries().map_err(|e| unpack_err("<archive>", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| unpack_err("<archive>", e))?;
        let raw_path = entry
            .path()
            .map_err(|e| unpack_err("<path>", e))?
            .into_owned();
        let shown = raw_path.display().to_string();
        let rel = clean_relative(&raw_path).ok_or_else(|| ImageError::Unpack {
            entry: shown.clone(),
            reason: "path escapes the layer (..)".into(),
        })?;
        if rel.as_os_str().is_empty() {
            continue; // the layer root itself ("./")
        }
        stats.entries += 1;
        let file_name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let parent = resolve(dest, &parent_rel, &shown)?;
        if style == WhiteoutStyle::Files
            && (file_name == OPAQUE_MARKER || file_name.starts_with(WHITEOUT_PREFIX))
        {
            // Kept as the tar has it: an empty file named `.wh.<name>` (or the opaque marker).
            mkdir_p(&parent, &shown)?;
            let target = parent.join(&file_name);
            if file_name != OPAQUE_MARKER {
                remove_existing(&parent.join(&file_name[WHITEOUT_PREFIX.len()..]));
            }
            std::fs::File::create(&target).map_err(|e| unpack_err(&shown, e))?;
            continue;
        }
        if file_name == OPAQUE_MARKER {
            mkdir_p(&parent, &shown)?;
            set_xattr(&parent, style.opaque_xattr(), b"y").map_err(|e| unpack_err(&shown, e))?;
            continue;
        }
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT_PREFIX) {
            mkdir_p(&parent, &shown)?;
            let target = parent.join(hidden);
            remove_existing(&target);
            make_whiteout(&target, style).map_err(|e| unpack_err(&shown, e))?;
            continue;
        }
        mkdir_p(&parent, &shown)?;
        let target = parent.join(&file_name);
        let kind = entry.header().entry_type();
        if kind.is_hard_link() {
            let link_name = entry
                .link_name()
                .map_err(|e| unpack_err(&shown, e))?
                .ok_or_else(|| ImageError::Unpack {
                    entry: shown.clone(),
                    reason: "hard link without a target".into(),
                })?;
            let link_rel = clean_relative(&link_name).ok_or_else(|| ImageError::Unpack {
                entry: shown.clone(),
                reason: "hard link target escapes the layer".into(),
            })?;
            let source = resolve(dest, &link_rel, &shown)?;
            remove_existing(&target);
            std::fs::hard_link(&source, &target).map_err(|e| unpack_err(&shown, e))?;
            continue;
        }
        // Anything in the way goes, except a directory that a directory entry re-describes.
        if !kind.is_dir() || target.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
            remove_existing(&target);
        }
        let is_device = kind.is_character_special() || kind.is_block_special();
        match entry.unpack(&target) {
            Ok(_) => stats.bytes += entry.header().size().unwrap_or(0),
            Err(e) if is_device && e.kind() == std::io::ErrorKind::PermissionDenied => {
                // Without CAP_MKNOD (rootless) device nodes cannot exist; podman skips them too.
                stats.skipped_devices += 1;
            }
            Err(e) if is_device && e.to_string().contains("Operation not permitted") => {
                stats.skipped_devices += 1;
            }
            Err(e) => return Err(unpack_err(&shown, e)),
        }
    }
    Ok(stats)
}

fn resolve(dest: &Path, rel: &Path, shown: &str) -> Result<PathBuf, ImageError> {
    secure_join(dest, rel).map_err(|e| ImageError::Unpack {
        entry: shown.to_string(),
        reason: e.to_string(),
    })
}

fn mkdir_p(dir: &Path, shown: &str) -> Result<(), ImageError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| unpack_err(shown, e))
}

fn remove_existing(path: &Path) {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => {
            let _ = std::fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = std::fs::remove_file(path);
        }
        Err(_) => {}
    }
}

fn make_whiteout(path: &Path, style: WhiteoutStyle) -> std::io::Result<()> {
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};
    match mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EPERM) if style == WhiteoutStyle::User => {
            // Older kernels refuse even 0:0 devices in a user namespace: the xattr form
            // (an empty file marked user.overlay.whiteout) is what overlay reads there.
            std::fs::File::create(path)?;
            set_xattr(path, "user.overlay.whiteout", b"y")
        }
        Err(e) => Err(std::io::Error::from(e)),
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let p = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let n = std::ffi::CString::new(name)?;
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn unpack_err(entry: &str, e: std::io::Error) -> ImageError {
    ImageError::Unpack {
        entry: entry.to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
            h.set_size(data.len() as u64);
            h.set_uid(0);
            h.set_gid(0);
            if let Some(l) = link {
                h.set_link_name(l).expect("link");
            }
            // set_path refuses "..": write the raw name to test the guard.
            let name = h.as_old_mut().name.as_mut();
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn unpacks_files_links_and_refuses_escape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = layer(&[
            ("etc/", tar::EntryType::Directory, b"", None),
            ("etc/motd", tar::EntryType::Regular, b"hi\n", None),
            ("etc/link", tar::EntryType::Symlink, b"", Some("/etc/motd")),
            ("etc/hard", tar::EntryType::Link, b"", Some("etc/motd")),
            ("up", tar::EntryType::Symlink, b"", Some("../../../../tmp")),
            ("up/x", tar::EntryType::Regular, b"x", None),
        ]);
        unpack_layer(&data[..], dir.path(), WhiteoutStyle::User).expect("unpack");
        let root = dir.path();
        assert_eq!(std::fs::read(root.join("etc/motd")).expect("motd"), b"hi\n");
        assert_eq!(std::fs::read(root.join("etc/hard")).expect("hard"), b"hi\n");
        assert_eq!(
            std::fs::read_link(root.join("etc/link")).expect("link"),
            Path::new("/etc/motd")
        );
        // "up" points outside; its entry landed inside the root instead.
        assert!(root.join("tmp/x").exists());

        let evil = layer(&[("../evil", tar::EntryType::Regular, b"x", None)]);
        let err = unpack_layer(&evil[..], dir.path(), WhiteoutStyle::User);
        assert!(matches!(err, Err(ImageError::Unpack { .. })), "{err:?}");
    }
}
