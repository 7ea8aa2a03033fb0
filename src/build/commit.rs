//! `commit` (a container's changes as a new layer on its image) and `diff` (what changed),
//! both read from the container's overlay upper directory.

use std::path::Path;

use super::layer::{self, Change};
use super::{BuildError, ImageState};
use crate::container::Ctx;
use crate::image::config::{HistoryEntry, ImageConfig, RootFs, RunConfig, host_arch};
use crate::state::container::{ContainerRecord, Status};

pub struct CommitRequest {
    pub container: String,
    pub name: Option<String>,
    pub author: Option<String>,
    pub message: Option<String>,
    /// Dockerfile instructions (`-c`).
    pub changes: Vec<String>,
    pub pause: bool,
}

/// Stops a running container's processes while the diff is read; resumes them when dropped.
struct Paused(Vec<i32>);

impl Paused {
    fn new(pids: Vec<i32>) -> Paused {
        for &p in &pids {
            signal(p, nix::sys::signal::Signal::SIGSTOP);
        }
        Paused(pids)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        for &p in &self.0 {
            signal(p, nix::sys::signal::Signal::SIGCONT);
        }
    }
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// Returns the new image's id.
pub fn commit(ctx: &Ctx, req: &CommitRequest) -> Result<String, BuildError> {
    let record = ctx.find(&req.container)?;
    let mut config = match ctx.images.lookup(&record.image_id) {
        Ok(img) => ctx.images.config(&img)?,
        Err(_) => empty_config(),
    };
    let blobs = match ctx.images.lookup(&record.image_id) {
        Ok(img) => {
            let path = ctx.images.blob_path(&img.manifest_digest);
            let data = std::fs::read(&path).map_err(BuildError::io("reading", &path))?;
            serde_json::from_slice::<crate::image::config::Manifest>(&data)
                .map_err(|e| BuildError::Step(format!("the image's manifest: {e}")))?
                .layers
        }
        Err(_) => Vec::new(),
    };
    if blobs.len() != record.config.layers.len() {
        return Err(BuildError::Step(format!(
            "the image of container {} is gone from the store: its layers cannot be pushed or saved",
            record.name
        )));
    }
    merge_container_config(&mut config.config, &record);
    for c in &req.changes {
        crate::image::import::apply_change(&mut config.config, c)?;
    }
    let scratch = ctx.images.scratch_dir("commit")?;
    let made = {
        let _paused = (req.pause && record.state.status == Status::Running)
            .then(|| Paused::new(crate::container::resources::processes(record.state.pid)));
        ctx.container_changes(&record, &scratch)
            .map_err(BuildError::from)
            .and_then(|upper| {
                let stubs = layer::runtime_stubs(&upper);
                Ok(layer::store_layer(
                    &ctx.images,
                    &upper,
                    &scratch,
                    true,
                    &stubs,
                    record.config.userns_auto,
                )?)
            })
    };
    let _ = std::fs::remove_dir_all(&scratch);
    let made = made?;
    let now = crate::timefmt::rfc3339(crate::timefmt::now());
    let mut layers = record.config.layers.clone();
    layers.push(made.diff_id.clone());
    let mut all_blobs = blobs;
    all_blobs.push(made.blob);
    config.created = Some(now.clone());
    config.author = req.author.clone().or(config.author);
    config.history.push(HistoryEntry {
        created: Some(now),
        author: req.author.clone(),
        created_by: Some(record.config.argv().join(" ")),
        comment: req.message.clone(),
        empty_layer: false,
    });
    config.rootfs.diff_ids = layers.clone();
    let state = ImageState {
        key: made.diff_id.trim_start_matches("sha256:").to_string(),
        layers,
        blobs: all_blobs,
        config,
        cmd_set: false,
    };
    let tags: Vec<String> = req.name.iter().cloned().collect();
    Ok(super::register(ctx, &state, &tags)?.id)
}

fn empty_config() -> ImageConfig {
    ImageConfig {
        created: None,
        author: None,
        architecture: host_arch().to_string(),
        os: "linux".to_string(),
        config: RunConfig::default(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        },
        history: Vec::new(),
    }
}

/// docker's commit keeps the container's own settings as the image's defaults.
fn merge_container_config(cfg: &mut RunConfig, record: &ContainerRecord) {
    let c = &record.config;
    cfg.env = Some(c.env.clone());
    cfg.cmd = (!c.cmd.is_empty()).then(|| c.cmd.clone());
    cfg.entrypoint = (!c.entrypoint.is_empty()).then(|| c.entrypoint.clone());
    if !c.working_dir.is_empty() {
        cfg.working_dir = Some(c.working_dir.clone());
    }
    if !c.user.is_empty() {
        cfg.user = Some(c.user.clone());
    }
    if !c.labels.is_empty() {
        cfg.labels = Some(c.labels.clone());
    }
}

/// `diff`: (A|C|D, path) for each path the container changed, parents first.
pub fn diff(ctx: &Ctx, query: &str) -> Result<Vec<(char, String)>, BuildError> {
    let record = ctx.find(query)?;
    let scratch = ctx.images.scratch_dir("diff")?;
    let result = diff_of(ctx, &record, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn diff_of(
    ctx: &Ctx,
    record: &crate::state::container::ContainerRecord,
    scratch: &Path,
) -> Result<Vec<(char, String)>, BuildError> {
    let upper = ctx.container_changes(record, scratch)?;
    let lower = ctx.lower_dirs(record);
    let stubs = layer::runtime_stubs(&upper);
    let mut out = Vec::new();
    let entries = layer::walk(&upper).map_err(BuildError::io("reading", &upper))?;
    // A directory copied up only to hold the runtime's stubs (`/etc` for /etc/hosts) is
    // no change of the container's.
    let only_stubs = |dir: &str| {
        let prefix = format!("{dir}/");
        let mut inside = entries.iter().filter(|(r, _, _)| r.starts_with(&prefix));
        inside.clone().next().is_some()
            && inside.all(|(r, _, m)| {
                stubs.contains(&r.as_str())
                    || (m.is_dir() && stubs.iter().any(|s| s.starts_with(&format!("{r}/"))))
            })
    };
    for (rel, path, meta) in &entries {
        let (rel, path, meta) = (rel.clone(), path, meta);
        if stubs.contains(&rel.as_str()) || (meta.is_dir() && only_stubs(&rel)) {
            continue;
        }
        let kind = match layer::classify(path, meta) {
            Change::OpaqueMarker => continue,
            Change::WhiteoutFile => {
                let (dir, name) = rel.rsplit_once('/').unwrap_or(("", &rel));
                let gone = name.trim_start_matches(".wh.");
                let shown = if dir.is_empty() {
                    format!("/{gone}")
                } else {
                    format!("/{dir}/{gone}")
                };
                out.push(('D', shown));
                continue;
            }
            Change::Whiteout => 'D',
            // fuse-overlayfs marks the directories it makes opaque.
            Change::Opaque if in_lower(&lower, &rel) => 'C',
            Change::Opaque => 'A',
            Change::Plain if in_lower(&lower, &rel) => 'C',
            Change::Plain => 'A',
        };
        out.push((kind, format!("/{rel}")));
    }
    Ok(out)
}

fn in_lower(lower: &[std::path::PathBuf], rel: &str) -> bool {
    lower
        .iter()
        .any(|l| std::fs::symlink_metadata(l.join(Path::new(rel))).is_ok())
}
