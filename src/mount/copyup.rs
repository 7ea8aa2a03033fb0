//! Copying a directory tree with its ownership and modes (docker's volume copy-up), and the
//! recursive chown of `:U`. Runs in the container's setup process, so in a user namespace the
//! ids written are the container's own.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use nix::unistd::{Gid, Uid};

/// True when `dir` has no entries (a missing directory counts as empty).
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Copy what is inside `from` into `into` (which exists), and give `into` the owner and mode
/// of `from`. Symlinks are copied as links, fifos recreated; device nodes and sockets are
/// skipped (a volume is data).
pub fn copy_tree(from: &Path, into: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    copy_owner_mode(&meta, into)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = into.join(entry.file_name());
        let m = std::fs::symlink_metadata(&src)?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
            lchown(&dst, m.uid(), m.gid())?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
            copy_owner_mode(&m, &dst)?;
        } else if std::os::unix::fs::FileTypeExt::is_fifo(&ft) {
            nix::unistd::mkfifo(&dst, nix::sys::stat::Mode::from_bits_truncate(m.mode()))?;
            copy_owner_mode(&m, &dst)?;
        }
    }
    Ok(())
}

fn lchown(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(std::io::Error::from)
}

fn copy_owner_mode(meta: &std::fs::Metadata, dst: &Path) -> std::io::Result<()> {
    lchown(dst, meta.uid(), meta.gid())?;
    // After chown, which clears set-id bits.
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

/// chown -R, not following symlinks.
pub fn chown_tree(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    lchown(path, uid, gid)?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_content_links_and_modes() {
        let tmp = tempfile::tempdir().expect("tmp");
        let from = tmp.path().join("from");
        let into = tmp.path().join("into");
        std::fs::create_dir_all(from.join("sub")).expect("mkdir");
        std::fs::write(from.join("sub/f"), "x").expect("write");
        std::fs::set_permissions(from.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        std::fs::set_permissions(&from, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        std::os::unix::fs::symlink("sub/f", from.join("link")).expect("symlink");
        std::fs::create_dir(&into).expect("into");
        assert!(is_empty_dir(&into));
        copy_tree(&from, &into).expect("copy");
        assert!(!is_empty_dir(&into));
        assert_eq!(
            std::fs::read_to_string(into.join("sub/f")).expect("read"),
            "x"
        );
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").mode() & 0o7777;
        assert_eq!(mode(&into.join("sub/f")), 0o640);
        assert_eq!(mode(&into), 0o750);
        assert_eq!(
            std::fs::read_link(into.join("link")).expect("link"),
            Path::new("sub/f")
        );
    }
}
