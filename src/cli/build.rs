//! `build` (and `image build`), `builder prune`, `commit`, `diff`: flags to requests, and
//! docker's output.

use std::io::{BufRead, Read};
use std::path::PathBuf;

use clap::Args;

use super::CliError;
use crate::build::{self, BuildOptions, ContextSource, Output};
use crate::container::Ctx;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); repeatable
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Build-time variable (KEY=VALUE, or KEY to take the caller's value)
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_arg: Vec<String>,
    /// Build up to this stage
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always pull the images FROM names
    #[arg(long)]
    pub pull: bool,
    /// Print only the image id
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image id to this file
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Set a label on the image (KEY=VALUE); repeatable
    #[arg(long)]
    pub label: Vec<String>,
    /// Network for RUN steps: default, host or none
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Add a host name for RUN steps (NAME:IP)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// A secret for RUN --mount=type=secret (id=ID,src=PATH)
    #[arg(long)]
    pub secret: Vec<String>,
    /// Progress output: auto, plain or quiet
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Target platform (only this host's)
    #[arg(long)]
    pub platform: Option<String>,
    /// Write the result's files instead of an image: type=local,dest=DIR or type=tar,dest=FILE
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Remove intermediate containers (always done)
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub rm: Option<String>,
    /// Always remove intermediate containers (always done)
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// The build context: a directory, a tar archive, or - (a tar or a Dockerfile on stdin)
    pub context: String,
}

#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Remove all build cache (the same here: skiff keeps no other kind)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not ask for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author ("Name <email>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Pause the container while committing
    #[arg(short = 'p', long, default_value = "true", num_args = 0..=1, default_missing_value = "true", value_parser = super::object_args::parse_bool_flag)]
    pub pause: bool,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub container: String,
    /// REPOSITORY[:TAG]
    pub repository: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub container: String,
}

pub fn build(ctx: &Ctx, a: BuildArgs) -> Result<i32, CliError> {
    let quiet = a.quiet || a.progress == "quiet";
    if !matches!(a.progress.as_str(), "auto" | "plain" | "quiet" | "tty") {
        return Err(CliError::Usage(format!(
            "invalid --progress {:?}: expected auto, plain or quiet",
            a.progress
        )));
    }
    if let Some(p) = &a.platform {
        let host = format!("linux/{}", crate::image::config::host_arch());
        if *p != host && p != "linux" {
            return Err(CliError::Usage(format!(
                "invalid --platform {p:?}: skiff builds for this host's platform only ({host})"
            )));
        }
    }
    if !matches!(a.network.as_str(), "default" | "host" | "none" | "bridge") {
        return Err(CliError::Usage(format!(
            "invalid --network {:?}: expected default, host or none",
            a.network
        )));
    }
    let network = if a.network == "bridge" {
        "default".to_string()
    } else {
        a.network.clone()
    };
    let output = a.output.as_deref().map(parse_output).transpose()?;
    let mut secrets = Vec::new();
    for s in &a.secret {
        secrets.push(parse_secret(s)?);
    }
    let mut labels = Vec::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.push((k.to_string(), v.to_string()));
    }
    let build_args = a
        .build_arg
        .iter()
        .map(|b| match b.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (b.clone(), None),
        })
        .collect();
    for t in &a.tag {
        crate::image::reference::Reference::parse(t).map_err(|_| {
            CliError::Usage(format!(
                "invalid tag {t:?}: expected name[:tag], in lower case"
            ))
        })?;
    }
    // The Dockerfile: -f - (stdin), -f PATH, or CONTEXT/Dockerfile.
    let mut dockerfile: Option<(String, String)> = None;
    let mut dockerfile_path = None;
    if let Some(f) = &a.file {
        if f == "-" {
            if a.context == "-" {
                return Err(CliError::Usage(
                    "invalid argument: can't use stdin for both the build context and the Dockerfile".into(),
                ));
            }
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::Usage(format!("reading the Dockerfile from stdin: {e}")))?;
            dockerfile = Some((text, "Dockerfile".into()));
        } else {
            let path = PathBuf::from(f);
            let path = if path.is_absolute() || path.exists() || a.context == "-" {
                path
            } else {
                PathBuf::from(&a.context).join(f)
            };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                CliError::Usage(format!(
                    "unable to read the Dockerfile {}: {e}",
                    path.display()
                ))
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.clone());
            dockerfile = Some((text, name));
            dockerfile_path = Some(path);
        }
    }
    let context = if a.context == "-" {
        let stdin = std::io::stdin();
        let mut lock = std::io::BufReader::new(stdin.lock());
        let head = lock
            .fill_buf()
            .map_err(|e| CliError::Usage(format!("reading stdin: {e}")))?
            .to_vec();
        if looks_like_archive(&head) {
            ContextSource::Tar(Box::new(lock))
        } else {
            // A bare Dockerfile on stdin: no context files.
            let mut text = String::new();
            lock.read_to_string(&mut text)
                .map_err(|e| CliError::Usage(format!("reading the Dockerfile from stdin: {e}")))?;
            dockerfile = Some((text, "Dockerfile".into()));
            ContextSource::Empty
        }
    } else {
        let path = PathBuf::from(&a.context);
        let meta = std::fs::metadata(&path).map_err(|e| {
            CliError::Usage(format!(
                "unable to prepare the build context {}: {e}",
                path.display()
            ))
        })?;
        if meta.is_dir() {
            ContextSource::Dir(path)
        } else {
            let f = std::fs::File::open(&path).map_err(|e| {
                CliError::Usage(format!(
                    "unable to read the context {}: {e}",
                    path.display()
                ))
            })?;
            ContextSource::Tar(Box::new(std::io::BufReader::new(f)))
        }
    };
    let pull = |name: &str| {
        super::registry::pull_image(ctx, name, quiet, None, false)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let opts = BuildOptions {
        context,
        dockerfile,
        dockerfile_path,
        tags: a.tag.clone(),
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        pull: a.pull,
        quiet,
        progress: crate::build::progress::Mode::choose(
            &a.progress,
            quiet,
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        ),
        labels,
        network,
        add_hosts: a.add_host.clone(),
        secrets,
        output,
        pull_image: &pull,
    };
    let built = build::build(ctx, opts).map_err(|e| CliError::Build(Box::new(e)))?;
    if let Some(id) = &built.id {
        let name = a.tag.first().cloned().unwrap_or_default();
        ctx.image_event("build", id, &name);
    }
    if let Some(id) = built.id {
        if quiet {
            println!("{id}");
        }
        if let Some(f) = &a.iidfile {
            std::fs::write(f, &id)
                .map_err(|e| CliError::Usage(format!("writing {}: {e}", f.display())))?;
        }
    }
    Ok(0)
}

fn looks_like_archive(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 262 && &head[257..262] == b"ustar")
}

fn parse_output(s: &str) -> Result<Output, CliError> {
    let mut kind = None;
    let mut dest = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_string()),
            Some(("dest", v)) => dest = Some(PathBuf::from(v)),
            _ if !part.contains('=') && kind.is_none() => {
                // `-o DIR` is docker's shorthand for type=local,dest=DIR.
                kind = Some("local".into());
                dest = Some(PathBuf::from(part));
            }
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid --output {s:?}: expected type=local,dest=DIR or type=tar,dest=FILE"
                )));
            }
        }
    }
    match (kind.as_deref(), dest) {
        (Some("local"), Some(d)) => Ok(Output::Local(d)),
        (Some("tar"), Some(d)) => Ok(Output::Tar(d)),
        _ => Err(CliError::Usage(format!(
            "invalid --output {s:?}: expected type=local,dest=DIR or type=tar,dest=FILE"
        ))),
    }
}

fn parse_secret(s: &str) -> Result<(String, PathBuf), CliError> {
    let mut id = None;
    let mut src = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
            Some(("type", "file")) => {}
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid --secret {s:?}: expected id=ID,src=PATH"
                )));
            }
        }
    }
    match (id, src) {
        (Some(id), Some(src)) if src.is_file() => Ok((id, src)),
        (Some(_), Some(src)) => Err(CliError::Usage(format!(
            "invalid --secret {s:?}: {} is not a file",
            src.display()
        ))),
        _ => Err(CliError::Usage(format!(
            "invalid --secret {s:?}: expected id=ID,src=PATH"
        ))),
    }
}

pub fn builder_prune(ctx: &Ctx, _a: BuilderPruneArgs) -> Result<i32, CliError> {
    let freed = build::cache::prune(&ctx.paths);
    let containers = ctx.all()?;
    super::images::gc(ctx, &containers)?;
    println!("Total reclaimed space: {}", crate::units::bytes_size(freed));
    Ok(0)
}

pub fn commit(ctx: &Ctx, a: CommitArgs) -> Result<i32, CliError> {
    let id = crate::build::commit::commit(
        ctx,
        &crate::build::commit::CommitRequest {
            container: a.container,
            name: a.repository,
            author: a.author,
            message: a.message,
            changes: a.change,
            pause: a.pause,
        },
    )
    .map_err(|e| CliError::Build(Box::new(e)))?;
    ctx.image_event("commit", &id, "");
    println!("{id}");
    Ok(0)
}

pub fn diff(ctx: &Ctx, a: DiffArgs) -> Result<i32, CliError> {
    let changes =
        crate::build::commit::diff(ctx, &a.container).map_err(|e| CliError::Build(Box::new(e)))?;
    for (kind, path) in changes {
        println!("{kind} {path}");
    }
    Ok(0)
}
