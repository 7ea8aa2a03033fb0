//! Copying a directory tree with its ownership and modes (docker's volume copy-up), and the
//! recursive chown of `:U`. Runs in the container's setup process, so in a user namespace the
//! ids written are the container's own.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstat, fstatat};
use nix::unistd::{Gid, Uid};

/// True when `dir` has no entries (a missing directory counts as empty).
pub fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Copy what is inside the directory `from` (any handle to it, `O_PATH` too) into `into`
/// (which exists), and give `into` the owner and mode of `from`. Symlinks are copied as links,
/// fifos recreated; device nodes and sockets are skipped (a volume is data).
///
/// The source is walked by descriptors, every step `O_NOFOLLOW`: it may be a volume that a
/// running container shares, and a directory swapped for a symlink to the host mid-copy must
/// not pull host files into the volume.
pub fn copy_tree_from(from: BorrowedFd<'_>, into: &Path) -> std::io::Result<()> {
    let dir = openat(
        from,
        c".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?;
    copy_dir(dir, into)
}

/// [`copy_tree_from`] for a path the caller trusts (its last component is not followed).
pub fn copy_tree(from: &Path, into: &Path) -> std::io::Result<()> {
    let dir = nix::fcntl::open(
        from,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )?;
    copy_dir(dir, into)
}

fn copy_dir(dir: OwnedFd, into: &Path) -> std::io::Result<()> {
    let st = fstat(&dir)?;
    copy_owner_mode(st.st_uid, st.st_gid, st.st_mode, into)?;
    let mut listing = nix::dir::Dir::from_fd(dir)?;
    let names: Vec<std::ffi::CString> = listing
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    let parent = listing.as_fd();
    for name in names {
        let dst = into.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
        let m = fstatat(parent, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let nofollow = OFlag::O_RDONLY | OFlag::O_NOFOLLOW;
        match m.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let sub = openat(
                    parent,
                    name.as_c_str(),
                    nofollow | OFlag::O_DIRECTORY,
                    Mode::empty(),
                )?;
                std::fs::create_dir(&dst)?;
                copy_dir(sub, &dst)?;
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(parent, name.as_c_str())?;
                std::os::unix::fs::symlink(target, &dst)?;
                lchown(&dst, m.st_uid, m.st_gid)?;
            }
            libc::S_IFREG => {
                let src = openat(parent, name.as_c_str(), nofollow, Mode::empty())?;
                let mut out = std::fs::File::create_new(&dst)?;
                std::io::copy(&mut std::fs::File::from(src), &mut out)?;
                copy_owner_mode(m.st_uid, m.st_gid, m.st_mode, &dst)?;
            }
            libc::S_IFIFO => {
                nix::unistd::mkfifo(&dst, Mode::from_bits_truncate(m.st_mode))?;
                copy_owner_mode(m.st_uid, m.st_gid, m.st_mode, &dst)?;
            }
            _ => {}
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

fn copy_owner_mode(uid: u32, gid: u32, mode: u32, dst: &Path) -> std::io::Result<()> {
    lchown(dst, uid, gid)?;
    // After chown, which clears set-id bits.
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode & 0o7777))
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

/// Add `uid_base`/`gid_base` to every owner under `path` (symlinks not followed): content
/// copied from the image for a container whose ids start there (`--userns=auto`).
pub fn shift_owners(path: &Path, uid_base: u32, gid_base: u32) -> std::io::Result<()> {
    let m = std::fs::symlink_metadata(path)?;
    let mode = m.mode();
    lchown(
        path,
        uid_base.saturating_add(m.uid()),
        gid_base.saturating_add(m.gid()),
    )?;
    if m.is_dir() {
        for entry in std::fs::read_dir(path)? {
            shift_owners(&entry?.path(), uid_base, gid_base)?;
        }
    }
    if !m.file_type().is_symlink() && mode & 0o6000 != 0 {
        // chown cleared the set-id bits: they are the image's.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))?;
    }
    Ok(())
}

/// Copy an image layer with every owner passed through `uid`/`gid` (keep-id's shift): content,
/// modes, symlinks, hard links, xattrs (overlay's opaque and whiteout marks among them) and
/// whiteout devices, so the copy is the same layer for a differently mapped container.
pub fn copy_layer_shifted(
    from: &Path,
    into: &Path,
    uid: &dyn Fn(u32) -> u32,
    gid: &dyn Fn(u32) -> u32,
) -> std::io::Result<()> {
    let mut links = std::collections::HashMap::new();
    copy_shifted(from, into, uid, gid, &mut links)
}

fn copy_shifted(
    from: &Path,
    into: &Path,
    uid: &dyn Fn(u32) -> u32,
    gid: &dyn Fn(u32) -> u32,
    links: &mut std::collections::HashMap<(u64, u64), std::path::PathBuf>,
) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    let own = |p: &Path, m: &std::fs::Metadata| lchown(p, uid(m.uid()), gid(m.gid()));
    own(into, &meta)?;
    std::fs::set_permissions(into, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    copy_xattrs(from, into)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = into.join(entry.file_name());
        let m = std::fs::symlink_metadata(&src)?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_shifted(&src, &dst, uid, gid, links)?;
            continue;
        }
        if m.nlink() > 1 && !ft.is_symlink() {
            if let Some(first) = links.get(&(m.dev(), m.ino())) {
                std::fs::hard_link(first, &dst)?;
                continue;
            }
            links.insert((m.dev(), m.ino()), dst.clone());
        }
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
            own(&dst, &m)?;
            continue;
        }
        if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            // Whiteouts (0:0 character devices), fifos, other nodes: recreate as they are.
            let kind = nix::sys::stat::SFlag::from_bits_truncate(m.mode() & libc::S_IFMT);
            nix::sys::stat::mknod(
                &dst,
                kind,
                nix::sys::stat::Mode::from_bits_truncate(m.mode()),
                m.rdev(),
            )?;
        }
        own(&dst, &m)?;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        copy_xattrs(&src, &dst)?;
    }
    Ok(())
}

fn cstr(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

/// Copy extended attributes (not following symlinks); those the kernel refuses here (a
/// `security.*` one without the privilege) are left out.
fn copy_xattrs(from: &Path, to: &Path) -> std::io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    let mut names = vec![0u8; 4096];
    // SAFETY: valid path and buffer of the given size.
    let n = unsafe { libc::llistxattr(f.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Ok(());
    }
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let cname = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
        let mut value = vec![0u8; 65536];
        // SAFETY: valid strings and a buffer of the given size.
        let len = unsafe {
            libc::lgetxattr(
                f.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len < 0 {
            continue;
        }
        // SAFETY: as above; the value is `len` bytes.
        unsafe {
            libc::lsetxattr(
                t.as_ptr(),
                cname.as_ptr(),
                value.as_ptr().cast(),
                len as usize,
                0,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_copy_keeps_links_and_xattrs() {
        let tmp = tempfile::tempdir().expect("tmp");
        let from = tmp.path().join("layer");
        let into = tmp.path().join("copy");
        std::fs::create_dir_all(from.join("d")).expect("mkdir");
        std::fs::write(from.join("d/a"), "a").expect("a");
        std::fs::hard_link(from.join("d/a"), from.join("d/b")).expect("link");
        std::os::unix::fs::symlink("a", from.join("d/s")).expect("symlink");
        let set = |p: &Path| {
            let (p, n) = (
                cstr(p).expect("c"),
                std::ffi::CString::new("user.overlay.opaque").expect("c"),
            );
            // SAFETY: valid strings and a 1-byte value.
            unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), b"y".as_ptr().cast(), 1, 0) }
        };
        if set(&from.join("d")) != 0 {
            return; // no user xattrs on this filesystem (tmpfs before 6.6): nothing to check
        }
        std::fs::create_dir(&into).expect("into");
        let me = nix::unistd::getuid().as_raw();
        let g = nix::unistd::getgid().as_raw();
        copy_layer_shifted(&from, &into, &|_| me, &|_| g).expect("copy");
        let a = std::fs::metadata(into.join("d/a")).expect("a");
        let b = std::fs::metadata(into.join("d/b")).expect("b");
        assert_eq!(a.ino(), b.ino(), "hard link kept");
        assert_eq!(
            std::fs::read_link(into.join("d/s")).expect("s"),
            Path::new("a")
        );
        let mut v = [0u8; 4];
        let (p, n) = (
            cstr(&into.join("d")).expect("c"),
            std::ffi::CString::new("user.overlay.opaque").expect("c"),
        );
        // SAFETY: valid strings and buffer.
        let len =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert_eq!(len, 1, "xattr copied");
    }

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
