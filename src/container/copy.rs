//! `cp`: files between the host and a container (running or not) as tar streams, following
//! docker's rules for directories, `/.` and missing targets.
//!
//! A forked helper enters the container's view of its files: the mount namespace of a running
//! container, or for a stopped one a private namespace with its overlay and volumes mounted
//! and chrooted into. On the container side, paths resolve inside the container's root only;
//! on the host side, every entry is confined to the destination directory, so a tar made in a
//! container can never write outside it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::file_view::{Helper, enter_plan, fork_helper, pipe};
use super::{ContainerError, Ctx};
use crate::securejoin::{clean_relative, secure_join};
use crate::state::container::{ContainerRecord, Status};

#[derive(Debug, PartialEq, Eq)]
enum Side {
    Local(String),
    Container { name: String, path: String },
}

fn parse_side(s: &str) -> Side {
    if s == "-" || s.starts_with('/') || s.starts_with('.') {
        return Side::Local(s.to_string());
    }
    match s.split_once(':') {
        Some((name, path)) if !name.is_empty() => Side::Container {
            name: name.to_string(),
            path: if path.is_empty() {
                "/".into()
            } else {
                path.to_string()
            },
        },
        _ => Side::Local(s.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// Where the source's top entry lands.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Inside this directory, under the source's own name.
    Into(PathBuf),
    /// In this directory, under a new name.
    As(PathBuf, String),
    /// The source directory's content, straight into this directory (`SRC/.`).
    Contents(PathBuf),
    /// A tar from stdin: entries as they are, into this directory.
    Raw(PathBuf),
}

/// docker's table: file -> missing/file/dir, directory -> missing/file/dir, and `/.`.
fn plan_target(
    dst: &str,
    dst_kind: Option<Kind>,
    parent_is_dir: bool,
    src: Kind,
    content_only: bool,
) -> Result<Target, String> {
    let path = Path::new(dst);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent
    };
    match (src, dst_kind) {
        (_, None) if dst.ends_with('/') && src == Kind::File => Err(format!(
            "destination directory {dst} must exist to copy a file into it"
        )),
        (_, None) if !parent_is_dir => Err(format!("no such directory: {}", parent.display())),
        (_, None) => Ok(Target::As(parent, name)),
        (Kind::File, Some(Kind::File)) => Ok(Target::As(parent, name)),
        (Kind::Dir, Some(Kind::File)) => Err(format!(
            "cannot copy a directory to a file: {dst} is a file"
        )),
        (Kind::Dir, Some(Kind::Dir)) if content_only => Ok(Target::Contents(path.to_path_buf())),
        (_, Some(Kind::Dir)) => Ok(Target::Into(path.to_path_buf())),
    }
}

fn kind_of(path: &Path, follow: bool) -> Option<Kind> {
    let meta = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .ok()?;
    Some(if meta.is_dir() { Kind::Dir } else { Kind::File })
}

fn base_name(src: &str) -> String {
    let trimmed = src.trim_end_matches("/.").trim_end_matches('/');
    Path::new(trimmed)
        .file_name()
        .map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned())
}

/// Write `src` as a tar whose top entry is named `base`.
fn write_tar(src: &Path, base: &str, follow: bool, out: impl Write) -> std::io::Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let meta = std::fs::symlink_metadata(src)?;
    let resolved = if follow && meta.file_type().is_symlink() {
        std::fs::canonicalize(src)?
    } else {
        src.to_path_buf()
    };
    if std::fs::symlink_metadata(&resolved)?.is_dir() {
        b.append_dir_all(base, &resolved)?;
    } else {
        b.append_path_with_name(&resolved, base)?;
    }
    b.into_inner()?.flush()
}

/// Unpack a tar according to `target`; every entry stays inside the target's directory.
fn extract(input: impl Read, target: &Target, preserve_owner: bool) -> Result<(), String> {
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(preserve_owner);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let (dir, rename) = match target {
        Target::Into(d) | Target::Contents(d) | Target::Raw(d) => (d, None),
        Target::As(d, n) => (d, Some(n.as_str())),
    };
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading the archive: {e}"))?;
        let raw = entry
            .path()
            .map_err(|e| format!("reading the archive: {e}"))?
            .into_owned();
        let rel = clean_relative(&raw)
            .ok_or_else(|| format!("archive entry {} escapes the destination", raw.display()))?;
        let sub: PathBuf = match target {
            Target::Raw(_) | Target::Into(_) => rel,
            _ => {
                let mut comps = rel.components();
                comps.next(); // the source's own name
                let rest = comps.as_path().to_path_buf();
                match rename {
                    Some(n) => Path::new(n).join(rest),
                    None => rest,
                }
            }
        };
        if sub.as_os_str().is_empty() {
            // The top directory itself in Contents mode: the destination exists already.
            continue;
        }
        let dest = secure_join(dir, &sub).map_err(|e| e.to_string())?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let is_dir = entry.header().entry_type().is_dir();
        if let Ok(m) = dest.symlink_metadata()
            && (!is_dir || !m.is_dir())
        {
            if m.is_dir() {
                return Err(format!(
                    "cannot overwrite directory {} with a file",
                    dest.display()
                ));
            }
            let _ = std::fs::remove_file(&dest);
        }
        entry
            .unpack(&dest)
            .map_err(|e| format!("writing {}: {e}", dest.display()))?;
    }
    Ok(())
}

pub fn cp(
    ctx: &Ctx,
    src: &str,
    dst: &str,
    follow: bool,
    archive: bool,
) -> Result<(), ContainerError> {
    match (parse_side(src), parse_side(dst)) {
        (Side::Local(_), Side::Local(_)) => Err(ContainerError::Invalid(
            "cp needs a container on one side: CONTAINER:PATH (use cp for local copies)".into(),
        )),
        (Side::Container { .. }, Side::Container { .. }) => Err(ContainerError::Invalid(
            "copying between containers is not supported: copy to the host first".into(),
        )),
        (Side::Local(host), Side::Container { name, path }) => {
            let record = ctx.find(&name)?;
            to_container(ctx, &record, &host, &path, follow, archive)
        }
        (Side::Container { name, path }, Side::Local(host)) => {
            let record = ctx.find(&name)?;
            from_container(ctx, &record, &path, &host, follow, archive)
        }
    }
}

/// A helper in the container's files with its volumes: the running container's own view, or
/// a stopped one's root with its volumes mounted, chrooted into.
fn in_container(
    ctx: &Ctx,
    record: &ContainerRecord,
    work: impl FnOnce() -> Result<(), String>,
) -> Result<Helper, ContainerError> {
    let mounts = if record.state.status == Status::Running {
        Vec::new()
    } else {
        super::volumes::user_mounts(ctx, record, None)?
    };
    fork_helper(enter_plan(ctx, record, Some(mounts))?, work)
}

fn to_container(
    ctx: &Ctx,
    record: &ContainerRecord,
    host: &str,
    path: &str,
    follow: bool,
    archive: bool,
) -> Result<(), ContainerError> {
    let content_only = host.ends_with("/.");
    let src_kind = if host == "-" {
        None
    } else {
        Some(kind_of(Path::new(host), follow).ok_or_else(|| {
            ContainerError::Invalid(format!("could not find the file {host} on the host"))
        })?)
    };
    let (data_r, mut data_w) = pipe()?;
    let path = path.to_string();
    let writer = std::os::fd::AsRawFd::as_raw_fd(&data_w);
    let child = in_container(ctx, record, move || {
        // The fork gave the helper our write end too: closed, so the end of the input is seen.
        let _ = nix::unistd::close(writer);
        let dst_kind = kind_of(Path::new(&path), true);
        let target = match src_kind {
            None => match dst_kind {
                Some(Kind::Dir) => Target::Raw(PathBuf::from(&path)),
                _ => return Err(format!("destination {path} must be a directory")),
            },
            Some(kind) => {
                let parent_is_dir = Path::new(&path)
                    .parent()
                    .is_none_or(|p| p.as_os_str().is_empty() || p.is_dir());
                plan_target(&path, dst_kind, parent_is_dir, kind, content_only)?
            }
        };
        // In the container, files belong to its root unless -a keeps the owners. A tar from
        // stdin may be compressed (docker takes gzip too).
        if src_kind.is_none() {
            let mut input = std::io::BufReader::new(&data_r);
            let decoded = crate::image::import::decoder(&mut input)
                .map_err(|e| format!("reading the archive from stdin: {e}"))?
                .0;
            return extract(decoded, &target, archive)
                .map_err(|e| format!("stdin is not a tar archive (plain, gzip or zstd): {e}"));
        }
        extract(&data_r, &target, archive)
    })?;
    let written = if host == "-" {
        std::io::copy(&mut std::io::stdin(), &mut data_w).map(drop)
    } else {
        write_tar(Path::new(host), &base_name(host), follow, &mut data_w)
    };
    drop(data_w);
    let result = child.wait();
    // The helper's error explains a broken pipe better than the pipe does.
    result?;
    written.map_err(super::io_err(format!("reading {host}")))
}

fn from_container(
    ctx: &Ctx,
    record: &ContainerRecord,
    path: &str,
    host: &str,
    follow: bool,
    archive: bool,
) -> Result<(), ContainerError> {
    let (mut data_r, data_w) = pipe()?;
    let src = path.to_string();
    let reader = std::os::fd::AsRawFd::as_raw_fd(&data_r);
    let child = in_container(ctx, record, move || {
        // Our read end, inherited by the fork: closed, so a reader that goes away is seen.
        let _ = nix::unistd::close(reader);
        let mut out = data_w;
        let Some(kind) = kind_of(Path::new(&src), follow) else {
            return Err(format!("could not find the file {src} in the container"));
        };
        out.write_all(if kind == Kind::Dir { b"d" } else { b"f" })
            .map_err(|e| e.to_string())?;
        write_tar(Path::new(&src), &base_name(&src), follow, &mut out)
            .map_err(|e| format!("reading {src}: {e}"))
    })?;
    let mut kind = [0u8; 1];
    let got_kind = data_r.read_exact(&mut kind).is_ok();
    let result = if !got_kind {
        Ok(())
    } else if host == "-" {
        match std::io::copy(&mut data_r, &mut std::io::stdout()) {
            // The reader went away (`cp CTR:/x - | head`): stop there, quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                drop(data_r);
                let _ = child.wait();
                return Ok(());
            }
            other => other.map(drop).map_err(|e| e.to_string()),
        }
    } else {
        let src_kind = if kind[0] == b'd' {
            Kind::Dir
        } else {
            Kind::File
        };
        let dst_kind = kind_of(Path::new(host), true);
        let parent_is_dir = Path::new(host)
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || p.is_dir());
        plan_target(
            host,
            dst_kind,
            parent_is_dir,
            src_kind,
            path.ends_with("/."),
        )
        .and_then(|t| extract(&mut data_r, &t, archive))
    };
    drop(data_r);
    child.wait()?;
    result.map_err(ContainerError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides() {
        assert_eq!(
            parse_side("web:/etc/hosts"),
            Side::Container {
                name: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(parse_side("./a:b"), Side::Local("./a:b".into()));
        assert_eq!(parse_side("/tmp/x"), Side::Local("/tmp/x".into()));
        assert_eq!(parse_side("-"), Side::Local("-".into()));
    }

    #[test]
    fn dockers_table() {
        use Kind::*;
        let t = |dst, dk, pdir, src, co| plan_target(dst, dk, pdir, src, co);
        assert_eq!(
            t("/d/new", None, true, File, false),
            Ok(Target::As("/d".into(), "new".into()))
        );
        assert!(
            t("/d/new/", None, true, File, false)
                .expect_err("dir must exist")
                .contains("must exist")
        );
        assert!(t("/nope/new", None, false, File, false).is_err());
        assert_eq!(
            t("/d/f", Some(File), true, File, false),
            Ok(Target::As("/d".into(), "f".into()))
        );
        assert_eq!(
            t("/d", Some(Dir), true, File, false),
            Ok(Target::Into("/d".into()))
        );
        assert_eq!(
            t("/d/new", None, true, Dir, false),
            Ok(Target::As("/d".into(), "new".into()))
        );
        assert!(
            t("/d/f", Some(File), true, Dir, false)
                .expect_err("dir to file")
                .contains("cannot copy a directory")
        );
        assert_eq!(
            t("/d", Some(Dir), true, Dir, false),
            Ok(Target::Into("/d".into()))
        );
        assert_eq!(
            t("/d", Some(Dir), true, Dir, true),
            Ok(Target::Contents("/d".into()))
        );
        assert_eq!(base_name("/a/b/."), "b");
        assert_eq!(base_name("/a/b/"), "b");
    }

    #[test]
    fn extract_stays_inside_and_renames() {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("sub")).expect("mkdir");
        std::fs::write(src.join("sub/f"), "x").expect("write");
        let mut tar = Vec::new();
        write_tar(&src, "src", false, &mut tar).expect("tar");
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).expect("out");
        extract(&tar[..], &Target::As(out.clone(), "renamed".into()), false).expect("as");
        assert_eq!(
            std::fs::read_to_string(out.join("renamed/sub/f")).expect("f"),
            "x"
        );
        extract(&tar[..], &Target::Contents(out.clone()), false).expect("contents");
        assert!(out.join("sub/f").exists());
        extract(&tar[..], &Target::Into(out.clone()), false).expect("into");
        assert!(out.join("src/sub/f").exists());
    }
}
