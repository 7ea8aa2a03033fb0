//! Registry credentials: `login` stores them in podman's place,
//! `${XDG_RUNTIME_DIR}/containers/auth.json` (mode 0600), in the `auths` format docker and
//! podman share; `~/.docker/config.json` is read too. Passwords live in that file and in
//! request headers only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::ImageError;
use super::registry::Credentials;

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, Entry>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Entry {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    auth: String,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// Where `login` writes (podman's default): `$XDG_RUNTIME_DIR/containers/auth.json`, or
/// `/run/containers/<uid>/auth.json` without it.
pub fn auth_file(host_uid: u32) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("containers/auth.json"),
        _ => PathBuf::from(format!("/run/containers/{host_uid}/auth.json")),
    }
}

fn docker_config() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// The keys a registry may be stored under (docker writes Docker Hub's v1 URL).
fn keys(host: &str) -> Vec<String> {
    let mut k = vec![host.to_string(), format!("https://{host}")];
    if host == "docker.io" {
        k.push("https://index.docker.io/v1/".into());
        k.push("index.docker.io".into());
    }
    k
}

fn read(path: &std::path::Path) -> AuthFile {
    std::fs::read(path)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default()
}

fn decode(entry: &Entry) -> Option<Credentials> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(entry.auth.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    })
}

/// Stored credentials for `host`, if any.
pub fn lookup(host_uid: u32, host: &str) -> Option<Credentials> {
    let files = [Some(auth_file(host_uid)), docker_config()];
    for f in files.into_iter().flatten() {
        let a = read(&f);
        for k in keys(host) {
            if let Some(c) = a.auths.get(&k).and_then(decode) {
                return Some(c);
            }
        }
    }
    None
}

pub fn store(host_uid: u32, host: &str, creds: &Credentials) -> Result<PathBuf, ImageError> {
    let path = auth_file(host_uid);
    if let Some(dir) = path.parent() {
        crate::config::ensure_dir(dir, 0o700).map_err(super::io_err(dir))?;
    }
    let mut a = read(&path);
    a.auths.insert(
        host.to_string(),
        Entry {
            auth: base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", creds.username, creds.password)),
            other: BTreeMap::new(),
        },
    );
    write_private(&path, &a)?;
    Ok(path)
}

/// Remove the credentials; false when there were none.
pub fn remove(host_uid: u32, host: &str) -> Result<bool, ImageError> {
    let path = auth_file(host_uid);
    let mut a = read(&path);
    let mut found = false;
    for k in keys(host) {
        found |= a.auths.remove(&k).is_some();
    }
    if found {
        write_private(&path, &a)?;
    }
    Ok(found)
}

fn write_private(path: &std::path::Path, a: &AuthFile) -> Result<(), ImageError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let data = serde_json::to_vec_pretty(a).map_err(|source| ImageError::Corrupt {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(super::io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_keep_other_keys() {
        let raw = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}},"credsStore":"x"}"#;
        let a: AuthFile = serde_json::from_str(raw).expect("parse");
        let c = decode(&a.auths["https://index.docker.io/v1/"]).expect("creds");
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        let back = serde_json::to_string(&a).expect("json");
        assert!(back.contains("credsStore"));
        assert!(keys("docker.io").contains(&"https://index.docker.io/v1/".to_string()));
    }
}
