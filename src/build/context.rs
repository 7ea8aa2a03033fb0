//! The build context: a directory the sources of COPY/ADD come from, filtered by
//! `.dockerignore`, never read whole into memory. A tar context (a file, or stdin) is
//! unpacked into scratch first, so every context is a directory here. Sources are resolved
//! inside the context (globs, no escaping it) and hashed for the cache, with a stat cache so
//! an unchanged large context is not read again.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BuildError;
use super::ignore::Matcher;

pub struct Context {
    pub root: PathBuf,
    ignore: Matcher,
}

/// One source of a COPY/ADD: where it is, and the name it goes by at the destination.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    /// Relative to the context root ("" for the root itself).
    pub rel: String,
    pub is_dir: bool,
}

impl Context {
    pub fn new(root: PathBuf, ignore: Matcher) -> Context {
        Context { root, ignore }
    }

    /// A context without files (a Dockerfile given on stdin).
    pub fn empty(scratch: &Path) -> Result<Context, BuildError> {
        let root = scratch.join("context");
        std::fs::create_dir_all(&root).map_err(BuildError::io("creating", &root))?;
        Ok(Context::new(root, Matcher::parse("")))
    }

    /// Unpack a tar context (any compression) into scratch.
    pub fn from_tar(input: impl Read, scratch: &Path) -> Result<Context, BuildError> {
        let root = scratch.join("context");
        std::fs::create_dir_all(&root).map_err(BuildError::io("creating", &root))?;
        let mut buffered = std::io::BufReader::new(input);
        let (decoded, _) = crate::image::import::decoder(&mut buffered)
            .map_err(|e| BuildError::Context(format!("reading the context archive: {e}")))?;
        let mut ar = tar::Archive::new(decoded);
        for entry in ar
            .entries()
            .map_err(|e| BuildError::Context(format!("reading the context archive: {e}")))?
        {
            let mut entry = entry
                .map_err(|e| BuildError::Context(format!("reading the context archive: {e}")))?;
            // unpack_in refuses entries that would land outside `root`.
            entry
                .unpack_in(&root)
                .map_err(|e| BuildError::Context(format!("unpacking the context archive: {e}")))?;
        }
        let ignore = read_ignore(&root, None);
        Ok(Context::new(root, ignore))
    }

    pub fn excluded(&self, rel: &str) -> bool {
        !rel.is_empty() && self.ignore.excluded(rel)
    }

    /// The context paths a COPY/ADD source names: a path or a glob, relative to the context's
    /// root (a leading `/` is the root too); never outside it; excluded paths do not exist.
    pub fn resolve(&self, pattern: &str) -> Result<Vec<Source>, BuildError> {
        let clean = clean(pattern).ok_or_else(|| {
            BuildError::Context(format!(
                "forbidden path outside the build context: {pattern}"
            ))
        })?;
        if !has_glob(&clean) {
            // Symlinks on the way resolve inside the root (an image's absolute links too).
            let path = crate::securejoin::secure_join(&self.root, Path::new(&clean))
                .unwrap_or_else(|_| self.root.join(&clean));
            let meta = std::fs::symlink_metadata(&path)
                .ok()
                .filter(|_| !self.excluded(&clean));
            return match meta {
                Some(m) => Ok(vec![Source {
                    path,
                    rel: clean,
                    is_dir: m.is_dir(),
                }]),
                None => Err(BuildError::Context(format!(
                    "\"{pattern}\": not found in the build context (or excluded by .dockerignore)"
                ))),
            };
        }
        let parts: Vec<&str> = clean.split('/').collect();
        let mut found = Vec::new();
        self.glob(&self.root, "", &parts, &mut found)?;
        if found.is_empty() {
            return Err(BuildError::Context(format!(
                "no source files were specified: \"{pattern}\" matches nothing in the build context"
            )));
        }
        Ok(found)
    }

    fn glob(
        &self,
        dir: &Path,
        rel: &str,
        parts: &[&str],
        found: &mut Vec<Source>,
    ) -> Result<(), BuildError> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(());
        };
        let mut names: Vec<String> = match std::fs::read_dir(dir) {
            Ok(d) => d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => return Ok(()),
        };
        names.sort();
        for name in names {
            if !glob_match(first, &name) {
                continue;
            }
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if self.excluded(&child_rel) {
                continue;
            }
            let path = dir.join(&name);
            let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
            if rest.is_empty() {
                found.push(Source {
                    path,
                    rel: child_rel,
                    is_dir,
                });
            } else if is_dir {
                self.glob(&path, &child_rel, rest, found)?;
            }
        }
        Ok(())
    }

    /// Every file under a source that is not excluded, as (relative path, host path, metadata),
    /// parents first.
    pub fn files(
        &self,
        src: &Source,
    ) -> Result<Vec<(String, PathBuf, std::fs::Metadata)>, BuildError> {
        let mut out = Vec::new();
        let meta =
            std::fs::symlink_metadata(&src.path).map_err(BuildError::io("reading", &src.path))?;
        if !meta.is_dir() {
            out.push((src.rel.clone(), src.path.clone(), meta));
            return Ok(out);
        }
        let mut stack = vec![(src.rel.clone(), src.path.clone())];
        while let Some((rel, dir)) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .map_err(BuildError::io("reading", &dir))?
                .flatten()
                .collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries.into_iter().rev() {
                let name = e.file_name().to_string_lossy().into_owned();
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let path = e.path();
                let Ok(m) = std::fs::symlink_metadata(&path) else {
                    continue;
                };
                if self.excluded(&child) && !(m.is_dir() && self.ignore.must_descend(&child)) {
                    continue;
                }
                if m.is_dir() {
                    stack.push((child.clone(), path.clone()));
                }
                if !self.excluded(&child) {
                    out.push((child, path, m));
                }
            }
        }
        out.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
        Ok(out)
    }
}

/// The ignore file: `<Dockerfile>.dockerignore` beside the Dockerfile wins, then the
/// context's `.dockerignore`.
pub fn read_ignore(root: &Path, dockerfile: Option<&Path>) -> Matcher {
    if let Some(df) = dockerfile {
        let mut name = df.as_os_str().to_owned();
        name.push(".dockerignore");
        if let Ok(text) = std::fs::read_to_string(PathBuf::from(name)) {
            return Matcher::parse(&text);
        }
    }
    Matcher::parse(&std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default())
}

/// A relative, normalized path inside the root, or None when it would leave it.
pub fn clean(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(s) => parts.push(s.to_str()?),
        }
    }
    Some(parts.join("/"))
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Go's filepath.Match for one path component: `*`, `?`, `[a-z]`, `[^x]`, `\` escapes.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p[0] == '['; returns (matched, length of the class).
        let mut i = 1;
        let negate = matches!(p.get(1), Some('^' | '!'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let start = i;
        while i < p.len() && (p[i] != ']' || i == start) {
            let lo = p[i];
            if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|c| *c != ']') {
                let hi = p[i + 2];
                matched |= lo <= c && c <= hi;
                i += 3;
            } else {
                matched |= lo == c;
                i += 1;
            }
        }
        (i < p.len()).then_some((matched != negate, i + 1))
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => match (n.first(), class(p, n.first().copied().unwrap_or('\0'))) {
                (Some(_), Some((true, len))) => go(&p[len..], &n[1..]),
                _ => false,
            },
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

/// Hashes of context files, remembered by (size, mtime, ctime, inode): a file whose stat is
/// unchanged is not read again.
#[derive(Default, Serialize, Deserialize)]
pub struct StatCache {
    entries: BTreeMap<String, (u64, i64, i64, u64, String)>,
    #[serde(skip)]
    changed: bool,
}

impl StatCache {
    pub fn load(path: &Path) -> StatCache {
        std::fs::read(path)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) {
        if self.changed
            && let Ok(data) = serde_json::to_vec(self)
        {
            let _ = crate::state::write_atomic(path, &data);
        }
    }

    /// The sha256 of a regular file's content.
    pub fn file_hash(&mut self, path: &Path, meta: &std::fs::Metadata) -> std::io::Result<String> {
        let key = path.to_string_lossy().into_owned();
        let stamp = (
            meta.len(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
            meta.ctime(),
            meta.ino(),
        );
        if let Some((s, m, c, i, h)) = self.entries.get(&key)
            && (*s, *m, *c, *i) == stamp
        {
            return Ok(h.clone());
        }
        let mut f = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let h = crate::ids::to_hex(&hasher.finalize());
        self.entries
            .insert(key, (stamp.0, stamp.1, stamp.2, stamp.3, h.clone()));
        self.changed = true;
        Ok(h)
    }
}

/// The content hash of a set of sources for the cache: each file's path below its source,
/// type, mode, link target and content (not mtimes, not owners: COPY sets those).
pub fn sources_hash(
    ctx: &Context,
    sources: &[Source],
    stat: &mut StatCache,
) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    for src in sources {
        h.update(src.rel.as_bytes());
        h.update(b"\0");
        for (rel, path, meta) in ctx.files(src)? {
            h.update(rel.as_bytes());
            h.update(format!("\0{:o}\0", meta.mode()).as_bytes());
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&path).map_err(BuildError::io("reading", &path))?;
                h.update(t.to_string_lossy().as_bytes());
            } else if meta.is_file() {
                let fh = stat
                    .file_hash(&path, &meta)
                    .map_err(BuildError::io("reading", &path))?;
                h.update(fh.as_bytes());
            }
            h.update(b"\n");
        }
    }
    Ok(crate::ids::to_hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_go() {
        assert!(glob_match("hom*", "home"));
        assert!(glob_match("hom?.txt", "home.txt"));
        assert!(!glob_match("hom?.txt", "hom.txt"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("\\*", "*"));
    }

    #[test]
    fn paths_stay_inside() {
        assert_eq!(clean("./a/../b/").as_deref(), Some("b"));
        assert_eq!(clean("/etc/x").as_deref(), Some("etc/x"));
        assert_eq!(clean("../x"), None);
        assert_eq!(clean(".").as_deref(), Some(""));
    }

    #[test]
    fn resolve_globs_and_ignored_files() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path();
        for f in ["a.txt", "b.txt", "c.md", "dir/x.txt", "secret.txt"] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("dir");
            std::fs::write(p, f).expect("write");
        }
        let ctx = Context::new(root.to_path_buf(), Matcher::parse("secret.txt\n"));
        let got: Vec<String> = ctx
            .resolve("*.txt")
            .expect("glob")
            .into_iter()
            .map(|s| s.rel)
            .collect();
        assert_eq!(got, ["a.txt", "b.txt"]);
        assert!(ctx.resolve("secret.txt").is_err());
        assert!(ctx.resolve("../etc/passwd").is_err());
        assert!(ctx.resolve("dir").expect("dir")[0].is_dir);
        let mut stat = StatCache::default();
        let one = sources_hash(&ctx, &ctx.resolve("dir").expect("dir"), &mut stat).expect("h");
        std::fs::write(root.join("dir/x.txt"), "changed").expect("write");
        let two = sources_hash(&ctx, &ctx.resolve("dir").expect("dir"), &mut stat).expect("h");
        assert_ne!(one, two);
    }
}
