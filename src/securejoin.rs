//! Resolve a path inside a root directory, following symlinks as if the root were `/`, so that
//! no tar entry or mount target in an image can point outside the image (`../`, absolute links).

use std::path::{Component, Path, PathBuf};

const MAX_LINKS: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("{0}: too many levels of symbolic links")]
    Loop(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `root` joined with `unsafe_path`, every symlink met on the way resolved within `root`.
/// Components that do not exist yet are appended as they are.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf, JoinError> {
    // Components still to walk, in reverse so we can push a link's target in front.
    let mut pending: Vec<PathBuf> = Vec::new();
    push_components(&mut pending, unsafe_path);
    let mut resolved = PathBuf::new(); // relative to root, always clean
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        if comp.as_os_str() == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&comp);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(JoinError::Loop(unsafe_path.to_path_buf()));
                }
                let target = std::fs::read_link(&full).map_err(|source| JoinError::Io {
                    path: full.clone(),
                    source,
                })?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                push_components(&mut pending, &target);
            }
            Ok(_) => resolved = candidate,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => resolved = candidate,
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => resolved = candidate,
            Err(source) => return Err(JoinError::Io { path: full, source }),
        }
    }
    Ok(root.join(resolved))
}

fn push_components(pending: &mut Vec<PathBuf>, path: &Path) {
    let comps: Vec<PathBuf> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    pending.extend(comps.into_iter().rev());
}

/// A path from a tar header made relative and free of `..` that would climb above the root.
pub fn clean_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir if !out.pop() => return None,
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_stay_inside_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).expect("mkdir");
        symlink("/usr/lib", root.join("lib")).expect("symlink");
        symlink("../../../../etc", root.join("evil")).expect("symlink");
        symlink("/", root.join("slash")).expect("symlink");
        assert_eq!(
            secure_join(root, Path::new("lib/x.so")).expect("join"),
            root.join("usr/lib/x.so")
        );
        assert_eq!(
            secure_join(root, Path::new("evil/passwd")).expect("join"),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, Path::new("/slash/../../etc/hosts")).expect("join"),
            root.join("etc/hosts")
        );
    }

    #[test]
    fn link_loops_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        symlink("b", dir.path().join("a")).expect("symlink");
        symlink("a", dir.path().join("b")).expect("symlink");
        assert!(matches!(
            secure_join(dir.path(), Path::new("a/x")),
            Err(JoinError::Loop(_))
        ));
    }

    #[test]
    fn clean_paths() {
        assert_eq!(
            clean_relative(Path::new("./a/b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(
            clean_relative(Path::new("/etc/passwd")),
            Some(PathBuf::from("etc/passwd"))
        );
        assert_eq!(clean_relative(Path::new("../etc")), None);
        assert_eq!(clean_relative(Path::new("a/../../etc")), None);
    }
}
