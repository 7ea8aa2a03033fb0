//! `-d`: a forked monitor of the container's own, which outlives the CLI: it starts the
//! container, relays its output to the log (and to attach clients), records its exit, and
//! carries out its restart policy (`--restart`) with docker's back-off — no daemon, and no
//! systemd unit per container as podman needs.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::start::{Launched, Stdin, finish, launch};
use super::{ContainerError, Ctx, io_err};
use crate::monitor::{self, Relay};
use crate::ns::sync;
use crate::spec::restart::Next;

/// For a container someone attaches to right away (`run -it`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachSoon {
    /// The caller's terminal size, given to the pty before the command starts.
    pub tty_size: Option<(u16, u16)>,
}

/// Start with a detached monitor; returns once the container's command runs (or failed to).
/// An interactive container (`-i` or `-t`) gets an attach socket; with `attach_soon` its
/// output waits for the first client.
pub fn start_detached(
    ctx: &Ctx,
    id: &str,
    attach_soon: Option<AttachSoon>,
) -> Result<(), ContainerError> {
    let (mut report_r, mut report_w) = {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err("pipe")(e.into()))?;
        (std::fs::File::from(r), std::fs::File::from(w))
    };
    // Answers to the monitor's systemd requests (see cgroup::relay), when this process holds
    // the connection.
    let relay = if ctx.systemd_connected() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| io_err("pipe")(e.into()))?;
        Some((std::fs::File::from(r), std::fs::File::from(w)))
    } else {
        None
    };
    // SAFETY: skiff is single-threaded; the child carries on as the container's monitor.
    match unsafe { nix::unistd::fork() }.map_err(|e| io_err("fork")(e.into()))? {
        nix::unistd::ForkResult::Child => {
            drop(report_r);
            detach_from_caller();
            close_caller_locks();
            if let Some((answers, _)) = relay
                && let Ok(requests) = report_w.try_clone()
            {
                crate::cgroup::relay::install(requests, answers);
            }
            let size = attach_soon.and_then(|a| a.tty_size);
            let started = start_once(ctx, id, size);
            // The caller stops answering once it has the report.
            crate::cgroup::relay::remove();
            let run = match started {
                Ok(run) => run,
                Err(e) => {
                    let _ = write!(report_w, "{}\n{e}", e.exit_code());
                    // SAFETY: exit of the forked monitor without running the CLI's teardown.
                    unsafe { libc::_exit(1) };
                }
            };
            let _ = report_w.write_all(b"ok");
            drop(report_w);
            let hold = attach_soon.map(|_| Duration::from_secs(5));
            monitor_life(ctx, id, run, hold);
            // SAFETY: as above.
            unsafe { libc::_exit(0) };
        }
        nix::unistd::ForkResult::Parent { .. } => {
            drop(report_w);
            let mut answers = relay.map(|(r, w)| {
                drop(r);
                w
            });
            // The report, with the monitor's systemd requests answered as they come.
            let mut report = String::new();
            let mut lines = std::io::BufReader::new(&mut report_r);
            let mut line = String::new();
            while matches!(std::io::BufRead::read_line(&mut lines, &mut line), Ok(n) if n > 0) {
                match (
                    line.strip_prefix(crate::cgroup::relay::REQUEST),
                    answers.as_mut(),
                ) {
                    (Some(request), Some(w)) => {
                        let answer = crate::cgroup::relay::serve(
                            request,
                            ctx.systemd_bus().ok().map(|bus| {
                                move |r: &crate::cgroup::relay::ScopeRequest| {
                                    bus.start_scope(
                                        &r.unit,
                                        &r.slice,
                                        &r.pids,
                                        &r.description,
                                        r.delegate,
                                    )
                                }
                            }),
                        );
                        let _ = w.write_all(answer.as_bytes());
                    }
                    _ => report.push_str(&line),
                }
                line.clear();
            }
            drop(answers);
            if report == "ok" {
                return Ok(());
            }
            let (code, message) = report.split_once('\n').unwrap_or(("125", ""));
            let message = if message.is_empty() {
                "the container's monitor exited before the container started".to_string()
            } else {
                message.to_string()
            };
            Err(ContainerError::Start(sync::ChildError::new(
                stage_for_code(code.parse().unwrap_or(125)),
                errno_for_code(code.parse().unwrap_or(125)),
                message,
            )))
        }
    }
}

fn stage_for_code(code: i32) -> sync::Stage {
    if code == 126 || code == 127 {
        sync::Stage::Exec
    } else {
        sync::Stage::Setup
    }
}

fn errno_for_code(code: i32) -> i32 {
    if code == 127 {
        libc::ENOENT
    } else {
        libc::EACCES
    }
}

/// Descriptors of locks the calling command holds (`compose up`'s project lock): a monitor
/// forked meanwhile would otherwise keep the lock for the container's whole life.
static CALLER_LOCKS: std::sync::Mutex<Vec<std::os::fd::RawFd>> = std::sync::Mutex::new(Vec::new());

/// Registers (or, with `held` false, forgets) a lock descriptor monitors must not keep.
pub fn caller_lock(fd: std::os::fd::RawFd, held: bool) {
    if let Ok(mut locks) = CALLER_LOCKS.lock() {
        locks.retain(|f| *f != fd);
        if held {
            locks.push(fd);
        }
    }
}

fn close_caller_locks() {
    if let Ok(locks) = CALLER_LOCKS.lock() {
        for fd in locks.iter() {
            // SAFETY: closing a descriptor this forked child inherited and never uses.
            unsafe { libc::close(*fd) };
        }
    }
}

/// The monitor must not hold the caller's terminal or pipes (`id=$(skiff run -d ...)` waits
/// for EOF), nor get its terminal's signals.
fn detach_from_caller() {
    let _ = nix::unistd::setsid();
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// One run of the command, started: what the monitor relays.
struct Run {
    launched: Launched,
    server: Option<crate::attach::Server>,
    tty: bool,
    began: Instant,
}

/// Start the command (again): its attach socket first when it is interactive (a client may
/// connect the moment the CLI hears "ok"), then the container.
fn start_once(ctx: &Ctx, id: &str, size: Option<(u16, u16)>) -> Result<Run, ContainerError> {
    let r = ctx.store.load(id)?;
    let server = if r.config.tty || r.config.open_stdin {
        let path = crate::attach::socket_path(&ctx.paths.runroot, id);
        Some(crate::attach::Server::bind(&path).map_err(io_err(format!(
            "creating the attach socket {}",
            path.display()
        )))?)
    } else {
        None
    };
    let stdin = if r.config.open_stdin && !r.config.tty {
        Stdin::Pipe
    } else {
        Stdin::Null
    };
    let launched = launch(ctx, id, stdin, size)?;
    Ok(Run {
        launched,
        server,
        tty: r.config.tty,
        began: Instant::now(),
    })
}

/// Relay one run until the command ends (probing its health on schedule); its exit code.
fn relay(ctx: &Ctx, id: &str, mut run: Run, hold: Option<Duration>) -> i32 {
    let mut prober = super::health::Prober::new(ctx, id, run.launched.healthcheck.as_ref());
    // Last thing before the relay loop: what start and the prober's set-up touched goes.
    monitor::trim_memory();
    let interactive = run.server.map(|server| monitor::Interactive {
        server,
        input: run.launched.input.take(),
        tty: run.tty,
        hold_for_client: hold,
    });
    monitor::supervise(
        &run.launched.child,
        Some(run.launched.outputs),
        Relay {
            log: Some(run.launched.log),
            echo: false,
            forward_signals: false,
            end_on_signal: false,
            interactive,
            tap: None,
            ticker: prober.as_mut().map(|p| p as &mut dyn monitor::Ticker),
        },
    )
}

/// Relay runs of the command for as long as the restart policy asks for another, then record
/// the last exit.
fn monitor_life(ctx: &Ctx, id: &str, first: Run, hold: Option<Duration>) {
    let mut began = first.began;
    let mut code = relay(ctx, id, first, hold);
    let mut delay = None;
    loop {
        let Ok(record) = ctx.store.load(id) else {
            return; // removed (rm -f)
        };
        let next = crate::spec::restart::next(
            &record.config.restart,
            code,
            record.restart_count,
            record.state.stopped_by_user,
            began.elapsed(),
            delay,
        );
        let Next::RestartAfter(wait) = next else {
            break;
        };
        if !super::restart::mark_restarting(ctx, id, code) {
            break;
        }
        // A stop meanwhile marks the record Exited and ends this process.
        std::thread::sleep(wait);
        delay = Some(wait);
        match start_once(ctx, id, None) {
            Ok(run) => {
                began = run.began;
                code = relay(ctx, id, run, None);
            }
            Err(e) => {
                // Recorded as docker records a failed start: exited with its code and error.
                super::restart::record_start_failure(ctx, id, &e);
                return;
            }
        }
    }
    finish(ctx, id, code);
}
