//! `skiff container …`: docker's management group for containers (`container ls`,
//! `container rm`, `container prune`…), each the same command as the top-level one, plus
//! podman's `container exists`.

use clap::{Args, Subcommand};

use super::{
    AttachArgs, CliError, Command, CpArgs, ExecArgs, ExportArgs, InspectArgs, KillArgs, LogsArgs,
    NamesArgs, PortArgs, PsArgs, RenameArgs, RmArgs, RunArgs, StartArgs, StatsArgs, StopArgs,
    TopArgs, UpdateArgs, build, prune,
};
use crate::container::Ctx;

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Attach to a running container
    Attach(AttachArgs),
    /// Create an image from a container's changes
    Commit(build::CommitArgs),
    /// Copy files between a container and the host
    Cp(CpArgs),
    /// Create a container
    Create(RunArgs),
    /// List the files a container changed
    Diff(build::DiffArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Exit 0 when the container exists, 1 when not (podman's)
    Exists(ExistsArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Show containers in detail
    Inspect(InspectArgs),
    /// Send a signal to containers
    Kill(KillArgs),
    /// Show a container's logs
    Logs(LogsArgs),
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(PsArgs),
    /// Freeze every process of containers
    Pause(NamesArgs),
    /// List a container's port mappings
    Port(PortArgs),
    /// Remove all stopped containers
    Prune(prune::ContainerPruneArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Restart containers
    Restart(StopArgs),
    /// Remove containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Create and start a container
    Run(RunArgs),
    /// Start containers
    Start(StartArgs),
    /// Show containers' resource usage
    Stats(StatsArgs),
    /// Stop containers
    Stop(StopArgs),
    /// Show a container's processes
    Top(TopArgs),
    /// Thaw paused containers
    Unpause(NamesArgs),
    /// Change containers' limits or restart policy
    Update(UpdateArgs),
    /// Wait for containers to stop; print their exit codes
    Wait(NamesArgs),
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    pub name: String,
}

/// The top-level command each one is.
pub fn dispatch(ctx: &Ctx, c: ContainerCommand) -> Result<i32, CliError> {
    use ContainerCommand as C;
    let same = match c {
        C::Attach(a) => Command::Attach(a),
        C::Commit(a) => Command::Commit(a),
        C::Cp(a) => Command::Cp(a),
        C::Create(a) => Command::Create(a),
        C::Diff(a) => Command::Diff(a),
        C::Exec(a) => Command::Exec(a),
        C::Exists(a) => return Ok(i32::from(ctx.store.resolve(&a.name).is_err())),
        C::Export(a) => Command::Export(a),
        C::Inspect(a) => Command::Inspect(a),
        C::Kill(a) => Command::Kill(a),
        C::Logs(a) => Command::Logs(a),
        C::Ls(a) => Command::Ps(a),
        C::Pause(a) => Command::Pause(a),
        C::Port(a) => Command::Port(a),
        C::Prune(a) => return prune::container_prune(ctx, a),
        C::Rename(a) => Command::Rename(a),
        C::Restart(a) => Command::Restart(a),
        C::Rm(a) => Command::Rm(a),
        C::Run(a) => Command::Run(a),
        C::Start(a) => Command::Start(a),
        C::Stats(a) => Command::Stats(a),
        C::Stop(a) => Command::Stop(a),
        C::Top(a) => Command::Top(a),
        C::Unpause(a) => Command::Unpause(a),
        C::Update(a) => Command::Update(a),
        C::Wait(a) => Command::Wait(a),
    };
    super::dispatch(ctx, same)
}
