//! clap definitions of the container commands' flags (docker's names and help).

use std::path::PathBuf;

use clap::{ArgAction, Args};

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
    /// Restart policy, carried out by the container's monitor: no, on-failure[:N], always
    /// or unless-stopped
    #[arg(long = "restart", value_name = "POLICY")]
    pub restart: Option<String>,
    /// Command to run to check health (run by the container's monitor, inside it)
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s, 1m30s; default 30s)
    #[arg(
        long = "health-interval",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (default 30s)
    #[arg(
        long = "health-timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3)
    #[arg(long = "health-retries", value_name = "N", allow_hyphen_values = true)]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before failures count
    #[arg(
        long = "health-start-period",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,
    /// Time between checks during the start period (default 5s)
    #[arg(
        long = "health-start-interval",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Write the container's ID to this file (which must not exist)
    #[arg(long = "cidfile", value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// Read labels from a file of KEY=VALUE lines
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// Add an OCI annotation: KEY=VALUE
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// Platform of the image (only the host's own runs here)
    #[arg(long = "platform", value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Logging driver: json-file (default), local, k8s-file or none
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Log driver options: max-size=SIZE, max-file=N
    #[arg(long = "log-opt", value_name = "OPT")]
    pub log_opt: Vec<String>,
    /// Replace a container of the same --name (podman's)
    #[arg(long)]
    pub replace: bool,
    /// Pass the caller's proxy variables into the container (podman's; accepted, skiff passes
    /// none by default)
    #[arg(long = "http-proxy", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub http_proxy: Option<String>,
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
    /// Connect to a network: bridge (default), NAME, host, none, container:NAME|ID, or a stack of its own: pasta[:OPTIONS] or slirp4netns[:OPTIONS]; repeatable
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
    /// Add a Linux capability (NET_ADMIN, CAP_SYS_PTRACE, ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a Linux capability (CHOWN, ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Security options: seccomp=unconfined|PROFILE.json, no-new-privileges,
    /// systempaths=unconfined, label=..., apparmor=...
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Mount the root filesystem read-only (/dev, /dev/shm, /run, /tmp, /var/tmp stay writable)
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// A namespaced kernel parameter: net.*, kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Add the process to more groups (names from the image's /etc/group, or numbers)
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Tune the kernel's OOM preference for the container (-1000 to 1000)
    #[arg(
        long = "oom-score-adj",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub oom_score_adj: Option<i64>,
    /// Give the container every capability, every host device, no seccomp filter and
    /// writable system paths
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Add a host device: HOST[:CONTAINER][:PERMISSIONS] (permissions of r, w, m)
    #[arg(long = "device", value_name = "DEVICE")]
    pub device: Vec<String>,
    /// Allow devices in the devices cgroup: 'TYPE MAJOR:MINOR ACCESS' (c 1:3 rwm)
    #[arg(long = "device-cgroup-rule", value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
    /// PID namespace: host, or the container's own (default)
    #[arg(long = "pid", value_name = "MODE")]
    pub pid: Option<String>,
    /// IPC namespace: host, or the container's own (default)
    #[arg(long = "ipc", value_name = "MODE")]
    pub ipc: Option<String>,
    /// UTS namespace (hostname): host, or the container's own (default)
    #[arg(long = "uts", value_name = "MODE")]
    pub uts: Option<String>,
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
    /// User namespace: host (default), keep-id (rootless: your uid is the same inside) or
    /// auto[:size=N] (root: host ids of its own, from the user "containers" in /etc/subuid)
    #[arg(long = "userns", value_name = "MODE")]
    pub userns: Option<String>,
    /// Mount the volumes of another container: CONTAINER[:ro|:rw]
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
    /// The image to run
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::images))]
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub container: String,
    /// PORT[/PROTOCOL]
    pub port: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of stdout
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    /// Restart policy: no, on-failure[:N], always or unless-stopped
    #[arg(long = "restart", value_name = "POLICY")]
    pub restart: Option<String>,
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    /// Start every stopped container (podman's --all)
    #[arg(long)]
    pub all: bool,
    /// With --all: only those matching, e.g. restart-policy=always (podman's --filter)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// With --all: what docker's daemon starts when the host boots: restart policy always,
    /// and unless-stopped unless a user stopped it (see `generate systemd`)
    #[arg(long = "at-boot")]
    pub at_boot: bool,
    #[arg(required_unless_present = "all", add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    /// Every running container (podman's)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Skip containers that do not exist (podman's)
    #[arg(short = 'i', long)]
    pub ignore: bool,
    #[arg(required_unless_present = "all", add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Every running container (podman's)
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(required_unless_present = "all", add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    /// Every container (podman's)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Skip containers that do not exist (podman's)
    #[arg(short = 'i', long)]
    pub ignore: bool,
    /// Seconds a running container gets to stop before it is killed (podman's; implies -f)
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<i64>,
    /// Remove the containers that depend on these first (podman's)
    #[arg(long)]
    pub depend: bool,
    #[arg(required_unless_present = "all", add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    /// Every container this applies to (podman's --all)
    #[arg(short = 'a', long)]
    pub all: bool,
    #[arg(required_unless_present = "all", add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    /// Show each container's size (its writable layer, and with the image: virtual)
    #[arg(short = 's', long)]
    pub size: bool,
    /// Print no header line (podman's)
    #[arg(long)]
    pub noheading: bool,
    /// Sort by created (default), id, image, names, runningfor or status (podman's)
    #[arg(long, value_name = "FIELD")]
    pub sort: Option<String>,
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
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
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
    #[arg(required = true, add = clap_complete::ArgValueCandidates::new(crate::cli::complete::containers))]
    pub names: Vec<String>,
}
