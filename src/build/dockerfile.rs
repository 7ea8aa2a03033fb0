//! Dockerfile parser: text to typed instructions, with docker/BuildKit's syntax rules.
//!
//! No variable is expanded here. The engine expands each instruction's raw words with
//! [`super::expand`] when it runs it, because ARG and ENV values depend on the stage
//! and on `--build-arg`.
//!
//! The reading follows BuildKit's `frontend/dockerfile/parser`: parser directives at the
//! very top, comments removed (also between continuation lines), the escape character
//! at the end of a line joining it to the next, then heredoc bodies for RUN/COPY/ADD.

use serde_json::Value;

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
struct HeredocHead {
    name: String,
    expand: bool,
    strip_tabs: bool,
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
fn heredoc_word(word: &str) -> Option<HeredocHead> {
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

fn split_first_word(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

/// Take the leading `--flag` words off an instruction's arguments, removing quotes and
/// escapes inside them; a lone `--` ends the flags. Returns the flags and the rest.
fn extract_flags(args: &str, escape: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while rest.starts_with("--") {
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut end = rest.len();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = i;
                    break;
                }
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == escape => {
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    }
                }
                _ => word.push(c),
            }
        }
        rest = rest[end..].trim_start();
        if word == "--" {
            break;
        }
        flags.push(word);
    }
    (flags, rest)
}

/// The JSON array form: `Ok(None)` when the text is not a JSON array (shell form),
/// an error when it is an array with something other than strings in it.
fn parse_json(args: &str) -> Result<Option<Vec<String>>, String> {
    if !args.trim_start().starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<Value>>(args) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(
                "when using JSON array syntax, arrays must be comprised of strings only"
                    .to_string(),
            ),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[derive(Clone, Copy, PartialEq)]
enum FlagType {
    Bool,
    String,
    Repeated,
}

fn allowed_flags(cmd: &str) -> &'static [(&'static str, FlagType)] {
    use FlagType::{Bool, Repeated, String as Str};
    match cmd {
        "from" => &[("platform", Str)],
        "run" => &[("mount", Repeated), ("network", Str), ("security", Str)],
        "copy" => &[
            ("from", Str),
            ("chown", Str),
            ("chmod", Str),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", Repeated),
        ],
        "add" => &[
            ("chown", Str),
            ("chmod", Str),
            ("checksum", Str),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("unpack", Bool),
            ("exclude", Repeated),
        ],
        "healthcheck" => &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
        _ => &[],
    }
}

/// Where an instruction is, for building it and its errors.
struct Ctx<'a> {
    file: &'a str,
    line: usize,
    escape: char,
    /// The instruction name as written.
    name: &'a str,
}

impl Ctx<'_> {
    fn err(&self, what: impl Into<String>) -> ParseError {
        ParseError::Invalid {
            file: self.file.to_string(),
            line: self.line,
            what: what.into(),
        }
    }

    fn upper(&self) -> String {
        self.name.to_ascii_uppercase()
    }

    fn flags(&self, cmd: &str, raw: Vec<String>, args: &str) -> Result<Flags, ParseError> {
        // BuildKit does not look at the flags of `HEALTHCHECK NONE` at all.
        if cmd == "healthcheck" && split_first_word(args).0.eq_ignore_ascii_case("none") {
            return Ok(Flags::default());
        }
        let allowed = allowed_flags(cmd);
        let mut flags = Flags::default();
        for word in raw {
            let body = word.strip_prefix("--").unwrap_or(&word);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            let Some(&(_, ty)) = allowed.iter().find(|(n, _)| *n == name) else {
                return Err(ParseError::UnknownFlag {
                    file: self.file.to_string(),
                    line: self.line,
                    flag: name,
                });
            };
            if ty != FlagType::Repeated && flags.0.iter().any(|(n, _)| *n == name) {
                return Err(self.err(format!("duplicate flag specified: --{name}")));
            }
            match (ty, value.as_deref()) {
                (FlagType::Bool, None) => {}
                (FlagType::Bool, Some(v))
                    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => {}
                (_, None) | (_, Some("")) => {
                    return Err(self.err(format!("missing a value on flag: --{name}")));
                }
                (FlagType::Bool, Some(v)) => {
                    return Err(self.err(format!(
                        "expecting boolean value for flag --{name}, not: {v}"
                    )));
                }
                _ => {}
            }
            flags.0.push((name, value));
        }
        Ok(flags)
    }

    fn at_least_one(&self) -> ParseError {
        self.err(format!("{} requires at least one argument", self.upper()))
    }

    fn exactly_one(&self, args: &str) -> Result<String, ParseError> {
        if args.is_empty() {
            return Err(self.err(format!("{} requires exactly one argument", self.upper())));
        }
        Ok(args.to_string())
    }

    fn json_or_shell(&self, args: &str) -> Result<CmdForm, ParseError> {
        match parse_json(args).map_err(|e| self.err(e))? {
            Some(v) => Ok(CmdForm::Exec(v)),
            None => Ok(CmdForm::Shell(args.to_string())),
        }
    }

    fn json_or_words(&self, args: &str) -> Result<Vec<String>, ParseError> {
        match parse_json(args).map_err(|e| self.err(e))? {
            Some(v) => Ok(v),
            None => Ok(args.split_whitespace().map(str::to_string).collect()),
        }
    }

    fn kind(
        &self,
        cmd: &str,
        flags: Flags,
        args: &str,
        original: &str,
        heredocs: Vec<Heredoc>,
    ) -> Result<Kind, ParseError> {
        Ok(match cmd {
            "from" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                let (image, alias) = match words.as_slice() {
                    [image] => (*image, None),
                    [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                        (*image, Some(stage_name(name).ok_or_else(|| {
                            self.err(format!(
                                "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                            ))
                        })?))
                    }
                    _ => return Err(self.err("FROM requires either one or three arguments")),
                };
                Kind::From {
                    flags,
                    image: image.to_string(),
                    alias,
                }
            }
            "run" => Kind::Run {
                flags,
                cmd: self.json_or_shell(args)?,
                heredocs,
            },
            "cmd" => Kind::Cmd(self.json_or_shell(args)?),
            "entrypoint" => Kind::Entrypoint(self.json_or_shell(args)?),
            "env" => Kind::Env(self.name_values(args)?),
            "label" => Kind::Label(self.name_values(args)?),
            "arg" => {
                let words = words_keeping_quotes(args, self.escape);
                if words.is_empty() {
                    return Err(self.at_least_one());
                }
                let mut pairs = Vec::new();
                for w in words {
                    let pair = match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (w, None),
                    };
                    if pair.0.is_empty() {
                        return Err(self.err("ARG names can not be blank"));
                    }
                    pairs.push(pair);
                }
                Kind::Arg(pairs)
            }
            "maintainer" => Kind::Maintainer(self.exactly_one(args)?),
            "user" => Kind::User(self.exactly_one(args)?),
            "workdir" => Kind::Workdir(self.exactly_one(args)?),
            "stopsignal" => Kind::Stopsignal(self.exactly_one(args)?),
            "expose" => {
                let ports: Vec<String> = args.split_whitespace().map(str::to_string).collect();
                if ports.is_empty() {
                    return Err(self.at_least_one());
                }
                Kind::Expose(ports)
            }
            "add" | "copy" => self.copy(cmd, flags, args, heredocs)?,
            "volume" => {
                let volumes = self.json_or_words(args)?;
                if volumes.is_empty() {
                    return Err(self.at_least_one());
                }
                if volumes.iter().any(|v| v.trim().is_empty()) {
                    return Err(self.err("VOLUME specified can not be an empty string"));
                }
                Kind::Volume(volumes.into_iter().map(|v| v.trim().to_string()).collect())
            }
            "shell" => match parse_json(args).map_err(|e| self.err(e))? {
                _ if args.is_empty() => return Err(self.at_least_one()),
                Some(v) if v.is_empty() => return Err(self.at_least_one()),
                Some(v) => Kind::Shell(v),
                None => return Err(self.err("SHELL requires the arguments to be in JSON form")),
            },
            "onbuild" => self.onbuild(args, original, heredocs)?,
            "healthcheck" => self.healthcheck(flags, args)?,
            _ => {
                return Err(ParseError::UnknownInstruction {
                    file: self.file.to_string(),
                    line: self.line,
                    name: self.name.to_string(),
                });
            }
        })
    }

    /// ENV and LABEL: `k=v ...` pairs, or the legacy `k v w` (one pair, the value
    /// being the rest of the line). Which form is decided by whether the first word
    /// has an `=`.
    fn name_values(&self, args: &str) -> Result<Vec<(String, String)>, ParseError> {
        let words = words_keeping_quotes(args, self.escape);
        let Some(first) = words.first() else {
            return Err(self.at_least_one());
        };
        if !first.contains('=') {
            let (key, value) = split_first_word(args);
            if value.is_empty() {
                return Err(self.err(format!("{} must have two arguments", self.upper())));
            }
            return Ok(vec![(key.to_string(), value.to_string())]);
        }
        let mut pairs = Vec::new();
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                return Err(self.err(format!(
                    "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                )));
            };
            if k.is_empty() {
                return Err(self.err(format!("{} names can not be blank", self.upper())));
            }
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(pairs)
    }

    fn copy(
        &self,
        cmd: &str,
        flags: Flags,
        args: &str,
        docs: Vec<Heredoc>,
    ) -> Result<Kind, ParseError> {
        let mut words = self.json_or_words(args)?;
        let upper = self.upper();
        let Some(dest) = words.pop().filter(|_| !words.is_empty()) else {
            return Err(self.err(format!(
                "{upper} requires at least two arguments, but only one was provided. Destination could not be determined"
            )));
        };
        if heredoc_word(&dest).is_some() {
            return Err(self.err(format!("{upper} cannot accept a heredoc as a destination")));
        }
        // Heredoc words stay in `sources`, in order, so the engine can place each one;
        // their bodies are in `heredocs`, matched by name.
        let heredocs = words
            .iter()
            .filter_map(|w| heredoc_word(w))
            .map(|head| {
                let content = docs
                    .iter()
                    .find(|d| d.name == head.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                finish_heredoc(head, content)
            })
            .collect();
        let sources = words;
        Ok(if cmd == "add" {
            Kind::Add {
                flags,
                sources,
                dest,
                heredocs,
            }
        } else {
            Kind::Copy {
                flags,
                sources,
                dest,
                heredocs,
            }
        })
    }

    fn onbuild(
        &self,
        args: &str,
        original: &str,
        heredocs: Vec<Heredoc>,
    ) -> Result<Kind, ParseError> {
        if args.is_empty() {
            return Err(self.at_least_one());
        }
        let trigger = split_first_word(args).0.to_ascii_uppercase();
        match trigger.as_str() {
            "ONBUILD" => {
                return Err(self.err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"));
            }
            "FROM" | "MAINTAINER" => {
                return Err(self.err(format!("{trigger} isn't allowed as an ONBUILD trigger")));
            }
            _ => {}
        }
        // The trigger text is what follows the ONBUILD keyword in the original, with the
        // raw heredoc bodies re-attached so the child build can parse it again.
        let mut text = split_first_word(original.trim_start()).1.to_string();
        for doc in &heredocs {
            text.push('\n');
            text.push_str(&doc.content);
            text.push_str(&doc.name);
        }
        parse_instruction(&text, self.line, self.file, self.escape)?;
        Ok(Kind::Onbuild(text))
    }

    fn healthcheck(&self, flags: Flags, args: &str) -> Result<Kind, ParseError> {
        let (typ, rest) = split_first_word(args);
        if typ.is_empty() {
            return Err(self.at_least_one());
        }
        let typ = typ.to_ascii_uppercase();
        if typ == "NONE" {
            if !rest.is_empty() {
                return Err(self.err("HEALTHCHECK NONE takes no arguments"));
            }
            return Ok(Kind::Healthcheck(Health::None));
        }
        if typ != "CMD" {
            return Err(self.err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)")));
        }
        let test = self.json_or_shell(rest)?;
        if matches!(&test, CmdForm::Exec(v) if v.is_empty()) || rest.is_empty() {
            return Err(self.err("Missing command after HEALTHCHECK CMD"));
        }
        let retries = flags.get("retries").map(str::to_string);
        if let Some(r) = &retries
            && r.parse::<i32>().map_or(true, |n| n < 0)
        {
            return Err(self.err(format!(
                "--retries must be a non-negative integer, not {r:?}"
            )));
        }
        let get = |n: &str| flags.get(n).map(str::to_string);
        Ok(Kind::Healthcheck(Health::Check {
            test,
            interval: get("interval"),
            timeout: get("timeout"),
            start_period: get("start-period"),
            start_interval: get("start-interval"),
            retries,
        }))
    }
}

fn finish_heredoc(head: HeredocHead, content: String) -> Heredoc {
    Heredoc {
        name: head.name,
        content,
        expand: head.expand,
        strip_tabs: head.strip_tabs,
    }
}

/// A stage name as docker accepts it, lower-cased: `^[a-z][a-z0-9-_.]*$`.
fn stage_name(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    ok.then_some(lower)
}

/// Split on whitespace outside quotes, keeping quotes and escapes in the words (the
/// engine removes them with `expand::process_word`). An escape at the very end is
/// dropped, as BuildKit does.
fn words_keeping_quotes(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word that had quotes is kept even if empty (`a=""` is still a word).
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if started || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                started = false;
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                started = true;
                word.push(c);
            }
            // Escapes work outside quotes and inside double quotes, never in single.
            q if c == escape && q != Some('\'') => {
                if let Some(n) = chars.next() {
                    word.push(c);
                    word.push(n);
                }
            }
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            _ => word.push(c),
        }
    }
    if started || !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn df(text: &str) -> Dockerfile {
        parse(text, "Dockerfile").unwrap()
    }

    /// The kinds of a Dockerfile's instructions after its `FROM scratch` first line.
    fn body(text: &str) -> Vec<Kind> {
        let d = df(&format!("FROM scratch\n{text}"));
        d.instructions.into_iter().skip(1).map(|i| i.kind).collect()
    }

    fn one(text: &str) -> Kind {
        body(text).remove(0)
    }

    fn err(text: &str) -> String {
        parse(text, "Dockerfile").unwrap_err().to_string()
    }

    fn shell(s: &str) -> CmdForm {
        CmdForm::Shell(s.to_string())
    }

    fn exec(v: &[&str]) -> CmdForm {
        CmdForm::Exec(v.iter().map(|s| s.to_string()).collect())
    }

    fn flag(n: &str, v: Option<&str>) -> (String, Option<String>) {
        (n.to_string(), v.map(str::to_string))
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn basic_file_with_lines_and_originals() {
        let d = df("# a comment\nfrom alpine:3.19 AS Build\n\nrun echo hi\n  CMD [\"sh\"]\n");
        assert_eq!(d.escape, '\\');
        assert_eq!(d.syntax, None);
        let lines: Vec<usize> = d.instructions.iter().map(|i| i.line).collect();
        assert_eq!(lines, [2, 4, 5]);
        assert_eq!(
            d.instructions[0].kind,
            Kind::From {
                flags: Flags::default(),
                image: "alpine:3.19".into(),
                alias: Some("build".into())
            }
        );
        assert_eq!(d.instructions[1].original, "run echo hi");
        assert_eq!(d.instructions[2].original, "CMD [\"sh\"]");
        assert_eq!(d.instructions[2].kind, Kind::Cmd(exec(&["sh"])));
    }

    #[test]
    fn continuations_comments_and_empty_lines() {
        let text = "FROM a\nRUN apt-get update &&   \\\n    make \\  \n# inside\n\n   \\\n  && done\nRUN echo \\\\\nRUN last \\";
        let d = df(text);
        // "   \\" is not an empty continuation line: its spaces are kept, as in BuildKit.
        let run = &d.instructions[1];
        assert_eq!(run.line, 2);
        assert_eq!(
            run.original,
            "RUN apt-get update &&       make      && done"
        );
        assert_eq!(
            run.kind,
            Kind::Run {
                flags: Flags::default(),
                cmd: shell("apt-get update &&       make      && done"),
                heredocs: vec![]
            }
        );
        // An escaped escape at the end is literal, not a continuation.
        assert_eq!(d.instructions[2].original, "RUN echo \\\\");
        assert_eq!(d.instructions[2].line, 8);
        // A continuation at the end of the file just ends the instruction.
        assert_eq!(d.instructions[3].original, "RUN last ");
    }

    #[test]
    fn directives() {
        let d = df(
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN echo `\n  b\nCOPY a\\ b /c\n",
        );
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        assert_eq!(d.instructions[1].original, "RUN echo   b");
        assert_eq!(d.instructions[1].line, 4);
        match &d.instructions[2].kind {
            Kind::Copy { sources, .. } => assert_eq!(sources, &["a\\", "b"]),
            k => panic!("{k:?}"),
        }
        // After a blank line or any other comment, `# escape=` is only a comment.
        assert_eq!(df("\n# escape=`\nFROM a\n").escape, '\\');
        assert_eq!(df("# hello\n# escape=`\nFROM a\n").escape, '\\');
        assert_eq!(df("FROM a\n# escape=`\n").escape, '\\');
        assert_eq!(df("#ESCAPE = ` \nFROM a\n").escape, '`');
        assert!(err("# escape=x\nFROM a\n").contains("invalid escape token"));
        assert_eq!(
            err("# escape=`\n# escape=\\\nFROM a\n"),
            "Dockerfile:2: only one escape parser directive can be used"
        );
        // A BOM before the directives is ignored.
        assert_eq!(df("\u{feff}# escape=`\nFROM a\n").escape, '`');
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(
            one("RUN [\"echo\", \"a b\"]"),
            Kind::Run {
                flags: Flags::default(),
                cmd: exec(&["echo", "a b"]),
                heredocs: vec![]
            }
        );
        // Not valid JSON: shell form, as docker does.
        assert_eq!(one("CMD [echo, hi]"), Kind::Cmd(shell("[echo, hi]")));
        assert_eq!(one("CMD [\"a\"] extra"), Kind::Cmd(shell("[\"a\"] extra")));
        assert_eq!(one("ENTRYPOINT []"), Kind::Entrypoint(exec(&[])));
        assert_eq!(one("CMD"), Kind::Cmd(shell("")));
        assert!(err("FROM a\nCMD [\"a\", 1]").contains("arrays must be comprised of strings only"));
        assert_eq!(
            one("SHELL [\"/bin/bash\", \"-c\"]"),
            Kind::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
        assert!(
            err("FROM a\nSHELL /bin/sh -c")
                .contains("SHELL requires the arguments to be in JSON form")
        );
    }

    #[test]
    fn from_forms_and_errors() {
        let d = df("ARG V=1\nFROM --platform=linux/amd64 img:$V as base\n");
        assert_eq!(
            d.instructions[1].kind,
            Kind::From {
                flags: Flags(vec![flag("platform", Some("linux/amd64"))]),
                image: "img:$V".into(),
                alias: Some("base".into())
            }
        );
        assert_eq!(
            err("FROM"),
            "Dockerfile:1: FROM requires either one or three arguments"
        );
        assert!(err("FROM a b").contains("FROM requires either one or three arguments"));
        assert!(err("FROM a AS").contains("one or three"));
        assert!(err("FROM a IS b").contains("one or three"));
        assert!(err("FROM a AS 1x").contains("invalid name for build stage"));
        assert_eq!(
            err("RUN x\nFROM a"),
            "Dockerfile:1: no build stage in current context: RUN before the first FROM (only ARG may come before FROM)"
        );
        assert!(err("ARG a\n").contains("no stages to build"));
        assert!(err("# only\n\n").contains("file with no instructions"));
        assert_eq!(
            err("FROM a\nFOO bar"),
            "Dockerfile:2: unknown instruction: FOO"
        );
    }

    #[test]
    fn env_label_arg() {
        assert_eq!(
            one("ENV a=1 b=\"x y\" c=z\\ w"),
            Kind::Env(pairs(&[("a", "1"), ("b", "\"x y\""), ("c", "z\\ w")]))
        );
        assert_eq!(one("ENV k v  w"), Kind::Env(pairs(&[("k", "v  w")])));
        assert_eq!(
            one("ENV a= b=''"),
            Kind::Env(pairs(&[("a", ""), ("b", "''")]))
        );
        assert_eq!(
            one("LABEL \"com.x y\"=\"v 1\" 'q'=2"),
            Kind::Label(pairs(&[("\"com.x y\"", "\"v 1\""), ("'q'", "2")]))
        );
        assert_eq!(
            one("ARG a=1 b \"c\"=\"x y\""),
            Kind::Arg(vec![
                ("a".into(), Some("1".into())),
                ("b".into(), None),
                ("\"c\"".into(), Some("\"x y\"".into()))
            ])
        );
        assert!(err("FROM a\nENV").contains("ENV requires at least one argument"));
        assert!(err("FROM a\nENV k").contains("ENV must have two arguments"));
        assert!(err("FROM a\nENV a=1 b").contains("can't find = in \"b\""));
        assert!(err("FROM a\nLABEL =x").contains("LABEL names can not be blank"));
        assert!(err("FROM a\nARG =x").contains("ARG names can not be blank"));
        assert!(err("FROM a\nARG").contains("ARG requires at least one argument"));
    }

    #[test]
    fn simple_instructions() {
        assert_eq!(
            body(
                "MAINTAINER Jane <j@x>\nUSER app:app\nWORKDIR /a b\nSTOPSIGNAL SIGTERM\nEXPOSE 80 443/udp $P\nVOLUME [\"/data\", \"/x\"]\nVOLUME /a  /b"
            ),
            [
                Kind::Maintainer("Jane <j@x>".into()),
                Kind::User("app:app".into()),
                Kind::Workdir("/a b".into()),
                Kind::Stopsignal("SIGTERM".into()),
                Kind::Expose(vec!["80".into(), "443/udp".into(), "$P".into()]),
                Kind::Volume(vec!["/data".into(), "/x".into()]),
                Kind::Volume(vec!["/a".into(), "/b".into()]),
            ]
        );
        assert!(err("FROM a\nUSER").contains("USER requires exactly one argument"));
        assert!(err("FROM a\nworkdir").contains("WORKDIR requires exactly one argument"));
        assert!(err("FROM a\nEXPOSE").contains("EXPOSE requires at least one argument"));
        assert!(
            err("FROM a\nVOLUME [\"\"]").contains("VOLUME specified can not be an empty string")
        );
    }

    #[test]
    fn copy_and_add() {
        assert_eq!(
            one("COPY --from=build --chown=1:1 --link a b /dst/"),
            Kind::Copy {
                flags: Flags(vec![
                    flag("from", Some("build")),
                    flag("chown", Some("1:1")),
                    flag("link", None)
                ]),
                sources: vec!["a".into(), "b".into()],
                dest: "/dst/".into(),
                heredocs: vec![]
            }
        );
        assert_eq!(
            one("ADD [\"a b\", \"/c d\"]"),
            Kind::Add {
                flags: Flags::default(),
                sources: vec!["a b".into()],
                dest: "/c d".into(),
                heredocs: vec![]
            }
        );
        match one("COPY --exclude=*.md --exclude='*.txt' . /app") {
            Kind::Copy { flags, .. } => assert_eq!(flags.all("exclude"), ["*.md", "*.txt"]),
            k => panic!("{k:?}"),
        }
        assert!(err("FROM a\nCOPY onlyone").contains("COPY requires at least two arguments"));
        assert!(err("FROM a\nADD").contains("ADD requires at least two arguments"));
    }

    #[test]
    fn flags_validation() {
        assert_eq!(
            err("FROM a\nCOPY --foo=1 a b"),
            "Dockerfile:2: unknown flag: --foo"
        );
        assert_eq!(
            err("FROM a\nENV --x=1 a=b"),
            "Dockerfile:2: unknown flag: --x"
        );
        assert!(err("FROM a\nCOPY --from a b").contains("missing a value on flag: --from"));
        assert!(err("FROM a\nCOPY --link=maybe a b").contains("expecting boolean value"));
        assert!(
            err("FROM a\nCOPY --from=a --from=b a b").contains("duplicate flag specified: --from")
        );
        match one(
            "RUN --mount=type=cache,target=/root/.cache --mount=\"type=secret,id=x\" --network=none -- make",
        ) {
            Kind::Run { flags, cmd, .. } => {
                assert_eq!(
                    flags.all("mount"),
                    ["type=cache,target=/root/.cache", "type=secret,id=x"]
                );
                assert_eq!(flags.get("network"), Some("none"));
                assert_eq!(cmd, shell("make"));
            }
            k => panic!("{k:?}"),
        }
        // Flags only lead; a later `--x` belongs to the command.
        match one("RUN ls --all") {
            Kind::Run { flags, cmd, .. } => {
                assert!(flags.0.is_empty());
                assert_eq!(cmd, shell("ls --all"));
            }
            k => panic!("{k:?}"),
        }
        let f = Flags(vec![flag("link", Some("false")), flag("parents", None)]);
        assert!(!f.bool("link") && f.bool("parents") && !f.bool("other"));
    }

    #[test]
    fn heredocs() {
        let d = df(
            "FROM a\nRUN <<EOF\necho $HOME\n  EOF\nEOF\nRUN python3 <<'PY' > out\nprint('x')\nPY\nCMD x\n",
        );
        assert_eq!(
            d.instructions[1].kind,
            Kind::Run {
                flags: Flags::default(),
                cmd: shell("<<EOF"),
                heredocs: vec![Heredoc {
                    name: "EOF".into(),
                    content: "echo $HOME\n  EOF\n".into(),
                    expand: true,
                    strip_tabs: false
                }]
            }
        );
        assert_eq!(d.instructions[1].original, "RUN <<EOF");
        match &d.instructions[2].kind {
            Kind::Run { cmd, heredocs, .. } => {
                assert_eq!(cmd, &shell("python3 <<'PY' > out"));
                assert_eq!(heredocs[0].name, "PY");
                assert!(!heredocs[0].expand);
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(d.instructions[2].line, 6);
        assert_eq!(d.instructions[3].line, 9);
    }

    #[test]
    fn several_heredocs_strip_tabs_and_copy() {
        let kinds = body(
            "COPY <<one <<-\"two\" /dst/\n1\none\n\t\t2\n\tx\n\ttwo\nRUN cat <<A && cat << B\na\nA\nb\nB\n",
        );
        match &kinds[0] {
            Kind::Copy {
                sources,
                dest,
                heredocs,
                ..
            } => {
                assert_eq!(sources, &["<<one", "<<-\"two\""]);
                assert_eq!(dest, "/dst/");
                assert_eq!(heredocs.len(), 2);
                assert_eq!(
                    (heredocs[0].name.as_str(), heredocs[0].content.as_str()),
                    ("one", "1\n")
                );
                assert!(heredocs[0].expand && !heredocs[0].strip_tabs);
                assert_eq!(
                    (heredocs[1].name.as_str(), heredocs[1].content.as_str()),
                    ("two", "2\nx\n")
                );
                assert!(!heredocs[1].expand && heredocs[1].strip_tabs);
            }
            k => panic!("{k:?}"),
        }
        match &kinds[1] {
            Kind::Run { heredocs, .. } => {
                let names: Vec<&str> = heredocs.iter().map(|h| h.name.as_str()).collect();
                assert_eq!(names, ["A", "B"]);
                assert_eq!(heredocs[1].content, "b\n");
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn heredoc_edge_cases() {
        // Quoted `<<` and JSON forms carry no heredoc; neither do other instructions.
        assert_eq!(body("RUN echo \"<<EOF\"\nCMD y").len(), 2);
        assert_eq!(body("RUN [\"cat\", \"<<EOF\"]\nCMD y").len(), 2);
        assert_eq!(body("CMD cat <<EOF\nCMD y").len(), 2);
        assert_eq!(
            err("FROM a\nRUN <<EOF\nnever ends\n"),
            "Dockerfile:2: unterminated heredoc: EOF"
        );
        assert!(
            err("FROM a\nCOPY a <<EOF\nx\nEOF\n")
                .contains("cannot accept a heredoc as a destination")
        );
        assert_eq!(
            heredoc_word("2<<-  'E O'").map(|h| h.name),
            Some("E O".into())
        );
        assert_eq!(heredoc_word("<<"), None);
        assert_eq!(heredoc_word("a<<EOF"), None);
        assert_eq!(heredoc_word("<<a<b"), None);
        assert_eq!(heredoc_word("<<\"\""), None);
        assert_eq!(heredoc_name("<<-\"EOF\""), Some("EOF".into()));
        assert_eq!(heredoc_name("/etc/passwd"), None);
    }

    #[test]
    fn onbuild() {
        let d = df("FROM a\nONBUILD RUN echo hi\nonbuild  COPY <<EOF /x\nbody\nEOF\nCMD y\n");
        assert_eq!(d.instructions[1].kind, Kind::Onbuild("RUN echo hi".into()));
        let Kind::Onbuild(text) = &d.instructions[2].kind else {
            panic!("{:?}", d.instructions[2].kind)
        };
        assert_eq!(text, "COPY <<EOF /x\nbody\nEOF");
        assert_eq!(d.instructions[3].line, 6);
        // The trigger parses back into the instruction it names.
        let inst = parse_instruction(text, 3, "Dockerfile", '\\').unwrap();
        match inst.kind {
            Kind::Copy { heredocs, .. } => assert_eq!(heredocs[0].content, "body\n"),
            k => panic!("{k:?}"),
        }
        assert!(
            err("FROM a\nONBUILD ONBUILD RUN x")
                .contains("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        );
        assert!(err("FROM a\nONBUILD from b").contains("FROM isn't allowed as an ONBUILD trigger"));
        assert!(err("FROM a\nONBUILD MAINTAINER me").contains("MAINTAINER isn't allowed"));
        assert_eq!(
            err("FROM a\nONBUILD BOGUS x"),
            "Dockerfile:2: unknown instruction: BOGUS"
        );
        assert!(err("FROM a\nONBUILD").contains("ONBUILD requires at least one argument"));
    }

    #[test]
    fn parse_instruction_alone() {
        let i = parse_instruction("RUN a \\\n b", 7, "Dockerfile", '\\').unwrap();
        assert_eq!(i.line, 7);
        assert_eq!(i.original, "RUN a  b");
        let e = parse_instruction("", 3, "Dockerfile", '\\').unwrap_err();
        assert_eq!(e.line(), 3);
        assert!(parse_instruction("RUN a\nRUN b", 1, "Dockerfile", '\\').is_err());
        let e = parse_instruction("COPY x", 9, "child", '\\').unwrap_err();
        assert_eq!(
            e.to_string(),
            "child:9: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
        );
    }

    #[test]
    fn healthcheck() {
        assert_eq!(one("HEALTHCHECK NONE"), Kind::Healthcheck(Health::None));
        assert_eq!(
            one("HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/ || exit 1"),
            Kind::Healthcheck(Health::Check {
                test: shell("curl -f http://x/ || exit 1"),
                interval: Some("5s".into()),
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: Some("3".into()),
            })
        );
        match one("HEALTHCHECK cmd [\"true\"]") {
            Kind::Healthcheck(Health::Check { test, .. }) => assert_eq!(test, exec(&["true"])),
            k => panic!("{k:?}"),
        }
        assert!(err("FROM a\nHEALTHCHECK NONE x").contains("HEALTHCHECK NONE takes no arguments"));
        assert!(err("FROM a\nHEALTHCHECK CMD").contains("Missing command after HEALTHCHECK CMD"));
        assert!(err("FROM a\nHEALTHCHECK CMD []").contains("Missing command"));
        assert!(
            err("FROM a\nHEALTHCHECK RUN x")
                .contains("Unknown type \"RUN\" in HEALTHCHECK (try CMD)")
        );
        assert!(err("FROM a\nHEALTHCHECK --retries=-1 CMD x").contains("--retries"));
        assert!(err("FROM a\nHEALTHCHECK --bogus=1 CMD x").contains("unknown flag: --bogus"));
        assert!(err("FROM a\nHEALTHCHECK").contains("HEALTHCHECK requires at least one argument"));
    }

    #[test]
    fn word_helpers() {
        assert_eq!(
            words_keeping_quotes(r#"a="x y" b='p q' c=d\ e "" f"#, '\\'),
            [r#"a="x y""#, "b='p q'", r"c=d\ e", r#""""#, "f"]
        );
        assert_eq!(words_keeping_quotes("  ", '\\'), Vec::<String>::new());
        let (flags, rest) = extract_flags("--a=\"x y\" --b=c\\ d  rest of it", '\\');
        assert_eq!(flags, ["--a=x y", "--b=c d"]);
        assert_eq!(rest, "rest of it");
        assert_eq!(stage_name("Build-1.x"), Some("build-1.x".into()));
        assert_eq!(stage_name("-x"), None);
    }
}
