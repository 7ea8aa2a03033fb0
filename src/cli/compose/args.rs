//! docker compose v2's flags, by subcommand.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct ComposeArgs {
    /// Compose configuration files (repeatable; later ones override earlier ones)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// Project name (default: the top-level name:, or the project directory's name)
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Working directory of the project (default: the first file's directory)
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Environment files for interpolation (default: .env in the project directory)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Profiles to enable (repeatable; or COMPOSE_PROFILES)
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// When to colour output: never, always or auto
    #[arg(long, value_name = "WHEN", value_parser = ["never", "always", "auto"])]
    pub ansi: Option<String>,
    /// Progress output: auto, tty, plain, json or quiet
    #[arg(long, value_name = "TYPE", value_parser = ["auto", "tty", "plain", "json", "quiet"])]
    pub progress: Option<String>,
    /// Accepted for docker compose's command line; skiff starts what is ready at once
    #[arg(long, value_name = "N", hide = true)]
    pub parallel: Option<i64>,
    #[command(subcommand)]
    pub command: ComposeCommand,
}

#[derive(Debug, Subcommand)]
pub enum ComposeCommand {
    /// Create and start the project's containers
    // -V is docker compose's --renew-anon-volumes here, not --version.
    #[command(disable_version_flag = true)]
    Up(UpArgs),
    /// Stop and remove the project's containers and networks
    Down(DownArgs),
    /// List the project's containers
    Ps(PsArgs),
    /// Show the services' output
    Logs(LogsArgs),
    /// Run a command in a running service container
    Exec(ExecArgs),
    /// Run a one-off command on a service
    Run(Box<RunArgs>),
    /// Create the services' containers without starting them
    Create(CreateArgs),
    /// Start the services' existing containers
    Start(ServicesArgs),
    /// Stop the services' containers
    Stop(StopArgs),
    /// Restart the services' containers
    Restart(StopArgs),
    /// Send a signal to the services' containers
    Kill(KillArgs),
    /// Remove the services' stopped containers
    Rm(RmArgs),
    /// Pause the services' containers
    Pause(ServicesArgs),
    /// Unpause the services' containers
    Unpause(ServicesArgs),
    /// Show the processes of the services' containers
    Top(ServicesArgs),
    /// Print the public port of a service's port
    Port(PortArgs),
    /// List the images the project's containers use
    Images(ImagesArgs),
    /// Pull the services' images
    Pull(PullArgs),
    /// Push the services' built images
    Push(PushArgs),
    /// Build the services' images
    Build(BuildArgs),
    /// Check and print the project's canonical configuration
    Config(ConfigArgs),
    /// List the projects that have containers
    Ls(LsArgs),
    /// Copy files between a service container and the host
    Cp(CpArgs),
    /// Show the project's container events
    Events(EventsArgs),
    /// Block until the services' containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Show the compose version
    Version(VersionArgs),
    /// Set the number of containers of services: SERVICE=N ...
    Scale(ScaleArgs),
}

impl ComposeCommand {
    /// The services named on the command line: their profiles are enabled for them.
    pub fn named_services(&self) -> Vec<String> {
        match self {
            ComposeCommand::Up(a) => a.services.clone(),
            ComposeCommand::Create(a) => a.services.clone(),
            ComposeCommand::Run(a) => vec![a.service.clone()],
            ComposeCommand::Exec(a) => vec![a.service.clone()],
            ComposeCommand::Port(a) => vec![a.service.clone()],
            ComposeCommand::Pull(a) => a.services.clone(),
            ComposeCommand::Push(a) => a.services.clone(),
            ComposeCommand::Build(a) => a.services.clone(),
            ComposeCommand::Down(a) => a.services.clone(),
            ComposeCommand::Ps(a) => a.names.clone(),
            ComposeCommand::Logs(a) => a.services.clone(),
            ComposeCommand::Stop(a) | ComposeCommand::Restart(a) => a.services.clone(),
            ComposeCommand::Kill(a) => a.services.clone(),
            ComposeCommand::Rm(a) => a.services.clone(),
            ComposeCommand::Images(a) => a.services.clone(),
            ComposeCommand::Events(a) => a.services.clone(),
            ComposeCommand::Config(a) => a.services_args.clone(),
            ComposeCommand::Start(a)
            | ComposeCommand::Pause(a)
            | ComposeCommand::Unpause(a)
            | ComposeCommand::Top(a) => a.services.clone(),
            ComposeCommand::Wait(a) => a.services.clone(),
            ComposeCommand::Scale(a) => a
                .scale
                .iter()
                .filter_map(|s| s.split_once('=').map(|(n, _)| n.to_string()))
                .collect(),
            ComposeCommand::Ls(_) | ComposeCommand::Cp(_) | ComposeCommand::Version(_) => {
                Vec::new()
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Do not start the services' dependencies
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    #[arg(value_name = "SERVICE=N", required = true)]
    pub scale: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Stop and remove the project when the first container stops
    #[arg(long = "down-project")]
    pub down_project: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Run in the background and print nothing more
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting
    #[arg(long)]
    pub build: bool,
    /// Do not build missing images
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Pull images: always, missing or never
    #[arg(long, value_name = "POLICY", value_parser = ["always", "missing", "never", "build"])]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration is unchanged
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// Leave existing containers as they are, even if their configuration changed
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Do not start the services' dependencies
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Scale a service: SERVICE=N (repeatable)
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    /// Wait until services are running and healthy (implies -d)
    #[arg(long)]
    pub wait: bool,
    /// Seconds --wait waits at most
    #[arg(long = "wait-timeout", value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Stop every container when one stops
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Stop every container when one fails (exits non-zero), and return its code
    #[arg(long = "abort-on-container-failure")]
    pub abort_on_container_failure: bool,
    /// Make new anonymous volumes instead of reusing the old containers' (skiff always does)
    #[arg(short = 'V', long = "renew-anon-volumes")]
    pub renew_anon_volumes: bool,
    /// Accepted for docker compose's command line (there is no interactive menu)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", hide = true)]
    pub menu: Option<String>,
    /// Show timestamps in the attached output
    #[arg(long = "timestamps")]
    pub timestamps: bool,
    /// Return this service's exit code (implies --abort-on-container-exit)
    #[arg(long = "exit-code-from", value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Show the output of these services only (repeatable)
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Show the output of the named services' dependencies too
    #[arg(long = "attach-dependencies")]
    pub attach_dependencies: bool,
    /// Create the containers without starting them
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Seconds to wait for a stop before SIGKILL
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<i64>,
    /// Remove containers of services no longer in the files
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Do not prefix log lines with the container's name
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Pull without progress output
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub build: bool,
    #[arg(long = "no-build")]
    pub no_build: bool,
    #[arg(long, value_name = "POLICY", value_parser = ["always", "missing", "never", "build"])]
    pub pull: Option<String>,
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove named volumes declared in the files, and anonymous ones
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove images: local (built ones without a custom name) or all
    #[arg(long, value_name = "TYPE", value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers of services no longer in the files
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Seconds to wait for a stop before SIGKILL
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show stopped containers too
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Only the services' names
    #[arg(long)]
    pub services: bool,
    /// Containers in this state: created, running, paused, restarting, exited, dead (repeatable)
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<String>,
    /// Filter: status=STATUS
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// table (default), json, or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "SERVICE")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines from the end of each container's log (or all)
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<String>,
    #[arg(short = 't', long)]
    pub timestamps: bool,
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    #[arg(long = "no-color")]
    pub no_color: bool,
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Of this replica only
    #[arg(long)]
    pub index: Option<u32>,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// No terminal (compose allocates one by default when stdin is one)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Which replica (default 1, or a one-off `run` container when the service has none)
    #[arg(long)]
    pub index: Option<u32>,
    /// Accepted; the exec gets the container's privileges
    #[arg(long)]
    pub privileged: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub entrypoint: Option<String>,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish the service's ports too
    #[arg(long = "service-ports")]
    pub service_ports: bool,
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// No terminal
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Do not start the service's dependencies
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    #[arg(long)]
    pub build: bool,
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Keep stdin open (the default unless -d; accepted for docker compose's command line)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<i64>,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    #[arg(short = 's', long, default_value = "SIGKILL")]
    pub signal: String,
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not ask (skiff never asks)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stop running containers first
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove their anonymous volumes
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(long)]
    pub format: Option<String>,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(long = "ignore-pull-failures")]
    pub ignore_pull_failures: bool,
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[arg(long = "ignore-push-failures")]
    pub ignore_push_failures: bool,
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    #[arg(long)]
    pub pull: bool,
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// yaml (default) or json
    #[arg(long, default_value = "yaml", value_parser = ["yaml", "json"])]
    pub format: String,
    /// Only check the files
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print the services' names
    #[arg(long)]
    pub services: bool,
    /// Print the volumes' names
    #[arg(long)]
    pub volumes: bool,
    /// Print the networks' names
    #[arg(long)]
    pub networks: bool,
    /// Print the profiles' names
    #[arg(long)]
    pub profiles: bool,
    /// Print the images' names
    #[arg(long)]
    pub images: bool,
    /// Print the config hash of these services ("*" for all)
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Write to this file instead of standard output
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    pub services_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show stopped projects too
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// table (default) or json
    #[arg(long, default_value = "table")]
    pub format: String,
    /// name=NAME
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    #[arg(short = 'a', long)]
    pub archive: bool,
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// SERVICE:PATH or a host path
    pub source: String,
    /// SERVICE:PATH or a host path
    pub destination: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    #[arg(long)]
    pub short: bool,
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}
