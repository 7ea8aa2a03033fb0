//! The parent of a container's pid 1: copies its stdout/stderr to the json-file log (and to the
//! terminal in the foreground), forwards signals, and turns its end into an exit code.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::ns::spawn::{Spawned, pidfd_send_signal};

/// Signals a foreground `run` or `exec` passes on to the container, as docker's sig-proxy does.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
    Signal::SIGWINCH,
];

pub fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set
}

/// Block the forwarded signals now, before the container is cloned, so none is lost (or kills
/// us) between clone and the signalfd. The child unblocks them before exec.
pub fn block_forwarded() {
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded_set()), None);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line of docker's json-file log.
#[derive(Debug, Serialize, Deserialize)]
pub struct LogEntry {
    pub log: String,
    pub stream: Stream,
    pub time: String,
}

/// docker splits lines longer than this into several entries.
const MAX_PARTIAL: usize = 16 * 1024;

pub struct LogWriter {
    file: File,
    partial: [Vec<u8>; 2],
    /// `--log-opt max-size`/`max-file`: the file's path, bytes per file, files kept, and
    /// the current file's size.
    rotation: Option<(std::path::PathBuf, u64, u32, u64)>,
}

impl LogWriter {
    pub fn open(path: &Path) -> std::io::Result<LogWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(LogWriter {
            file,
            partial: [Vec::new(), Vec::new()],
            rotation: None,
        })
    }

    /// A log that moves to `path.1` (`path.2`, …, `files - 1` kept) when it would pass
    /// `max_size` bytes, as docker's json-file driver rotates.
    pub fn rotating(path: &Path, max_size: u64, files: u32) -> std::io::Result<LogWriter> {
        let mut w = LogWriter::open(path)?;
        let size = w.file.metadata().map_or(0, |m| m.len());
        w.rotation = Some((path.to_path_buf(), max_size, files, size));
        Ok(w)
    }

    /// Append whole lines; the rotation happens between lines, never inside one.
    fn append(&mut self, out: &[u8]) {
        let Some((_, max, _, _)) = self.rotation else {
            // A full disk must not stop the container's output: losing log lines is the
            // lesser harm.
            let _ = self.file.write_all(out);
            return;
        };
        let mut rest = out;
        while !rest.is_empty() {
            let size = self.rotation.as_ref().map_or(0, |r| r.3);
            // As many whole lines as fit; at least one, into an empty file.
            let mut take = 0;
            for (i, b) in rest.iter().enumerate() {
                if *b == b'\n' {
                    if size + (i + 1) as u64 > max && (take > 0 || size > 0) {
                        break;
                    }
                    take = i + 1;
                }
            }
            if take == 0 {
                if size == 0 {
                    // No line end at all (never from `encode`): written as it is.
                    let _ = self.file.write_all(rest);
                    return;
                }
                self.rotate();
                continue;
            }
            let _ = self.file.write_all(&rest[..take]);
            if let Some(r) = self.rotation.as_mut() {
                r.3 += take as u64;
            }
            rest = &rest[take..];
            if !rest.is_empty() {
                self.rotate();
            }
        }
    }

    /// path.(files-2) -> path.(files-1), …, path -> path.1, and a new path; one file kept:
    /// the log starts again.
    fn rotate(&mut self) {
        let Some((path, _, files, size)) = self.rotation.as_mut() else {
            return;
        };
        for n in (1..files.saturating_sub(1)).rev() {
            let _ = std::fs::rename(rotated(path, n), rotated(path, n + 1));
        }
        if *files > 1 {
            let _ = std::fs::rename(&*path, rotated(path, 1));
        } else {
            let _ = std::fs::remove_file(&*path);
        }
        if let Ok(f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&*path)
        {
            self.file = f;
        }
        *size = 0;
    }

    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let idx = stream as usize;
        self.partial[idx].extend_from_slice(data);
        let mut out = Vec::new();
        let buf = &mut self.partial[idx];
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
            encode(&mut out, stream, &buf[start..start + nl + 1]);
            start += nl + 1;
        }
        while buf.len() - start >= MAX_PARTIAL {
            encode(&mut out, stream, &buf[start..start + MAX_PARTIAL]);
            start += MAX_PARTIAL;
        }
        buf.drain(..start);
        if !out.is_empty() {
            self.append(&out);
        }
    }

    /// Write out unterminated output, at the end.
    pub fn finish(&mut self) {
        let mut out = Vec::new();
        for (idx, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            if !self.partial[idx].is_empty() {
                encode(&mut out, stream, &self.partial[idx]);
                self.partial[idx].clear();
            }
        }
        if !out.is_empty() {
            self.append(&out);
        }
    }
}

/// `ctr.log.N`: the Nth older file of a rotated log.
pub fn rotated(path: &Path, n: u32) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    std::path::PathBuf::from(name)
}

/// Append one json-file line. Hand-written rather than through serde and jiff: this runs in
/// the long-lived monitor for every line, and keeping its code small keeps the monitor's
/// resident memory small.
fn encode(out: &mut Vec<u8>, stream: Stream, line: &[u8]) {
    out.extend_from_slice(b"{\"log\":\"");
    let text = String::from_utf8_lossy(line);
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.extend_from_slice(match stream {
        Stream::Stdout => b"\",\"stream\":\"stdout\",\"time\":\"",
        Stream::Stderr => b"\",\"stream\":\"stderr\",\"time\":\"",
    });
    out.extend_from_slice(rfc3339_now().as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// The current UTC time as RFC 3339 with nanoseconds, e.g. `2026-11-23T02:47:06.405525180Z`.
fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_utc(now.as_secs() as i64, now.subsec_nanos())
}

fn rfc3339_utc(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub struct Outputs {
    pub stdout: OwnedFd,
    /// None with a pty: one stream carries both.
    pub stderr: Option<OwnedFd>,
}

/// An interactive container's side of attach: its input, and the socket clients use.
pub struct Interactive {
    pub server: crate::attach::Server,
    /// Where client input goes: the pty master, or the write end of the stdin pipe.
    pub input: Option<OwnedFd>,
    pub tty: bool,
    /// Hold output back until the first client connects (`run -it`: the CLI attaches right
    /// after start and must not miss the first prompt), at most this long.
    pub hold_for_client: Option<std::time::Duration>,
}

/// How the monitor relays a container.
/// Something handed a container's output as it comes.
pub type OutputTap<'a> = dyn FnMut(Stream, &[u8]) + 'a;

/// Work the monitor does on a schedule while the container runs (healthchecks): each piece
/// is a process of its own, so the monitor only starts it and watches it end.
pub trait Ticker {
    /// When `tick` is next wanted (None: not now, e.g. while a probe runs).
    fn due(&self) -> Option<std::time::Instant>;
    fn tick(&mut self);
    /// A pidfd to wake up for (the running probe).
    fn watch(&self) -> Option<BorrowedFd<'_>>;
    /// The watched process ended.
    fn reaped(&mut self);
}

/// The terminating signal an `end_on_signal` relay received (0: none).
static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The signal that ended an `end_on_signal` relay, if one did (cleared by the call).
pub fn take_interrupted() -> Option<i32> {
    let s = INTERRUPTED.swap(0, std::sync::atomic::Ordering::SeqCst);
    (s != 0).then_some(s)
}

pub struct Relay<'a, 't> {
    pub log: Option<LogWriter>,
    /// Copy output to our own stdout/stderr too (attached foreground).
    pub echo: bool,
    /// Hand output to this too (a build's live view draws a step's output itself).
    pub tap: Option<&'a mut OutputTap<'a>>,
    /// Forward FORWARDED signals (blocked beforehand with `block_forwarded`).
    pub forward_signals: bool,
    /// A terminating signal (INT, TERM, HUP, QUIT) kills the process instead of being
    /// forwarded, and is kept for `take_interrupted` (a build's RUN: Ctrl-C cancels the build,
    /// whatever the command does with SIGINT).
    pub end_on_signal: bool,
    pub interactive: Option<Interactive>,
    pub ticker: Option<&'t mut dyn Ticker>,
}

/// Relay until the process exits and its output is drained; returns docker's exit code
/// (the status, or 128+N for a signal).
pub fn supervise(child: &Spawned, outputs: Option<Outputs>, mut relay: Relay<'_, '_>) -> i32 {
    let sigfd = if relay.forward_signals {
        SignalFd::with_flags(&forwarded_set(), SfdFlags::SFD_CLOEXEC).ok()
    } else {
        None
    };
    let mut open: Vec<(OwnedFd, Stream)> = Vec::new();
    if let Some(o) = outputs {
        open.push((o.stdout, Stream::Stdout));
        open.extend(o.stderr.map(|e| (e, Stream::Stderr)));
    }
    let mut status: Option<i32> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let started = std::time::Instant::now();
    loop {
        if status.is_some() && open.is_empty() {
            break;
        }
        // Also after the exit: a command that ends at once (`run -t … true`) must still reach
        // the client that is about to connect, or it would find no socket.
        let holding = relay.interactive.as_ref().is_some_and(|i| {
            !i.server.seen_client && i.hold_for_client.is_some_and(|d| started.elapsed() < d)
        });
        let mut fds: Vec<PollFd> = if holding {
            Vec::new()
        } else {
            open.iter()
                .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect()
        };
        let n_out = fds.len();
        let attach_at = fds.len();
        let attach_fds: Vec<std::os::fd::BorrowedFd> = relay
            .interactive
            .as_ref()
            .map(|i| i.server.poll_fds())
            .unwrap_or_default();
        let n_attach = attach_fds.len();
        fds.extend(
            attach_fds
                .into_iter()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        let pid_idx = status.is_none().then(|| {
            fds.push(PollFd::new(child.pidfd.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let sig_idx = sigfd.as_ref().filter(|_| status.is_none()).map(|s| {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let ticking = relay.ticker.as_deref().filter(|_| status.is_none());
        let tick_idx = ticking.and_then(|t| t.watch()).map(|fd| {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
            fds.len() - 1
        });
        let tick_due = ticking.and_then(|t| t.due());
        // Once pid 1 is gone its namespace is torn down and every writer with it; the timeout
        // only guards against a writer that somehow escaped.
        let timeout = if status.is_some() {
            PollTimeout::from(2000u16)
        } else if holding {
            PollTimeout::from(50u16)
        } else if let Some(due) = tick_due {
            let ms = due
                .saturating_duration_since(std::time::Instant::now())
                .as_millis();
            PollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX))
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(0) if holding => continue,
            Ok(0) if tick_due.is_some() => {
                drop(fds);
                if let Some(t) = relay.ticker.as_deref_mut()
                    && t.due().is_some_and(|d| d <= std::time::Instant::now())
                {
                    t.tick();
                }
                continue;
            }
            Ok(0) => break,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        // Output first, so nothing written just before exit is lost.
        let mut closed = Vec::new();
        for (i, (fd, stream)) in open.iter().enumerate().take(n_out) {
            if !ready[i] {
                continue;
            }
            match nix::unistd::read(fd.as_fd(), &mut buf) {
                Ok(0) => closed.push(i),
                Ok(n) => {
                    if let Some(log) = relay.log.as_mut() {
                        log.write(*stream, &buf[..n]);
                    }
                    if relay.echo {
                        let target = if *stream == Stream::Stdout { 1 } else { 2 };
                        write_all_fd(target, &buf[..n]);
                    }
                    if let Some(tap) = relay.tap.as_mut() {
                        tap(*stream, &buf[..n]);
                    }
                    if let Some(i) = relay.interactive.as_mut() {
                        let kind = if *stream == Stream::Stdout {
                            crate::attach::STDOUT
                        } else {
                            crate::attach::STDERR
                        };
                        i.server.broadcast(kind, &buf[..n]);
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                // EIO: the pty's slave side is closed (every process of the container is gone).
                Err(_) => closed.push(i),
            }
        }
        if let Some(inter) = relay.interactive.as_mut() {
            let requests = inter
                .server
                .service(&ready[attach_at..attach_at + n_attach]);
            for r in requests {
                handle_request(inter, child, r);
            }
        }
        for i in closed.into_iter().rev() {
            open.remove(i);
        }
        if let Some(i) = sig_idx
            && ready[i]
            && let Some(Ok(Some(info))) = sigfd.as_ref().map(|s| s.read_signal())
        {
            let signo = info.ssi_signo as i32;
            if relay.end_on_signal
                && [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT].contains(&signo)
            {
                INTERRUPTED.store(signo, std::sync::atomic::Ordering::SeqCst);
                let _ = pidfd_send_signal(&child.pidfd, libc::SIGKILL);
            } else {
                let _ = pidfd_send_signal(&child.pidfd, signo);
            }
        }
        if let Some(i) = tick_idx
            && ready[i]
            && let Some(t) = relay.ticker.as_deref_mut()
        {
            t.reaped();
        }
        if let Some(i) = pid_idx
            && ready[i]
        {
            status = Some(reap(child.pid));
        }
    }
    if let Some(log) = relay.log.as_mut() {
        log.finish();
    }
    let code = status.unwrap_or_else(|| reap(child.pid));
    if let Some(i) = relay.interactive.as_mut() {
        i.server.broadcast(crate::attach::EXIT, &code.to_le_bytes());
    }
    code
}

fn handle_request(inter: &mut Interactive, child: &Spawned, r: crate::attach::Request) {
    use crate::attach::Request;
    match r {
        Request::Input(data) => {
            if let Some(fd) = &inter.input {
                let _ = crate::attach::write_fd(fd.as_fd(), &data);
            }
        }
        Request::CloseInput => {
            if inter.tty {
                // End of input on a terminal is its EOF character, not a hangup.
                if let Some(fd) = &inter.input {
                    let _ = crate::attach::write_fd(fd.as_fd(), &[4]);
                }
            } else {
                inter.input = None;
            }
        }
        Request::Resize(rows, cols) => {
            if inter.tty
                && let Some(fd) = &inter.input
            {
                crate::ns::pty::set_window_size(fd.as_fd(), rows, cols);
            }
        }
        Request::Signal(sig) => {
            let _ = pidfd_send_signal(&child.pidfd, sig);
        }
    }
}

pub fn write_all_fd(fd: i32, mut data: &[u8]) {
    // SAFETY: fds 1 and 2 stay open for the life of the process.
    let out = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(out, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            // The reader went away (a closed pipe): keep logging, stop echoing.
            Err(_) => return,
        }
    }
}

pub fn reap(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}

/// A pipe for one output stream: (read end for the monitor, write end for the container).
pub fn output_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

fn is_own_binary(path: &str) -> bool {
    std::fs::read_link("/proc/self/exe").is_ok_and(|exe| exe == std::path::Path::new(path))
}

/// A detached monitor lives as long as its container, so it should not keep the CLI's
/// footprint: drop the page mappings of every executable (never written) file mapping and
/// return free heap to the kernel. The few code pages the relay loop needs fault back in from
/// the page cache. Writable or relocated mappings are left alone: discarding them would lose
/// data.
pub fn trim_memory() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let offset = f.next().unwrap_or("");
        let path = f.nth(2).unwrap_or("");
        // Code, and this binary's first segment (headers and read-only data, mapped from
        // offset 0 and never relocated: RELRO is a later segment).
        let ours_first =
            perms == "r--p" && offset.trim_start_matches('0').is_empty() && is_own_binary(path);
        if !(perms == "r-xp" || ours_first) || !path.starts_with('/') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // SAFETY: read-only, private, executable file mappings hold no data of ours: dropping
        // their pages only means refaulting them from the file.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
    // SAFETY: glibc's malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_split_on_newlines_and_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctr.log");
        let mut w = LogWriter::open(&path).expect("open");
        w.write(Stream::Stdout, b"hel");
        w.write(Stream::Stdout, b"lo\nwor");
        w.write(Stream::Stderr, b"oops\n");
        w.finish();
        let lines: Vec<LogEntry> = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        let got: Vec<(&str, Stream)> = lines.iter().map(|e| (e.log.as_str(), e.stream)).collect();
        assert_eq!(
            got,
            vec![
                ("hello\n", Stream::Stdout),
                ("oops\n", Stream::Stderr),
                ("wor", Stream::Stdout)
            ]
        );
        assert!(crate::timefmt::parse(&lines[0].time).is_some());
    }

    #[test]
    fn hand_encoded_lines_are_valid_json() {
        let mut out = Vec::new();
        encode(
            &mut out,
            Stream::Stderr,
            "tab\t \"q\" \\ \u{1} é\n".as_bytes(),
        );
        let e: LogEntry = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(e.log, "tab\t \"q\" \\ \u{1} é\n");
        assert_eq!(e.stream, Stream::Stderr);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(rfc3339_utc(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339_utc(951_782_400, 5),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            rfc3339_utc(1_795_000_000, 0),
            jiff::Timestamp::from_second(1_795_000_000)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S.000000000Z").to_string())
                .unwrap_or_default()
        );
    }
}
