//! A project as the commands see it: the loaded files when there are some, else just the name
//! given with `-p` (`compose -p app down` works anywhere, as in docker compose); its containers,
//! networks and volumes are found by their labels.

use std::fs::File;
use std::os::fd::AsRawFd;

use crate::cli::CliError;
use crate::compose::{LoadOptions, Project, labels};
use crate::container::Ctx;
use crate::state::container::ContainerRecord;

pub struct Target {
    pub name: String,
    pub project: Option<Project>,
}

impl Target {
    /// The services named (checked against the files when there are some).
    pub fn select(&self, names: &[String]) -> Result<Vec<String>, CliError> {
        match &self.project {
            Some(p) => p.select(names).map_err(CliError::Usage),
            None => Ok(names.to_vec()),
        }
    }
}

pub fn locate(opts: &LoadOptions) -> Result<Target, CliError> {
    match Project::load(opts) {
        Ok(p) => Ok(Target {
            name: p.name.clone(),
            project: Some(p),
        }),
        Err(e) if e.starts_with("no configuration file") => {
            let name = opts
                .project_name
                .clone()
                .or_else(|| std::env::var("COMPOSE_PROJECT_NAME").ok())
                .ok_or(CliError::Usage(e))?;
            Ok(Target {
                name,
                project: None,
            })
        }
        Err(e) => Err(CliError::Usage(e)),
    }
}

pub fn label<'a>(r: &'a ContainerRecord, key: &str) -> Option<&'a str> {
    r.config.labels.get(key).map(String::as_str)
}

pub fn service_of(r: &ContainerRecord) -> &str {
    label(r, labels::SERVICE).unwrap_or_default()
}

pub fn number_of(r: &ContainerRecord) -> u32 {
    label(r, labels::NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub fn is_oneoff(r: &ContainerRecord) -> bool {
    label(r, labels::ONEOFF) == Some("True")
}

/// The project's containers (one-offs too), by name.
pub fn containers(ctx: &Ctx, project: &str) -> Result<Vec<ContainerRecord>, CliError> {
    let mut all: Vec<ContainerRecord> = ctx
        .all()?
        .into_iter()
        .filter(|r| label(r, labels::PROJECT) == Some(project))
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// The service containers (not one-offs) of the given services (all when empty).
pub fn service_containers(
    ctx: &Ctx,
    project: &str,
    services: &[String],
) -> Result<Vec<ContainerRecord>, CliError> {
    Ok(containers(ctx, project)?
        .into_iter()
        .filter(|r| !is_oneoff(r))
        .filter(|r| services.is_empty() || services.iter().any(|s| s == service_of(r)))
        .collect())
}

/// The project lock, released when dropped.
pub struct ProjectLock {
    file: File,
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        crate::container::detached::caller_lock(self.file.as_raw_fd(), false);
    }
}

/// Held while a command changes the project: two `up`s at once would otherwise both create
/// the same replica. Blocks until the other command is done. Monitors forked meanwhile close
/// it (they live on after the command).
pub fn lock(ctx: &Ctx, project: &str) -> Result<ProjectLock, CliError> {
    let dir = ctx.paths.runroot.join("compose");
    crate::config::ensure_dir(&dir, 0o700)
        .map_err(|e| CliError::Usage(format!("creating {}: {e}", dir.display())))?;
    let path = dir.join(format!("{project}.lock"));
    let f = File::create(&path)
        .map_err(|e| CliError::Usage(format!("opening {}: {e}", path.display())))?;
    f.lock()
        .map_err(|e| CliError::Usage(format!("locking {}: {e}", path.display())))?;
    crate::container::detached::caller_lock(f.as_raw_fd(), true);
    Ok(ProjectLock { file: f })
}

pub fn is_running(r: &ContainerRecord) -> bool {
    crate::cli::containers::is_running(r)
}

/// Where this project's generated files live: secrets and configs given by `environment:`
/// or `content:` (removed by `down`).
pub fn scratch(ctx: &Ctx, project: &str) -> std::path::PathBuf {
    ctx.paths.runroot.join("compose").join(project)
}

/// Secrets and configs defined by `environment:` or `content:` written to files, so they
/// mount like file ones (read-only, one file each).
pub fn materialize_secrets(ctx: &Ctx, project: &mut Project) -> Result<(), CliError> {
    let dir = scratch(ctx, &project.name);
    for kind in ["secrets", "configs"] {
        let Some(serde_json::Value::Object(defs)) = project.model.get_mut(kind) else {
            continue;
        };
        for (name, def) in defs.iter_mut() {
            let text = if let Some(var) = def.get("environment").and_then(|v| v.as_str()) {
                project.env.get(var).cloned().ok_or_else(|| {
                    CliError::Usage(format!(
                        "{kind} {name:?}: environment variable {var} is not set"
                    ))
                })?
            } else if let Some(c) = def.get("content").and_then(|v| v.as_str()) {
                c.to_string()
            } else {
                continue;
            };
            let sub = dir.join(kind);
            crate::config::ensure_dir(&sub, 0o700)
                .map_err(|e| CliError::Usage(format!("creating {}: {e}", sub.display())))?;
            let path = sub.join(name);
            std::fs::write(&path, text)
                .map_err(|e| CliError::Usage(format!("writing {}: {e}", path.display())))?;
            def["file"] = serde_json::Value::String(path.display().to_string());
        }
    }
    Ok(())
}

/// How deep a service sits in the dependency graph (0: depends on nothing).
fn depth(project: &Project, service: &str, seen: &mut Vec<String>) -> usize {
    if seen.iter().any(|s| s == service) {
        return 0;
    }
    seen.push(service.to_string());
    let d = crate::compose::order::dependencies(project, service)
        .iter()
        .map(|d| depth(project, &d.service, seen) + 1)
        .max()
        .unwrap_or(0);
    seen.pop();
    d
}

/// Stops the running ones of `records`, dependents before what they depend on, and all of
/// one dependency level at once (as docker compose does): ten services stop in about one
/// stop timeout, not ten. Without the files, all at once.
pub fn stop_all(
    ctx: &Ctx,
    project: Option<&Project>,
    progress: &super::Progress,
    records: &[ContainerRecord],
    timeout: Option<i64>,
) -> Result<(), CliError> {
    let level =
        |r: &ContainerRecord| project.map_or(0, |p| depth(p, service_of(r), &mut Vec::new()));
    let mut levels: Vec<usize> = records.iter().map(level).collect();
    levels.sort_unstable();
    levels.dedup();
    for l in levels.into_iter().rev() {
        let batch: Vec<&ContainerRecord> = records
            .iter()
            .filter(|r| level(r) == l)
            .filter(|r| ctx.load_live(&r.id).is_ok_and(|live| is_running(&live)))
            .collect();
        let results: Vec<Result<(), CliError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|r| {
                    scope.spawn(move || -> Result<(), CliError> {
                        progress.event("Container", &r.name, "Stopping");
                        crate::container::stop::stop(ctx, &r.id, timeout, None)?;
                        progress.event("Container", &r.name, "Stopped");
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(CliError::Usage("a stop failed".into())))
                })
                .collect()
        });
        results.into_iter().collect::<Result<Vec<()>, CliError>>()?;
    }
    Ok(())
}
