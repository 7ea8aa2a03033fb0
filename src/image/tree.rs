//! Walking a directory tree in a fixed order: what a layer tar, a diff and the copy driver all
//! need (parents before children, names sorted, so the result is reproducible).

use std::path::{Path, PathBuf};

/// Every path under `root`, parents before children, names sorted (the tar is reproducible).
pub fn walk(root: &Path) -> std::io::Result<Vec<(String, PathBuf, std::fs::Metadata)>> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), root.to_path_buf())];
    while let Some((rel, dir)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path)?;
            let name = name.to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if meta.is_dir() {
                subdirs.push((child.clone(), path.clone()));
            }
            out.push((child, path, meta));
        }
        // Depth first, in name order: push in reverse.
        for d in subdirs.into_iter().rev() {
            stack.push(d);
        }
    }
    // The stack order above interleaves siblings' subtrees; sort by path components so a
    // directory always precedes what it holds.
    out.sort_by(|a, b| a.0.split('/').cmp(b.0.split('/')));
    Ok(out)
}
