//! Handlers for the container commands.

use std::io::IsTerminal;

use super::format::{compile, print_rows, render};
use super::{
    CliError, ExecArgs, KillArgs, LogsArgs, NamesArgs, PsArgs, RenameArgs, RmArgs, RunArgs,
    StartArgs, StopArgs, for_each,
};
use crate::container::create::{CreateRequest, create};
use crate::container::exec::ExecRequest;
use crate::container::list::{self, Filter};
use crate::container::logs::LogOptions;
use crate::container::{Ctx, remove, start as lifecycle, stop as stopping};
use crate::spec::RunRequest;
use crate::state::container::Status;

fn refuse_tty(tty: bool) -> Result<(), CliError> {
    if !tty {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage("the input device is not a TTY".into()));
    }
    Err(CliError::Usage(
        "-t (pseudo-terminals) is not supported yet: run without -t, with -i for stdin".into(),
    ))
}

pub fn run(ctx: &Ctx, a: RunArgs, create_only: bool) -> Result<i32, CliError> {
    refuse_tty(a.tty)?;
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
            env: a.env,
            env_files,
            workdir: a.workdir,
            user: a.user,
            hostname: a.hostname,
            domainname: a.domainname,
            labels: a.label,
            init: a.init,
            network: a.network,
            stop_signal: a.stop_signal,
            stop_timeout: a.stop_timeout,
            auto_remove: a.rm,
            tty: a.tty,
            interactive: a.interactive,
            ulimits: a.ulimit,
            shm_size: a.shm_size,
            cgroup_parent: a.cgroup_parent,
            cgroupns: a.cgroupns,
            volumes: a.volume,
            mount: a.mount,
            tmpfs: a.tmpfs,
            volumes_from: a.volumes_from,
            userns: a.userns,
        },
        resources: a.resources.flags(),
    };
    let record = create(ctx, &request)?;
    if create_only {
        println!("{}", record.id);
        return Ok(0);
    }
    let started = if a.detach {
        lifecycle::start_detached(ctx, &record.id).map(|()| 0)
    } else {
        lifecycle::run_foreground(ctx, &record.id, a.interactive)
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
        let record = ctx.find(&a.containers[0])?;
        if record.state.status == Status::Running {
            return Err(CliError::Usage(format!(
                "container {} is already running: attaching to a running container is not supported yet",
                a.containers[0]
            )));
        }
        return Ok(lifecycle::run_foreground(ctx, &record.id, a.interactive)?);
    }
    for_each(&a.containers, |c| {
        let record = ctx.find(c)?;
        if record.state.status != Status::Running {
            lifecycle::start_detached(ctx, &record.id)?;
        }
        Ok(())
    })
}

pub fn stop(ctx: &Ctx, a: StopArgs) -> Result<i32, CliError> {
    for_each(&a.containers, |c| {
        Ok(stopping::stop(ctx, c, a.time, a.signal.as_deref())?)
    })
}

pub fn kill(ctx: &Ctx, a: KillArgs) -> Result<i32, CliError> {
    for_each(&a.containers, |c| Ok(stopping::kill(ctx, c, &a.signal)?))
}

pub fn restart(ctx: &Ctx, a: StopArgs) -> Result<i32, CliError> {
    for_each(&a.containers, |c| Ok(stopping::restart(ctx, c, a.time)?))
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32, CliError> {
    for_each(&a.containers, |c| {
        Ok(remove::remove(ctx, c, a.force, a.volumes)?)
    })
}

pub fn wait(ctx: &Ctx, a: NamesArgs) -> Result<i32, CliError> {
    let mut failed = None;
    for c in &a.containers {
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
    if let Some(n) = a.last.or(a.latest.then_some(1)) {
        records.truncate(n);
    }
    let rows: Vec<_> = records.iter().map(|r| list::row(r, a.no_trunc)).collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    let format = a.format.as_deref().unwrap_or(PS_TABLE);
    let json_rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    let header = serde_json::to_value(list::header_row()).unwrap_or_default();
    print_rows(format, &header, &json_rows)?;
    Ok(0)
}

pub fn logs(ctx: &Ctx, a: LogsArgs) -> Result<i32, CliError> {
    let tail = match a.tail.as_str() {
        "all" | "-1" => None,
        n => Some(n.parse::<usize>().map_err(|_| {
            CliError::Usage(format!(
                "invalid --tail {n:?}: expected a number of lines or \"all\""
            ))
        })?),
    };
    let time = |flag: &str, v: &Option<String>| -> Result<_, CliError> {
        v.as_deref()
            .map(|s| {
                crate::timefmt::parse_since(s).ok_or_else(|| {
                    CliError::Usage(format!(
                        "invalid --{flag} {s:?}: expected RFC 3339, a unix time or a duration like 10m"
                    ))
                })
            })
            .transpose()
    };
    let opts = LogOptions {
        follow: a.follow,
        tail,
        timestamps: a.timestamps,
        since: time("since", &a.since)?,
        until: time("until", &a.until)?,
    };
    crate::container::logs::logs(ctx, &a.container, &opts)?;
    Ok(0)
}

pub fn exec(ctx: &Ctx, a: ExecArgs) -> Result<i32, CliError> {
    refuse_tty(a.tty)?;
    let req = ExecRequest {
        command: a.command,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        detach: a.detach,
        interactive: a.interactive,
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
