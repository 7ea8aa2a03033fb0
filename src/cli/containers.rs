//! Handlers for the container commands.

use std::io::IsTerminal;

use super::format::{compile, render};
use super::{
    CliError, ExecArgs, KillArgs, LogsArgs, NamesArgs, PsArgs, RenameArgs, RmArgs, RunArgs,
    StartArgs, StopArgs, for_each,
};
use crate::container::create::{CreateRequest, create};
use crate::container::exec::ExecRequest;
use crate::container::list::{self, Filter};
use crate::container::logs::LogOptions;
use crate::container::{ContainerError, Ctx, remove, start as lifecycle, stop as stopping};
use crate::spec::RunRequest;
use crate::state::StateError;
use crate::state::container::Status;

/// docker's check: `-it` needs a terminal on stdin (`-t` alone does not).
fn check_tty(tty: bool, interactive: bool) -> Result<(), CliError> {
    if tty && interactive && !std::io::stdin().is_terminal() {
        return Err(CliError::Usage("the input device is not a TTY".into()));
    }
    Ok(())
}

fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>, CliError> {
    crate::attach::parse_detach_keys(spec.unwrap_or("ctrl-p,ctrl-q")).map_err(CliError::Usage)
}

/// The caller's terminal size, for a pty made before the client attaches.
fn terminal_size() -> Option<(u16, u16)> {
    use std::os::fd::AsFd;
    crate::ns::pty::window_size(std::io::stdout().as_fd())
        .or_else(|| crate::ns::pty::window_size(std::io::stdin().as_fd()))
}

/// Attach to a running interactive container; returns its exit code (0 on detach).
fn attach_to(
    ctx: &Ctx,
    id: &str,
    stdin: bool,
    tty: bool,
    keys: Vec<u8>,
    sig_proxy: bool,
) -> Result<i32, CliError> {
    let path = crate::attach::socket_path(&ctx.paths.runroot, id);
    let opts = crate::attach::ClientOptions {
        stdin,
        tty,
        detach_keys: keys,
        sig_proxy,
    };
    let ended = crate::attach::attach(&path, &opts).map_err(|e| {
        // The monitor closes its socket as the container exits, a moment before the record
        // says so (it releases the network first).
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::Usage("you cannot attach to a stopped container, start it first".into())
        } else {
            CliError::Usage(format!("attaching to {}: {e}", &id[..12.min(id.len())]))
        }
    })?;
    match ended {
        crate::attach::Ended::Exited(code) => Ok(code),
        crate::attach::Ended::Detached => Ok(0),
        // The monitor went away without saying: the record has the exit.
        crate::attach::Ended::Lost => Ok(stopping::wait(ctx, id).unwrap_or(125)),
    }
}

pub fn attach(ctx: &Ctx, a: super::AttachArgs) -> Result<i32, CliError> {
    let keys = detach_keys(a.detach_keys.as_deref())?;
    let record = ctx.find(&a.container)?;
    if record.state.status != Status::Running {
        return Err(CliError::Usage(format!(
            "you cannot attach to a stopped container, start it first: {}",
            a.container
        )));
    }
    if !record.config.tty && !record.config.open_stdin {
        return Err(CliError::Usage(format!(
            "container {} was started without -i or -t: there is nothing to attach to (its output: skiff logs -f {})",
            a.container, a.container
        )));
    }
    let stdin = record.config.open_stdin && !a.no_stdin;
    check_tty(record.config.tty, stdin)?;
    attach_to(ctx, &record.id, stdin, record.config.tty, keys, a.sig_proxy)
}

pub fn run(ctx: &Ctx, a: RunArgs, create_only: bool) -> Result<i32, CliError> {
    let attach_stdin = if a.attach.is_empty() {
        a.interactive
    } else {
        let mut stdin = false;
        for s in &a.attach {
            match s.to_ascii_lowercase().as_str() {
                "stdin" => stdin = true,
                "stdout" | "stderr" => {}
                _ => {
                    return Err(CliError::Usage(format!(
                        "invalid --attach {s:?}: expected STDIN, STDOUT or STDERR"
                    )));
                }
            }
        }
        stdin
    };
    if a.detach && !a.attach.is_empty() {
        return Err(CliError::Usage(
            "conflicting options: -a and -d cannot be combined".into(),
        ));
    }
    if !create_only && !a.detach {
        check_tty(a.tty, attach_stdin)?;
    }
    let keys = detach_keys(a.detach_keys.as_deref())?;
    if let Some(p) = &a.platform {
        check_platform(p)?;
    }
    match a.pull.as_str() {
        "always" => super::registry::pull_image(ctx, &a.image, a.quiet, a.platform.clone(), true)?,
        "missing" => {
            if matches!(
                ctx.images.lookup(&a.image),
                Err(crate::image::ImageError::NoSuchImage(_))
            ) {
                if !a.quiet {
                    eprintln!("Unable to find image '{}' locally", a.image);
                }
                super::registry::pull_image(ctx, &a.image, a.quiet, a.platform.clone(), true)?;
            }
        }
        "never" => {}
        other => {
            return Err(CliError::Usage(format!(
                "invalid --pull {other:?}: expected missing, always or never"
            )));
        }
    }
    let mut labels = a.label.clone();
    for path in &a.label_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("invalid --label-file {}: {e}", path.display()))
        })?;
        labels.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    if let Some(f) = &a.cidfile
        && f.exists()
    {
        return Err(CliError::Usage(format!(
            "container ID file found, make sure the other container isn't running or delete {}",
            f.display()
        )));
    }
    if a.replace
        && let Some(name) = &a.name
        && ctx.store.resolve(name).is_ok()
    {
        crate::container::remove::remove(ctx, name, true, false)?;
    }
    let mut env_files = Vec::new();
    for path in &a.env_file {
        let contents = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("invalid --env-file {}: {e}", path.display())))?;
        env_files.push((path.display().to_string(), contents));
    }
    let request = CreateRequest {
        image: a.image,
        name: a.name,
        run: RunRequest {
            command: a.command,
            entrypoint: a.entrypoint,
            entrypoint_argv: None,
            env: a.env,
            env_files,
            workdir: a.workdir,
            user: a.user,
            hostname: a.hostname,
            domainname: a.domainname,
            labels,
            init: a.init,
            net: crate::net::config::NetRequest {
                networks: a.network,
                publish: a.publish,
                publish_all: a.publish_all,
                expose: a.expose,
                ip: a.ip,
                mac_address: a.mac_address,
                aliases: a.network_alias,
                dns: a.dns,
                dns_search: a.dns_search,
                dns_options: a.dns_option,
                add_hosts: a.add_host,
                links: a.link,
            },
            stop_signal: a.stop_signal,
            stop_timeout: a.stop_timeout,
            auto_remove: a.rm,
            restart: a.restart.clone(),
            log_driver: a.log_driver.clone(),
            log_opts: a.log_opt.clone(),
            annotations: a.annotation.clone(),
            health: crate::spec::health::HealthFlags {
                cmd: a.health_cmd.clone(),
                test: None,
                interval: a.health_interval.clone(),
                timeout: a.health_timeout.clone(),
                retries: a.health_retries,
                start_period: a.health_start_period.clone(),
                start_interval: a.health_start_interval.clone(),
                none: a.no_healthcheck,
            },
            tty: a.tty,
            interactive: a.interactive,
            ulimits: a.ulimit,
            shm_size: a.shm_size,
            cgroup_parent: a.cgroup_parent,
            cgroupns: a.cgroupns,
            cgroups: a.cgroups,
            cap_add: a.cap_add,
            cap_drop: a.cap_drop,
            security_opt: a.security_opt,
            read_only: a.read_only,
            sysctls: a.sysctl,
            group_add: a.group_add,
            oom_score_adj: a.oom_score_adj,
            privileged: a.privileged,
            devices: a.device,
            device_cgroup_rules: a.device_cgroup_rule,
            pid: a.pid,
            ipc: a.ipc,
            uts: a.uts,
            volumes: a.volume,
            mount: a.mount,
            tmpfs: a.tmpfs,
            volumes_from: a.volumes_from,
            userns: a.userns,
        },
        resources: a.resources.flags(),
    };
    let record = create(ctx, &request)?;
    if let Some(f) = &a.cidfile
        && let Err(e) = std::fs::write(f, &record.id)
    {
        let _ = crate::container::remove::remove(ctx, &record.id, true, true);
        return Err(CliError::Usage(format!(
            "writing --cidfile {}: {e}",
            f.display()
        )));
    }
    if create_only {
        println!("{}", record.id);
        return Ok(0);
    }
    let started = if a.detach {
        lifecycle::start_detached(ctx, &record.id, None).map(|()| 0)
    } else if a.tty {
        // docker's model: the container runs under a monitor of its own, this process
        // attaches to it, so Ctrl-P Ctrl-Q can leave it running.
        let soon = lifecycle::AttachSoon {
            tty_size: terminal_size(),
        };
        match lifecycle::start_detached(ctx, &record.id, Some(soon)) {
            Ok(()) => {
                return attach_to(ctx, &record.id, attach_stdin, true, keys, a.sig_proxy);
            }
            Err(e) => Err(e),
        }
    } else if !record.config.restart.is_none() {
        // docker's model: the policy outlives this command, so the container runs under a
        // monitor of its own; this process shows the first run's output and returns its exit
        // code, and the monitor goes on restarting it.
        lifecycle::start_detached(ctx, &record.id, None).and_then(|()| {
            let follow = crate::container::logs::LogOptions {
                follow: true,
                ..Default::default()
            };
            crate::container::logs::logs(ctx, &record.id, &follow)?;
            Ok(ctx.store.load(&record.id)?.state.exit_code)
        })
    } else {
        lifecycle::run_foreground(ctx, &record.id, attach_stdin)
    };
    match started {
        Ok(code) => {
            if a.detach {
                println!("{}", record.id);
            }
            Ok(code)
        }
        Err(e) => {
            // The container never ran: unlike docker, leave no dead "Created" record behind.
            let _ = remove::remove(ctx, &record.id, true, true);
            if let Some(f) = &a.cidfile {
                let _ = std::fs::remove_file(f);
            }
            Err(e.into())
        }
    }
}

pub fn start(ctx: &Ctx, a: StartArgs) -> Result<i32, CliError> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(CliError::Usage(
                "you cannot start and attach multiple containers at once".into(),
            ));
        }
        let keys = detach_keys(a.detach_keys.as_deref())?;
        let record = ctx.find(&a.containers[0])?;
        let stdin = a.interactive && record.config.open_stdin;
        if record.config.tty || record.state.status == Status::Running {
            check_tty(record.config.tty, stdin)?;
            if record.state.status != Status::Running {
                let soon = lifecycle::AttachSoon {
                    tty_size: terminal_size(),
                };
                lifecycle::start_detached(ctx, &record.id, Some(soon))?;
            } else if !record.config.tty && !record.config.open_stdin {
                return Err(CliError::Usage(format!(
                    "container {} is already running and has no stdin to attach to",
                    a.containers[0]
                )));
            }
            return attach_to(ctx, &record.id, stdin, record.config.tty, keys, true);
        }
        return Ok(lifecycle::run_foreground(ctx, &record.id, a.interactive)?);
    }
    let names = if a.all {
        startable(ctx, &a)?
    } else if a.at_boot || !a.filter.is_empty() {
        return Err(CliError::Usage(
            "--at-boot and --filter go with --all".into(),
        ));
    } else {
        a.containers.clone()
    };
    for_each(&names, |c| {
        let record = ctx.find(c)?;
        if record.state.status != Status::Running {
            lifecycle::start_detached(ctx, &record.id, None)?;
        }
        Ok(())
    })
}

/// `start --all`: the stopped containers that `--filter restart-policy=…` and `--at-boot`
/// let through, oldest first (as they were made).
fn startable(ctx: &Ctx, a: &StartArgs) -> Result<Vec<String>, CliError> {
    let mut policies = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("restart-policy", p)) => policies.push(
                crate::spec::restart::RestartPolicy::parse(p)
                    .map_err(CliError::Usage)?
                    .name(),
            ),
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid --filter {f:?}: start --all knows restart-policy=NAME"
                )));
            }
        }
    }
    let mut all = ctx.all()?;
    all.reverse();
    Ok(all
        .into_iter()
        .filter(|r| matches!(r.state.status, Status::Created | Status::Exited))
        .filter(|r| policies.is_empty() || policies.contains(&r.config.restart.name()))
        // At boot: containers that ran before (docker's daemon does not start one that was
        // only created).
        .filter(|r| {
            !a.at_boot
                || (r.state.status == Status::Exited
                    && r.config.restart.starts_at_boot(r.state.stopped_by_user))
        })
        .map(|r| r.id)
        .collect())
}

/// The containers a command names, or with podman's `--all` every one `which` takes; with
/// `--ignore`, names that do not exist are left out.
pub fn targets(
    ctx: &Ctx,
    names: &[String],
    all: bool,
    ignore: bool,
    which: impl Fn(&crate::state::container::ContainerRecord) -> bool,
) -> Result<Vec<String>, CliError> {
    if all {
        return Ok(ctx
            .all()?
            .into_iter()
            .filter(|r| which(r))
            .map(|r| r.name)
            .collect());
    }
    Ok(names
        .iter()
        .filter(|n| !ignore || ctx.store.resolve(n).is_ok())
        .cloned()
        .collect())
}

pub fn is_running(r: &crate::state::container::ContainerRecord) -> bool {
    r.state.status == Status::Running
}

pub fn stop(ctx: &Ctx, a: StopArgs) -> Result<i32, CliError> {
    let names = targets(ctx, &a.containers, a.all, a.ignore, is_running)?;
    for_each(&names, |c| {
        Ok(stopping::stop(ctx, c, a.time, a.signal.as_deref())?)
    })
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<i32, CliError> {
    let names = targets(ctx, &a.containers, a.all, false, is_running)?;
    for_each(&names, |c| Ok(stopping::kill(ctx, c, &a.signal)?))
}

pub fn restart(ctx: &Ctx, a: StopArgs) -> Result<i32, CliError> {
    let names = targets(ctx, &a.containers, a.all, a.ignore, |_| true)?;
    for_each(&names, |c| Ok(stopping::restart(ctx, c, a.time)?))
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32, CliError> {
    let mut names = targets(ctx, &a.containers, a.all, a.ignore, |_| true)?;
    if a.depend {
        names = with_dependents(ctx, names)?;
    }
    let force = a.force || a.time.is_some();
    let mut failed = None;
    for c in &names {
        if let Some(t) = a.time {
            // podman's rm -t: a stop with that grace period first.
            let _ = stopping::stop(ctx, c, Some(t), None);
        }
        match remove::remove(ctx, c, force, a.volumes) {
            Ok(()) => println!("{c}"),
            // docker (20.10+) and podman: `rm -f` of a missing container is no failure, so a
            // cleanup step can run twice.
            Err(ContainerError::State(StateError::NoSuchContainer(_))) if force || a.ignore => {
                eprintln!("skiff: warning: No such container: {c}");
            }
            Err(e) => {
                eprintln!("skiff: {e}");
                failed = Some(1);
            }
        }
    }
    failed.map_or(Ok(0), |c| Err(CliError::Reported(c)))
}

pub fn wait(ctx: &Ctx, a: NamesArgs) -> Result<i32, CliError> {
    let mut failed = None;
    let names = targets(ctx, &a.containers, a.all, false, is_running)?;
    for c in &names {
        match stopping::wait(ctx, c) {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("skiff: {e}");
                failed = Some(125);
            }
        }
    }
    failed.map_or(Ok(0), |c| Err(CliError::Reported(c)))
}

pub fn rename(ctx: &Ctx, a: RenameArgs) -> Result<i32, CliError> {
    remove::rename(ctx, &a.container, &a.new_name)?;
    Ok(0)
}

const PS_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub fn ps(ctx: &Ctx, a: PsArgs) -> Result<i32, CliError> {
    // Leases whose holder died without a record to settle (a monitor killed before it
    // saved one) go here, and their rules with them.
    crate::net::release::reconcile(&ctx.paths);
    let filters: Vec<Filter> = a
        .filter
        .iter()
        .map(|f| list::parse_filter(f).map_err(CliError::Usage))
        .collect::<Result<_, _>>()?;
    let shows_stopped = filters
        .iter()
        .any(|f| matches!(f, Filter::Status(_) | Filter::Exited(_)));
    let all = a.all || a.latest || a.last.is_some() || shows_stopped;
    // An ancestor filter also matches by image id, as docker's does.
    let ancestor_ids: Vec<String> = filters
        .iter()
        .filter_map(|f| match f {
            Filter::Ancestor(name) => ctx.images.lookup(name).ok().map(|i| i.id),
            _ => None,
        })
        .collect();
    let mut records: Vec<_> = ctx
        .all()?
        .into_iter()
        .filter(|r| all || r.state.status == Status::Running)
        .filter(|r| list::matches(r, &filters, &ancestor_ids))
        .collect();
    // before=/since=: relative to another container's creation.
    for f in &filters {
        match f {
            Filter::Before(other) => {
                let at = ctx.find(other)?.created;
                records.retain(|r| r.created < at);
            }
            Filter::Since(other) => {
                let at = ctx.find(other)?.created;
                records.retain(|r| r.created > at);
            }
            _ => {}
        }
    }
    if let Some(n) = a.last.or(a.latest.then_some(1)) {
        records.truncate(n);
    }
    match a.sort.as_deref() {
        None | Some("created") => {}
        Some("id") => records.sort_by(|x, y| x.id.cmp(&y.id)),
        Some("image") => records.sort_by(|x, y| x.image.cmp(&y.image)),
        Some("names") => records.sort_by(|x, y| x.name.cmp(&y.name)),
        Some("status") => records.sort_by_key(|r| r.state.status.as_str()),
        Some("runningfor") => records.sort_by(|x, y| y.created.cmp(&x.created)),
        Some(other) => {
            return Err(CliError::Usage(format!(
                "invalid --sort {other:?}: expected created, id, image, names, runningfor or status"
            )));
        }
    }
    let mut rows: Vec<_> = records.iter().map(|r| list::row(r, a.no_trunc)).collect();
    if a.size {
        for (row, r) in rows.iter_mut().zip(&records) {
            let own = crate::container::volumes::tree_size(&ctx.store.dir(&r.id).join("upper"));
            let image = ctx.images.lookup(&r.image_id).map_or(0, |i| i.size);
            row.size = format!(
                "{} (virtual {})",
                super::format::human_size(own),
                super::format::human_size(own + image)
            );
        }
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    let with_size = format!("{PS_TABLE}\t{{{{.Size}}}}");
    let format = a
        .format
        .as_deref()
        .unwrap_or(if a.size { &with_size } else { PS_TABLE });
    let json_rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    let header = serde_json::to_value(list::header_row()).unwrap_or_default();
    super::format::print_rows_with(format, (!a.noheading).then_some(&header), &json_rows)?;
    Ok(0)
}

/// `--tail N|all` (None: all).
pub fn tail_flag(t: &str) -> Result<Option<usize>, CliError> {
    match t {
        "all" | "-1" => Ok(None),
        n => n.parse::<usize>().map(Some).map_err(|_| {
            CliError::Usage(format!(
                "invalid --tail {n:?}: expected a number of lines or \"all\""
            ))
        }),
    }
}

/// `--since`/`--until`: RFC 3339, a unix time or a duration back from now.
pub fn time_flag(flag: &str, v: &Option<String>) -> Result<Option<jiff::Timestamp>, CliError> {
    v.as_deref()
        .map(|s| {
            crate::timefmt::parse_since(s).ok_or_else(|| {
                CliError::Usage(format!(
                    "invalid --{flag} {s:?}: expected RFC 3339, a unix time or a duration like 10m"
                ))
            })
        })
        .transpose()
}

pub fn logs(ctx: &Ctx, a: LogsArgs) -> Result<i32, CliError> {
    let opts = LogOptions {
        follow: a.follow,
        tail: tail_flag(&a.tail)?,
        timestamps: a.timestamps,
        since: time_flag("since", &a.since)?,
        until: time_flag("until", &a.until)?,
        prefix: None,
    };
    crate::container::logs::logs(ctx, &a.container, &opts)?;
    Ok(0)
}

pub fn exec(ctx: &Ctx, a: ExecArgs) -> Result<i32, CliError> {
    if !a.detach {
        check_tty(a.tty, a.interactive)?;
    }
    let req = ExecRequest {
        command: a.command,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        detach: a.detach,
        interactive: a.interactive,
        tty: a.tty,
    };
    Ok(crate::container::exec::exec(ctx, &a.container, &req)?)
}

/// Render a template once per object (inspect's --format).
pub fn render_each(format: &str, values: &[serde_json::Value]) -> Result<String, CliError> {
    let tpl = compile(&super::format::unescape(format))?;
    let mut out = String::new();
    for v in values {
        out.push_str(&render(&tpl, v)?);
        out.push('\n');
    }
    Ok(out)
}

/// `--platform`: the host's own (os, or os/arch) runs; another is refused, since skiff runs
/// no emulator.
fn check_platform(p: &str) -> Result<(), CliError> {
    crate::spec::check_platform(p).map_err(CliError::Usage)
}

/// `rm --depend`: the containers that use these ones' namespaces or volumes come first
/// (`--network container:X`, `--pid`/`--ipc container:X`, `--volumes-from X`).
fn with_dependents(ctx: &Ctx, names: Vec<String>) -> Result<Vec<String>, CliError> {
    let all = ctx.all()?;
    let mut ordered: Vec<String> = Vec::new();
    let mut todo = names;
    while let Some(name) = todo.pop() {
        let Ok(id) = ctx.store.resolve(&name) else {
            ordered.push(name);
            continue;
        };
        let target = all.iter().find(|r| r.id == id);
        let refers = |r: &crate::state::container::ContainerRecord, t: &str| {
            let container_ref = |v: &str| v == t || (v.len() >= 12 && id.starts_with(v));
            r.config.net.container.as_str() == t
                || container_ref(&r.config.net.container)
                || r.config.security.pid.container().is_some_and(container_ref)
                || r.config.security.ipc.container().is_some_and(container_ref)
                || r.config
                    .volumes_from
                    .iter()
                    .any(|v| container_ref(v.split(':').next().unwrap_or("")))
        };
        let Some(t) = target else { continue };
        for r in &all {
            if r.id != t.id
                && (refers(r, &t.name) || refers(r, &t.id))
                && !ordered.contains(&r.name)
                && !todo.contains(&r.name)
            {
                todo.push(r.name.clone());
            }
        }
        if !ordered.contains(&name) {
            // Dependents were pushed after it: they are removed before it.
            ordered.insert(0, name);
        }
    }
    Ok(ordered)
}
