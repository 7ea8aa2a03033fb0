//! What a build shows while it runs, in one of three modes:
//!
//! - plain (no terminal, `--progress plain`): docker's classic builder, a line per event
//!   (`Step 3/12 : RUN make`, the RUN's own output as it comes, ` ---> 1a2b3c4d5e6f (0.41s)`),
//!   which reads well in a CI log;
//! - live (stdout a terminal, `--progress auto|tty`): one line per step that is redrawn in
//!   place, with the last lines of a running step's output under it; when the step ends the
//!   output is wiped and the line keeps its time (or CACHED). A failing step's output is
//!   printed whole, so the error is never lost with the redraw;
//! - quiet (`-q`, `--progress quiet`): nothing.
//!
//! The live view redraws only when something happens (output, a step's end): skiff stays
//! single-threaded (it forks), so there is no ticking clock.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::time::Instant;

/// How many lines of a running step's output the live view shows.
const WINDOW: usize = 6;
/// How many of its last lines are kept to print if the step fails.
const TAIL: usize = 200;
/// The live view redraws at most this often for output (a step's end always redraws).
const REDRAW_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Plain,
    Live,
}

impl Mode {
    /// `--progress` (and `-q`) to a mode; `auto` is live on a terminal, plain elsewhere.
    pub fn choose(progress: &str, quiet: bool, stdout_is_terminal: bool) -> Mode {
        match progress {
            _ if quiet => Mode::Quiet,
            "quiet" => Mode::Quiet,
            "plain" => Mode::Plain,
            "tty" => Mode::Live,
            _ if stdout_is_terminal && std::env::var("TERM").is_ok_and(|t| t != "dumb") => {
                Mode::Live
            }
            _ => Mode::Plain,
        }
    }
}

pub struct Log {
    mode: Mode,
    live: RefCell<Live>,
}

/// The step being drawn, and how many terminal lines the last drawing took.
#[derive(Default)]
struct Live {
    header: Option<String>,
    started: Option<Instant>,
    cached: bool,
    lines: Lines,
    drawn: usize,
    last_draw: Option<Instant>,
}

impl Log {
    pub fn new(mode: Mode) -> Log {
        Log {
            mode,
            live: RefCell::new(Live::default()),
        }
    }

    /// Whether a RUN's output goes straight to our stdout/stderr (plain mode).
    pub fn echoes(&self) -> bool {
        self.mode == Mode::Plain
    }

    /// Whether a RUN's output should be handed to [`Log::output`] (live mode).
    pub fn draws(&self) -> bool {
        self.mode == Mode::Live
    }

    /// Any other line (`Successfully built …`, ONBUILD notes).
    pub fn line(&self, s: &str) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => println!("{s}"),
            Mode::Live => {
                self.settle(false);
                println!("{s}");
            }
        }
    }

    /// A step begins.
    pub fn step(&self, no: usize, total: usize, text: &str) {
        let header = format!("Step {no}/{total} : {text}");
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => println!("{header}"),
            Mode::Live => {
                self.settle(false);
                let mut live = self.live.borrow_mut();
                live.header = Some(header);
                live.started = Some(Instant::now());
                live.cached = false;
                live.lines = Lines::default();
                drop(live);
                self.redraw(true);
            }
        }
    }

    /// A RUN step's container is made.
    pub fn running(&self, id: &str) {
        if self.mode == Mode::Plain {
            println!(" ---> Running in {}", &id[..id.len().min(12)]);
        }
    }

    /// The step was found in the cache.
    pub fn cached(&self) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => println!(" ---> Using cache"),
            Mode::Live => self.live.borrow_mut().cached = true,
        }
    }

    /// The step ended with this cache key; `timed` shows how long it took.
    pub fn done(&self, key: &str, timed: Option<Instant>) {
        let short = &key[..key.len().min(12)];
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => match timed {
                Some(t) => println!(" ---> {short} ({})", super::elapsed(t)),
                None => println!(" ---> {short}"),
            },
            Mode::Live => self.settle(false),
        }
    }

    /// Output of a running RUN step (live mode).
    pub fn output(&self, bytes: &[u8]) {
        if self.mode != Mode::Live {
            return;
        }
        self.live.borrow_mut().lines.push(bytes);
        self.redraw(false);
    }

    /// The running step failed: its output is printed whole (its last lines).
    pub fn failed(&self) {
        if self.mode == Mode::Live {
            self.settle(true);
        }
    }

    /// Something else is about to write to the terminal (a pull's progress): the step's
    /// line is left as it is drawn, and nothing above it is redrawn again.
    pub fn interrupt(&self) {
        if self.mode == Mode::Live {
            let mut live = self.live.borrow_mut();
            live.header = None;
            live.drawn = 0;
        }
    }

    /// Redraw the step being run: its line and the last lines of its output.
    fn redraw(&self, force: bool) {
        let mut live = self.live.borrow_mut();
        if !force && live.last_draw.is_some_and(|t| t.elapsed() < REDRAW_EVERY) {
            return;
        }
        let Some(header) = live.header.clone() else {
            return;
        };
        let width = terminal_width();
        let elapsed = live.started.map(|s| s.elapsed().as_secs_f64());
        let window: Vec<&str> = live.lines.window(WINDOW);
        let frame = render(&header, elapsed, None, &window, width);
        let out = format!("{}{}", erase(live.drawn), frame);
        live.drawn = window.len() + 1;
        live.last_draw = Some(Instant::now());
        print_now(&out);
    }

    /// End the step being drawn: its line stays with its time (or CACHED), its output goes
    /// (or, `keep_output`, is printed whole after it).
    fn settle(&self, keep_output: bool) {
        let mut live = self.live.borrow_mut();
        let Some(header) = live.header.take() else {
            return;
        };
        let width = terminal_width();
        let status = if live.cached {
            "CACHED".to_string()
        } else {
            live.started
                .map(|s| format!("{:.1}s", s.elapsed().as_secs_f64()))
                .unwrap_or_default()
        };
        let mut out = erase(live.drawn);
        out.push_str(&render(&header, None, Some(&status), &[], width));
        if keep_output {
            for l in live.lines.tail() {
                out.push_str(l);
                out.push('\n');
            }
        }
        live.drawn = 0;
        live.lines = Lines::default();
        print_now(&out);
    }
}

impl Drop for Log {
    /// A build that stopped early (an error, an interrupt) leaves its last step's output.
    fn drop(&mut self) {
        if self.mode == Mode::Live {
            self.settle(true);
        }
    }
}

/// Move up over `n` drawn lines and clear from there to the end of the screen.
fn erase(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("\x1b[{n}F\x1b[J")
    }
}

/// One frame: the step's line (with its running time or final status), then its output
/// lines dimmed and indented; every line cut to the terminal's width.
fn render(
    header: &str,
    running_for: Option<f64>,
    status: Option<&str>,
    window: &[&str],
    width: usize,
) -> String {
    let right = match (status, running_for) {
        (Some(s), _) => s.to_string(),
        (None, Some(t)) => format!("{t:.1}s"),
        (None, None) => String::new(),
    };
    let room = width.saturating_sub(right.len() + 4).max(10);
    let mut out = format!("=> {:<room$} {right}\n", cut(header, room));
    for l in window {
        out.push_str(&format!(
            "\x1b[2m   {}\x1b[0m\n",
            cut(l, width.saturating_sub(4))
        ));
    }
    out
}

/// At most `n` characters of `s`.
fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

fn terminal_width() -> usize {
    use std::os::fd::AsFd;
    crate::ns::pty::window_size(std::io::stdout().as_fd())
        .map(|(_, cols)| cols as usize)
        .filter(|&c| c > 0)
        .unwrap_or(80)
}

fn print_now(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// A step's output as lines: the last [`TAIL`] whole ones, and the one being written.
/// A carriage return starts the line over (progress bars); other control characters are
/// dropped so the output cannot move the cursor the view relies on.
#[derive(Default)]
struct Lines {
    done: VecDeque<String>,
    current: String,
    pending: Vec<u8>,
    escape: Escape,
}

/// Where the reading is in a terminal escape sequence (colours, cursor moves): skipped.
#[derive(Default, Clone, Copy, PartialEq)]
enum Escape {
    #[default]
    None,
    Started,
    Csi,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        // Keep an incomplete UTF-8 sequence for the next read.
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let text = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
        self.pending.drain(..valid);
        for c in text.chars() {
            match (self.escape, c) {
                (Escape::Started, '[') => {
                    self.escape = Escape::Csi;
                    continue;
                }
                (Escape::Started, _) => {
                    self.escape = Escape::None;
                    continue;
                }
                (Escape::Csi, c) => {
                    if ('@'..='~').contains(&c) {
                        self.escape = Escape::None;
                    }
                    continue;
                }
                (Escape::None, '\x1b') => {
                    self.escape = Escape::Started;
                    continue;
                }
                _ => {}
            }
            match c {
                '\n' => {
                    let line = std::mem::take(&mut self.current);
                    self.done.push_back(line);
                    if self.done.len() > TAIL {
                        self.done.pop_front();
                    }
                }
                '\r' => self.current.clear(),
                '\t' => self.current.push_str("    "),
                c if c.is_control() => {}
                c => self.current.push(c),
            }
        }
    }

    /// The last `n` lines, the unfinished one included.
    fn window(&self, n: usize) -> Vec<&str> {
        let mut all: Vec<&str> = self.done.iter().map(String::as_str).collect();
        if !self.current.is_empty() {
            all.push(&self.current);
        }
        let skip = all.len().saturating_sub(n);
        all.split_off(skip)
    }

    /// Every kept line, the unfinished one included.
    fn tail(&self) -> Vec<&str> {
        self.window(TAIL + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_progress_quiet_and_the_terminal() {
        assert_eq!(Mode::choose("auto", true, true), Mode::Quiet);
        assert_eq!(Mode::choose("quiet", false, true), Mode::Quiet);
        assert_eq!(Mode::choose("plain", false, true), Mode::Plain);
        assert_eq!(Mode::choose("tty", false, false), Mode::Live);
        assert_eq!(Mode::choose("auto", false, false), Mode::Plain);
    }

    #[test]
    fn lines_split_on_newlines_restart_on_carriage_returns_and_drop_controls() {
        let mut l = Lines::default();
        l.push(b"one\ntw");
        l.push(b"o\n10%\r50%\r100%\x1b[K");
        assert_eq!(l.window(10), vec!["one", "two", "100%"]);
        assert_eq!(l.window(2), vec!["two", "100%"]);
        l.push(b"\n\x1b[1;31mred\x1b[0m\x07\n");
        assert_eq!(l.window(1), vec!["red"]);
    }

    #[test]
    fn a_utf8_sequence_split_across_reads_is_kept_whole() {
        let mut l = Lines::default();
        let s = "héllo\n".as_bytes();
        l.push(&s[..2]);
        l.push(&s[2..]);
        assert_eq!(l.window(1), vec!["héllo"]);
    }

    #[test]
    fn only_the_last_lines_are_kept() {
        let mut l = Lines::default();
        for i in 0..(TAIL + 50) {
            l.push(format!("{i}\n").as_bytes());
        }
        let tail = l.tail();
        assert_eq!(tail.len(), TAIL);
        assert_eq!(tail[0], "50");
    }

    #[test]
    fn frames_fit_the_terminal() {
        let f = render("Step 1/2 : RUN make all", None, Some("1.2s"), &[], 30);
        assert_eq!(f.lines().count(), 1);
        assert!(f.starts_with("=> Step 1/2 : RUN make"), "{f}");
        assert!(f.contains('…') && f.trim_end().chars().count() <= 30, "{f}");
        assert!(f.trim_end().ends_with("1.2s"), "{f}");
        let f = render("Step 1/2 : RUN x", Some(0.5), None, &["out"], 40);
        assert_eq!(f.lines().count(), 2);
        assert!(f.contains("0.5s") && f.contains("out"), "{f}");
        assert_eq!(erase(0), "");
        assert_eq!(erase(3), "\x1b[3F\x1b[J");
    }
}
