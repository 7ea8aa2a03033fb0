//! `skiff build`: a Dockerfile becomes an image, with no daemon. The file is parsed whole
//! (`dockerfile`), the stages the target needs are found, and each is built step by step
//! (`dispatch`): metadata steps change the config, RUN/COPY/ADD run in real containers made by
//! the runtime (`step`), whose upper directories become layers (`layer`) in the same store
//! as pulled ones. Every step's resulting state is cached (`cache`), so a rebuild with nothing
//! changed runs no container and writes no layer, and yields the same image id.

pub mod cache;
pub mod commit;
pub mod context;
mod dispatch;
pub mod dockerfile;
pub mod expand;
pub mod ignore;
mod instruction;
pub mod layer;
pub mod progress;
mod run_step;
pub mod step;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::container::{ContainerError, Ctx};
use crate::image::ImageError;
use crate::image::config::{
    Descriptor, ImageConfig, MEDIA_CONFIG, MEDIA_MANIFEST, Manifest, RootFs, RunConfig, host_arch,
};
use crate::image::store::ImageRecord;
use context::{Context, StatCache};
use dockerfile::{Instruction, Kind};
use progress::Log;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] dockerfile::ParseError),
    #[error("{0}")]
    Expand(String),
    #[error("{0}")]
    Context(String),
    #[error("{0}")]
    Step(String),
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i32 },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error("the build was interrupted ({0})")]
    Interrupted(String),
}

impl BuildError {
    pub fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.to_path_buf();
        move |source| BuildError::Io { what, path, source }
    }
}

impl From<expand::ExpandError> for BuildError {
    fn from(e: expand::ExpandError) -> BuildError {
        BuildError::Expand(e.to_string())
    }
}

/// An image being built: after each step, and as the cache keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageState {
    /// The cache key of the step that made it (the base image's id for a FROM).
    pub key: String,
    pub layers: Vec<String>,
    pub blobs: Vec<Descriptor>,
    pub config: ImageConfig,
    /// CMD was set in this build (so a later ENTRYPOINT keeps it, as docker's does).
    #[serde(default)]
    pub cmd_set: bool,
}

impl ImageState {
    fn scratch() -> ImageState {
        ImageState {
            key: cache::key("scratch", &[]),
            layers: Vec::new(),
            blobs: Vec::new(),
            config: ImageConfig {
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
            },
            cmd_set: false,
        }
    }
}

/// Where the build context comes from.
pub enum ContextSource {
    Dir(PathBuf),
    /// A tar archive (file or stdin), any compression.
    Tar(Box<dyn std::io::Read>),
    /// No files (a Dockerfile alone on stdin).
    Empty,
}

/// `-o`: the final stage's filesystem instead of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Local(PathBuf),
    Tar(PathBuf),
}

pub struct BuildOptions<'a> {
    pub context: ContextSource,
    /// The Dockerfile's text and the name shown in errors; None: `Dockerfile` in the context.
    pub dockerfile: Option<(String, String)>,
    /// Path of the Dockerfile on the host, for `<Dockerfile>.dockerignore`.
    pub dockerfile_path: Option<PathBuf>,
    pub tags: Vec<String>,
    pub build_args: Vec<(String, Option<String>)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub quiet: bool,
    /// What the build shows as it runs.
    pub progress: progress::Mode,
    pub labels: Vec<(String, String)>,
    pub network: String,
    pub add_hosts: Vec<String>,
    pub secrets: Vec<(String, PathBuf)>,
    pub output: Option<Output>,
    /// Fetch an image a FROM names (the CLI's pull, with its progress display).
    pub pull_image: &'a dyn Fn(&str) -> Result<(), String>,
}

/// What a finished build made.
pub struct Built {
    /// The image id (`sha256:...`), or None with `-o`.
    pub id: Option<String>,
}

/// One stage of the Dockerfile.
struct Stage {
    name: Option<String>,
    from: Instruction,
    body: Vec<Instruction>,
}

pub fn build(ctx: &Ctx, opts: BuildOptions) -> Result<Built, BuildError> {
    // Ctrl-C and friends stay pending until a step boundary (where the build stops and
    // cleans up), or reach a RUN step's command through its monitor, as with `run`.
    crate::monitor::block_forwarded();
    sweep_leftovers(ctx);
    let scratch = ctx.images.scratch_dir("build")?;
    let result = build_in(ctx, opts, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn build_in(ctx: &Ctx, mut opts: BuildOptions, scratch: &Path) -> Result<Built, BuildError> {
    let log = Log::new(opts.progress);
    let (context, text, file) = open_context(&mut opts, scratch)?;
    // A pull draws its own progress: the live view steps aside for it.
    let pull_image = opts.pull_image;
    let pull = |name: &str| {
        log.interrupt();
        pull_image(name)
    };
    let opts = BuildOptions {
        pull_image: &pull,
        ..opts
    };
    let parsed = dockerfile::parse(&text, &file)?;
    let (meta_args, stages) = split_stages(&parsed.instructions, &file)?;
    let build_args: HashMap<String, String> = opts
        .build_args
        .iter()
        .filter_map(|(k, v)| {
            v.clone()
                .or_else(|| std::env::var(k).ok())
                .map(|v| (k.clone(), v))
        })
        .collect();
    // Global ARGs (before the first FROM): usable in FROM lines, and by `ARG name` in stages.
    let mut globals: BTreeMap<String, String> = BTreeMap::new();
    for (name, default) in &meta_args {
        let lookup = |k: &str| globals.get(k).cloned();
        let value = match build_args.get(name) {
            Some(v) => Some(v.clone()),
            None => match default {
                Some(d) => Some(expand::process_word(d, &lookup, parsed.escape)?),
                None => None,
            },
        };
        if let Some(v) = value {
            globals.insert(name.clone(), v);
        }
    }
    let target = match &opts.target {
        None => stages.len() - 1,
        Some(t) => stage_index(&stages, t)
            .ok_or_else(|| BuildError::Step(format!("target stage \"{t}\" could not be found")))?,
    };
    let needed = needed_stages(&stages, target, &globals, parsed.escape)?;
    let total: usize = needed.iter().map(|&i| stages[i].body.len() + 1).sum();
    let mut stat = StatCache::load(&cache::stat_cache_file(&ctx.paths));
    let mut built: Vec<Option<ImageState>> = vec![None; stages.len()];
    let mut step_no = 0;
    let mut run = dispatch::Run {
        ctx,
        opts: &opts,
        log: &log,
        context: &context,
        scratch,
        stat: &mut stat,
        build_args: &build_args,
        escape: parsed.escape,
        file: &file,
        total,
    };
    for &i in &needed {
        let state = run.stage(&stages[i], &stages, &built, &globals, &mut step_no)?;
        built[i] = Some(state);
    }
    stat.save(&cache::stat_cache_file(&ctx.paths));
    let Some(mut last) = built[target].take() else {
        return Err(BuildError::Step("the target stage was not built".into()));
    };
    if let Some(out) = &opts.output {
        export_output(ctx, &last, out, scratch)?;
        return Ok(Built { id: None });
    }
    if !opts.labels.is_empty() {
        let labels = last.config.config.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in &opts.labels {
            labels.insert(k.clone(), v.clone());
        }
    }
    let record = register(ctx, &last, &opts.tags)?;
    let short = record.short_id().to_string();
    log.line(&format!("Successfully built {short}"));
    for t in &opts.tags {
        // As docker prints it: `app:latest`, `host:5000/app:1`.
        let shown = crate::image::reference::Reference::parse(t)
            .map(|r| crate::image::reference::familiar(&r.canonical()))
            .unwrap_or_else(|_| t.clone());
        log.line(&format!("Successfully tagged {shown}"));
    }
    Ok(Built {
        id: Some(record.id),
    })
}

/// The Dockerfile's text and name, and the context (a tar one unpacked into scratch).
fn open_context(
    opts: &mut BuildOptions,
    scratch: &Path,
) -> Result<(Context, String, String), BuildError> {
    let source = std::mem::replace(&mut opts.context, ContextSource::Empty);
    let context = match source {
        ContextSource::Dir(d) => {
            let ignore = context::read_ignore(&d, opts.dockerfile_path.as_deref());
            Context::new(d, ignore)
        }
        ContextSource::Tar(reader) => Context::from_tar(reader, scratch)?,
        ContextSource::Empty => Context::empty(scratch)?,
    };
    let (text, file) = match &opts.dockerfile {
        Some((text, name)) => (text.clone(), name.clone()),
        None => {
            let path = context.root.join("Dockerfile");
            let text = std::fs::read_to_string(&path).map_err(|e| {
                BuildError::Context(format!(
                    "failed to read the Dockerfile {}: {e}",
                    path.display()
                ))
            })?;
            (text, "Dockerfile".to_string())
        }
    };
    Ok((context, text, file))
}

/// ARGs declared before the first FROM, with their defaults.
type MetaArgs = Vec<(String, Option<String>)>;

/// ARGs before the first FROM, and the stages.
fn split_stages(all: &[Instruction], file: &str) -> Result<(MetaArgs, Vec<Stage>), BuildError> {
    let mut meta = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for inst in all {
        match &inst.kind {
            Kind::From { alias, .. } => stages.push(Stage {
                name: alias.clone(),
                from: inst.clone(),
                body: Vec::new(),
            }),
            Kind::Arg(args) if stages.is_empty() => meta.extend(args.iter().cloned()),
            _ => match stages.last_mut() {
                Some(s) => s.body.push(inst.clone()),
                None => {
                    return Err(BuildError::Step(format!(
                        "{file}:{}: no build stage in current context: a Dockerfile starts with FROM (only ARG may come before it)",
                        inst.line
                    )));
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(BuildError::Step(format!(
            "{file}: the Dockerfile has no FROM instruction"
        )));
    }
    Ok((meta, stages))
}

/// A stage by name (case-insensitive) or index.
fn stage_index(stages: &[Stage], name: &str) -> Option<usize> {
    stages
        .iter()
        .position(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .or_else(|| name.parse::<usize>().ok().filter(|i| *i < stages.len()))
}

/// The stages `target` needs (FROM another stage, COPY --from, RUN --mount from=), in order.
fn needed_stages(
    stages: &[Stage],
    target: usize,
    globals: &BTreeMap<String, String>,
    escape: char,
) -> Result<Vec<usize>, BuildError> {
    let mut needed = vec![false; stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed[i] {
            continue;
        }
        needed[i] = true;
        let mut refs = Vec::new();
        if let Kind::From { image, .. } = &stages[i].from.kind {
            let lookup = |k: &str| globals.get(k).cloned();
            refs.push(expand::process_word(image, &lookup, escape)?);
        }
        for inst in &stages[i].body {
            match &inst.kind {
                Kind::Copy { flags, .. } => refs.extend(dispatch::flag(flags, "from")),
                Kind::Run { flags, .. } => {
                    for m in dispatch::flag_all(flags, "mount") {
                        refs.extend(
                            m.split(',')
                                .filter_map(|kv| kv.strip_prefix("from="))
                                .map(str::to_string),
                        );
                    }
                }
                _ => {}
            }
        }
        for r in refs {
            if let Some(j) = stage_index(&stages[..i], &r) {
                todo.push(j);
            }
        }
    }
    Ok((0..stages.len()).filter(|i| needed[*i]).collect())
}

/// Blobs written, then the config and manifest, then the name index (last, atomically).
pub(crate) fn register(
    ctx: &Ctx,
    state: &ImageState,
    tags: &[String],
) -> Result<ImageRecord, BuildError> {
    let mut config = state.config.clone();
    config.rootfs.diff_ids = state.layers.clone();
    let config_bytes = crate::image::config::go_json(&config)
        .map_err(|e| BuildError::Step(format!("encoding the image config: {e}")))?;
    let config_digest = ctx.images.put_blob(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST.into(),
        config: Descriptor {
            media_type: MEDIA_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
        },
        layers: state.blobs.clone(),
    };
    let manifest_bytes = crate::image::config::go_json(&manifest)
        .map_err(|e| BuildError::Step(format!("encoding the manifest: {e}")))?;
    let manifest_digest = ctx.images.put_blob(&manifest_bytes)?;
    let mut names = Vec::new();
    for t in tags {
        names.push(crate::image::reference::Reference::parse(t)?.canonical());
    }
    let size = state
        .layers
        .iter()
        .map(|l| dir_size(&ctx.images.layer_dir(l)))
        .sum();
    Ok(ctx.images.register(ImageRecord {
        id: config_digest,
        names,
        manifest_digest,
        added: crate::timefmt::rfc3339(crate::timefmt::now()),
        size,
        layers: state.layers.clone(),
        digests: Vec::new(),
    })?)
}

fn dir_size(p: &Path) -> u64 {
    layer::walk(p)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e.2.is_file())
                .map(|e| e.2.len())
                .sum()
        })
        .unwrap_or(0)
}

/// `-o`: the final stage's files, as a directory or a tar file.
fn export_output(
    ctx: &Ctx,
    state: &ImageState,
    out: &Output,
    scratch: &Path,
) -> Result<(), BuildError> {
    let step = step::container(ctx, state, Default::default())?;
    let tar_path = match out {
        Output::Tar(p) => p.clone(),
        Output::Local(_) => scratch.join("output.tar"),
    };
    let partial = tar_path.with_extension("partial");
    let mut f = std::fs::File::create(&partial).map_err(BuildError::io("creating", &partial))?;
    let written = crate::container::export::export(ctx, &step.record.id, &mut f);
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    std::fs::rename(&partial, &tar_path).map_err(BuildError::io("writing", &tar_path))?;
    if let Output::Local(dir) = out {
        std::fs::create_dir_all(dir).map_err(BuildError::io("creating", dir))?;
        let f = std::fs::File::open(&tar_path).map_err(BuildError::io("reading", &tar_path))?;
        let mut ar = tar::Archive::new(f);
        ar.set_preserve_permissions(true);
        ar.unpack(dir).map_err(BuildError::io("writing", dir))?;
    }
    Ok(())
}

/// Step containers of builds that were killed (their owner is gone) are removed.
fn sweep_leftovers(ctx: &Ctx) {
    let Ok(all) = ctx.all() else { return };
    for r in all {
        let Some(owner) = r.config.labels.get(dispatch::OWNER_LABEL) else {
            continue;
        };
        let alive = owner
            .split_once('.')
            .and_then(|(p, s)| Some((p.parse().ok()?, s.parse().ok()?)))
            .is_some_and(|(pid, start)| crate::state::proc::is_alive(pid, start));
        if !alive {
            ctx.release_cgroup(&r);
            let _ = ctx.remove_container(&r, true);
        }
    }
}

/// A signal that should end the build, if one is pending (they are blocked while it runs).
pub fn interrupted() -> Result<(), BuildError> {
    use nix::sys::signal::Signal;
    // One that arrived while a RUN ran ended that RUN (the relay took it).
    if let Some(s) = crate::monitor::take_interrupted() {
        let name = Signal::try_from(s).map_or("a signal", |s| s.as_str());
        return Err(BuildError::Interrupted(name.to_string()));
    }
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; it is read only when that succeeded.
    let pending = unsafe {
        if libc::sigpending(set.as_mut_ptr()) != 0 {
            return Ok(());
        }
        set.assume_init()
    };
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: a valid, initialised set and a valid signal number.
        if unsafe { libc::sigismember(&pending, s as i32) } == 1 {
            return Err(BuildError::Interrupted(s.as_str().to_string()));
        }
    }
    Ok(())
}

/// Time of a step for the log.
pub fn elapsed(since: Instant) -> String {
    format!("{:.2}s", since.elapsed().as_secs_f64())
}
