//! `events` (and `system events`): the journal's events, filtered and formatted as docker
//! prints them; without `--until`, it then follows new ones as they are appended, woken by
//! inotify (no polling), until its reader goes away.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;

use clap::Args;
use serde_json::{Value, json};

use super::CliError;
use crate::container::Ctx;
use crate::state::events::{Event, Journal};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show events created since this time (RFC 3339, unix seconds, or a duration like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (same forms; `now`); without it, follow new events
    #[arg(long)]
    pub until: Option<String>,
    /// container=, image=, event=, type=, label=, network=, volume= (repeatable)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Go template, or json
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug)]
struct Filter {
    key: &'static str,
    value: String,
}

const KEYS: &[&str] = &[
    "container",
    "image",
    "event",
    "type",
    "label",
    "network",
    "volume",
];

fn parse_filter(s: &str) -> Result<Filter, CliError> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| CliError::Usage(format!("invalid filter {s:?}: expected key=value")))?;
    let key = KEYS.iter().find(|known| **known == k).ok_or_else(|| {
        CliError::Usage(format!(
            "invalid filter {k:?}: supported are {}",
            KEYS.join(", ")
        ))
    })?;
    Ok(Filter {
        key,
        value: v.to_string(),
    })
}

fn time_arg(flag: &str, v: &Option<String>) -> Result<Option<i64>, CliError> {
    let Some(v) = v else { return Ok(None) };
    let t = if v == "now" {
        Some(crate::timefmt::now())
    } else {
        crate::timefmt::parse_since(v)
    };
    t.map(|t| Some(i64::try_from(t.as_nanosecond()).unwrap_or(i64::MAX)))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "invalid --{flag} {v:?}: expected a time (RFC 3339, unix seconds) or a duration such as 10m"
            ))
        })
}

fn one(e: &Event, f: &Filter) -> bool {
    let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str);
    let v = f.value.as_str();
    match f.key {
        "type" => e.kind == v,
        // "health_status: healthy" is event health_status; exec_start likewise.
        "event" => e.action == v || e.action.split(':').next() == Some(v),
        "container" => {
            e.kind == "container" && (e.actor.id.starts_with(v) || attr("name") == Some(v))
        }
        "image" => {
            (e.kind == "image" && (e.actor.id == v || attr("name") == Some(v)))
                || (e.kind == "container" && attr("image") == Some(v))
        }
        "network" => e.kind == "network" && (e.actor.id.starts_with(v) || attr("name") == Some(v)),
        "volume" => e.kind == "volume" && e.actor.id == v,
        "label" => match v.split_once('=') {
            Some((k, val)) => attr(k) == Some(val),
            None => attr(v).is_some(),
        },
        _ => false,
    }
}

/// docker: different keys must all match, values of one key any.
fn matches(e: &Event, filters: &[Filter]) -> bool {
    KEYS.iter().all(|k| {
        let mut of_key = filters.iter().filter(|f| f.key == *k).peekable();
        of_key.peek().is_none() || of_key.any(|f| one(e, f))
    })
}

/// The fields as Go templates name them (`.Type`, `.Actor.Attributes.exitCode`, `.ID`).
fn template_value(e: &Event) -> Value {
    json!({
        "Status": e.status, "ID": e.id, "From": e.from, "Type": e.kind, "Action": e.action,
        "Actor": {"ID": e.actor.id, "Attributes": e.actor.attributes},
        "Scope": e.scope, "Time": e.time, "TimeNano": e.time_nano,
    })
}

enum Out {
    Plain,
    Json,
    Template(gotmpl::Template),
}

fn line(e: &Event, out: &Out) -> Result<String, CliError> {
    Ok(match out {
        Out::Json => serde_json::to_string(e).unwrap_or_default(),
        Out::Template(t) => super::format::render(t, &template_value(e))?,
        Out::Plain => {
            let when = jiff::Timestamp::from_nanosecond(i128::from(e.time_nano))
                .map(|t| format!("{t:.9}"))
                .unwrap_or_default();
            let attrs: Vec<String> = e
                .actor
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(
                "{when} {} {} {} ({})",
                e.kind,
                e.action,
                e.actor.id,
                attrs.join(", ")
            )
        }
    })
}

pub fn events(ctx: &Ctx, a: EventsArgs) -> Result<i32, CliError> {
    let since = time_arg("since", &a.since)?;
    let until = time_arg("until", &a.until)?;
    let filters = a
        .filter
        .iter()
        .map(|f| parse_filter(f))
        .collect::<Result<Vec<_>, _>>()?;
    let out = match a.format.as_deref() {
        None => Out::Plain,
        Some("json") | Some("{{json .}}") => Out::Json,
        Some(t) => Out::Template(super::format::compile(t)?),
    };
    let journal = Journal::new(&ctx.paths.runroot);
    let in_range = |e: &Event| {
        since.is_none_or(|s| e.time_nano >= s) && until.is_none_or(|u| e.time_nano <= u)
    };
    let mut stdout = std::io::stdout().lock();
    let mut print = |e: &Event| -> Result<bool, CliError> {
        if in_range(e) && matches(e, &filters) {
            let text = line(e, &out)?;
            // The reader went away (`events | head`): stop quietly.
            if writeln!(stdout, "{text}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return Ok(false);
            }
        }
        Ok(true)
    };
    // Where the history ends, so following starts right after it.
    let start = std::fs::metadata(journal.current()).ok();
    // docker: without --since or --until, only what happens from now on.
    if since.is_some() || until.is_some() {
        for e in journal.read_all() {
            if !print(&e)? {
                return Ok(0);
            }
        }
    }
    let now = i64::try_from(crate::timefmt::now().as_nanosecond()).unwrap_or(i64::MAX);
    if until.is_some_and(|u| u <= now) {
        return Ok(0);
    }
    follow(&journal, start, until, &mut print)
}

/// New lines as they are appended (and across a rotation), until `until` or a closed reader.
fn follow(
    journal: &Journal,
    start: Option<std::fs::Metadata>,
    until: Option<i64>,
    print: &mut dyn FnMut(&Event) -> Result<bool, CliError>,
) -> Result<i32, CliError> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let path = journal.current();
    let dir = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let notify = Inotify::init(InitFlags::IN_CLOEXEC)
        .map_err(|e| CliError::Usage(format!("inotify: {e}")))?;
    notify
        .add_watch(
            &dir,
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_FROM,
        )
        .map_err(|e| CliError::Usage(format!("watching {}: {e}", dir.display())))?;
    let (mut inode, mut offset) = start.map_or((0, 0), |m| (m.ino(), m.len()));
    let mut pending = String::new();
    loop {
        // Read what is new; a new inode means the file was rotated: read it from the start.
        if let Ok(mut f) = std::fs::File::open(&path) {
            let meta = f.metadata().ok();
            let ino = meta.as_ref().map_or(0, MetadataExt::ino);
            if ino != inode {
                inode = ino;
                offset = 0;
            }
            let mut chunk = String::new();
            if f.seek(std::io::SeekFrom::Start(offset)).is_ok()
                && let Ok(n) = f.read_to_string(&mut chunk)
            {
                offset += n as u64;
                pending.push_str(&chunk);
            }
        }
        while let Some(nl) = pending.find('\n') {
            let l: String = pending.drain(..=nl).collect();
            if let Ok(e) = serde_json::from_str::<Event>(l.trim_end())
                && !print(&e)?
            {
                return Ok(0);
            }
        }
        let now = i64::try_from(crate::timefmt::now().as_nanosecond()).unwrap_or(i64::MAX);
        let wait_ms = match until {
            Some(u) if u <= now => return Ok(0),
            Some(u) => i32::try_from((u - now) / 1_000_000 + 1).unwrap_or(i32::MAX),
            None => -1,
        };
        // Woken by the next append; also by stdout closing (POLLERR on a pipe's write end).
        let stdout = std::io::stdout();
        let mut fds = [
            nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&notify),
                nix::poll::PollFlags::POLLIN,
            ),
            nix::poll::PollFd::new(
                std::os::fd::AsFd::as_fd(&stdout),
                nix::poll::PollFlags::empty(),
            ),
        ];
        let timeout =
            nix::poll::PollTimeout::try_from(wait_ms).unwrap_or(nix::poll::PollTimeout::NONE);
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) => {
                if fds[1].revents().is_some_and(|r| {
                    r.intersects(nix::poll::PollFlags::POLLERR | nix::poll::PollFlags::POLLHUP)
                }) {
                    return Ok(0);
                }
                if fds[0].revents().is_some_and(|r| !r.is_empty()) {
                    let _ = notify.read_events();
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(CliError::Usage(format!("waiting for events: {e}"))),
        }
    }
}
