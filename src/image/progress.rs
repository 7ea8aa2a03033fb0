//! Per-layer progress for pull and push on stderr: when it is a terminal, one line per layer
//! redrawn in place (`a1b2c3d4e5f6: Downloading  12.3MB/48.0MB`); otherwise only the status
//! changes, as plain lines; with `-q`, nothing.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    mode: Mode,
    board: Mutex<Board>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Quiet,
    Lines,
    Live,
}

struct Board {
    rows: Vec<(String, String)>,
    drawn: usize,
    last_draw: Option<Instant>,
}

/// A layer's line on the board.
#[derive(Clone, Copy)]
pub struct Row(usize);

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        };
        Progress {
            mode,
            board: Mutex::new(Board {
                rows: Vec::new(),
                drawn: 0,
                last_draw: None,
            }),
        }
    }

    /// A line that is not a layer's (`latest: Pulling from library/busybox`).
    pub fn say(&self, line: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        let mut board = self.lock();
        if self.mode == Mode::Live && board.drawn > 0 {
            // Above the board: clear it, print the line, draw the board again below.
            eprintln!("\x1b[{}A\x1b[J{line}", board.drawn);
            board.drawn = 0;
            self.draw(&mut board);
        } else {
            eprintln!("{line}");
        }
    }

    /// The layers are done: their lines stay as they are, what follows is printed below.
    pub fn finish(&self) {
        let mut board = self.lock();
        board.rows.clear();
        board.drawn = 0;
    }

    pub fn row(&self, id: &str, status: &str) -> Row {
        let mut board = self.lock();
        board.rows.push((id.to_string(), String::new()));
        let row = Row(board.rows.len() - 1);
        drop(board);
        self.status(row, status);
        row
    }

    /// A new status: always shown.
    pub fn status(&self, row: Row, status: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        let mut board = self.lock();
        let Some(entry) = board.rows.get_mut(row.0) else {
            return;
        };
        entry.1 = status.to_string();
        if self.mode == Mode::Lines {
            eprintln!("{}: {status}", entry.0);
        } else {
            self.draw(&mut board);
        }
    }

    /// Bytes moved so far: live mode only, at most ten redraws a second.
    pub fn bytes(&self, row: Row, verb: &str, done: u64, total: u64) {
        if self.mode != Mode::Live {
            return;
        }
        let mut board = self.lock();
        if board
            .last_draw
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        if let Some(entry) = board.rows.get_mut(row.0) {
            entry.1 = format!("{verb:<12}{}", transfer(done, total));
            self.draw(&mut board);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn draw(&self, board: &mut Board) {
        let mut err = std::io::stderr().lock();
        let mut out = String::new();
        if board.drawn > 0 {
            out.push_str(&format!("\x1b[{}A", board.drawn));
        }
        for (id, status) in &board.rows {
            out.push_str(&format!("\x1b[2K{id}: {status}\n"));
        }
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
        board.drawn = board.rows.len();
        board.last_draw = Some(Instant::now());
    }
}

/// `12.3MB/48.0MB`, in docker's decimal units.
pub fn transfer(done: u64, total: u64) -> String {
    if total == 0 {
        return crate::cli::format::human_size(done);
    }
    format!(
        "{}/{}",
        crate::cli::format::human_size(done),
        crate::cli::format::human_size(total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_reads_like_dockers() {
        assert_eq!(transfer(12_300_000, 48_000_000), "12.3MB/48MB");
        assert_eq!(transfer(512, 0), "512B");
    }
}
