//! Shell completion: `skiff completion bash|zsh|fish` prints a script that asks skiff itself
//! at each TAB (clap_complete's dynamic engine, `COMPLETE=<shell> skiff -- …`), so flags and
//! subcommands come from the same clap definitions as `--help` and the man pages, and
//! container, image, volume and network names come from the store right then.
//! Reading names never creates a store, and never enters the rootless user namespace (the
//! files are the user's own).

use std::path::PathBuf;

use clap_complete::engine::CompletionCandidate;
use clap_complete::env::EnvCompleter;

use crate::config::Paths;

/// The store the command line would use: SKIFF_ROOT, or the default one.
fn paths() -> Option<Paths> {
    let uid = nix::unistd::getuid().as_raw();
    let root = std::env::var_os("SKIFF_ROOT").map(PathBuf::from);
    let paths = Paths::resolve(root, None, uid);
    paths.root.is_dir().then_some(paths)
}

fn candidates(names: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

fn dir_names(dir: PathBuf) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Container names (the store's name reservations).
pub fn containers() -> Vec<CompletionCandidate> {
    candidates(
        paths()
            .map(|p| dir_names(p.root.join("names")))
            .unwrap_or_default(),
    )
}

/// Image names, short as users type them (`busybox:latest`).
pub fn images() -> Vec<CompletionCandidate> {
    let Some(p) = paths() else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(p.images_file()).unwrap_or_default();
    let index: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let names = index["images"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(String::from))
        .map(|n| {
            n.strip_prefix("docker.io/library/")
                .map(String::from)
                .unwrap_or(n)
        });
    candidates(names)
}

pub fn volumes() -> Vec<CompletionCandidate> {
    candidates(
        paths()
            .map(|p| dir_names(p.root.join("volumes")))
            .unwrap_or_default(),
    )
}

pub fn networks() -> Vec<CompletionCandidate> {
    let names = paths()
        .map(|p| dir_names(p.root.join("networks")))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.strip_suffix(".json").map(String::from));
    candidates(names)
}

/// The registration script for `shell`: what `source <(skiff completion bash)` loads.
pub fn script(shell: &str) -> Result<String, String> {
    let mut out = Vec::new();
    let written = match shell {
        "bash" => clap_complete::env::Bash
            .write_registration("COMPLETE", "skiff", "skiff", "skiff", &mut out),
        "zsh" => clap_complete::env::Zsh
            .write_registration("COMPLETE", "skiff", "skiff", "skiff", &mut out),
        "fish" => clap_complete::env::Fish
            .write_registration("COMPLETE", "skiff", "skiff", "skiff", &mut out),
        other => {
            return Err(format!(
                "unknown shell {other:?}: expected bash, zsh or fish"
            ));
        }
    };
    written.map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}
