//! Compiled seccomp filters kept in `<runroot>/seccomp/`, so `run` reads a few kilobytes
//! instead of compiling the filter again (about a millisecond each run). The key names the
//! filter's source (built-in or a profile's text), the container's capabilities, and this
//! very skiff binary (device, inode, size, mtime): a rebuilt skiff never reads a filter an
//! older one compiled.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use caps::CapsHashSet;
use seccompiler::BpfProgram;
use sha2::{Digest, Sha256};

use super::seccomp::{Source, filter_for};

fn key(source: &Source, caps: &CapsHashSet) -> Option<String> {
    let exe = std::fs::metadata("/proc/self/exe").ok()?;
    let mut h = Sha256::new();
    h.update(format!(
        "{}:{}:{}:{}.{}\n",
        exe.dev(),
        exe.ino(),
        exe.size(),
        exe.mtime(),
        exe.mtime_nsec()
    ));
    match source {
        Source::Default => h.update(b"default\n"),
        Source::Unconfined => return None,
        Source::Profile(text) => {
            h.update(b"profile\n");
            h.update(text.as_bytes());
        }
    }
    let mut names: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
    names.sort();
    h.update(names.join(",").as_bytes());
    Some(crate::ids::to_hex(&h.finalize())[..32].to_string())
}

/// `count, then per program: length, then its instructions` as little-endian words.
fn encode(programs: &[BpfProgram]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend((programs.len() as u32).to_le_bytes());
    for p in programs {
        out.extend((p.len() as u32).to_le_bytes());
        for f in p {
            out.extend(f.code.to_le_bytes());
            out.push(f.jt);
            out.push(f.jf);
            out.extend(f.k.to_le_bytes());
        }
    }
    out
}

fn decode(bytes: &[u8]) -> Option<Vec<BpfProgram>> {
    let mut at = 0usize;
    let mut word = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(at..at + n)?;
        at += n;
        Some(s)
    };
    let count = u32::from_le_bytes(word(4)?.try_into().ok()?);
    let mut programs = Vec::new();
    for _ in 0..count {
        let len = u32::from_le_bytes(word(4)?.try_into().ok()?) as usize;
        if len == 0 || len > 4096 {
            return None; // the kernel's limit is 4096 instructions
        }
        let mut p = Vec::with_capacity(len);
        for _ in 0..len {
            let i = word(8)?;
            p.push(seccompiler::sock_filter {
                code: u16::from_le_bytes([i[0], i[1]]),
                jt: i[2],
                jf: i[3],
                k: u32::from_le_bytes([i[4], i[5], i[6], i[7]]),
            });
        }
        programs.push(p);
    }
    (at == bytes.len()).then_some(programs)
}

/// The filter for `source` and `caps`: from the cache in `dir`, or compiled and kept there.
pub fn filter(dir: &Path, source: &Source, caps: &CapsHashSet) -> Result<Vec<BpfProgram>, String> {
    let Some(key) = key(source, caps) else {
        return filter_for(source, caps);
    };
    let path = dir.join(format!("{key}.bpf"));
    if let Some(p) = std::fs::read(&path).ok().and_then(|b| decode(&b)) {
        return Ok(p);
    }
    let programs = filter_for(source, caps)?;
    // Best effort: a cache that cannot be written only costs the next run a compile.
    let tmp = dir.join(format!(".{key}.{}", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::File::create(&tmp))
        .and_then(|mut f| f.write_all(&encode(&programs)))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_through_the_cache() {
        let caps = crate::ns::caps::default_set();
        let compiled = filter_for(&Source::Default, &caps).expect("compiles");
        assert_eq!(decode(&encode(&compiled)), Some(compiled.clone()));
        assert_eq!(
            decode(&encode(&compiled)[..10]),
            None,
            "a torn file is no filter"
        );
        let dir = tempfile::tempdir().expect("tmp");
        let first = filter(dir.path(), &Source::Default, &caps).expect("first");
        let cached = filter(dir.path(), &Source::Default, &caps).expect("cached");
        assert_eq!(first, cached);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        // Other capabilities, another filter.
        let mut more = caps.clone();
        more.insert(caps::Capability::CAP_SYS_ADMIN);
        let admin = filter(dir.path(), &Source::Default, &more).expect("admin");
        assert_ne!(admin, first);
        assert!(
            filter(dir.path(), &Source::Unconfined, &caps)
                .expect("none")
                .is_empty()
        );
    }
}
