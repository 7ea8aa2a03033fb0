//! Starting services in dependency order, each as soon as its dependencies' conditions hold
//! (started, healthy, or completed successfully), so independent services never wait on each
//! other; and `up` in the foreground: every container's output with its name in front, until
//! they all end, one ends (`--abort-on-container-exit`), or Ctrl-C stops them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::cli::CliError;
use crate::cli::compose::Progress;
use crate::cli::compose::project::{self, service_containers};
use crate::compose::{Project, order};
use crate::container::{Ctx, start as lifecycle, stop as stopping};
use crate::state::container::{ContainerRecord, Status};

/// How long a dependency may take to become ready when no `--wait-timeout` says.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);

enum Ready {
    Yes,
    NotYet,
    Failed(String),
}

fn health_of(r: &ContainerRecord) -> Option<&str> {
    r.state.health.as_ref().map(|h| h.status.as_str())
}

/// Whether `dep`'s containers satisfy `condition`.
fn ready(ctx: &Ctx, project: &Project, dep: &order::Dependency) -> Result<Ready, CliError> {
    let found = service_containers(ctx, &project.name, std::slice::from_ref(&dep.service))?;
    let live: Vec<ContainerRecord> = found
        .iter()
        .filter_map(|r| ctx.load_live(&r.id).ok())
        .collect();
    if live.is_empty() {
        return Ok(if dep.required {
            Ready::Failed(format!("service {:?} has no container", dep.service))
        } else {
            Ready::Yes
        });
    }
    for r in &live {
        match dep.condition.as_str() {
            "service_healthy" => {
                if r.state.status == Status::Exited {
                    return Ok(Ready::Failed(format!(
                        "dependency failed to start: container {} exited ({})",
                        r.name, r.state.exit_code
                    )));
                }
                if !crate::spec::health::active(r.config.healthcheck.as_ref()) {
                    return Ok(Ready::Failed(format!(
                        "service {:?} has no healthcheck: it cannot become healthy (condition service_healthy)",
                        dep.service
                    )));
                }
                match health_of(r) {
                    Some("healthy") => {}
                    Some("unhealthy") => {
                        return Ok(Ready::Failed(format!(
                            "dependency failed to start: container {} is unhealthy",
                            r.name
                        )));
                    }
                    _ if r.state.status == Status::Exited => {
                        return Ok(Ready::Failed(format!(
                            "dependency failed to start: container {} exited ({})",
                            r.name, r.state.exit_code
                        )));
                    }
                    _ => return Ok(Ready::NotYet),
                }
            }
            "service_completed_successfully" => match r.state.status {
                Status::Exited if r.state.exit_code == 0 => {}
                Status::Exited => {
                    return Ok(Ready::Failed(format!(
                        "service {:?} didn't complete successfully: exit {}",
                        dep.service, r.state.exit_code
                    )));
                }
                _ => return Ok(Ready::NotYet),
            },
            _ => {
                if !matches!(r.state.status, Status::Running | Status::Exited) {
                    return Ok(Ready::NotYet);
                }
            }
        }
    }
    Ok(Ready::Yes)
}

/// Starts every stopped container of `services`, each service once its dependencies (among
/// `services`) are ready. A dependency that fails, or is not ready in time, is an error
/// naming it.
pub fn start_services(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<(), CliError> {
    let deadline = Instant::now() + timeout.unwrap_or(DEFAULT_READY_TIMEOUT);
    let mut pending: Vec<String> = services.to_vec();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut announced: BTreeSet<String> = BTreeSet::new();
    while !pending.is_empty() {
        let mut progressed = false;
        let mut waiting_on: Option<String> = None;
        for s in pending.clone() {
            let deps: Vec<order::Dependency> = order::dependencies(project, &s)
                .into_iter()
                .filter(|d| services.contains(&d.service))
                .collect();
            let mut all_ready = true;
            for d in &deps {
                if !started.contains(&d.service) {
                    all_ready = false;
                    break;
                }
                match ready(ctx, project, d)? {
                    Ready::Yes => {
                        if d.condition != "service_started" && announced.insert(d.service.clone()) {
                            let word = if d.condition == "service_healthy" {
                                "Healthy"
                            } else {
                                "Exited"
                            };
                            for r in service_containers(
                                ctx,
                                &project.name,
                                std::slice::from_ref(&d.service),
                            )? {
                                progress.event("Container", &r.name, word);
                            }
                        }
                    }
                    Ready::NotYet => {
                        all_ready = false;
                        waiting_on = Some(format!("{s} (waiting for {})", d.service));
                        let key = format!("wait:{}", d.service);
                        if announced.insert(key) {
                            for r in service_containers(
                                ctx,
                                &project.name,
                                std::slice::from_ref(&d.service),
                            )? {
                                progress.event("Container", &r.name, "Waiting");
                            }
                        }
                        break;
                    }
                    Ready::Failed(why) => return Err(CliError::Usage(why)),
                }
            }
            if !all_ready {
                continue;
            }
            start_service(ctx, project, progress, &s)?;
            started.insert(s.clone());
            pending.retain(|p| *p != s);
            progressed = true;
        }
        if pending.is_empty() {
            break;
        }
        if !progressed {
            if Instant::now() > deadline {
                return Err(CliError::Usage(format!(
                    "timed out waiting for dependencies: service {}",
                    waiting_on.unwrap_or_else(|| pending.join(", "))
                )));
            }
            std::thread::sleep(POLL);
        }
    }
    Ok(())
}

fn start_service(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    service: &str,
) -> Result<(), CliError> {
    for r in service_containers(ctx, &project.name, &[service.to_string()])? {
        let live = ctx.load_live(&r.id)?;
        if matches!(live.state.status, Status::Running | Status::Restarting) {
            continue;
        }
        progress.event("Container", &r.name, "Starting");
        if let Err(e) = lifecycle::start_detached(ctx, &r.id, None) {
            // Nothing half-made: a container that could not start goes (the next `up`
            // creates it again).
            let _ = crate::container::remove::remove(ctx, &r.id, true, true);
            progress.event("Container", &r.name, "Error");
            return Err(CliError::Usage(format!("service {service:?}: {e}")));
        }
        progress.event("Container", &r.name, "Started");
    }
    Ok(())
}

/// `up --wait`: every container running, and healthy where it has a healthcheck.
pub fn wait_ready(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
    timeout: Option<Duration>,
) -> Result<(), CliError> {
    let deadline = Instant::now() + timeout.unwrap_or(DEFAULT_READY_TIMEOUT);
    let mut done: BTreeSet<String> = BTreeSet::new();
    loop {
        let mut all = true;
        for r in service_containers(ctx, &project.name, services)? {
            if done.contains(&r.id) {
                continue;
            }
            let live = ctx.load_live(&r.id)?;
            let checked = crate::spec::health::active(live.config.healthcheck.as_ref());
            match (live.state.status, health_of(&live)) {
                (Status::Running, Some("healthy")) => {
                    progress.event("Container", &r.name, "Healthy");
                    done.insert(r.id.clone());
                }
                (Status::Running, _) if !checked => {
                    progress.event("Container", &r.name, "Running");
                    done.insert(r.id.clone());
                }
                (_, Some("unhealthy")) => {
                    return Err(CliError::Usage(format!(
                        "container {} is unhealthy",
                        r.name
                    )));
                }
                // A one-shot that finished well is done (a migration job).
                (Status::Exited, _) if live.state.exit_code == 0 => {
                    progress.event("Container", &r.name, "Exited");
                    done.insert(r.id.clone());
                }
                (Status::Exited, _) => {
                    return Err(CliError::Usage(format!(
                        "container {} exited ({})",
                        r.name, live.state.exit_code
                    )));
                }
                _ => all = false,
            }
        }
        if all {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::Usage(
                "timed out waiting for the services to be running and healthy".into(),
            ));
        }
        std::thread::sleep(POLL);
    }
}

pub struct AttachOptions {
    /// Whose output is shown.
    pub services: Vec<String>,
    /// What is stopped at the end.
    pub all: Vec<String>,
    pub abort: bool,
    /// Stop everything when a container exits non-zero, and return its code.
    pub abort_on_failure: bool,
    pub timestamps: bool,
    pub exit_code_from: Option<String>,
    pub timeout: Option<i64>,
    pub colour: bool,
    pub prefix: bool,
}

/// Signals that end a foreground `up`: blocked, and taken with sigtimedwait in the loop.
fn block_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    let _ = set.thread_block();
    set
}

fn take_signal(set: &nix::sys::signal::SigSet, wait: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    // SAFETY: a valid, initialised signal set and timespec; no siginfo is asked for.
    let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

pub fn attach(
    ctx: &Ctx,
    project: &Project,
    o: &AttachOptions,
    progress: &Progress,
) -> Result<i32, CliError> {
    let shown = service_containers(ctx, &project.name, &o.services)?;
    // docker compose pads names to the longest plus one, then " | ".
    let width = shown.iter().map(|r| r.name.len()).max().unwrap_or(0) + 1;
    let names: Vec<&str> = shown.iter().map(|r| r.name.as_str()).collect();
    println!("Attaching to {}", names.join(", "));
    let signals = block_signals();
    let code = std::thread::scope(|scope| -> Result<i32, CliError> {
        let prefixes: Vec<String> = shown
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if !o.prefix {
                    String::new()
                } else if o.colour {
                    format!(
                        "\x1b[{}m{:width$} | \x1b[0m",
                        super::super::colour(i),
                        r.name
                    )
                } else {
                    format!("{:width$} | ", r.name)
                }
            })
            .collect();
        // One follower per container; one that ended is started again (from the new run's
        // start) when a restart policy brings the container back.
        let follow = |i: usize, since: Option<jiff::Timestamp>| {
            let id = shown[i].id.clone();
            let opts = crate::container::logs::LogOptions {
                follow: true,
                prefix: Some(prefixes[i].clone()),
                timestamps: o.timestamps,
                since,
                ..Default::default()
            };
            // Returns when it stopped reading: where the next run's output starts.
            scope.spawn(move || {
                let _ = crate::container::logs::logs(ctx, &id, &opts);
                jiff::Timestamp::now()
            })
        };
        // This run's output only, not a kept container's earlier runs.
        let started_at = |id: &str| {
            ctx.load_live(id)
                .ok()
                .and_then(|l| l.state.started_at)
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        };
        let mut followers: Vec<Option<_>> = (0..shown.len())
            .map(|i| Some(follow(i, started_at(&shown[i].id))))
            .collect();
        // Per follower: the run it follows, and when it was seen to end.
        let mut follower_runs: Vec<u32> = shown
            .iter()
            .map(|r| ctx.load_live(&r.id).map_or(0, |l| l.restart_count))
            .collect();
        let mut follower_ended: Vec<Option<jiff::Timestamp>> = vec![None; shown.len()];
        // From the first run on: a run that already ended and restarted before this loop
        // began (a loaded machine) is still reported.
        let mut restarts_seen: std::collections::BTreeMap<String, u32> =
            shown.iter().map(|r| (r.id.clone(), 0)).collect();
        let mut announced: BTreeSet<String> = BTreeSet::new();
        loop {
            if take_signal(&signals, POLL).is_some() {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
                // Stopping runs beside the signal watch, so a second Ctrl-C can kill.
                let stopper = scope.spawn(|| stop_all(ctx, project, progress, &o.all, o.timeout));
                while !stopper.is_finished() {
                    if take_signal(&signals, POLL).is_some() {
                        for r in service_containers(ctx, &project.name, &o.all)? {
                            let _ = stopping::kill(ctx, &r.id, "SIGKILL");
                        }
                    }
                }
                return match stopper.join() {
                    Ok(r) => r.map(|()| 130),
                    Err(_) => Ok(130),
                };
            }
            let mut refollow = |followers: &mut Vec<Option<_>>| {
                for (i, slot) in followers.iter_mut().enumerate() {
                    if let Some(f) = slot.take_if(
                        |f: &mut std::thread::ScopedJoinHandle<'_, jiff::Timestamp>| {
                            f.is_finished()
                        },
                    ) {
                        follower_ended[i] =
                            Some(f.join().unwrap_or_else(|_| jiff::Timestamp::now()));
                    }
                    if slot.is_none()
                        && let Some(ended) = follower_ended[i]
                        && let Ok(live) = ctx.load_live(&shown[i].id)
                        && live.restart_count > follower_runs[i]
                    {
                        // Restarted since: follow the new run from where the last one stopped.
                        follower_runs[i] = live.restart_count;
                        follower_ended[i] = None;
                        *slot = Some(follow(i, Some(ended)));
                    }
                }
            };
            refollow(&mut followers);
            let records = service_containers(ctx, &project.name, &o.all)?;
            let mut running = 0;
            for r in &records {
                let live = ctx.load_live(&r.id)?;
                // Runs that ended and were restarted between two looks.
                let seen = restarts_seen
                    .entry(r.id.clone())
                    .or_insert(live.restart_count);
                while *seen < live.restart_count {
                    println!("{} exited with code {}", r.name, live.state.exit_code);
                    *seen += 1;
                }
                if matches!(live.state.status, Status::Running | Status::Restarting) {
                    running += 1;
                    continue;
                }
                // Just exited, and its monitor (alive while a restart policy goes on) is about
                // to run it again.
                let coming_back = live.state.status == Status::Exited
                    && !live.config.restart.is_none()
                    && live.state.monitor_pid > 0
                    && crate::state::proc::is_alive(
                        live.state.monitor_pid,
                        live.state.monitor_start,
                    );
                if coming_back {
                    running += 1;
                }
                // Each run's end once (a restart policy makes several).
                let key = format!("{}:{}", r.id, live.restart_count);
                if live.state.status == Status::Exited && announced.insert(key) {
                    println!("{} exited with code {}", r.name, live.state.exit_code);
                    // Said once: the restart that follows does not say it again.
                    restarts_seen.insert(r.id.clone(), live.restart_count + 1);
                    if o.abort_on_failure && live.state.exit_code != 0 {
                        eprintln!("Aborting on container failure...");
                        stop_all(ctx, project, progress, &o.all, o.timeout)?;
                        return Ok(live.state.exit_code);
                    }
                    if o.abort {
                        eprintln!("Aborting on container exit...");
                        stop_all(ctx, project, progress, &o.all, o.timeout)?;
                        let code = match &o.exit_code_from {
                            Some(s) => {
                                service_containers(ctx, &project.name, std::slice::from_ref(s))?
                                    .iter()
                                    .filter_map(|c| ctx.load_live(&c.id).ok())
                                    .map(|c| c.state.exit_code)
                                    .next()
                                    .unwrap_or(0)
                            }
                            None => live.state.exit_code,
                        };
                        return Ok(code);
                    }
                }
            }
            if running == 0 {
                // Runs that ended since the last look still get their output shown.
                std::thread::sleep(POLL);
                refollow(&mut followers);
                return Ok(0);
            }
        }
    })?;
    Ok(code)
}

fn stop_all(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
    timeout: Option<i64>,
) -> Result<(), CliError> {
    let list = service_containers(ctx, &project.name, services)?;
    project::stop_all(ctx, Some(project), progress, &list, timeout)
}
