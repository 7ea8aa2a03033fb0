//! `-e` and `--env-file`: docker's rules for names, host values and file lines.

use super::SpecError;

/// An ordered environment where a later KEY=... replaces an earlier one in place.
#[derive(Default)]
pub(super) struct EnvList(Vec<String>);

impl EnvList {
    fn key(kv: &str) -> &str {
        kv.split_once('=').map_or(kv, |(k, _)| k)
    }
    pub(super) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|kv| Self::key(kv) == key)
    }
    pub(super) fn set(&mut self, kv: String) {
        let key = Self::key(&kv).to_string();
        match self.0.iter_mut().find(|e| Self::key(e) == key) {
            Some(slot) => *slot = kv,
            None => self.0.push(kv),
        }
    }
    pub(super) fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// `-e KEY=VALUE` as is; `-e KEY` takes the host's value, and is dropped when the host has none
/// (docker's rule).
pub fn parse_env(
    spec: &str,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, SpecError> {
    let (key, value) = match spec.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (spec, None),
    };
    if key.is_empty() {
        return Err(SpecError::EmptyEnvName(spec.to_string()));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(SpecError::EnvNameSpace(spec.to_string()));
    }
    Ok(match value {
        Some(v) => Some(format!("{key}={v}")),
        None => host_env(key).map(|v| format!("{key}={v}")),
    })
}

pub fn parse_env_file(
    path: &str,
    contents: &str,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SpecError> {
    let mut out = Vec::new();
    for (n, raw) in contents.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_env(line, host_env) {
            Ok(Some(kv)) => out.push(kv),
            Ok(None) => {}
            Err(e) => {
                return Err(SpecError::EnvFile {
                    path: path.to_string(),
                    line: n + 1,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}
