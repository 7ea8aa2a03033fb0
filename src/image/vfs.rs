//! The copy storage driver (docker's `vfs`): the last resort where neither the kernel's
//! overlay nor FUSE works. A container's root is a real directory, made at create by
//! applying the image's layers one over the other (whiteouts delete, opaque directories
//! start empty); its changes are found by comparing that directory with the image's merged
//! view, and written out in the overlay upper layout (`.wh.` files for deletions), so that
//! `diff`, `commit` and `build` read them as they read an overlay's upper directory.
//!
//! Files are cloned (FICLONE: a reflink on btrfs and xfs, no data copied) where the
//! filesystem can, else copied by the kernel (copy_file_range). Hard links are not used:
//! a container writing a file in place would change the image under every other container.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::tree::walk;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

fn is_opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|n| {
            xattr::get(path, n)
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y")
        })
        || path.join(OPAQUE_MARKER).is_file()
}

fn is_device_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// What applying one layer entry means.
enum Op {
    /// Delete this path (and what is under it).
    Delete(String),
    /// Empty this directory before the layer's own entries go in.
    Clear(String),
    /// Put this entry (from the layer's host path).
    Put(String, PathBuf, std::fs::Metadata),
}

/// The operations of the layers, bottom-most first (`layers` is top-most first, overlay's
/// lowerdir order).
fn operations(layers: &[PathBuf]) -> std::io::Result<Vec<Op>> {
    let mut ops = Vec::new();
    for layer in layers.iter().rev() {
        for (rel, host, meta) in walk(layer)? {
            let (parent, name) = match rel.rsplit_once('/') {
                Some((p, n)) => (p.to_string(), n),
                None => (String::new(), rel.as_str()),
            };
            let join = |n: &str| {
                if parent.is_empty() {
                    n.to_string()
                } else {
                    format!("{parent}/{n}")
                }
            };
            if name == OPAQUE_MARKER {
                continue; // handled with its directory
            }
            if let Some(gone) = name.strip_prefix(WHITEOUT_PREFIX) {
                ops.push(Op::Delete(join(gone)));
                continue;
            }
            if is_device_whiteout(&meta) {
                ops.push(Op::Delete(rel));
                continue;
            }
            let opaque = meta.is_dir() && is_opaque(&host);
            ops.push(Op::Put(rel.clone(), host, meta));
            if opaque {
                ops.push(Op::Clear(rel));
            }
        }
    }
    Ok(ops)
}

/// Make `dest` the image's root: its layers applied one over the other.
pub fn materialize(layers: &[PathBuf], dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    let mut dir_times = Vec::new();
    for op in operations(layers)? {
        match op {
            Op::Delete(rel) => remove(&dest.join(&rel))?,
            Op::Clear(rel) => {
                for e in std::fs::read_dir(dest.join(&rel))? {
                    remove(&e?.path())?;
                }
            }
            Op::Put(rel, host, meta) => {
                let target = dest.join(&rel);
                put(&host, &target, &meta)?;
                if meta.is_dir() {
                    dir_times.push((target, meta));
                }
            }
        }
    }
    // Directories last: writing into them moved their times.
    for (target, meta) in dir_times.iter().rev() {
        set_times(target, meta);
    }
    Ok(())
}

fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copy one entry (not a directory's contents) from `host` to `target`, owner, mode, times
/// and extended attributes included.
fn put(host: &Path, target: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    let ft = meta.file_type();
    if let Ok(existing) = std::fs::symlink_metadata(target)
        && !(existing.is_dir() && ft.is_dir())
    {
        remove(target)?;
    }
    if ft.is_dir() {
        if !target.exists() {
            std::fs::create_dir(target)?;
        }
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(host)?, target)?;
    } else if ft.is_file() {
        clone_or_copy(host, target)?;
    } else {
        let kind = if ft.is_char_device() {
            nix::sys::stat::SFlag::S_IFCHR
        } else if ft.is_block_device() {
            nix::sys::stat::SFlag::S_IFBLK
        } else if ft.is_fifo() {
            nix::sys::stat::SFlag::S_IFIFO
        } else {
            return Ok(()); // a socket: nothing to copy
        };
        nix::sys::stat::mknod(
            target,
            kind,
            nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777),
            meta.rdev(),
        )?;
    }
    std::os::unix::fs::lchown(target, Some(meta.uid()), Some(meta.gid()))?;
    if !ft.is_symlink() {
        std::fs::set_permissions(
            target,
            std::fs::Permissions::from_mode(meta.mode() & 0o7777),
        )?;
    }
    if let Ok(names) = xattr::list(host) {
        for name in names {
            let n = name.to_string_lossy();
            if n.starts_with("trusted.overlay.") || n.starts_with("user.overlay.") {
                continue;
            }
            if let Ok(Some(v)) = xattr::get(host, &name) {
                let _ = xattr::set(target, &name, &v);
            }
        }
    }
    set_times(target, meta);
    Ok(())
}

/// A reflink where the filesystem has them, else an in-kernel copy.
fn clone_or_copy(host: &Path, target: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let src = std::fs::File::open(host)?;
    let dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)?;
    // SAFETY: FICLONE takes the source descriptor as its argument; both are open files.
    let cloned = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) } == 0;
    if !cloned {
        std::io::copy(&mut &src, &mut &dst)?;
    }
    Ok(())
}

fn set_times(target: &Path, meta: &std::fs::Metadata) {
    let t = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        target,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
}

/// The image's merged view: relative path -> (host path in its layer, metadata).
fn merged(layers: &[PathBuf]) -> std::io::Result<BTreeMap<String, (PathBuf, std::fs::Metadata)>> {
    let mut view: BTreeMap<String, (PathBuf, std::fs::Metadata)> = BTreeMap::new();
    let drop_under = |view: &mut BTreeMap<String, _>, rel: &str| {
        let prefix = format!("{rel}/");
        let under: Vec<String> = view
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in under {
            view.remove(&k);
        }
    };
    for op in operations(layers)? {
        match op {
            Op::Delete(rel) => {
                view.remove(&rel);
                drop_under(&mut view, &rel);
            }
            Op::Clear(rel) => drop_under(&mut view, &rel),
            Op::Put(rel, host, meta) => {
                if !meta.is_dir() {
                    drop_under(&mut view, &rel);
                }
                view.insert(rel, (host, meta));
            }
        }
    }
    Ok(view)
}

/// Whether a path of the container differs from the image's.
fn differs(a: &std::fs::Metadata, a_path: &Path, b: &std::fs::Metadata, b_path: &Path) -> bool {
    if a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
    {
        return true;
    }
    if a.is_dir() {
        return false; // a directory's times move with its entries
    }
    if a.file_type().is_symlink() {
        return std::fs::read_link(a_path).ok() != std::fs::read_link(b_path).ok();
    }
    a.len() != b.len()
        || a.mtime() != b.mtime()
        || a.mtime_nsec() != b.mtime_nsec()
        || a.rdev() != b.rdev()
}

/// Write the changes of `rootfs` against the image (`layers`, top-most first) into `out` in
/// the overlay upper layout: changed and new entries copied (with their parent
/// directories), deleted ones as `.wh.<name>` files.
pub fn changes(layers: &[PathBuf], rootfs: &Path, out: &Path) -> std::io::Result<()> {
    let image = merged(layers)?;
    std::fs::create_dir_all(out)?;
    let mut present = std::collections::HashSet::new();
    let ensure_parents = |rel: &str| -> std::io::Result<()> {
        let mut at = String::new();
        for part in rel
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            at = if at.is_empty() {
                part.to_string()
            } else {
                format!("{at}/{part}")
            };
            let target = out.join(&at);
            if !target.exists() {
                let src = rootfs.join(&at);
                put(&src, &target, &std::fs::symlink_metadata(&src)?)?;
            }
        }
        Ok(())
    };
    for (rel, host, meta) in walk(rootfs)? {
        present.insert(rel.clone());
        let changed = match image.get(&rel) {
            None => true,
            Some((ipath, imeta)) => differs(&meta, &host, imeta, ipath),
        };
        if changed {
            ensure_parents(&rel)?;
            put(&host, &out.join(&rel), &meta)?;
        }
    }
    for rel in image.keys() {
        if present.contains(rel) {
            continue;
        }
        // Only the top-most deleted path: what was under it went with it.
        let parent = rel.rsplit_once('/').map(|(p, _)| p);
        if parent.is_some_and(|p| !present.contains(p)) {
            continue;
        }
        ensure_parents(rel)?;
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        std::fs::File::create(out.join(dir).join(format!("{WHITEOUT_PREFIX}{name}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    #[test]
    fn layers_apply_over_each_other_and_changes_come_back_as_an_upper() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (l1, l2, root, out) = (
            tmp.path().join("l1"),
            tmp.path().join("l2"),
            tmp.path().join("root"),
            tmp.path().join("out"),
        );
        file(&l1, "etc/keep", "k");
        file(&l1, "etc/gone", "g");
        file(&l1, "opt/old/x", "x");
        file(&l1, "bin/tool", "v1");
        std::os::unix::fs::symlink("tool", l1.join("bin/alias")).expect("link");
        // The upper layer deletes one file, replaces a directory whole, changes a file.
        file(&l2, "etc/.wh.gone", "");
        file(&l2, "opt/old/.wh..wh..opq", "");
        file(&l2, "opt/old/y", "y");
        file(&l2, "bin/tool", "v2");
        let layers = vec![l2.clone(), l1.clone()];
        materialize(&layers, &root).expect("materialize");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/keep")).expect("keep"),
            "k"
        );
        assert!(!root.join("etc/gone").exists());
        assert!(!root.join("opt/old/x").exists());
        assert!(root.join("opt/old/y").exists());
        assert!(!root.join("opt/old/.wh..wh..opq").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("bin/tool")).expect("tool"),
            "v2"
        );
        assert_eq!(
            std::fs::read_link(root.join("bin/alias")).expect("alias"),
            Path::new("tool")
        );

        // Nothing changed: no changes.
        changes(&layers, &root, &out).expect("changes");
        assert_eq!(walk(&out).expect("walk").len(), 0);

        // A container's work: one new file, one deletion, one rewrite.
        file(&root, "etc/new", "n");
        std::fs::remove_file(root.join("etc/keep")).expect("rm");
        std::fs::remove_dir_all(root.join("opt")).expect("rm opt");
        file(&root, "bin/tool", "v3 longer");
        let out2 = tmp.path().join("out2");
        changes(&layers, &root, &out2).expect("changes");
        let names: Vec<String> = walk(&out2)
            .expect("walk")
            .into_iter()
            .map(|e| e.0)
            .collect();
        for n in ["bin/tool", "etc/.wh.keep", "etc/new", ".wh.opt"] {
            assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.starts_with("opt/")), "{names:?}");
        assert!(!names.contains(&"bin/alias".to_string()), "{names:?}");
    }
}
