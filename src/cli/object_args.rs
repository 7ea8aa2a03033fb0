//! clap definitions of the image, registry, volume and network commands' flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile
    Build(Box<super::build::BuildArgs>),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Show images in detail
    Inspect(ImageInspectArgs),
    /// Remove images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Remove dangling images (all unused with -a)
    Prune(ImagePruneArgs),
    /// Exit 0 when the image exists, 1 when not (podman's)
    Exists(ExistsArgs),
    /// Remove names from an image, keeping it (podman's)
    Untag(UntagArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Turn a root filesystem tarball into an image
    /// Save images to a tar archive
    Save(super::SaveArgs),
    /// Load images from a tar archive
    Load(super::LoadArgs),
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Go template to apply to each image
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub names: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Show volumes in detail
    Inspect(VolumeInspectArgs),
    /// Remove volumes
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused volumes (anonymous ones; all with -a)
    Prune(VolumePruneArgs),
    /// Exit 0 when the volume exists, 1 when not (podman's)
    Exists(ExistsArgs),
}

#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Volume name (default: a random id)
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Volume driver (only "local")
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata (KEY=VALUE)
    #[arg(long = "label")]
    pub label: Vec<String>,
    /// Driver options: type=tmpfs|none, device=..., o=...
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Print no header line (podman's)
    #[arg(long)]
    pub noheading: bool,
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter (dangling=true|false, name=..., label=KEY[=VALUE], driver=...)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Go template, "table TEMPLATE" or "json"
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Go template to apply to each volume
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::volumes))]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Remove even when containers use it
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::volumes))]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Do not ask for confirmation (skiff never asks)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Filter (label=KEY[=VALUE], label!=...)
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Show networks in detail
    Inspect(NetworkInspectArgs),
    /// Remove networks
    #[command(alias = "remove")]
    Rm(NetworkRmArgs),
    /// Remove networks no container uses
    Prune(NetworkPruneArgs),
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Exit 0 when the network exists, 1 when not (podman's)
    Exists(ExistsArgs),
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// IPv4 address on the network
    #[arg(long)]
    pub ip: Option<String>,
    /// Another name for the container on the network
    #[arg(long)]
    pub alias: Vec<String>,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::networks))]
    pub network: String,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkDisconnectArgs {
    /// Accepted for compatibility
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::networks))]
    pub network: String,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Driver (only bridge)
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR form (default: the next free one of skiff's pool)
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway address (default: the subnet's first address)
    #[arg(long)]
    pub gateway: Option<String>,
    /// Allocate container addresses from this sub-range
    #[arg(long = "ip-range")]
    pub ip_range: Option<String>,
    /// No outbound access: traffic stays on the network
    #[arg(long)]
    pub internal: bool,
    /// Set metadata (KEY=VALUE)
    #[arg(long)]
    pub label: Vec<String>,
    /// Driver options: mtu=BYTES, com.docker.network.bridge.name=NAME
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Print no header line (podman's)
    #[arg(long)]
    pub noheading: bool,
    /// Only display network ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate ids
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter (name=..., id=..., driver=..., label=KEY[=VALUE])
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Go template, "table TEMPLATE" or "json"
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// Go template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::networks))]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::networks))]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkPruneArgs {
    /// Do not ask for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

pub(crate) fn parse_bool_flag(s: &str) -> Result<bool, String> {
    match s {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("expected true or false, not {s:?}")),
    }
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Print nothing but errors
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Platform to pull from a multi-platform image (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Verify TLS certificates (default true; plain http is tried for localhost)
    #[arg(long = "tls-verify", value_parser = parse_bool_flag, default_value = "true", num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Print nothing but errors
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Verify TLS certificates (default true)
    #[arg(long = "tls-verify", value_parser = parse_bool_flag, default_value = "true", num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (visible to other users in the process list: prefer --password-stdin)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Read the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Verify TLS certificates (default true)
    #[arg(long = "tls-verify", value_parser = parse_bool_flag, default_value = "true", num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// Registry (default docker.io)
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry (default docker.io)
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub source: String,
    pub target: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message for the image's history
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Tarball path, or - for stdin
    pub source: String,
    /// Name for the image (NAME[:TAG])
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Print no header line (podman's)
    #[arg(long)]
    pub noheading: bool,
    /// Show all images
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Go template, "table TEMPLATE" or "json"
    #[arg(long)]
    pub format: Option<String>,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter: dangling=true|false, reference=PATTERN (with * wildcards)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Only images matching this name
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to this file instead of stdout
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// docker-archive (default) or oci-archive
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from this file instead of stdin
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Print nothing
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all images no container uses, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not ask for confirmation (skiff never asks)
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove even when containers use the image
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct UntagArgs {
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub image: String,
    /// Names to remove (default: all of them)
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub names: Vec<String>,
}
