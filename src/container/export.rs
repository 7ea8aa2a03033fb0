//! `export`: the container's filesystem as one tar stream, as docker writes it: the merged
//! view (whiteouts applied), owners and modes kept, without what is mounted on top of it
//! (volumes, binds, /proc, /sys, /dev, tmpfs): a directory on another device is written as
//! an empty directory.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::file_view::{pipe, with_rootfs};
use super::{ContainerError, Ctx};

/// Write the filesystem of container `name` to `out`.
pub fn export(ctx: &Ctx, name: &str, out: &mut dyn Write) -> Result<(), ContainerError> {
    let record = ctx.find(name)?;
    let (mut data_r, data_w) = pipe()?;
    let reader = std::os::fd::AsRawFd::as_raw_fd(&data_r);
    let helper = with_rootfs(ctx, &record, move |root| {
        // The fork gave the helper our read end too: with it open, a reader that goes away
        // (`export | head`) would never be noticed and the helper would block for ever.
        let _ = nix::unistd::close(reader);
        write_tree(root, data_w).map_err(|e| format!("exporting the filesystem: {e}"))
    })?;
    let copied = std::io::copy(&mut data_r, out);
    drop(data_r);
    let helped = helper.wait();
    // Our reader went away (`export | head`): the export ends there, quietly, as a
    // pipeline expects; the helper's broken pipe is that same event.
    if copied
        .as_ref()
        .is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return Ok(());
    }
    helped?;
    copied
        .and_then(|_| out.flush())
        .map_err(super::io_err("writing the export"))
}

/// Tar every entry under `root` that lives on root's own filesystem.
pub fn write_tree(root: &Path, out: impl Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let device = std::fs::symlink_metadata(root)?.dev();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let meta = std::fs::symlink_metadata(&path)?;
            b.append_path_with_name(&path, rel)?;
            // A directory on another device is a mount: its name stays, its content not.
            if meta.is_dir() && meta.dev() == device {
                pending.push(path);
            }
        }
    }
    b.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_keeps_links_and_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/sub")).expect("mkdir");
        std::fs::write(root.join("etc/sub/file"), b"hello").expect("write");
        std::os::unix::fs::symlink("sub/file", root.join("etc/link")).expect("symlink");
        let mut tar_bytes = Vec::new();
        write_tree(root, &mut tar_bytes).expect("tar");
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let mut names = Vec::new();
        for e in archive.entries().expect("entries") {
            let e = e.expect("entry");
            let name = e.path().expect("path").display().to_string();
            if name == "etc/link" {
                assert_eq!(
                    e.link_name().expect("link").expect("target").to_str(),
                    Some("sub/file")
                );
            }
            names.push(name);
        }
        assert_eq!(names, ["etc", "etc/link", "etc/sub", "etc/sub/file"]);
    }
}
