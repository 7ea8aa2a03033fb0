//! One Dockerfile instruction's words to its typed [`Kind`]: flags checked against what
//! each instruction allows, JSON (exec) or shell form, and each instruction's own
//! argument rules. The line reading (continuations, comments, heredoc bodies) is in
//! [`super::dockerfile`]; this is what happens to one instruction once it is read.

use serde_json::Value;

use super::dockerfile::*;

pub(super) fn split_first_word(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim_start()),
        None => (text, ""),
    }
}

/// Take the leading `--flag` words off an instruction's arguments, removing quotes and
/// escapes inside them; a lone `--` ends the flags. Returns the flags and the rest.
pub(super) fn extract_flags(args: &str, escape: char) -> (Vec<String>, &str) {
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
pub(super) fn parse_json(args: &str) -> Result<Option<Vec<String>>, String> {
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
pub(super) enum FlagType {
    Bool,
    String,
    Repeated,
}

pub(super) fn allowed_flags(cmd: &str) -> &'static [(&'static str, FlagType)] {
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
pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) line: usize,
    pub(super) escape: char,
    /// The instruction name as written.
    pub(super) name: &'a str,
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

    pub(super) fn flags(
        &self,
        cmd: &str,
        raw: Vec<String>,
        args: &str,
    ) -> Result<Flags, ParseError> {
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

    pub(super) fn kind(
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

pub(super) fn finish_heredoc(head: HeredocHead, content: String) -> Heredoc {
    Heredoc {
        name: head.name,
        content,
        expand: head.expand,
        strip_tabs: head.strip_tabs,
    }
}

/// A stage name as docker accepts it, lower-cased: `^[a-z][a-z0-9-_.]*$`.
pub(super) fn stage_name(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let mut chars = lower.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    ok.then_some(lower)
}

/// Split on whitespace outside quotes, keeping quotes and escapes in the words (the
/// engine removes them with `expand::process_word`). An escape at the very end is
/// dropped, as BuildKit does.
pub(super) fn words_keeping_quotes(text: &str, escape: char) -> Vec<String> {
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
