//! Fuzzing on the stable toolchain: every parser of untrusted or user-typed input is fed
//! mutations of a committed corpus (`fuzz/corpus/<target>/`) for a bounded time, and must
//! neither panic nor (for tar layers) write outside its destination. CI gives each target
//! `SKIFF_FUZZ_SECONDS` (default 1); by hand, give it minutes (see fuzz/README.md). An input
//! that fails is written to `fuzz/crashes/<target>-<hash>` and named in the failure, so it
//! can be added to the corpus once fixed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Tokens worth splicing in: the syntax these parsers care about.
const DICTIONARY: &[&[u8]] = &[
    b":",
    b"/",
    b"@",
    b"=",
    b",",
    b"..",
    b"../",
    b"{{",
    b"}}",
    b"\"",
    b"'",
    b"\\",
    b"\n",
    b"$",
    b"${",
    b"<<EOF\n",
    b"\0",
    b"-",
    b"*",
    b"sha256:",
    b"[",
    b"]",
    b"{",
    b"}",
    b"ro",
    b"127.0.0.1",
    b"65535",
    b"99999",
    b"tcp",
    b"udp",
    b"type=bind",
    b"source=",
    b"rwm",
    b".wh.",
    b".wh..wh..opq",
    b"\xff\xfe",
    b"range",
    b"index",
    b"json",
    b"printf",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(out.len() + 1);
                out.insert(i, rng.next() as u8);
            }
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                let n = rng.below(out.len() - i + 1);
                out.drain(i..i + n);
            }
            3 => {
                let tok = DICTIONARY[rng.below(DICTIONARY.len())];
                let i = rng.below(out.len() + 1);
                out.splice(i..i, tok.iter().copied());
            }
            4 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(out.len() + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ => {
                if !out.is_empty() {
                    let i = rng.below(out.len());
                    let j = rng.below(out.len());
                    out.swap(i, j);
                }
            }
        }
    }
    out
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let out: Vec<Vec<u8>> = entries
        .iter()
        .map(|p| std::fs::read(p).expect("corpus entry"))
        .collect();
    assert!(!out.is_empty(), "{}: empty corpus", dir.display());
    out
}

/// Run `check` on the corpus, then on mutations until the time is up. `check` returns an
/// error for inputs that break an invariant (a panic is caught and counts as one).
fn fuzz(target: &str, check: impl Fn(&[u8]) -> Result<(), String>) {
    let seconds: f64 = std::env::var("SKIFF_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let seed = std::env::var("SKIFF_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64 ^ target.len() as u64);
    let mut rng = Rng(seed | 1);
    let corpus = corpus(target);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut runs = 0u64;
    let mut i = 0;
    loop {
        let input = if i < corpus.len() {
            corpus[i].clone()
        } else {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base, &corpus)
        };
        i += 1;
        runs += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input))).unwrap_or_else(|p| {
            Err(format!(
                "panicked: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            ))
        });
        if let Err(why) = outcome {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/crashes");
            let _ = std::fs::create_dir_all(&dir);
            let name = format!("{target}-{:016x}", fnv(&input));
            let _ = std::fs::write(dir.join(&name), &input);
            panic!(
                "{target}: {why} on input fuzz/crashes/{name} ({:?})",
                String::from_utf8_lossy(&input)
            );
        }
        if i >= corpus.len() && Instant::now() >= deadline {
            break;
        }
    }
    eprintln!("fuzz {target}: {runs} inputs, seed {seed}");
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, x| {
        (h ^ u64::from(*x)).wrapping_mul(0x100_0000_01b3)
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn image_references() {
    fuzz("reference", |b| {
        let _ = skiff::image::reference::Reference::parse(&text(b));
        Ok(())
    });
}

#[test]
fn publish_specs() {
    fuzz("publish", |b| {
        let s = text(b);
        if let Ok(maps) = skiff::net::ports::parse_publish(&s) {
            for m in maps {
                if m.container_port == 0 {
                    return Err(format!("accepted container port 0 from {s:?}"));
                }
            }
        }
        Ok(())
    });
}

#[test]
fn volume_mount_and_tmpfs_flags() {
    fuzz("volume", |b| {
        let s = text(b);
        for spec in [
            skiff::mount::volume::parse_volume_flag(&s),
            skiff::mount::volume::parse_mount_flag(&s),
            skiff::mount::volume::parse_tmpfs_flag(&s),
        ]
        .into_iter()
        .flatten()
        {
            if !spec.destination.starts_with('/') {
                return Err(format!("relative destination accepted from {s:?}"));
            }
        }
        Ok(())
    });
}

#[test]
fn device_and_security_flags() {
    fuzz("device", |b| {
        let s = text(b);
        let stat = |_: &str| Some((false, 1, 3));
        if let Ok(d) = skiff::security::parse_device(&s, &stat)
            && !(d.host.starts_with('/') && d.container.starts_with('/'))
        {
            return Err(format!("relative device path accepted from {s:?}"));
        }
        let _ = skiff::security::parse_device_cgroup_rule(&s);
        let _ = skiff::security::parse_sysctls(std::slice::from_ref(&s), true);
        let _ = skiff::security::parse(
            std::slice::from_ref(&s),
            std::slice::from_ref(&s),
            std::slice::from_ref(&s),
            &|_| Err("no files".into()),
        );
        Ok(())
    });
}

#[test]
fn env_files() {
    fuzz("envfile", |b| {
        let _ = skiff::spec::parse_env_file("fuzz.env", &text(b), &|_| None);
        Ok(())
    });
}

#[test]
fn format_templates() {
    let data = serde_json::json!({
        "ID": "abc", "Names": ["a", "b"], "Labels": {"k": "v"}, "Size": 12, "Ok": true
    });
    fuzz("template", |b| {
        if let Ok(t) = skiff::cli::format::compile(&text(b)) {
            let _ = skiff::cli::format::render(&t, &data);
        }
        Ok(())
    });
}

#[test]
fn manifests_indexes_and_image_configs() {
    fuzz("manifest", |b| {
        let _ = serde_json::from_slice::<skiff::image::config::Manifest>(b);
        let _ = serde_json::from_slice::<skiff::image::config::ImageConfig>(b);
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(b) {
            let _ = skiff::image::pull::choose_platform(&v, "linux/amd64");
        }
        Ok(())
    });
}

#[test]
fn dockerfiles() {
    fuzz("dockerfile", |b| {
        let _ = skiff::build::dockerfile::parse(&text(b), "Dockerfile");
        Ok(())
    });
}

#[test]
fn seccomp_profiles() {
    fuzz("seccomp", |b| {
        let _ = skiff::ns::seccomp::check_profile(&text(b));
        Ok(())
    });
}

/// Tar layers: whatever the archive says, nothing lands outside the destination.
#[test]
fn tar_layers() {
    let scratch = tempfile::tempdir().expect("scratch");
    fuzz("tar", |b| {
        let dir = tempfile::tempdir_in(scratch.path()).map_err(|e| e.to_string())?;
        let dest = dir.path().join("root");
        std::fs::create_dir(&dest).map_err(|e| e.to_string())?;
        let _ = skiff::image::unpack::unpack_layer(
            b,
            &dest,
            skiff::image::unpack::WhiteoutStyle::Files,
        );
        let outside: Vec<_> = std::fs::read_dir(dir.path())
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "root")
            .collect();
        // The corpus's escapes aim at the host's /etc through a symlink to "/".
        if std::path::Path::new("/etc/owned").exists() {
            return Err("the layer wrote /etc/owned on the host".into());
        }
        if outside.is_empty() {
            Ok(())
        } else {
            Err(format!("the layer wrote outside its root: {outside:?}"))
        }
    });
}
