//! Attaching to a container through its monitor: a unix socket per interactive container in
//! the runtime dir, and a small framed protocol over it.
//!
//! Every frame is `[kind u8][len u32 LE][payload]`.
//! - client -> monitor: STDIN data, STDIN_EOF, RESIZE (rows u16, cols u16), SIGNAL (i32)
//! - monitor -> client: STDOUT / STDERR data, EXIT (the container's exit code, i32)
//!
//! The monitor serves any number of clients (output goes to all, input comes from all); the
//! client side (`attach`, `run -it`) puts the terminal in raw mode, sends window sizes,
//! watches for the detach keys, and returns the exit code the monitor reports.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

pub const STDIN: u8 = 0;
pub const STDIN_EOF: u8 = 1;
pub const RESIZE: u8 = 2;
pub const SIGNAL: u8 = 3;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const EXIT: u8 = 3;

/// The container's attach socket (short id: unix socket paths are limited to 108 bytes).
pub fn socket_path(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("attach").join(&id[..12.min(id.len())])
}

pub fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(5 + payload.len());
    f.push(kind);
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// Take complete frames off the front of `buf`.
pub fn parse_frames(buf: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() - at >= 5 {
        let len = u32::from_le_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        if buf.len() - at - 5 < len {
            break;
        }
        out.push((buf[at], buf[at + 5..at + 5 + len].to_vec()));
        at += 5 + len;
    }
    buf.drain(..at);
    out
}

/// docker's `--detach-keys`: `ctrl-p,ctrl-q`, `ctrl-a`, `a,b`: a key sequence.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let bad = || {
            format!(
                "invalid --detach-keys {spec:?}: expected comma-separated keys such as ctrl-p,ctrl-q (a letter, or ctrl- with a-z, @, [, \\\\, ], ^, _)"
            )
        };
        if let Some(c) = key.strip_prefix("ctrl-") {
            let mut chars = c.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else {
                return Err(bad());
            };
            let code = match ch.to_ascii_lowercase() {
                l @ 'a'..='z' => l as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(bad()),
            };
            out.push(code);
        } else {
            let mut chars = key.chars();
            match (chars.next(), chars.next()) {
                (Some(ch), None) if ch.is_ascii() => out.push(ch as u8),
                _ => return Err(bad()),
            }
        }
    }
    if out.is_empty() {
        return Err(format!("invalid --detach-keys {spec:?}: no keys"));
    }
    Ok(out)
}

/// The monitor's side: the listening socket and the clients it serves.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    clients: Vec<Client>,
    /// Whether any client ever connected (the first one releases held-back output).
    pub seen_client: bool,
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
}

/// What a client asked for.
pub enum Request {
    Input(Vec<u8>),
    CloseInput,
    Resize(u16, u16),
    Signal(i32),
}

impl Server {
    pub fn bind(path: &Path) -> std::io::Result<Server> {
        if let Some(dir) = path.parent() {
            crate::config::ensure_dir(dir, 0o700)?;
        }
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            clients: Vec::new(),
            seen_client: false,
        })
    }

    /// The descriptors to poll: the listener first, then each client.
    pub fn poll_fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.listener.as_fd()];
        v.extend(self.clients.iter().map(|c| c.stream.as_fd()));
        v
    }

    /// Handle readiness (`ready[i]` for `poll_fds()[i]`); returns what clients asked for.
    pub fn service(&mut self, ready: &[bool]) -> Vec<Request> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (i, client) in self.clients.iter_mut().enumerate() {
            if !ready.get(i + 1).copied().unwrap_or(false) {
                continue;
            }
            let mut buf = [0u8; 8192];
            match client.stream.read(&mut buf) {
                Ok(0) | Err(_) => gone.push(i),
                Ok(n) => {
                    client.inbuf.extend_from_slice(&buf[..n]);
                    for (kind, payload) in parse_frames(&mut client.inbuf) {
                        out.push(match kind {
                            STDIN => Request::Input(payload),
                            STDIN_EOF => Request::CloseInput,
                            RESIZE if payload.len() == 4 => Request::Resize(
                                u16::from_le_bytes([payload[0], payload[1]]),
                                u16::from_le_bytes([payload[2], payload[3]]),
                            ),
                            SIGNAL if payload.len() == 4 => Request::Signal(i32::from_le_bytes([
                                payload[0], payload[1], payload[2], payload[3],
                            ])),
                            _ => continue,
                        });
                    }
                }
            }
        }
        for i in gone.into_iter().rev() {
            self.clients.remove(i);
        }
        if ready.first().copied().unwrap_or(false) {
            while let Ok((stream, _)) = self.listener.accept() {
                // Blocking writes: a client that stops reading slows the relay rather than
                // losing its output.
                let _ = stream.set_nonblocking(false);
                self.clients.push(Client {
                    stream,
                    inbuf: Vec::new(),
                });
                self.seen_client = true;
            }
        }
        out
    }

    pub fn broadcast(&mut self, kind: u8, data: &[u8]) {
        let f = frame(kind, data);
        self.clients.retain_mut(|c| c.stream.write_all(&f).is_ok());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// How a client attaches.
pub struct ClientOptions {
    pub stdin: bool,
    pub tty: bool,
    pub detach_keys: Vec<u8>,
    pub sig_proxy: bool,
}

/// How an attach ended.
pub enum Ended {
    Exited(i32),
    Detached,
    /// The monitor went away without an exit code (read the record instead).
    Lost,
}

/// Signals the attaching CLI passes on (sig-proxy), plus WINCH for resizes.
fn client_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::Signal;
    let mut set = nix::sys::signal::SigSet::empty();
    for s in [
        Signal::SIGWINCH,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(s);
    }
    set
}

fn send_size(stream: &mut UnixStream) {
    if let Some((rows, cols)) = crate::ns::pty::window_size(std::io::stdout().as_fd())
        .or_else(|| crate::ns::pty::window_size(std::io::stdin().as_fd()))
    {
        let mut p = rows.to_le_bytes().to_vec();
        p.extend_from_slice(&cols.to_le_bytes());
        let _ = stream.write_all(&frame(RESIZE, &p));
    }
}

/// Attach to the monitor at `path` until the container exits or the user detaches. The
/// terminal (raw mode when `tty` and stdin is one) is restored on every way out.
pub fn attach(path: &Path, opts: &ClientOptions) -> std::io::Result<Ended> {
    use nix::sys::signal::{SigmaskHow, sigprocmask};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut stream = UnixStream::connect(path)?;
    let signals = client_signals();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), None);
    let sigfd = SignalFd::with_flags(&signals, SfdFlags::SFD_CLOEXEC)?;
    let use_raw = opts.tty && opts.stdin && std::io::IsTerminal::is_terminal(&std::io::stdin());
    let raw = if use_raw {
        crate::ns::pty::RawMode::enter()
    } else {
        None
    };
    if opts.tty {
        send_size(&mut stream);
    }
    let result = relay(&mut stream, &sigfd, opts);
    drop(raw);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&signals), None);
    result
}

fn relay(
    stream: &mut UnixStream,
    sigfd: &nix::sys::signalfd::SignalFd,
    opts: &ClientOptions,
) -> std::io::Result<Ended> {
    let mut stdin_open = opts.stdin;
    let mut inbuf = Vec::new();
    let mut matched = 0usize;
    let mut buf = vec![0u8; 32 * 1024];
    let stdin = std::io::stdin();
    loop {
        let mut fds = vec![
            PollFd::new(stream.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(Ended::Lost);
            }
            inbuf.extend_from_slice(&buf[..n]);
            for (kind, payload) in parse_frames(&mut inbuf) {
                match kind {
                    // A reader that went away (a closed pipe) stops the echo, not the attach.
                    STDOUT => {
                        let _ = write_fd(std::io::stdout().as_fd(), &payload);
                    }
                    STDERR => {
                        let _ = write_fd(std::io::stderr().as_fd(), &payload);
                    }
                    EXIT if payload.len() == 4 => {
                        return Ok(Ended::Exited(i32::from_le_bytes([
                            payload[0], payload[1], payload[2], payload[3],
                        ])));
                    }
                    _ => {}
                }
            }
        }
        if ready[1]
            && let Ok(Some(info)) = sigfd.read_signal()
        {
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGWINCH {
                if opts.tty {
                    send_size(stream);
                }
            } else if opts.sig_proxy {
                stream.write_all(&frame(SIGNAL, &sig.to_le_bytes()))?;
            } else {
                return Ok(Ended::Detached);
            }
        }
        if stdin_open && ready.get(2).copied().unwrap_or(false) {
            let n = match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                Err(_) => 0,
            };
            if n == 0 {
                stdin_open = false;
                stream.write_all(&frame(STDIN_EOF, &[]))?;
                continue;
            }
            // Detach keys (with a tty only, as docker): held back while they might match.
            let mut forward = Vec::with_capacity(n);
            for &b in &buf[..n] {
                if opts.tty && b == opts.detach_keys[matched] {
                    matched += 1;
                    if matched == opts.detach_keys.len() {
                        return Ok(Ended::Detached);
                    }
                    continue;
                }
                if matched > 0 {
                    forward.extend_from_slice(&opts.detach_keys[..matched]);
                    matched = 0;
                }
                forward.push(b);
            }
            if !forward.is_empty() {
                stream.write_all(&frame(STDIN, &forward))?;
            }
        }
    }
}

/// Write all of `data` (blocking), for the monitor's writes into the container's input.
pub fn write_fd(fd: BorrowedFd, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `exec -it`: relay between this terminal and a pty master directly (no monitor), until the
/// process exits; returns once the master is drained.
pub fn relay_local_pty(
    master: &OwnedFd,
    child_pidfd: &OwnedFd,
    stdin: bool,
) -> std::io::Result<()> {
    use nix::sys::signal::{SigmaskHow, Signal, sigprocmask};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let mut winch = nix::sys::signal::SigSet::empty();
    winch.add(Signal::SIGWINCH);
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&winch), None);
    let sigfd = SignalFd::with_flags(&winch, SfdFlags::SFD_CLOEXEC)?;
    let size = || {
        crate::ns::pty::window_size(std::io::stdout().as_fd())
            .or_else(|| crate::ns::pty::window_size(std::io::stdin().as_fd()))
    };
    if let Some((r, c)) = size() {
        crate::ns::pty::set_window_size(master.as_fd(), r, c);
    }
    let raw = if stdin && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        crate::ns::pty::RawMode::enter()
    } else {
        None
    };
    let stdin_fd = std::io::stdin();
    let mut stdin_open = stdin;
    let mut exited = false;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigfd.as_fd(), PollFlags::POLLIN),
        ];
        if !exited {
            fds.push(PollFd::new(child_pidfd.as_fd(), PollFlags::POLLIN));
        }
        let stdin_idx = stdin_open.then(|| {
            fds.push(PollFd::new(stdin_fd.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let timeout = if exited {
            PollTimeout::from(200u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
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
        if ready[0] {
            match nix::unistd::read(master.as_fd(), &mut buf) {
                Ok(0) | Err(nix::errno::Errno::EIO) => break,
                Ok(n) => {
                    let _ = write_fd(std::io::stdout().as_fd(), &buf[..n]);
                }
                Err(_) => {}
            }
        }
        if ready[1]
            && sigfd.read_signal().is_ok()
            && let Some((r, c)) = size()
        {
            crate::ns::pty::set_window_size(master.as_fd(), r, c);
        }
        if !exited && ready.get(2).copied().unwrap_or(false) {
            exited = true;
        }
        if let Some(i) = stdin_idx
            && ready[i]
        {
            match nix::unistd::read(stdin_fd.as_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    // End of input on a tty is its EOF character.
                    let _ = nix::unistd::write(master.as_fd(), &[4u8]);
                }
                Ok(n) => {
                    let _ = nix::unistd::write(master.as_fd(), &buf[..n]);
                }
            }
        }
    }
    drop(raw);
    let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&winch), None);
    let _ = master.as_raw_fd();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_partial_reads() {
        let mut wire = frame(STDOUT, b"hello");
        wire.extend(frame(EXIT, &3i32.to_le_bytes()));
        let mut buf = wire[..7].to_vec();
        let first = parse_frames(&mut buf);
        assert!(first.is_empty(), "incomplete frame waits");
        buf.extend_from_slice(&wire[7..]);
        let all = parse_frames(&mut buf);
        assert_eq!(
            all,
            vec![
                (STDOUT, b"hello".to_vec()),
                (EXIT, 3i32.to_le_bytes().to_vec())
            ]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(parse_detach_keys("ctrl-a"), Ok(vec![1]));
        assert_eq!(parse_detach_keys("x,ctrl-@"), Ok(vec![b'x', 0]));
        for bad in ["", "ctrl-", "ctrl-pp", "alt-x", "ctrl-1", "ab"] {
            assert!(parse_detach_keys(bad).is_err(), "{bad}");
        }
    }
}
