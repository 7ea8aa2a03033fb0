//! The command line: clap definitions (docker's flags and names) and dispatch. Handlers turn
//! flags into typed requests; nothing here makes a syscall itself.

pub mod containers;
pub mod format;
pub mod images;
pub mod info;
pub mod networks;
pub mod registry;
pub mod resources;
pub mod volumes;

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

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
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format the output with a Go template, or json
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Run in the background and print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Remove the container (and its anonymous volumes) when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables (KEY=VALUE, or KEY to pass the caller's value)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID, optionally with group or GID (name|uid[:group|gid])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Overwrite the image's ENTRYPOINT ("" resets it)
    #[arg(long, allow_hyphen_values = true)]
    pub entrypoint: Option<String>,
    /// Run skiff's init as pid 1: reaps zombies, forwards signals
    #[arg(long)]
    pub init: bool,
    /// Connect to a network: bridge (default), NAME, host, none or container:NAME|ID; repeatable
    #[arg(long = "network", alias = "net", value_name = "NETWORK")]
    pub network: Vec<String>,
    /// Publish a container's port(s) to the host ([IP:][HOSTPORT:]CONTAINERPORT[/PROTOCOL])
    #[arg(short = 'p', long = "publish", value_name = "PORTS")]
    pub publish: Vec<String>,
    /// Publish every exposed port to a random host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports (PORT[-END][/PROTOCOL])
    #[arg(long)]
    pub expose: Vec<String>,
    /// IPv4 address on the (first) user-defined network
    #[arg(long)]
    pub ip: Option<String>,
    /// MAC address on the (first) network
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Another name for the container on its (first) user-defined network
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// A DNS server for the container's resolv.conf
    #[arg(long)]
    pub dns: Vec<String>,
    /// A DNS search domain
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// A DNS option (resolv.conf's options line)
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a line to /etc/hosts (NAME:IP, or NAME:host-gateway)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Link to another container on the default network (NAME[:ALIAS])
    #[arg(long)]
    pub link: Vec<String>,
    /// Signal to stop the container (default SIGTERM)
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds to wait for the stop signal before SIGKILL (default 10)
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Set metadata (KEY=VALUE)
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Keep stdin open (passed through in the foreground)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Attach to STDIN, STDOUT or STDERR (repeatable; default: stdout and stderr, and stdin with -i)
    #[arg(short = 'a', long = "attach", value_name = "STREAM")]
    pub attach: Vec<String>,
    /// Key sequence that detaches from a -it container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Pass signals the CLI receives on to the container
    #[arg(long = "sig-proxy", value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub resources: ResourceArgs,
    /// Set a resource limit (NAME=SOFT[:HARD], e.g. nofile=1024:2048)
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm (default 64m)
    #[arg(long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// Parent of the container's cgroup: a path from the hierarchy's root (cgroupfs), or a
    /// slice such as machine.slice (systemd)
    #[arg(long = "cgroup-parent", value_name = "PATH")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace: private (default) or host
    #[arg(long = "cgroupns", value_name = "MODE")]
    pub cgroupns: Option<String>,
    /// Give the container a cgroup of its own: enabled (default) or disabled
    #[arg(long = "cgroups", value_name = "MODE")]
    pub cgroups: Option<String>,
    /// Bind mount or volume: [SOURCE:]DEST[:OPTIONS] (SOURCE: absolute host path or volume name)
    #[arg(short = 'v', long = "volume", value_name = "[SRC:]DST[:OPTS]")]
    pub volume: Vec<String>,
    /// Mount: type=bind|volume|tmpfs,source=...,target=...[,readonly][,...]
    #[arg(long = "mount", value_name = "SPEC")]
    pub mount: Vec<String>,
    /// Mount a tmpfs: DEST[:OPTIONS]
    #[arg(long = "tmpfs", value_name = "DST[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Pull the image: missing (default), always or never
    #[arg(long = "pull", value_name = "POLICY", default_value = "missing")]
    pub pull: String,
    /// User namespace: host (default) or keep-id (rootless: your uid is the same inside)
    #[arg(long = "userns", value_name = "MODE")]
    pub userns: Option<String>,
    /// Mount the volumes of another container: CONTAINER[:ro|:rw]
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
    /// The image to run
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
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
    /// Show the history of an image
    History(HistoryArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Turn a root filesystem tarball into an image
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Go template to apply to each image
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
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
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Remove even when containers use it
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
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
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// IPv4 address on the network
    #[arg(long)]
    pub ip: Option<String>,
    /// Another name for the container on the network
    #[arg(long)]
    pub alias: Vec<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkDisconnectArgs {
    /// Accepted for compatibility
    #[arg(short = 'f', long)]
    pub force: bool,
    pub network: String,
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
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkPruneArgs {
    /// Do not ask for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PORT[/PROTOCOL]
    pub port: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Always follow symbolic links in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Archive mode (keep uid/gid) — the default here, accepted for compatibility
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Suppress progress output (there is none)
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub source: String,
    pub destination: String,
}

fn parse_cgroup_manager(s: &str) -> Result<crate::cgroup::Driver, String> {
    match s {
        "systemd" => Ok(crate::cgroup::Driver::Systemd),
        "cgroupfs" => Ok(crate::cgroup::Driver::Cgroupfs),
        _ => Err("expected systemd or cgroupfs".into()),
    }
}

fn parse_bool_flag(s: &str) -> Result<bool, String> {
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
    pub source: String,
    pub target: String,
}

/// Resource limits, shared by run/create and update (docker's names and units).
#[derive(Debug, Args, Clone, Default)]
pub struct ResourceArgs {
    /// Memory limit (e.g. 512m, 2g)
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap (default: twice --memory)
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Disable the OOM killer (cgroup v1 only)
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long, value_name = "DECIMAL", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight, default 1024)
    #[arg(short = 'c', long = "cpu-shares", value_name = "INT")]
    pub cpu_shares: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period", value_name = "INT")]
    pub cpu_period: Option<i64>,
    /// CPU CFS quota in microseconds (-1: none)
    #[arg(long = "cpu-quota", value_name = "INT", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs the container may run on (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1: unlimited)
    #[arg(long = "pids-limit", value_name = "INT", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block I/O weight, 10-1000
    #[arg(long = "blkio-weight", value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
}

impl ResourceArgs {
    pub fn flags(&self) -> crate::cgroup::ResourceFlags {
        crate::cgroup::ResourceFlags {
            memory: self.memory.clone(),
            memory_swap: self.memory_swap.clone(),
            memory_reservation: self.memory_reservation.clone(),
            oom_kill_disable: self.oom_kill_disable,
            cpus: self.cpus.clone(),
            cpu_shares: self.cpu_shares,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
        }
    }
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub resources: ResourceArgs,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Print one snapshot and exit
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Go template, "table TEMPLATE" or "json"
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
    /// Options for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Key sequence that detaches (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Do not attach stdin
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Pass signals the CLI receives on to the container
    #[arg(long = "sig-proxy", value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach stdout/stderr and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach stdin
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Key sequence that detaches from a tty container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    /// Signal to send instead of the container's stop signal
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove a running container
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes too
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show the latest created container
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show the n last created containers
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter (id, name, status, exited, ancestor, label)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Go template, "table TEMPLATE" or "json"
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow the output until the container stops
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end ("all" for everything)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (RFC 3339 or unix) or a relative time (e.g. 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long)]
    pub until: Option<String>,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Username or UID (name|uid[:group|gid])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Keep stdin open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Go template to apply to each object
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only look for this type: container or image
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes (accepted for compatibility)
    #[arg(short = 's', long)]
    pub size: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
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
    #[arg(required = true)]
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
    #[arg(required = true)]
    pub images: Vec<String>,
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
            Command::Run(_) | Command::Start(_) | Command::Restart(_)
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
