//! Compose projects: reading compose files into one canonical model (`load` → `normalize`),
//! and what the commands need from it (dependency order, names, labels, config hashes, and each
//! service as a container request in `convert`). Nothing here starts a container: the commands
//! in `cli/compose/` do, through the same container lifecycle as `run`.

pub mod convert;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod normalize;
pub mod order;
pub mod schema;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use sha2::Digest;

pub use load::LoadOptions;

/// compose's labels, as docker compose v2 writes them.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const NUMBER: &str = "com.docker.compose.container-number";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    pub const VERSION: &str = "com.docker.compose.version";
    pub const NETWORK: &str = "com.docker.compose.network";
    pub const VOLUME: &str = "com.docker.compose.volume";
    pub const IMAGE: &str = "com.docker.compose.image";
}

/// The version written in `com.docker.compose.version` (the compose v2 behaviour followed).
pub const COMPAT_VERSION: &str = "2.24.0";

/// A loaded, normalised project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub env: BTreeMap<String, String>,
    /// The canonical model (`compose config --format json`).
    pub model: Value,
    pub disabled: Vec<String>,
    /// Services that cannot run, and why (their use is the error, as in docker compose).
    pub broken: BTreeMap<String, String>,
}

impl Project {
    pub fn load(opts: &LoadOptions) -> Result<Project, String> {
        let loaded = load::load(opts)?;
        let mut model = loaded.model;
        let broken = normalize::normalize(
            &mut model,
            &normalize::Context {
                project: &loaded.name,
                working_dir: &loaded.working_dir,
                env: &loaded.env,
            },
        )?;
        let project = Project {
            name: loaded.name,
            working_dir: loaded.working_dir,
            config_files: loaded.config_files,
            env: loaded.env,
            model,
            disabled: loaded.disabled,
            broken,
        };
        order::check_cycles(&project)?;
        Ok(project)
    }

    pub fn service_names(&self) -> Vec<String> {
        self.services().map(|(n, _)| n.clone()).collect()
    }

    pub fn services(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.model
            .get("services")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    pub fn service(&self, name: &str) -> Option<&Value> {
        self.model.get("services").and_then(|s| s.get(name))
    }

    /// The named services (all when `names` is empty), refusing unknown names.
    pub fn select(&self, names: &[String]) -> Result<Vec<String>, String> {
        if names.is_empty() {
            return Ok(self.service_names());
        }
        self.usable(names)?;
        for n in names {
            if self.service(n).is_none() {
                return Err(if self.disabled.contains(n) {
                    format!("service {n:?} is not enabled by the active profiles")
                } else {
                    format!("no such service: {n}")
                });
            }
        }
        Ok(names.to_vec())
    }

    /// An error when one of `services` cannot run (see `broken`).
    pub fn usable(&self, services: &[String]) -> Result<(), String> {
        match services
            .iter()
            .find_map(|s| self.broken.get(s).map(|e| (s, e)))
        {
            Some((s, e)) => Err(format!("service {s:?}: {e}")),
            None => Ok(()),
        }
    }

    /// A top-level network's or volume's real name (`<project>_<key>` unless named).
    pub fn resource_name(&self, kind: &str, key: &str) -> String {
        self.model
            .get(kind)
            .and_then(|m| m.get(key))
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("{}_{key}", self.name))
    }

    /// How many containers a service runs: `scale`, else `deploy.replicas`, else 1.
    pub fn scale_of(&self, service: &str) -> u32 {
        let svc = self.service(service);
        let n = svc.and_then(|s| s.get("scale")).or_else(|| {
            svc.and_then(|s| s.get("deploy"))
                .and_then(|d| d.get("replicas"))
        });
        n.and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The name of replica `n` of a service: `container_name`, or `<project>-<service>-<n>`.
    pub fn container_name(&self, service: &str, n: u32) -> String {
        match self
            .service(service)
            .and_then(|s| s.get("container_name"))
            .and_then(Value::as_str)
        {
            Some(name) => name.to_string(),
            None => format!("{}-{service}-{n}", self.name),
        }
    }

    /// The image a service runs: `image:`, or `<project>-<service>` when it is built.
    pub fn image_of(&self, service: &str) -> String {
        let svc = self.service(service);
        match svc.and_then(|s| s.get("image")).and_then(Value::as_str) {
            Some(i) => i.to_string(),
            None => format!("{}-{service}", self.name),
        }
    }

    /// The hash recorded on a service's containers: a container whose hash differs is
    /// recreated by `up`. Replica counts and build settings do not change a running container.
    pub fn config_hash(&self, service: &str) -> String {
        let mut svc = self.service(service).cloned().unwrap_or(Value::Null);
        if let Some(m) = svc.as_object_mut() {
            m.remove("scale");
            m.remove("build");
            m.remove("pull_policy");
            m.remove("profiles");
            if let Some(Value::Object(d)) = m.get_mut("deploy") {
                d.remove("replicas");
            }
        }
        let text = serde_json::to_string(&svc).unwrap_or_default();
        hex(&sha2::Sha256::digest(text.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
