//! Image references as docker reads them: `busybox` is `docker.io/library/busybox:latest`.

use super::ImageError;

pub const DEFAULT_REGISTRY: &str = "docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference, ImageError> {
        let bad = |why| ImageError::Reference(s.to_string(), why);
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| bad("digest must be sha256:<64 hex>"))?;
                if !crate::ids::is_full_id(hex) {
                    return Err(bad("digest must be sha256:<64 hex>"));
                }
                (n, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is a ':' after the last '/', so "host:5000/app" has no tag.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repo_part, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (
                &name[..last_slash + i],
                Some(name[last_slash + i + 1..].to_string()),
            ),
            None => (name, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad("a tag is up to 128 of [A-Za-z0-9_.-]"));
            }
        }
        let (registry, path) = match repo_part.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), repo_part.to_string()),
        };
        if path.is_empty() {
            return Err(bad("repository name is empty"));
        }
        for comp in path.split('/') {
            let ok = !comp.is_empty()
                && comp
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                && comp.starts_with(|c: char| c.is_ascii_alphanumeric())
                && comp.ends_with(|c: char| c.is_ascii_alphanumeric());
            if !ok {
                return Err(bad(
                    "repository name must be lowercase letters, digits and separators (._-/)",
                ));
            }
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `docker.io/library/busybox`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The canonical string kept in the store: `docker.io/library/busybox:latest`.
    pub fn canonical(&self) -> String {
        match (&self.tag, &self.digest) {
            (_, Some(d)) => format!("{}@{d}", self.full_name()),
            (Some(t), None) => format!("{}:{t}", self.full_name()),
            (None, None) => self.full_name(),
        }
    }

    /// What docker prints in the REPOSITORY column: `busybox`, `user/app`, `host:5000/app`.
    pub fn familiar_name(&self) -> String {
        familiar(&self.full_name())
    }
}

/// Shorten a canonical name the way docker displays it.
pub fn familiar(full: &str) -> String {
    let rest = full
        .strip_prefix("docker.io/")
        .map(|r| r.strip_prefix("library/").unwrap_or(r));
    rest.unwrap_or(full).to_string()
}

/// Split a canonical `name:tag` into (name, tag).
pub fn split_tag(canonical: &str) -> (&str, &str) {
    let last_slash = canonical.rfind('/').map_or(0, |i| i + 1);
    match canonical[last_slash..].rfind(':') {
        Some(i) => (
            &canonical[..last_slash + i],
            &canonical[last_slash + i + 1..],
        ),
        None => (canonical, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Reference::parse(s).expect(s).canonical()
    }

    #[test]
    fn docker_normalization() {
        assert_eq!(canon("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(canon("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(canon("localhost/app"), "localhost/app:latest");
        assert_eq!(canon("127.0.0.1:5000/t/app:2"), "127.0.0.1:5000/t/app:2");
        assert_eq!(canon("host:5000/app"), "host:5000/app:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            canon(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar("docker.io/user/app"), "user/app");
        assert_eq!(familiar("quay.io/a/b"), "quay.io/a/b");
        assert_eq!(split_tag("host:5000/app:1"), ("host:5000/app", "1"));
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "UPPER",
            "a::b",
            "a:",
            "app@sha256:xyz",
            "a//b",
            "-a",
            "a:b c",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
