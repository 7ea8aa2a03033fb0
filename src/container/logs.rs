//! `logs`: read the json-file log, with --tail, --since/--until, -t, and -f that ends when the
//! container does.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};

use jiff::Timestamp;

use super::{ContainerError, Ctx, io_err};
use crate::monitor::{LogEntry, Stream};
use crate::state::container::Status;

#[derive(Debug, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub tail: Option<usize>,
    pub timestamps: bool,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Put before each line (compose's `web-1  | `).
    pub prefix: Option<String>,
}

pub fn logs(ctx: &Ctx, query: &str, opts: &LogOptions) -> Result<(), ContainerError> {
    let record = ctx.find(query)?;
    if record.config.log.keeps_nothing() {
        return Err(ContainerError::Invalid(format!(
            "container {query} was started with --log-driver none: there is no log to read"
        )));
    }
    let path = ctx.log_path(&record.id);
    let mut entries = Vec::new();
    // Rotated files first, oldest first (`--log-opt max-file`).
    let kept = record.config.log.rotation().map_or(1, |(_, files)| files);
    for n in (1..kept).rev() {
        if let Ok(text) = std::fs::read_to_string(crate::monitor::rotated(&path, n)) {
            entries.extend(
                text.lines()
                    .filter_map(|l| serde_json::from_str::<LogEntry>(l).ok()),
            );
        }
    }
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        // Never started: no log yet, nothing to show.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
    };
    let inode = file
        .metadata()
        .map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m));
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(io_err("reading the log"))?;
        if n == 0 || !line.ends_with('\n') {
            break; // a line still being written is read by -f later
        }
        offset += n as u64;
        if let Ok(e) = serde_json::from_str::<LogEntry>(&line) {
            entries.push(e);
        }
    }
    entries.retain(|e| keep(e, opts));
    let skip = opts.tail.map_or(0, |t| entries.len().saturating_sub(t));
    let mut out = Output {
        prefix: opts.prefix.clone(),
    };
    for e in &entries[skip..] {
        out.emit(e, opts.timestamps);
    }
    out.flush();
    if !opts.follow {
        return Ok(());
    }
    follow(ctx, &record.id, &path, (inode, offset), opts, &mut out)
}

fn keep(e: &LogEntry, opts: &LogOptions) -> bool {
    let Ok(t) = e.time.parse::<Timestamp>() else {
        return true;
    };
    opts.since.is_none_or(|s| t >= s) && opts.until.is_none_or(|u| t <= u)
}

fn follow(
    ctx: &Ctx,
    id: &str,
    path: &std::path::Path,
    (mut inode, mut offset): (u64, u64),
    opts: &LogOptions,
    out: &mut Output,
) -> Result<(), ContainerError> {
    let mut pending = Vec::new();
    loop {
        // Decide whether this is the last round before reading, so output written just before
        // the exit is still shown.
        let done = match ctx.load_live(id) {
            Ok(r) => r.state.status != Status::Running,
            Err(_) => true,
        };
        if let Ok(mut f) = std::fs::File::open(path) {
            // A new file: the log rotated; read it from its start.
            let ino = f
                .metadata()
                .map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m));
            if ino != inode {
                inode = ino;
                offset = 0;
            }
            let _ = f.seek(SeekFrom::Start(offset));
            let mut chunk = Vec::new();
            let _ = f.read_to_end(&mut chunk);
            offset += chunk.len() as u64;
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(nl) = pending[start..].iter().position(|b| *b == b'\n') {
                if let Ok(e) = serde_json::from_slice::<LogEntry>(&pending[start..start + nl])
                    && keep(&e, opts)
                {
                    out.emit(&e, opts.timestamps);
                }
                start += nl + 1;
            }
            pending.drain(..start);
            out.flush();
        }
        if done {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Writes entries in log order to our stdout or stderr, as the container wrote them.
#[derive(Default)]
struct Output {
    prefix: Option<String>,
}

impl Output {
    fn emit(&mut self, e: &LogEntry, timestamps: bool) {
        let mut line = Vec::with_capacity(e.log.len() + 40);
        if let Some(p) = &self.prefix {
            line.extend_from_slice(p.as_bytes());
        }
        if timestamps {
            line.extend_from_slice(e.time.as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(e.log.as_bytes());
        // A closed pipe (`logs | head`) just ends the output.
        let _ = match e.stream {
            // One write per line keeps the lines of several followers (compose) whole.
            Stream::Stdout => std::io::stdout().lock().write_all(&line),
            Stream::Stderr => {
                let _ = std::io::stdout().flush();
                std::io::stderr().write_all(&line)
            }
        };
    }

    fn flush(&mut self) {
        let _ = std::io::stdout().flush();
    }
}
