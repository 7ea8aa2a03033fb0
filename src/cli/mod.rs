//! The command line: clap definitions (docker's flags and names) and dispatch. Handlers turn
//! flags into typed requests; nothing here makes a syscall itself.

pub mod args;
pub mod build;
pub mod complete;
pub mod compose;
pub mod containers;
pub mod events;
pub mod format;
pub mod generate;
pub mod group;
pub mod images;
pub mod info;
pub mod kube;
pub mod networks;
pub mod object_args;
pub mod prune;
pub mod registry;
pub mod resources;
pub mod search;
pub mod system;
pub mod volumes;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use args::*;
pub use object_args::*;

#[derive(Debug, Parser)]
#[command(
    name = "skiff",
    version,
    about = "A daemonless container launcher with docker's command line",
    propagate_version = true
)]
pub struct Cli {
    /// Persistent storage (default /var/lib/skiff, or ~/.local/share/skiff rootless)
    #[arg(long, global = true, env = "SKIFF_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Runtime state (default /run/skiff, or $XDG_RUNTIME_DIR/skiff rootless)
    #[arg(long, global = true, env = "SKIFF_RUNROOT", value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// Who makes containers' cgroups: systemd (a scope per container; the default where
    /// systemd runs the host on cgroup v2) or cgroupfs
    #[arg(long, global = true, env = "SKIFF_CGROUP_MANAGER", value_name = "MANAGER", value_parser = parse_cgroup_manager)]
    pub cgroup_manager: Option<crate::cgroup::Driver>,
    /// How containers' root filesystems are made: overlay (the kernel's) or fuse-overlayfs;
    /// a new store picks the first that works on its filesystem, and keeps it
    #[arg(long, global = true, env = "SKIFF_STORAGE_DRIVER", value_name = "DRIVER", value_parser = crate::image::storage::Driver::parse)]
    pub storage_driver: Option<crate::image::storage::Driver>,
    /// A storage driver option: overlay.mount_program=PATH (the fuse-overlayfs binary)
    #[arg(long, global = true, value_name = "KEY=VALUE")]
    pub storage_opt: Vec<String>,
    /// Log each step of the command to stderr: debug, info, warn or error
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL", value_parser = ["debug", "info", "warn", "error"])]
    pub log_level: Option<String>,
    /// The same as --log-level debug
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start a container
    Run(RunArgs),
    /// Create a container without starting it
    Create(RunArgs),
    /// Start stopped or created containers
    Start(StartArgs),
    /// Stop running containers (stop signal, then SIGKILL after the timeout)
    Stop(StopArgs),
    /// Send a signal to running containers
    Kill(KillArgs),
    /// Stop and start containers again
    Restart(StopArgs),
    /// Remove containers
    Rm(RmArgs),
    /// Block until containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Freeze every process of containers (cgroup freezer)
    Pause(NamesArgs),
    /// Thaw paused containers
    Unpause(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// List containers
    #[command(alias = "ls")]
    Ps(PsArgs),
    /// Show a container's output
    Logs(LogsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Attach this terminal to a running container
    Attach(AttachArgs),
    /// Show low-level information on containers and images
    Inspect(InspectArgs),
    /// Turn a root filesystem tarball into an image
    Import(ImportArgs),
    /// List images
    Images(ImagesArgs),
    /// Remove images
    Rmi(RmiArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Write images to a tar archive (docker-archive or oci-archive)
    Save(SaveArgs),
    /// Load images from a tar archive
    Load(LoadArgs),
    /// Manage images (ls, inspect, rm, prune, history, tag, pull, push, import)
    #[command(subcommand)]
    Image(ImageCommand),
    /// Change the resource limits of containers
    Update(UpdateArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Copy files between a container and the host (CONTAINER:PATH or - for a tar stream)
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// List a container's port mappings, or the mapping of one port
    Port(PortArgs),
    /// Show containers' resource usage
    Stats(StatsArgs),
    /// Show the processes of a container
    Top(TopArgs),
    /// Show what skiff sees of this host: cgroups, storage, counts
    Info(InfoArgs),
    /// Show skiff's version (docker's Client and Server sections, `--format`)
    Version(InfoArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Create a new image from a container's changes
    Commit(build::CommitArgs),
    /// List the files a container changed (A added, C changed, D deleted)
    Diff(build::DiffArgs),
    /// Host-wide tasks: check what this host allows
    #[command(subcommand)]
    System(system::SystemCommand),
    /// Generate files for other tools: systemd units
    #[command(subcommand)]
    Generate(generate::GenerateCommand),
    /// Run a container's healthcheck by hand
    #[command(subcommand)]
    Healthcheck(generate::HealthcheckCommand),
    /// Show events from the journal, and follow new ones
    Events(events::EventsArgs),
    /// Remove names from an image, keeping it (podman's)
    Untag(UntagArgs),
    /// Print a shell completion script: bash, zsh or fish
    Completion(CompletionArgs),
    /// Search a registry for images (REGISTRY/TERM through its catalog; Docker Hub otherwise)
    Search(search::SearchArgs),
    /// Manage containers (docker's group: container ls, container prune…)
    #[command(subcommand)]
    Container(Box<group::ContainerCommand>),
    /// Run multi-container projects from compose files (docker compose's commands)
    Compose(Box<compose::ComposeArgs>),
    /// Kubernetes YAML: generate it from containers, play it here, take it down
    #[command(subcommand)]
    Kube(kube::KubeCommand),
    /// Be an OCI runtime with runc's command line, for containerd (also as `skiff-runc`)
    #[command(disable_help_flag = true)]
    Oci(OciArgs),
}

#[derive(Debug, clap::Args)]
pub struct OciArgs {
    /// runc's global flags and command (`skiff oci --help` lists them)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove the build cache
    Prune(build::BuilderPruneArgs),
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format the output with a Go template, or json
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

fn parse_cgroup_manager(s: &str) -> Result<crate::cgroup::Driver, String> {
    match s {
        "systemd" => Ok(crate::cgroup::Driver::Systemd),
        "cgroupfs" => Ok(crate::cgroup::Driver::Cgroupfs),
        _ => Err("expected systemd or cgroupfs".into()),
    }
}

use crate::container::{ContainerError, Ctx};
use crate::image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Format(#[from] format::FormatError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Build(Box<crate::build::BuildError>),
    /// Errors for some of several targets were already printed; exit with this code.
    #[error("")]
    Reported(i32),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Container(e) => e.exit_code(),
            CliError::Reported(c) => *c,
            _ => 125,
        }
    }
}

/// docker's rule for `run`, `create` and `exec`: everything after the image (or the
/// container) belongs to the command, even words that look like skiff's flags
/// (`run IMG -c 'echo hi'`). clap would read `-c` as `--cpu-shares`, so a `--` is put right
/// after that first positional word, found by walking the flags with clap's own table of
/// which ones take a value.
/// Parse the command line. The guard reads the clap tree unbuilt (an argument's action says
/// whether it takes a value), so clap builds only the subcommand in use: building the whole
/// tree, now large, cost more than a tenth of a `run --rm`.
pub fn parse_args(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut cli = Cli::command();
    let guarded = guard_with(&cli, args);
    let matches = cli.try_get_matches_from_mut(guarded)?;
    Cli::from_arg_matches(&matches)
}

fn guard_with(cli: &clap::Command, args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut it = args.into_iter();
    let program = it.next();
    // Installed (or linked) as `skiff-compose`, it is `skiff compose`.
    let as_compose = program.as_ref().is_some_and(|p| {
        std::path::Path::new(p)
            .file_name()
            .is_some_and(|n| n == "skiff-compose")
    });
    out.extend(program);
    if as_compose {
        out.push("compose".into());
    }
    let takes_value_in = |cmd: &clap::Command, long: Option<&str>, short: Option<char>| {
        cmd.get_arguments().any(|a| {
            let named = match (long, short) {
                (Some(l), _) => {
                    a.get_long() == Some(l) || a.get_all_aliases().is_some_and(|v| v.contains(&l))
                }
                (_, Some(c)) => a.get_short() == Some(c),
                _ => false,
            };
            named && a.get_action().takes_values()
        })
    };
    // Unbuilt, a subcommand does not list the global flags yet: they are the root's.
    let takes_value = |cmd: &clap::Command, long: Option<&str>, short: Option<char>| {
        takes_value_in(cmd, long, short) || takes_value_in(cli, long, short)
    };
    let mut sub: Option<clap::Command> = None;
    // `container run IMG …` is `run IMG …` one level down.
    let mut group: Option<clap::Command> = None;
    let rest: Vec<std::ffi::OsString> = it.collect();
    let mut i = 0;
    while i < rest.len() {
        let word = rest[i].to_string_lossy().into_owned();
        out.push(rest[i].clone());
        i += 1;
        if word == "--" {
            out.extend(rest[i..].iter().cloned());
            return out;
        }
        let scope = sub.as_ref().or(group.as_ref()).unwrap_or(cli);
        if let Some(long) = word.strip_prefix("--") {
            if !long.contains('=') && takes_value(scope, Some(long), None) && i < rest.len() {
                out.push(rest[i].clone());
                i += 1;
            }
            continue;
        }
        if let Some(shorts) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            // `-it`, `-p80:80`, `-e K=V`: the first short taking a value takes the rest of the
            // word, or the next word.
            for (k, c) in shorts.char_indices() {
                if takes_value(scope, None, Some(c)) {
                    if k + c.len_utf8() == shorts.len() && i < rest.len() {
                        out.push(rest[i].clone());
                        i += 1;
                    }
                    break;
                }
            }
            continue;
        }
        match &sub {
            None => {
                if group.is_none() && word == "container" {
                    group = cli.find_subcommand("container").cloned();
                    continue;
                }
                // The subcommand: only run, create and exec need the guard.
                if !matches!(word.as_str(), "run" | "create" | "exec") {
                    out.extend(rest[i..].iter().cloned());
                    return out;
                }
                sub = group
                    .as_ref()
                    .unwrap_or(cli)
                    .find_subcommand(&word)
                    .cloned();
            }
            Some(_) => {
                // The image (or container): what follows is the command's.
                if i < rest.len() {
                    out.push("--".into());
                }
                out.extend(rest[i..].iter().cloned());
                return out;
            }
        }
    }
    out
}

impl Command {
    /// docker's exit code for a failure of this command: `run` and `create` exit 125 for
    /// skiff's own errors (126/127 when the command cannot run), every other command 1.
    pub fn failure_code(&self) -> fn(i32) -> i32 {
        match self {
            Command::Run(_) | Command::Create(_) => |code| code,
            _ => |code| if code == 125 { 1 } else { code },
        }
    }

    /// Whether this command may start a container (and so may need systemd for its scope).
    pub fn starts_containers(&self) -> bool {
        matches!(
            self,
            Command::Run(_)
                | Command::Start(_)
                | Command::Restart(_)
                | Command::Compose(_)
                | Command::Kube(_)
        )
    }
}

/// Run one command; returns the process exit code.
pub fn dispatch(ctx: &Ctx, command: Command) -> Result<i32, CliError> {
    match command {
        Command::Run(a) => containers::run(ctx, a, false),
        Command::Create(a) => containers::run(ctx, a, true),
        Command::Start(a) => containers::start(ctx, a),
        Command::Stop(a) => containers::stop(ctx, a),
        Command::Kill(a) => containers::kill(ctx, a),
        Command::Restart(a) => containers::restart(ctx, a),
        Command::Rm(a) => containers::rm(ctx, a),
        Command::Wait(a) => containers::wait(ctx, a),
        Command::Pause(a) => {
            let names = containers::targets(ctx, &a.containers, a.all, false, |r| {
                containers::is_running(r) && !r.state.paused
            })?;
            for_each(&names, |c| {
                Ok(crate::container::pause::set_paused(ctx, c, true)?)
            })
        }
        Command::Unpause(a) => {
            let names = containers::targets(ctx, &a.containers, a.all, false, |r| r.state.paused)?;
            for_each(&names, |c| {
                Ok(crate::container::pause::set_paused(ctx, c, false)?)
            })
        }
        Command::Rename(a) => containers::rename(ctx, a),
        Command::Ps(a) => containers::ps(ctx, a),
        Command::Logs(a) => containers::logs(ctx, a),
        Command::Exec(a) => containers::exec(ctx, a),
        Command::Attach(a) => containers::attach(ctx, a),
        Command::Inspect(a) => images::inspect(ctx, a),
        Command::Import(a) => images::import(ctx, a),
        Command::Images(a) => images::images(ctx, a),
        Command::Rmi(a) => images::rmi(ctx, a),
        Command::Pull(a) => registry::pull(ctx, a),
        Command::Push(a) => registry::push(ctx, a),
        Command::Login(a) => registry::login(ctx, a),
        Command::Logout(a) => registry::logout(ctx, a),
        Command::Tag(a) => registry::tag(ctx, a),
        Command::History(a) => images::history(ctx, a),
        Command::Save(a) => images::save(ctx, a),
        Command::Load(a) => images::load(ctx, a),
        Command::Image(c) => match c {
            ImageCommand::Build(a) => build::build(ctx, *a),
            ImageCommand::Ls(a) => images::images(ctx, a),
            ImageCommand::Inspect(a) => images::inspect(
                ctx,
                InspectArgs {
                    format: a.format,
                    kind: Some("image".into()),
                    size: false,
                    names: a.names,
                },
            ),
            ImageCommand::Rm(a) => images::rmi(ctx, a),
            ImageCommand::Prune(a) => images::prune(ctx, a),
            ImageCommand::History(a) => images::history(ctx, a),
            ImageCommand::Tag(a) => registry::tag(ctx, a),
            ImageCommand::Pull(a) => registry::pull(ctx, a),
            ImageCommand::Push(a) => registry::push(ctx, a),
            ImageCommand::Import(a) => images::import(ctx, a),
            ImageCommand::Save(a) => images::save(ctx, a),
            ImageCommand::Load(a) => images::load(ctx, a),
            ImageCommand::Exists(a) => Ok(i32::from(ctx.images.lookup(&a.name).is_err())),
            ImageCommand::Untag(a) => images::untag(ctx, a),
        },
        Command::Update(a) => resources::update(ctx, a),
        Command::Volume(c) => volumes::volume(ctx, c),
        Command::Cp(a) => volumes::cp(ctx, a),
        Command::Export(a) => volumes::export(ctx, a),
        Command::Network(c) => networks::network(ctx, c),
        Command::Port(a) => networks::port(ctx, a),
        Command::Stats(a) => resources::stats(ctx, a),
        Command::Top(a) => resources::top(ctx, a),
        Command::Info(a) => info::info(ctx, a),
        Command::Version(a) => info::version(a),
        Command::System(c) => system::dispatch(ctx, c),
        Command::Generate(c) => generate::dispatch(ctx, c),
        Command::Healthcheck(c) => generate::healthcheck(ctx, c),
        Command::Events(a) => events::events(ctx, a),
        Command::Untag(a) => images::untag(ctx, a),
        Command::Search(a) => search::search(ctx, a),
        Command::Compose(a) => compose::compose(ctx, *a),
        Command::Kube(c) => kube::dispatch(ctx, c),
        // `main` hands `skiff oci …` over before anything else; this is the same, reached
        // only when global flags came first (`skiff --debug oci …`).
        Command::Oci(a) => {
            let mut args = vec![std::ffi::OsString::from("skiff oci")];
            args.extend(a.args);
            crate::oci::cli::main(args)
        }
        Command::Completion(a) => {
            print!("{}", complete::script(&a.shell).map_err(CliError::Usage)?);
            Ok(0)
        }
        Command::Container(c) => group::dispatch(ctx, *c),
        Command::Build(a) => build::build(ctx, a),
        Command::Builder(BuilderCommand::Prune(a)) => build::builder_prune(ctx, a),
        Command::Commit(a) => build::commit(ctx, a),
        Command::Diff(a) => build::diff(ctx, a),
    }
}

/// Apply `op` to each target, printing `target` on success and the error on failure, as
/// docker's multi-container commands do.
pub fn for_each(
    targets: &[String],
    mut op: impl FnMut(&str) -> Result<(), CliError>,
) -> Result<i32, CliError> {
    let mut failed = None;
    for t in targets {
        match op(t) {
            Ok(()) => println!("{t}"),
            Err(e) => {
                eprintln!("skiff: {e}");
                failed = Some(e.exit_code());
            }
        }
    }
    match failed {
        Some(code) => Err(CliError::Reported(code)),
        None => Ok(0),
    }
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// bash, zsh or fish
    pub shell: String,
}
