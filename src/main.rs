//! The `skiff` binary: parse the command line, join the rootless user namespace when needed,
//! dispatch, and map every outcome to docker's exit codes (125 skiff's own error, 126 not
//! executable, 127 not found, else the container's).

use std::io::Write;

use skiff::cli::{self, Cli};
use skiff::config::{Paths, ensure_dir};
use skiff::container::Ctx;
use skiff::ns::userns;

fn exit(code: i32) -> ! {
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

fn fail(message: impl std::fmt::Display, code: i32) -> ! {
    let _ = std::io::stdout().flush();
    eprintln!("skiff: {message}");
    exit(code)
}

fn main() {
    // As an OCI runtime (`skiff-runc`, `runc`, `skiff oci`): none of skiff's own set-up (its
    // store, the rootless namespace) applies.
    let argv: Vec<_> = std::env::args_os().collect();
    if let Some(args) = skiff::oci::cli::runtime_args(&argv) {
        skiff::oci::cli::main(args);
    }
    // The rootless user networks' namespace holder (`skiff-netns`), started by skiff itself.
    if skiff::net::netns_holder::is_holder(&argv) {
        skiff::net::netns_holder::main(argv);
    }
    // `COMPLETE=bash skiff -- …`, as the completion scripts call it: answer and exit.
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command).complete();
    let cli = match cli::parse_args(std::env::args_os().collect()) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                // docker exits 125 for flag errors too.
                _ => 125,
            };
            let _ = e.print();
            exit(code);
        }
    };
    let level = if cli.debug {
        Some("debug")
    } else {
        cli.log_level.as_deref()
    };
    if let Some(level) = level {
        let max = match level {
            "debug" => tracing::Level::DEBUG,
            "info" => tracing::Level::INFO,
            "warn" => tracing::Level::WARN,
            _ => tracing::Level::ERROR,
        };
        // Times since start, so each step's cost reads off the log.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(max)
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_target(false)
            .init();
    }
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let paths = Paths::resolve(cli.root, cli.runroot, uid);
    let can_setgroups = !paths.rootless || userns::has_subid_ranges(uid);
    // Rootless, systemd is asked for containers' scopes over a connection made before the user
    // namespace is joined: inside it skiff would claim uid 0, and the manager would refuse.
    let systemd_bus = (paths.rootless
        && cli.command.starts_containers()
        && cli.cgroup_manager != Some(skiff::cgroup::Driver::Cgroupfs))
    .then(|| skiff::cgroup::systemd::socket(true, uid))
    .flatten()
    .map(|socket| skiff::cgroup::systemd::Bus::connect(&socket).map_err(|e| e.to_string()));
    if paths.rootless {
        // Before anything else runs: setns into a user namespace needs a single thread.
        if let Err(e) = userns::enter(&paths, uid, gid) {
            fail(e, 125);
        }
        if let (Some(Ok(bus)), Some(pause)) = (&systemd_bus, userns::pause_pid(&paths))
            && let Err(e) = skiff::cgroup::systemd::keep_helper_apart(bus, pause)
        {
            eprintln!("skiff: warning: the pause process stays in this terminal's scope: {e}");
        }
    }
    for dir in [&paths.root, &paths.runroot] {
        if let Err(e) = ensure_dir(dir, 0o711) {
            fail(format!("creating {}: {e}", dir.display()), 125);
        }
    }
    let mut ctx = match Ctx::open(paths, can_setgroups, (uid, gid)) {
        Ok(c) => c,
        Err(e) => fail(e, 125),
    };
    ctx.cgroup_manager = cli.cgroup_manager;
    let failure_code = cli.command.failure_code();
    ctx.storage_opts = match skiff::image::storage::Options::parse(&cli.storage_opt) {
        Ok(o) => o,
        Err(e) => fail(e, failure_code(125)),
    };
    ctx.storage_driver = cli.storage_driver;
    // The driver is settled before anything unpacks a layer (its whiteouts depend on it).
    // One asked for by name is checked against the store's at once, whatever the command;
    // otherwise a store no driver can serve fails only where a container is mounted.
    match ctx.storage() {
        Ok(storage) => ctx.images.set_driver(storage.driver),
        Err(e) if cli.storage_driver.is_some() => fail(e, failure_code(125)),
        Err(_) => {}
    }
    if let Some(bus) = systemd_bus {
        ctx.set_systemd_bus(bus);
    }
    match cli::dispatch(&ctx, cli.command) {
        Ok(code) => exit(code),
        Err(cli::CliError::Reported(code)) => exit(failure_code(code)),
        Err(e) => {
            let code = failure_code(e.exit_code());
            fail(e, code)
        }
    }
}
