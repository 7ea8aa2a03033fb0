//! `up`, `create`, `run`, and the images they need (`build`, `pull`, `push`): make what the
//! files describe exist — images, networks, volumes, one container per replica — keeping what
//! already matches (same config hash, same image) and recreating what changed, then start the
//! services as their dependencies' conditions hold.

use std::collections::BTreeMap;

use serde_json::Value;

use super::project::{self, lock, number_of, service_containers};
use super::{Progress, RunArgs, UpArgs};
use crate::cli::CliError;
use crate::compose::convert::{self, Replica};
use crate::compose::{Project, labels, order};
use crate::container::{Ctx, remove, start as lifecycle, stop as stopping};
use crate::state::container::ContainerRecord;

mod resources;
mod start;

pub use resources::{build, pull, push};

/// How existing containers are treated.
#[derive(Debug, Clone, Copy, Default)]
struct Recreate {
    force: bool,
    never: bool,
    /// `-V`: new anonymous volumes instead of the old container's.
    renew_anonymous: bool,
}

/// `--scale SERVICE=N`.
fn parse_scales(project: &Project, specs: &[String]) -> Result<BTreeMap<String, u32>, CliError> {
    let mut out = BTreeMap::new();
    for s in specs {
        let (svc, n) = s
            .split_once('=')
            .and_then(|(svc, n)| n.parse::<u32>().ok().map(|n| (svc, n)))
            .ok_or_else(|| {
                CliError::Usage(format!("invalid --scale {s:?}: expected SERVICE=NUMBER"))
            })?;
        project
            .select(&[svc.to_string()])
            .map_err(CliError::Usage)?;
        out.insert(svc.to_string(), n);
    }
    Ok(out)
}

pub fn up(ctx: &Ctx, project: &Project, progress: &Progress, a: UpArgs) -> Result<i32, CliError> {
    if a.force_recreate && a.no_recreate {
        return Err(CliError::Usage(
            "--force-recreate and --no-recreate are incompatible".into(),
        ));
    }
    if a.detach
        && (a.abort_on_container_exit || a.abort_on_container_failure || a.exit_code_from.is_some())
    {
        return Err(CliError::Usage(
            "-d and --abort-on-container-exit/--exit-code-from are incompatible".into(),
        ));
    }
    if let Some(s) = &a.exit_code_from {
        project
            .select(std::slice::from_ref(s))
            .map_err(CliError::Usage)?;
    }
    let wanted = project.select(&a.services).map_err(CliError::Usage)?;
    let services = order::with_dependencies(project, &wanted, a.no_deps);
    let scales = parse_scales(project, &a.scale)?;
    let guard = lock(ctx, &project.name)?;
    resources::ensure_images(
        ctx,
        project,
        progress,
        &services,
        &resources::ImagePolicy {
            build: a.build,
            no_build: a.no_build,
            pull: a.pull.clone(),
            quiet: a.quiet_pull,
        },
    )?;
    resources::ensure_networks(ctx, project, progress, &services)?;
    resources::ensure_volumes(ctx, project, progress, &services)?;
    let remove_orphans = a.remove_orphans
        || project
            .env
            .get("COMPOSE_REMOVE_ORPHANS")
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    orphans(ctx, project, progress, remove_orphans, a.timeout)?;
    let recreate = Recreate {
        force: a.force_recreate,
        never: a.no_recreate,
        renew_anonymous: a.renew_anon_volumes,
    };
    let mut recreated = Vec::new();
    for s in &services {
        if converge(
            ctx,
            project,
            progress,
            s,
            scales.get(s).copied(),
            recreate,
            a.timeout,
        )? {
            recreated.push(s.clone());
        }
    }
    stop_for_restart(ctx, project, progress, &services, &recreated, a.timeout)?;
    if a.no_start {
        return Ok(0);
    }
    let timeout = a.wait_timeout.map(std::time::Duration::from_secs);
    start::start_services(ctx, project, progress, &services, timeout)?;
    if a.wait {
        start::wait_ready(ctx, project, progress, &services, timeout)?;
        return Ok(0);
    }
    if a.detach {
        return Ok(0);
    }
    drop(guard);
    // The named services' output (their dependencies' with --attach-dependencies), as docker
    // compose attaches; what is shown is also what Ctrl-C stops.
    let shown = if !a.attach.is_empty() {
        a.attach.clone()
    } else if a.services.is_empty() || a.attach_dependencies {
        services.clone()
    } else {
        wanted.clone()
    };
    start::attach(
        ctx,
        project,
        &start::AttachOptions {
            services: shown,
            // Ctrl-C stops what was asked for, not the dependencies it pulled in.
            all: if a.services.is_empty() || a.attach_dependencies {
                services
            } else {
                wanted
            },
            abort: a.abort_on_container_exit || a.exit_code_from.is_some(),
            abort_on_failure: a.abort_on_container_failure,
            timestamps: a.timestamps,
            exit_code_from: a.exit_code_from.clone(),
            timeout: a.timeout,
            colour: super::use_colour(a.no_color, None),
            prefix: !a.no_log_prefix,
        },
        progress,
    )
}

pub fn create(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    a: super::CreateArgs,
) -> Result<i32, CliError> {
    up(
        ctx,
        project,
        progress,
        UpArgs {
            build: a.build,
            no_build: a.no_build,
            pull: a.pull,
            force_recreate: a.force_recreate,
            no_recreate: a.no_recreate,
            scale: a.scale,
            remove_orphans: a.remove_orphans,
            no_start: true,
            detach: true,
            services: a.services,
            ..UpArgs::default()
        },
    )
}

/// Containers of the project whose service is no longer in the files.
fn orphans(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    remove_them: bool,
    timeout: Option<i64>,
) -> Result<(), CliError> {
    let names = project.service_names();
    let found: Vec<ContainerRecord> = project::containers(ctx, &project.name)?
        .into_iter()
        .filter(|r| {
            let gone = !names.iter().any(|n| n == project::service_of(r))
                && !project.disabled.iter().any(|n| n == project::service_of(r));
            // Ended one-offs (`compose run`) count as orphans too, as in docker compose.
            let ended_run = project::is_oneoff(r)
                && remove_them
                && ctx.load_live(&r.id).is_ok_and(|l| !project::is_running(&l));
            gone || ended_run
        })
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    if !remove_them {
        let list: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
        eprintln!(
            "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            list.join(" ")
        );
        return Ok(());
    }
    for r in found {
        remove_container(ctx, progress, &r, timeout)?;
    }
    Ok(())
}

pub fn remove_container(
    ctx: &Ctx,
    progress: &Progress,
    r: &ContainerRecord,
    timeout: Option<i64>,
) -> Result<(), CliError> {
    if project::is_running(r) {
        progress.event("Container", &r.name, "Stopping");
        stopping::stop(ctx, &r.id, timeout, None)?;
        progress.event("Container", &r.name, "Stopped");
    }
    progress.event("Container", &r.name, "Removing");
    remove::remove(ctx, &r.id, true, false)?;
    progress.event("Container", &r.name, "Removed");
    Ok(())
}

/// Makes a service's replicas match the files: extra ones removed, changed ones recreated,
/// missing ones created. Containers left stopped are started later.
fn converge(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    service: &str,
    scale: Option<u32>,
    recreate: Recreate,
    timeout: Option<i64>,
) -> Result<bool, CliError> {
    let mut recreated = false;
    let want = scale.unwrap_or_else(|| project.scale_of(service));
    let svc = project.service(service).cloned().unwrap_or(Value::Null);
    if want > 1 && svc.get("container_name").is_some() {
        return Err(CliError::Usage(format!(
            "service {service:?}: container_name {:?} is given, so it cannot run {want} replicas",
            svc["container_name"].as_str().unwrap_or_default()
        )));
    }
    let existing = service_containers(ctx, &project.name, &[service.to_string()])?;
    for r in existing.iter().filter(|r| number_of(r) > want) {
        remove_container(ctx, progress, r, timeout)?;
    }
    let hash = project.config_hash(service);
    let image = project.image_of(service);
    let image_id = ctx.images.lookup(&image).ok().map(|i| i.id);
    for n in 1..=want {
        let current = existing.iter().find(|r| number_of(r) == n);
        if let Some(r) = current {
            let changed = project::label(r, labels::CONFIG_HASH) != Some(hash.as_str())
                || image_id.as_ref().is_some_and(|id| *id != r.image_id);
            if !(recreate.force || (changed && !recreate.never)) {
                if project::is_running(r) {
                    progress.event("Container", &r.name, "Running");
                }
                continue;
            }
            progress.event("Container", &r.name, "Recreate");
            if project::is_running(r) {
                stopping::stop(ctx, &r.id, timeout, None)?;
            }
            let anonymous: Vec<(String, String)> = if recreate.renew_anonymous {
                Vec::new()
            } else {
                r.config
                    .mounts
                    .iter()
                    .filter(|m| m.kind == crate::mount::volume::MountKind::Volume && m.anonymous)
                    .map(|m| (m.destination.clone(), m.source.clone()))
                    .collect()
            };
            remove::remove(ctx, &r.id, true, recreate.renew_anonymous)?;
            let new = create_replica(ctx, project, service, n, &anonymous)?;
            keep_anonymous(ctx, new, &anonymous)?;
            progress.event("Container", &r.name, "Recreated");
            recreated = true;
            continue;
        }
        let name = project.container_name(service, n);
        progress.event("Container", &name, "Creating");
        create_replica(ctx, project, service, n, &[])?;
        progress.event("Container", &name, "Created");
    }
    Ok(recreated)
}

/// `depends_on: {x: {restart: true}}`: a service whose dependency was just recreated is
/// stopped, to be started again once that dependency is ready.
fn stop_for_restart(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
    recreated: &[String],
    timeout: Option<i64>,
) -> Result<(), CliError> {
    for s in services {
        if recreated.contains(s)
            || !order::dependencies(project, s)
                .iter()
                .any(|d| d.restart && recreated.contains(&d.service))
        {
            continue;
        }
        for r in service_containers(ctx, &project.name, std::slice::from_ref(s))? {
            if project::is_running(&ctx.load_live(&r.id)?) {
                progress.event("Container", &r.name, "Restarting");
                stopping::stop(ctx, &r.id, timeout, None)?;
            }
        }
    }
    Ok(())
}

/// The reused anonymous volumes stay anonymous in the new container's record: `rm -v` and
/// `down -v` remove them with it.
fn keep_anonymous(
    ctx: &Ctx,
    mut record: ContainerRecord,
    reused: &[(String, String)],
) -> Result<(), CliError> {
    if reused.is_empty() {
        return Ok(());
    }
    for m in &mut record.config.mounts {
        if reused.iter().any(|(_, name)| *name == m.source) {
            m.anonymous = true;
        }
    }
    ctx.store
        .save(&record)
        .map_err(|e| CliError::Container(crate::container::ContainerError::from(e)))
}

fn create_replica(
    ctx: &Ctx,
    project: &Project,
    service: &str,
    number: u32,
    anonymous_volumes: &[(String, String)],
) -> Result<ContainerRecord, CliError> {
    let req = convert::request(
        project,
        service,
        &Replica {
            number,
            anonymous_volumes: anonymous_volumes.to_vec(),
            ..Replica::default()
        },
    )
    .map_err(|e| CliError::Usage(format!("service {service:?}: {e}")))?;
    let mut req = req;
    // A link to a service that was not started (`up --no-deps`) is skipped, as compose does.
    req.run.net.links.retain(|l| {
        let target = l.split(':').next().unwrap_or(l);
        ctx.store.resolve(target).is_ok()
    });
    Ok(crate::container::create::create(ctx, &req)?)
}

/// `compose run`: a one-off container of a service, its dependencies started first.
pub fn run(ctx: &Ctx, project: &Project, progress: &Progress, a: RunArgs) -> Result<i32, CliError> {
    project
        .select(std::slice::from_ref(&a.service))
        .map_err(CliError::Usage)?;
    let mut deps = order::with_dependencies(project, std::slice::from_ref(&a.service), a.no_deps);
    deps.retain(|s| *s != a.service);
    {
        let _guard = lock(ctx, &project.name)?;
        let all: Vec<String> = deps.iter().chain([&a.service]).cloned().collect();
        resources::ensure_images(
            ctx,
            project,
            progress,
            &all,
            &resources::ImagePolicy {
                build: a.build,
                ..Default::default()
            },
        )?;
        resources::ensure_networks(ctx, project, progress, &all)?;
        resources::ensure_volumes(ctx, project, progress, &all)?;
        orphans(ctx, project, progress, a.remove_orphans, None)?;
        for s in &deps {
            converge(ctx, project, progress, s, None, Recreate::default(), None)?;
        }
        start::start_services(ctx, project, progress, &deps, None)?;
    }
    let mut req = convert::request(
        project,
        &a.service,
        &Replica {
            number: 0,
            oneoff: true,
            command: (!a.command.is_empty()).then(|| a.command.clone()),
            name: a.name.clone(),
            anonymous_volumes: Vec::new(),
        },
    )
    .map_err(|e| CliError::Usage(format!("service {:?}: {e}", a.service)))?;
    // Without --service-ports a one-off publishes only what -p asks, as compose does.
    if !a.service_ports {
        req.run.net.publish.clear();
    }
    req.run.net.publish.extend(a.publish.iter().cloned());
    if let Some(ep) = &a.entrypoint {
        req.run.entrypoint_argv = Some(
            shell_words::split(ep)
                .map_err(|e| CliError::Usage(format!("invalid --entrypoint {ep:?}: {e}")))?,
        );
    }
    req.run.env.extend(a.env.iter().cloned());
    req.run.labels.extend(a.label.iter().cloned());
    if a.user.is_some() {
        req.run.user = a.user.clone();
    }
    if a.workdir.is_some() {
        req.run.workdir = a.workdir.clone();
    }
    req.run.volumes.extend(a.volume.iter().cloned());
    req.run.auto_remove = a.rm;
    req.run.restart = None;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
    req.run.tty = !a.no_tty && !a.detach && terminal;
    // docker compose's run keeps stdin open unless detached (`-i` is its default).
    req.run.interactive = !a.detach;
    let record = crate::container::create::create(ctx, &req)?;
    if a.detach {
        lifecycle::start_detached(ctx, &record.id, None).inspect_err(|_| {
            let _ = remove::remove(ctx, &record.id, true, true);
        })?;
        println!("{}", record.name);
        return Ok(0);
    }
    let code = lifecycle::run_foreground(ctx, &record.id, req.run.interactive);
    if code.is_err() {
        let _ = remove::remove(ctx, &record.id, true, true);
    }
    Ok(code?)
}

/// `compose scale SERVICE=N ...`: `up -d` of those services at those scales.
pub fn scale(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    a: super::ScaleArgs,
) -> Result<i32, CliError> {
    let services = a
        .scale
        .iter()
        .map(|s| s.split_once('=').map_or(s.clone(), |(n, _)| n.to_string()))
        .collect();
    up(
        ctx,
        project,
        progress,
        UpArgs {
            detach: true,
            no_deps: a.no_deps,
            scale: a.scale,
            services,
            ..UpArgs::default()
        },
    )
}

/// `compose start`: the existing containers, in dependency order with their conditions.
pub fn start_existing(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
) -> Result<(), CliError> {
    start::start_services(ctx, project, progress, services, None)
}
