//! Healthchecks, run by the container's own monitor (podman needs a systemd timer per
//! container for this): on schedule the monitor forks a prober, which runs the check inside
//! the container as `exec` does, gives it its timeout, and records the result in
//! `State.Health` under the container's lock. `skiff healthcheck run` is the same prober, run
//! by hand. The monitor only starts probers and watches them end, so it stays small.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::exec::ExecRequest;
use super::{ContainerError, Ctx};
use crate::ns::spawn::{pidfd_open, pidfd_send_signal, pidfd_wait};
use crate::spec::health::{self, Health, Probe};
use crate::state::container::Status;

fn now_text() -> String {
    crate::timefmt::rfc3339(crate::timefmt::now())
}

fn nanos(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

/// One probe now: returns 0 when the check passed, 1 when it failed or timed out (podman's
/// `healthcheck run` codes).
pub fn probe(ctx: &Ctx, query: &str) -> Result<i32, ContainerError> {
    let record = ctx.find(query)?;
    let hc = record
        .config
        .healthcheck
        .clone()
        .filter(|h| health::active(Some(h)))
        .ok_or_else(|| ContainerError::Invalid(format!("container {query} has no healthcheck")))?;
    if record.state.status != Status::Running {
        return Err(ContainerError::NotRunning(query.to_string()));
    }
    let argv = health::probe_argv(&hc).ok_or_else(|| {
        ContainerError::Invalid(format!(
            "container {query}: healthcheck {:?} is neither CMD nor CMD-SHELL",
            hc.test
        ))
    })?;
    let start = now_text();
    let timeout = nanos(health::timeout(&hc));
    let (exit_code, output) = run_in_container(ctx, &record.id, argv, timeout)?;
    let probe = Probe {
        start,
        end: now_text(),
        exit_code,
        output,
    };
    let _lock = ctx.store.lock(&record.id)?;
    let mut fresh = ctx.store.load(&record.id)?;
    if fresh.state.status == Status::Running {
        let started = fresh
            .state
            .started_at
            .as_deref()
            .and_then(crate::timefmt::parse)
            .map(|t| t.as_second())
            .unwrap_or(0);
        let in_start_period =
            crate::timefmt::now().as_second() < started + hc.start_period / 1_000_000_000;
        let mut h = fresh.state.health.take().unwrap_or_else(Health::starting);
        let changed = h.record(probe, in_start_period, health::retries(&hc));
        let status = h.status.clone();
        fresh.state.health = Some(h);
        ctx.store.save_state(&fresh)?;
        if changed {
            ctx.container_event(&fresh, &format!("health_status: {status}"), &[]);
        }
    }
    Ok(i32::from(exit_code != 0))
}

/// The check as an `exec` in a child of ours whose stdout and stderr are one pipe; killed
/// (with what it started: exec's processes die with their parent) at the timeout.
fn run_in_container(
    ctx: &Ctx,
    id: &str,
    command: Vec<String>,
    timeout: Duration,
) -> Result<(i32, String), ContainerError> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| super::io_err("pipe")(e.into()))?;
    let req = ExecRequest {
        command,
        env: Vec::new(),
        user: None,
        workdir: None,
        detach: false,
        interactive: false,
        tty: false,
    };
    // SAFETY: the child only redirects its output and runs exec, then leaves with _exit.
    let child = match unsafe { nix::unistd::fork() }.map_err(|e| super::io_err("fork")(e.into()))? {
        nix::unistd::ForkResult::Child => {
            drop(read);
            for fd in [1, 2] {
                // SAFETY: dup2 onto this process's own standard descriptors.
                unsafe { libc::dup2(write.as_raw_fd(), fd) };
            }
            let code = match super::exec::exec(ctx, id, &req) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    e.exit_code()
                }
            };
            // SAFETY: leave without the parent's exit handlers.
            unsafe { libc::_exit(code & 0xff) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop(write);
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = output.clone();
    // Read as it comes, so a chatty check never blocks on a full pipe; kept: the first 4 KiB.
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::from(read);
        let mut buf = [0u8; 4096];
        while let Ok(n) = file.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut out) = sink.lock() {
                let room = health::OUTPUT_BYTES.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    });
    let pidfd = pidfd_open(child.as_raw()).map_err(super::io_err("pidfd_open"))?;
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let exit_code = if pidfd_wait(&pidfd, millis) {
        let code = crate::monitor::reap(child.as_raw());
        let _ = reader.join();
        code
    } else {
        let _ = pidfd_send_signal(&pidfd, libc::SIGKILL);
        crate::monitor::reap(child.as_raw());
        if let Ok(mut out) = output.lock() {
            *out =
                format!("Health check exceeded timeout ({}s)", timeout.as_secs_f64()).into_bytes();
        }
        -1
    };
    let text = output
        .lock()
        .map(|o| String::from_utf8_lossy(&o).into_owned())
        .unwrap_or_default();
    Ok((exit_code, text))
}

/// The monitor's schedule: a prober every interval (every start interval while the start
/// period lasts), one at a time.
pub struct Prober<'c> {
    ctx: &'c Ctx,
    id: String,
    interval: Duration,
    start_interval: Duration,
    start_period_ends: Instant,
    next: Instant,
    running: Option<(i32, OwnedFd)>,
}

impl<'c> Prober<'c> {
    /// For a container that has an active healthcheck; None otherwise.
    pub fn new(
        ctx: &'c Ctx,
        id: &str,
        healthcheck: Option<&crate::image::config::Healthcheck>,
    ) -> Option<Prober<'c>> {
        let hc = healthcheck.filter(|h| health::active(Some(h)))?;
        let now = Instant::now();
        let start_period_ends = now + nanos(hc.start_period);
        let mut p = Prober {
            ctx,
            id: id.to_string(),
            interval: nanos(health::interval(hc)),
            start_interval: nanos(health::start_interval(hc)),
            start_period_ends,
            next: now,
            running: None,
        };
        p.next = now + p.gap();
        Some(p)
    }

    fn gap(&self) -> Duration {
        if Instant::now() < self.start_period_ends {
            self.start_interval.min(self.interval)
        } else {
            self.interval
        }
    }
}

impl crate::monitor::Ticker for Prober<'_> {
    fn due(&self) -> Option<Instant> {
        self.running.is_none().then_some(self.next)
    }

    fn tick(&mut self) {
        // SAFETY: the monitor is single-threaded; the child probes and leaves with _exit.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                let code = probe(self.ctx, &self.id).unwrap_or(1);
                // SAFETY: leave without the monitor's exit handlers.
                unsafe { libc::_exit(code) }
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => match pidfd_open(child.as_raw()) {
                Ok(fd) => self.running = Some((child.as_raw(), fd)),
                Err(_) => {
                    crate::monitor::reap(child.as_raw());
                    self.next = Instant::now() + self.gap();
                }
            },
            Err(_) => self.next = Instant::now() + self.gap(),
        }
    }

    fn watch(&self) -> Option<BorrowedFd<'_>> {
        self.running.as_ref().map(|(_, fd)| fd.as_fd())
    }

    fn reaped(&mut self) {
        if let Some((pid, _)) = self.running.take() {
            crate::monitor::reap(pid);
        }
        self.next = Instant::now() + self.gap();
    }
}
