//! Commands that act on the project's existing containers: down, start, stop, restart, kill,
//! rm, pause/unpause, exec, cp, wait. Stops go dependents first, starts dependencies first.

use serde_json::Value;

use super::project::{self, Target, containers, is_oneoff, lock, service_containers};
use super::up::remove_container;
use super::{DownArgs, ExecArgs, KillArgs, Progress, RmArgs, ServicesArgs, StopArgs};
use crate::cli::CliError;
use crate::compose::{Project, labels};
use crate::container::{Ctx, remove, stop as stopping};
use crate::state::container::{ContainerRecord, Status};
use crate::state::network::NetworkStore;

/// The containers of `services` (all when empty), dependents before what they depend on
/// when the files are known.
fn in_stop_order(
    ctx: &Ctx,
    target: &Target,
    services: &[String],
) -> Result<Vec<ContainerRecord>, CliError> {
    let mut found = service_containers(ctx, &target.name, services)?;
    if let Some(p) = &target.project {
        let mut order = crate::compose::order::with_dependencies(p, &p.service_names(), false);
        order.reverse();
        found.sort_by_key(|r| {
            order
                .iter()
                .position(|s| s == project::service_of(r))
                .unwrap_or(0)
        });
    }
    Ok(found)
}

pub fn down(ctx: &Ctx, target: &Target, progress: &Progress, a: DownArgs) -> Result<i32, CliError> {
    target.select(&a.services)?;
    // Named services only, or the whole project (its networks, and volumes with -v, too).
    let services = a.services.clone();
    let _guard = lock(ctx, &target.name)?;
    let mut victims = in_stop_order(ctx, target, &services)?;
    // One-off containers of the project go too, and orphans with --remove-orphans (or
    // always when there are no files to tell what is an orphan).
    let all = containers(ctx, &target.name)?;
    for r in all {
        let known = target
            .project
            .as_ref()
            .is_none_or(|p| p.service(project::service_of(&r)).is_some());
        let wanted = services.is_empty() || services.iter().any(|s| s == project::service_of(&r));
        if victims.iter().any(|v| v.id == r.id) {
            continue;
        }
        if (is_oneoff(&r) && wanted) || (!known && (a.remove_orphans || services.is_empty())) {
            victims.push(r);
        }
    }
    project::stop_all(ctx, target.project.as_ref(), progress, &victims, a.timeout)?;
    for r in &victims {
        remove_container(ctx, progress, r, a.timeout)?;
        if a.volumes {
            crate::container::volumes::release_anonymous(ctx, r);
        }
    }
    if !services.is_empty() {
        return Ok(0);
    }
    let store = NetworkStore::open(&ctx.paths)
        .map_err(|e| CliError::Container(crate::container::ContainerError::from(e)))?;
    for n in store.list().unwrap_or_default() {
        if n.labels.get(labels::PROJECT).map(String::as_str) != Some(target.name.as_str()) {
            continue;
        }
        progress.event("Network", &n.name, "Removing");
        match crate::net::bridge::remove_network(&ctx.paths, &store, &n.name) {
            Ok(_) => {
                ctx.event("network", "destroy", &n.name, &[("name", n.name.clone())]);
                progress.event("Network", &n.name, "Removed");
            }
            Err(e) => progress.event("Network", &n.name, &format!("Error {e}")),
        }
    }
    if a.volumes {
        for v in ctx.volumes.list().unwrap_or_default() {
            if v.labels.get(labels::PROJECT).map(String::as_str) != Some(target.name.as_str())
                || is_external_volume(target.project.as_ref(), &v.name)
            {
                continue;
            }
            progress.event("Volume", &v.name, "Removing");
            match ctx.volumes.remove(&v.name) {
                Ok(()) => {
                    ctx.event("volume", "destroy", &v.name, &[]);
                    progress.event("Volume", &v.name, "Removed");
                }
                Err(e) => progress.event("Volume", &v.name, &format!("Error {e}")),
            }
        }
    }
    if let Some(kind) = &a.rmi {
        remove_images(ctx, target, &victims, kind, progress)?;
    }
    let _ = std::fs::remove_file(
        ctx.paths
            .runroot
            .join("compose")
            .join(format!("{}.lock", target.name)),
    );
    Ok(0)
}

fn is_external_volume(project: Option<&Project>, name: &str) -> bool {
    project
        .and_then(|p| p.model.get("volumes"))
        .and_then(Value::as_object)
        .is_some_and(|m| {
            m.values().any(|v| {
                v.get("name").and_then(Value::as_str) == Some(name)
                    && v.get("external").and_then(Value::as_bool) == Some(true)
            })
        })
}

/// `--rmi local`: images built for services without an `image:`; `all`: every service image.
fn remove_images(
    ctx: &Ctx,
    target: &Target,
    removed: &[ContainerRecord],
    kind: &str,
    progress: &Progress,
) -> Result<(), CliError> {
    let mut images: Vec<String> = Vec::new();
    if let Some(p) = &target.project {
        for s in p.service_names() {
            let explicit = p.service(&s).and_then(|v| v.get("image")).is_some();
            if kind == "all" || !explicit {
                images.push(p.image_of(&s));
            }
        }
    } else if kind == "all" {
        images.extend(removed.iter().map(|r| r.image.clone()));
    }
    images.sort();
    images.dedup();
    for i in images {
        if ctx.images.lookup(&i).is_err() {
            continue;
        }
        progress.event("Image", &i, "Removing");
        match crate::cli::images::rmi(
            ctx,
            crate::cli::RmiArgs {
                force: false,
                images: vec![i.clone()],
            },
        ) {
            Ok(_) => progress.event("Image", &i, "Removed"),
            Err(e) => progress.event("Image", &i, &format!("Error {e}")),
        }
    }
    Ok(())
}

pub fn start(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    a: ServicesArgs,
) -> Result<i32, CliError> {
    let services = project.select(&a.services).map_err(CliError::Usage)?;
    let order = crate::compose::order::with_dependencies(project, &services, false);
    let have: Vec<String> = order
        .into_iter()
        .filter(|s| {
            service_containers(ctx, &project.name, std::slice::from_ref(s))
                .is_ok_and(|c| !c.is_empty())
        })
        .collect();
    if have.is_empty() {
        return Err(CliError::Usage(
            "service has no container to start: run compose up or compose create first".into(),
        ));
    }
    super::up::start_existing(ctx, project, progress, &have)?;
    Ok(0)
}

pub fn stop(ctx: &Ctx, target: &Target, progress: &Progress, a: StopArgs) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    let list = in_stop_order(ctx, target, &services)?;
    project::stop_all(ctx, target.project.as_ref(), progress, &list, a.timeout)?;
    Ok(0)
}

pub fn restart(
    ctx: &Ctx,
    target: &Target,
    progress: &Progress,
    a: StopArgs,
) -> Result<i32, CliError> {
    let mut services = target.select(&a.services)?;
    // Dependents that asked for it (`depends_on: {x: {restart: true}}`) restart with x.
    if let Some(p) = &target.project {
        for s in p.service_names() {
            if !services.contains(&s)
                && crate::compose::order::dependencies(p, &s)
                    .iter()
                    .any(|d| d.restart && services.contains(&d.service))
            {
                services.push(s);
            }
        }
    }
    let mut list = in_stop_order(ctx, target, &services)?;
    list.reverse();
    for r in list {
        progress.event("Container", &r.name, "Restarting");
        stopping::restart(ctx, &r.id, a.timeout)?;
        progress.event("Container", &r.name, "Started");
    }
    Ok(0)
}

pub fn kill(ctx: &Ctx, target: &Target, progress: &Progress, a: KillArgs) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    let mut any = false;
    for r in in_stop_order(ctx, target, &services)? {
        if project::is_running(&ctx.load_live(&r.id)?) {
            any = true;
            progress.event("Container", &r.name, "Killing");
            stopping::kill(ctx, &r.id, &a.signal)?;
            progress.event("Container", &r.name, "Killed");
        }
    }
    if !any {
        return Err(CliError::Usage("no container to kill".into()));
    }
    Ok(0)
}

pub fn rm(ctx: &Ctx, target: &Target, progress: &Progress, a: RmArgs) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    let list = in_stop_order(ctx, target, &services)?;
    let mut removed = false;
    for r in list {
        let live = ctx.load_live(&r.id)?;
        if project::is_running(&live) {
            if !a.stop {
                continue;
            }
            progress.event("Container", &r.name, "Stopping");
            stopping::stop(ctx, &r.id, None, None)?;
            progress.event("Container", &r.name, "Stopped");
        }
        progress.event("Container", &r.name, "Removing");
        remove::remove(ctx, &r.id, true, a.volumes)?;
        progress.event("Container", &r.name, "Removed");
        removed = true;
    }
    if !removed {
        eprintln!("No stopped containers");
    }
    Ok(0)
}

pub fn pause(
    ctx: &Ctx,
    target: &Target,
    progress: &Progress,
    a: ServicesArgs,
    on: bool,
) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    for r in service_containers(ctx, &target.name, &services)? {
        let live = ctx.load_live(&r.id)?;
        if live.state.status != Status::Running || live.state.paused == on {
            continue;
        }
        progress.event(
            "Container",
            &r.name,
            if on { "Pausing" } else { "Unpausing" },
        );
        crate::container::pause::set_paused(ctx, &r.id, on)?;
        progress.event("Container", &r.name, if on { "Paused" } else { "Unpaused" });
    }
    Ok(0)
}

/// Replica `index` of `service`, or an error naming what is missing.
fn replica(
    ctx: &Ctx,
    target: &Target,
    service: &str,
    index: u32,
) -> Result<ContainerRecord, CliError> {
    target.select(&[service.to_string()])?;
    service_containers(ctx, &target.name, &[service.to_string()])?
        .into_iter()
        .find(|r| project::number_of(r) == index)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "service {service:?} is not running container #{index}"
            ))
        })
}

pub fn exec(ctx: &Ctx, target: &Target, a: ExecArgs) -> Result<i32, CliError> {
    let r = match a.index {
        Some(i) => replica(ctx, target, &a.service, i)?,
        // No service container: a running one-off of the service (`run -d`), as compose.
        None => replica(ctx, target, &a.service, 1).or_else(|e| {
            containers(ctx, &target.name)?
                .into_iter()
                .filter(|r| is_oneoff(r) && project::service_of(r) == a.service)
                .find(|r| ctx.load_live(&r.id).is_ok_and(|l| project::is_running(&l)))
                .ok_or(e)
        })?,
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let req = crate::container::exec::ExecRequest {
        command: a.command,
        env: a.env,
        user: a.user,
        workdir: a.workdir,
        detach: a.detach,
        interactive: !a.detach,
        tty: !a.no_tty && !a.detach && terminal,
    };
    Ok(crate::container::exec::exec(ctx, &r.id, &req)?)
}

pub fn cp(ctx: &Ctx, target: &Target, a: super::CpArgs) -> Result<i32, CliError> {
    let resolve = |spec: &str| -> Result<String, CliError> {
        match spec.split_once(':') {
            Some((svc, path)) if !svc.contains('/') && !svc.is_empty() => {
                let r = replica(ctx, target, svc, a.index)?;
                Ok(format!("{}:{path}", r.name))
            }
            _ => Ok(spec.to_string()),
        }
    };
    crate::cli::volumes::cp(
        ctx,
        crate::cli::CpArgs {
            follow_link: a.follow_link,
            archive: a.archive,
            quiet: true,
            source: resolve(&a.source)?,
            destination: resolve(&a.destination)?,
        },
    )
}

pub fn wait(
    ctx: &Ctx,
    target: &Target,
    progress: &Progress,
    a: super::WaitArgs,
) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    let list = service_containers(ctx, &target.name, &services)?;
    if !a.down_project {
        let mut code = 0;
        for r in &list {
            code = stopping::wait(ctx, &r.id)?;
            println!("{code}");
        }
        return Ok(code);
    }
    // The first container to stop ends the project.
    let code = loop {
        let ended = list.iter().find_map(|r| {
            ctx.load_live(&r.id)
                .ok()
                .filter(|l| !project::is_running(l))
                .map(|l| l.state.exit_code)
        });
        if let Some(code) = ended {
            break code;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    println!("{code}");
    down(
        ctx,
        target,
        progress,
        DownArgs {
            volumes: false,
            rmi: None,
            remove_orphans: false,
            timeout: None,
            services: Vec::new(),
        },
    )?;
    Ok(code)
}
