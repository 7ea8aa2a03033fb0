//! Dockerfile parser: text to typed instructions, with docker/BuildKit's syntax rules.
//!
//! No variable is expanded here. The engine expands each instruction's raw words with
//! [`super::expand`] when it runs it, because ARG and ENV values depend on the stage
//! and on `--build-arg`.
//!
//! The reading follows BuildKit's `frontend/dockerfile/parser`: parser directives at the
//! very top, comments removed (also between continuation lines), the escape character
//! at the end of a line joining it to the next, then heredoc bodies for RUN/COPY/ADD.

use super::instruction::{Ctx, extract_flags, parse_json, split_first_word};

#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    pub escape: char,
    /// The `# syntax=` directive, recorded but not acted upon.
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// The instruction as written, continuation lines joined with the escape+newline
    /// removed and runs of whitespace kept; used for history and the cache key.
    pub original: String,
    pub kind: Kind,
}

/// A JSON array is the exec form; anything else is the shell form, kept raw.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdForm {
    Shell(String),
    Exec(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Heredoc {
    pub name: String,
    /// The body, each line with its newline; with `strip_tabs`, already without the
    /// leading tabs.
    pub content: String,
    /// False when the delimiter was quoted (`'EOF'` or `"EOF"`): no expansion.
    pub expand: bool,
    /// `<<-` form: leading tabs stripped from content lines.
    pub strip_tabs: bool,
}

/// `--from=x` is `("from", Some("x"))`, `--link` is `("link", None)`; in order, and
/// `--mount`/`--exclude` may repeat. Quotes and escapes in flag words are removed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Flags(pub Vec<(String, Option<String>)>);

impl Flags {
    /// The last value of a flag given with `=`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value of a repeatable flag (`--mount`, `--exclude`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// A boolean flag: `--link` or `--link=true` is true, absent or `=false` is false.
    pub fn bool(&self, name: &str) -> bool {
        match self.0.iter().rev().find(|(n, _)| n == name) {
            Some((_, None)) => true,
            Some((_, Some(v))) => v.eq_ignore_ascii_case("true"),
            None => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `image` is raw (may contain `$ARG`); `alias` is lower-cased, as docker does.
    From {
        flags: Flags,
        image: String,
        alias: Option<String>,
    },
    /// For a heredoc RUN, `cmd` is the text of the first line (`Shell("<<EOF")`).
    Run {
        flags: Flags,
        cmd: CmdForm,
        heredocs: Vec<Heredoc>,
    },
    Cmd(CmdForm),
    Entrypoint(CmdForm),
    /// Raw keys and values; `ENV k v w` (legacy form) is `[("k", "v w")]`.
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Maintainer(String),
    Expose(Vec<String>),
    /// `sources` are raw words in order, heredoc words (`<<EOF`) included; the bodies of
    /// those are in `heredocs`.
    Add {
        flags: Flags,
        sources: Vec<String>,
        dest: String,
        heredocs: Vec<Heredoc>,
    },
    Copy {
        flags: Flags,
        sources: Vec<String>,
        dest: String,
        heredocs: Vec<Heredoc>,
    },
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Stopsignal(String),
    /// The trigger as written (without `ONBUILD`), followed by its heredoc bodies and
    /// terminators if it has any, so [`parse_instruction`] can read it back.
    Onbuild(String),
    Shell(Vec<String>),
    Healthcheck(Health),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    None,
    Check {
        test: CmdForm,
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{file}:{line}: unknown instruction: {name}")]
    UnknownInstruction {
        file: String,
        line: usize,
        name: String,
    },
    #[error("{file}:{line}: unknown flag: --{flag}")]
    UnknownFlag {
        file: String,
        line: usize,
        flag: String,
    },
    #[error("{file}:{line}: unterminated heredoc: {name}")]
    UnterminatedHeredoc {
        file: String,
        line: usize,
        name: String,
    },
    #[error("{file}:{line}: {what}")]
    Invalid {
        file: String,
        line: usize,
        what: String,
    },
}

impl ParseError {
    pub fn line(&self) -> usize {
        match self {
            ParseError::UnknownInstruction { line, .. }
            | ParseError::UnknownFlag { line, .. }
            | ParseError::UnterminatedHeredoc { line, .. }
            | ParseError::Invalid { line, .. } => *line,
        }
    }
}

/// Parse a whole Dockerfile. `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let invalid = |line: usize, what: String| ParseError::Invalid {
        file: file.to_string(),
        line,
        what,
    };

    // Directives are comments of the form `# name=value` before anything else; the
    // first line that is not one (even a blank line) ends them.
    let mut escape = '\\';
    let mut syntax = None;
    let mut seen: Vec<String> = Vec::new();
    let mut start = 0;
    while let Some(line) = lines.get(start) {
        let Some((name, value)) = directive(line) else {
            break;
        };
        let lineno = start + 1;
        if seen.contains(&name) {
            return Err(invalid(
                lineno,
                format!("only one {name} parser directive can be used"),
            ));
        }
        match name.as_str() {
            "escape" => match value.as_str() {
                "\\" => escape = '\\',
                "`" => escape = '`',
                _ => {
                    return Err(invalid(
                        lineno,
                        format!("invalid escape token '{value}' does not match ` or \\"),
                    ));
                }
            },
            "syntax" => syntax = Some(value),
            // `# check=` configures BuildKit's linter, which we do not have.
            _ => {}
        }
        seen.push(name);
        start += 1;
    }

    let mut reader = Reader {
        lines: &lines,
        pos: start,
        first_line: 1,
        escape,
        file,
    };
    let mut instructions = Vec::new();
    while let Some(instruction) = reader.next_instruction()? {
        instructions.push(instruction);
    }

    let Some(last) = instructions.last() else {
        return Err(invalid(
            lines.len().max(1),
            "file with no instructions".to_string(),
        ));
    };
    // Only ARG may come before the first FROM: it declares the args FROM lines use.
    match instructions
        .iter()
        .find(|i| !matches!(i.kind, Kind::Arg(_)))
    {
        None => {
            return Err(invalid(
                last.line,
                "dockerfile contains no stages to build: FROM is missing".to_string(),
            ));
        }
        Some(i) if !matches!(i.kind, Kind::From { .. }) => {
            let name = i.original.split_whitespace().next().unwrap_or_default();
            return Err(invalid(
                i.line,
                format!(
                    "no build stage in current context: {} before the first FROM (only ARG may come before FROM)",
                    name.to_uppercase()
                ),
            ));
        }
        Some(_) => {}
    }

    Ok(Dockerfile {
        escape,
        syntax,
        instructions,
    })
}

/// Parse one instruction's text (for ONBUILD triggers run in a child build). Heredoc
/// bodies may follow the first line, as in [`Kind::Onbuild`]. `line` numbers the first
/// line in error messages.
pub fn parse_instruction(
    text: &str,
    line: usize,
    file: &str,
    escape: char,
) -> Result<Instruction, ParseError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut reader = Reader {
        lines: &lines,
        pos: 0,
        first_line: line,
        escape,
        file,
    };
    let invalid = |what: &str| ParseError::Invalid {
        file: file.to_string(),
        line,
        what: what.to_string(),
    };
    let instruction = reader
        .next_instruction()?
        .ok_or_else(|| invalid("empty instruction"))?;
    if reader.next_instruction()?.is_some() {
        return Err(invalid("expected a single instruction"));
    }
    Ok(instruction)
}

/// `# name = value` with a known directive name, lower-cased.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = trim_newline(line)
        .trim_start()
        .strip_prefix('#')?
        .trim_start();
    let (name, value) = rest.split_once('=')?;
    let name = name.trim_end();
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric());
    let name = name.to_ascii_lowercase();
    let value = value.trim();
    if !valid || value.is_empty() || !["syntax", "escape", "check"].contains(&name.as_str()) {
        return None;
    }
    Some((name, value.to_string()))
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Walks the lines of a file, one logical instruction (plus its heredocs) at a time.
struct Reader<'a> {
    lines: &'a [&'a str],
    pos: usize,
    /// The number of `lines[0]` in the file.
    first_line: usize,
    escape: char,
    file: &'a str,
}

impl<'a> Reader<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        let line = *self.lines.get(self.pos)?;
        self.pos += 1;
        Some(line)
    }

    /// `line` without its continuation escape, and whether the instruction ends here.
    /// An escape preceded by another escape is a literal one, not a continuation.
    fn continuation(&self, line: &str) -> (String, bool) {
        let trimmed = line.trim_end_matches([' ', '\t']);
        if let Some(before) = trimmed.strip_suffix(self.escape)
            && (before.is_empty() || !before.ends_with(self.escape))
        {
            return (before.to_string(), false);
        }
        (line.to_string(), true)
    }

    fn next_instruction(&mut self) -> Result<Option<Instruction>, ParseError> {
        loop {
            let Some(raw) = self.next_line() else {
                return Ok(None);
            };
            let first = trim_newline(raw).trim_start();
            if first.starts_with('#') {
                continue;
            }
            let (mut buf, mut done) = self.continuation(first);
            if done && buf.is_empty() {
                continue;
            }
            let start = self.first_line + self.pos - 1;
            while !done {
                let Some(raw) = self.next_line() else { break };
                let line = trim_newline(raw);
                // Comments and blank lines inside a continuation are dropped; the
                // instruction carries on with the next real line.
                if is_comment(line) || line.trim().is_empty() {
                    continue;
                }
                let (text, end) = self.continuation(line);
                buf.push_str(&text);
                done = end;
            }
            if buf.trim().is_empty() {
                continue;
            }
            return self.instruction(buf, start).map(Some);
        }
    }

    /// Read the bodies of the heredocs the instruction line announced.
    fn heredoc_bodies(
        &mut self,
        heads: Vec<HeredocHead>,
        line: usize,
    ) -> Result<Vec<Heredoc>, ParseError> {
        let mut docs = Vec::new();
        for head in heads {
            let mut content = String::new();
            let mut terminated = false;
            while let Some(raw) = self.next_line() {
                let mut candidate = trim_newline(raw);
                if head.strip_tabs {
                    candidate = candidate.trim_start_matches('\t');
                }
                if candidate == head.name {
                    terminated = true;
                    break;
                }
                // `<<-` strips leading tabs from the body too, so the script can be
                // indented like the Dockerfile around it.
                if head.strip_tabs {
                    content.push_str(raw.trim_start_matches('\t'));
                } else {
                    content.push_str(raw);
                }
            }
            if !terminated {
                return Err(ParseError::UnterminatedHeredoc {
                    file: self.file.to_string(),
                    line,
                    name: head.name,
                });
            }
            docs.push(Heredoc {
                name: head.name,
                content,
                expand: head.expand,
                strip_tabs: head.strip_tabs,
            });
        }
        Ok(docs)
    }

    fn instruction(&mut self, original: String, line: usize) -> Result<Instruction, ParseError> {
        let (name, rest) = split_first_word(original.trim());
        let cmd = name.to_ascii_lowercase();
        let (raw_flags, args) = extract_flags(rest, self.escape);
        let args = args.trim();

        // Heredocs belong to RUN/COPY/ADD in shell form, also as an ONBUILD trigger.
        let heredoc_capable = |cmd: &str, args: &str| {
            matches!(cmd, "run" | "copy" | "add") && !matches!(parse_json(args), Ok(Some(_)))
        };
        let capable = if cmd == "onbuild" {
            let (child, child_rest) = split_first_word(args);
            let (_, child_args) = extract_flags(child_rest, self.escape);
            heredoc_capable(&child.to_ascii_lowercase(), child_args.trim())
        } else {
            heredoc_capable(&cmd, args)
        };
        let heredocs = if capable && original.contains("<<") {
            let heads = heredoc_heads(&original);
            self.heredoc_bodies(heads, line)?
        } else {
            Vec::new()
        };

        let ctx = Ctx {
            file: self.file,
            line,
            escape: self.escape,
            name,
        };
        let flags = ctx.flags(&cmd, raw_flags, args)?;
        let kind = ctx.kind(&cmd, flags, args, &original, heredocs)?;
        Ok(Instruction {
            line,
            original,
            kind,
        })
    }
}

/// What `<<EOF` on an instruction line announces.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HeredocHead {
    pub(super) name: String,
    pub(super) expand: bool,
    pub(super) strip_tabs: bool,
}

/// The heredocs announced on an instruction line, in order. Words are split as
/// BuildKit's lexer does with raw quotes: a quoted `"<<EOF"` is no heredoc, and
/// `<< EOF` (with a space) is one. The escape here is always `\`, as in BuildKit.
fn heredoc_heads(line: &str) -> Vec<HeredocHead> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            '\\' => {
                word.push(c);
                word.extend(chars.next());
            }
            '\'' | '"' => {
                word.push(c);
                loop {
                    match chars.next() {
                        // BuildKit finds no heredoc at all on a line it cannot lex.
                        None => return Vec::new(),
                        Some(q) if q == c => break word.push(q),
                        Some('\\') if c == '"' => {
                            word.push('\\');
                            word.extend(chars.next());
                        }
                        Some(other) => word.push(other),
                    }
                }
            }
            '<' if chars.peek() == Some(&'<') => {
                chars.next();
                word.push_str("<<");
                while let Some(&s) = chars.peek().filter(|s| matches!(s, ' ' | '\t' | '\r')) {
                    word.push(s);
                    chars.next();
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words.iter().filter_map(|w| heredoc_word(w)).collect()
}

/// The delimiter a COPY/ADD source word such as `<<EOF`, `<<-"EOF"` or `2<<EOF` names,
/// quotes removed; `None` when the word is an ordinary path. Use it to match
/// `Kind::Copy::sources` against `heredocs`.
pub fn heredoc_name(word: &str) -> Option<String> {
    heredoc_word(word).map(|h| h.name)
}

/// Parse one word as `[digits]<<[-][space]NAME`; `None` when it is not a heredoc.
pub(super) fn heredoc_word(word: &str) -> Option<HeredocHead> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    // Quote removal decides the name; any quoting at all turns expansion off.
    let mut name = String::new();
    let mut quoted = false;
    let mut chars = rest.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                quoted = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => name.push(c),
            (_, '\\') => name.extend(chars.next()),
            (_, c) if quote.is_none() && c.is_whitespace() => return None,
            (_, c) => name.push(c),
        }
    }
    if quote.is_some() || name.is_empty() {
        return None;
    }
    Some(HeredocHead {
        name,
        expand: !quoted,
        strip_tabs,
    })
}

#[cfg(test)]
#[path = "dockerfile_tests.rs"]
mod tests;
