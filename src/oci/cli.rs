//! runc's command line, for skiff invoked as `runc`/`skiff-runc` or as `skiff oci …`: what
//! containerd's shim (and CRI-O, and people) call. Errors go as runc sends them: one log line
//! to `--log` (JSON or logfmt text), or stderr without one, and exit 1.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::create::CreateOptions;
use super::exec::ExecOptions;
use super::state::Root;

#[derive(Parser, Debug)]
#[command(
    name = "skiff-runc",
    about = "skiff as an OCI runtime, with runc's command line",
    disable_version_flag = true
)]
pub struct OciCli {
    /// The runtime's state directory (default /run/skiff-runc, rootless
    /// $XDG_RUNTIME_DIR/skiff-runc).
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Append errors and debug lines to this file instead of stderr.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Log debug lines too.
    #[arg(long, global = true)]
    debug: bool,
    /// Drive cgroups through systemd (not supported: refused).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility (true, false or auto); rootless is detected.
    #[arg(long, value_name = "VALUE")]
    rootless: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// The bundle directory (holding config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the init's host pid here.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// A unix socket to send the terminal's master to (process.terminal).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Accepted (pivot_root is always used).
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted (no session keyring is made).
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass this many descriptors from 3 on into the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            preserve_fds: self.preserve_fds,
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container from a bundle; it waits for `start`.
    Create(CreateArgs),
    /// Start a created container's process.
    Start { id: String },
    /// Create and start a container, and wait for it unless detached.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        #[arg(short, long)]
        detach: bool,
        /// Accepted (the container is always deleted after a foreground run).
        #[arg(long)]
        keep: bool,
    },
    /// Print the OCI state of a container.
    State { id: String },
    /// List the containers of this root.
    #[command(alias = "ls")]
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Send a signal (default SIGTERM) to the container's init, or to all its processes.
    Kill {
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a stopped (or, with --force, any) container and its state.
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Run a process in a running container.
    Exec(Box<ExecArgs>),
    /// The processes of a container.
    Ps {
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of the container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Change a container's limits while it runs.
    Update(Box<UpdateArgs>),
    /// Print the container's resource usage (once with --stats, else every --interval).
    Events {
        #[arg(long)]
        stats: bool,
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// What this runtime supports, as runtime-spec's features document.
    Features,
    /// Write a starting config.json.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A spec for a container run by an unprivileged user (a user namespace mapping it).
        #[arg(long = "rootless", id = "spec_rootless")]
        rootless_spec: bool,
    },
    /// Not supported (no CRIU).
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
    /// Not supported (no CRIU).
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

#[derive(clap::Args, Debug)]
struct ExecArgs {
    #[arg(short, long)]
    process: Option<PathBuf>,
    #[arg(short, long)]
    detach: bool,
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    #[arg(short, long)]
    tty: bool,
    #[arg(long)]
    cwd: Option<String>,
    #[arg(short, long)]
    env: Vec<String>,
    /// UID[:GID].
    #[arg(short, long)]
    user: Option<String>,
    #[arg(short = 'g', long = "additional-gids")]
    additional_gids: Vec<u32>,
    #[arg(short, long)]
    cap: Vec<String>,
    #[arg(long = "no-new-privs")]
    no_new_privs: bool,
    /// Accepted and ignored (no SELinux).
    #[arg(long = "process-label")]
    process_label: Option<String>,
    /// Accepted and ignored (no AppArmor).
    #[arg(long)]
    apparmor: Option<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct UpdateArgs {
    /// A linux.resources JSON document, or - for stdin.
    #[arg(short, long)]
    resources: Option<String>,
    #[arg(long)]
    memory: Option<String>,
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    #[arg(long = "cpu-shares")]
    cpu_shares: Option<i64>,
    #[arg(long = "cpu-period")]
    cpu_period: Option<i64>,
    #[arg(long = "cpu-quota")]
    cpu_quota: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    #[arg(long = "pids-limit")]
    pids_limit: Option<i64>,
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    id: String,
}

/// The runtime's arguments when this invocation is one: the binary named `runc` or
/// `skiff-runc`, or `skiff oci …`.
pub fn runtime_args(args: &[OsString]) -> Option<Vec<OsString>> {
    let program = args.first()?;
    let name = std::path::Path::new(program).file_name()?;
    if name == "runc" || name == "skiff-runc" {
        return Some(args.to_vec());
    }
    if args.get(1).is_some_and(|a| a == "oci") {
        let mut out = vec![OsString::from("skiff oci")];
        out.extend(args[2..].iter().cloned());
        return Some(out);
    }
    None
}

/// The whole runtime front end; never returns.
pub fn main(args: Vec<OsString>) -> ! {
    let cli = match OciCli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let log = Log {
        file: cli.log.clone(),
        json: cli.log_format == "json",
    };
    let code = match run(&cli) {
        Ok(code) => code,
        Err(message) => {
            log.error(&message);
            1
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

struct Log {
    file: Option<PathBuf>,
    json: bool,
}

impl Log {
    fn error(&self, message: &str) {
        let time = crate::timefmt::rfc3339(crate::timefmt::now());
        let line = if self.json {
            serde_json::json!({"level": "error", "msg": message, "time": time}).to_string()
        } else {
            format!("time={time:?} level=error msg={message:?}")
        };
        if let Some(f) = &self.file {
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(f)
                .and_then(|mut f| writeln!(f, "{line}"));
        }
        // On stderr too, as runc: containerd matches texts there ("container not running").
        eprintln!("{line}");
    }
}

fn run(cli: &OciCli) -> Result<i32, String> {
    if cli.version {
        println!(
            "skiff-runc version {}\nspec: 1.2.0\nseccomp: built in (no libseccomp)",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(0);
    }
    if cli.systemd_cgroup {
        return Err(
            "--systemd-cgroup is not supported: skiff's runtime mode drives cgroupfs (set SystemdCgroup = false)"
                .into(),
        );
    }
    if let Some(v) = &cli.rootless
        && !matches!(v.as_str(), "true" | "false" | "auto")
    {
        return Err(format!("invalid --rootless {v:?}: use true, false or auto"));
    }
    let root = Root::resolve(cli.root.clone());
    let Some(command) = &cli.command else {
        return Err("a command is required: create, start, run, state, list, kill, delete, exec, ps, pause, resume, update, events, features or spec".into());
    };
    match command {
        Command::Create(a) => super::create::create(&root, &a.id, &a.options()).map(|_| 0),
        Command::Start { id } => super::create::start(&root, id).map(|()| 0),
        Command::Run { create, detach, .. } => {
            super::exec::run(&root, &create.id, &create.options(), *detach)
        }
        Command::State { id } => super::ops::state(&root, id).map(|()| 0),
        Command::List { format, quiet } => super::ops::list(&root, format, *quiet).map(|()| 0),
        Command::Kill { all, id, signal } => super::ops::kill(&root, id, signal, *all).map(|()| 0),
        Command::Delete { force, id } => super::ops::delete(&root, id, *force).map(|()| 0),
        Command::Exec(a) => super::exec::exec(&root, &a.id, &exec_options(a)),
        Command::Ps {
            format,
            id,
            ps_args,
        } => super::ops::ps(&root, id, format, ps_args).map(|()| 0),
        Command::Pause { id } => super::ops::pause(&root, id, true).map(|()| 0),
        Command::Resume { id } => super::ops::pause(&root, id, false).map(|()| 0),
        Command::Update(a) => super::ops::update(&root, &a.id, update_resources(a)?).map(|()| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => {
            let nanos = crate::units::parse_go_duration(interval)
                .map_err(|e| format!("invalid --interval {interval:?}: {e}"))?;
            let every = Duration::from_nanos(nanos.max(0) as u64);
            super::ops::events(&root, id, *stats, every.max(Duration::from_millis(100))).map(|()| 0)
        }
        Command::Features => {
            println!("{}", super::features::document());
            Ok(0)
        }
        Command::Spec {
            bundle,
            rootless_spec,
        } => super::ops::spec(bundle, *rootless_spec).map(|()| 0),
        Command::Checkpoint { .. } | Command::Restore { .. } => {
            Err("checkpoint and restore are not supported (no CRIU)".into())
        }
    }
}

fn exec_options(a: &ExecArgs) -> ExecOptions {
    ExecOptions {
        process_file: a.process.clone(),
        args: a.args.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        tty: a.tty,
        cwd: a.cwd.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        additional_gids: a.additional_gids.clone(),
        caps: a.cap.clone(),
        no_new_privs: a.no_new_privs,
    }
}

/// The resources document (file or stdin) with the flags laid over it.
fn update_resources(a: &UpdateArgs) -> Result<crate::cgroup::Resources, String> {
    let mut r = match a.resources.as_deref() {
        None => crate::cgroup::Resources::default(),
        Some(source) => {
            let text = if source == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|e| e.to_string())?
            } else {
                std::fs::read_to_string(source).map_err(|e| format!("reading {source}: {e}"))?
            };
            let doc: oci_spec::runtime::LinuxResources = serde_json::from_str(&text)
                .map_err(|e| format!("invalid resources document: {e}"))?;
            super::bundle::resources(&doc)
        }
    };
    let size = |flag: &str, v: &Option<String>| -> Result<Option<i64>, String> {
        v.as_deref()
            .map(|s| {
                crate::units::parse_size(s)
                    .map(|n| n as i64)
                    .ok_or_else(|| format!("invalid --{flag} {s:?}: use a size such as 512m"))
            })
            .transpose()
    };
    if let Some(v) = size("memory", &a.memory)? {
        r.memory = Some(v);
    }
    if let Some(v) = size("memory-swap", &a.memory_swap)? {
        r.memory_swap = Some(v);
    }
    if let Some(v) = size("memory-reservation", &a.memory_reservation)? {
        r.memory_reservation = Some(v);
    }
    r.cpu_shares = a.cpu_shares.or(r.cpu_shares);
    r.cpu_period = a.cpu_period.or(r.cpu_period);
    r.cpu_quota = a.cpu_quota.or(r.cpu_quota);
    r.cpuset_cpus = a.cpuset_cpus.clone().or(r.cpuset_cpus);
    r.cpuset_mems = a.cpuset_mems.clone().or(r.cpuset_mems);
    r.pids_limit = a.pids_limit.or(r.pids_limit);
    r.blkio_weight = a.blkio_weight.or(r.blkio_weight);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        <OciCli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn argv0_and_oci_select_the_runtime() {
        let v = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(runtime_args(&v(&["/usr/bin/skiff-runc", "state", "x"])).is_some());
        assert!(runtime_args(&v(&["runc", "--version"])).is_some());
        assert_eq!(
            runtime_args(&v(&["skiff", "oci", "list"])),
            Some(v(&["skiff oci", "list"]))
        );
        assert!(runtime_args(&v(&["skiff", "ps"])).is_none());
    }
}
