//! Docker's shell-word processing: quote removal, escapes and `$VAR` expansion.
//!
//! This follows BuildKit's shell lexer (`frontend/dockerfile/shell/lex.go`), which is
//! what `docker build` applies to the arguments of ENV, ARG, LABEL, COPY, WORKDIR and
//! friends. It is deliberately not a shell: there is no command substitution, globbing
//! or field splitting beyond what is documented here, and unset variables expand to
//! the empty string.

use std::iter::Peekable;
use std::str::Chars;

/// Why a word could not be processed. Every variant names the whole input word so a
/// user can find it in their Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("missing '{delimiter}' in {word}")]
    Missing { delimiter: char, word: String },
    #[error("bad substitution in {word}")]
    BadSubstitution { word: String },
    #[error("unsupported modifier ({modifier}) in substitution in {word}")]
    UnsupportedModifier { modifier: String, word: String },
    #[error("unterminated {quote} quote in {word}")]
    UnterminatedQuote { quote: &'static str, word: String },
    /// `${VAR?msg}` / `${VAR:?msg}` on an unset (or empty) variable.
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("invalid pattern ({pattern}) in substitution in {word}: {reason}")]
    BadPattern {
        pattern: String,
        word: String,
        reason: String,
    },
}

/// Process one word: quotes removed, escapes processed, variables expanded.
///
/// Supports `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`,
/// `${VAR+alt}`, `${VAR:?msg}`, `${VAR?msg}` and BuildKit's `${VAR#pat}`,
/// `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`, `${VAR/pat/repl}`, `${VAR//pat/repl}`.
/// Single quotes keep everything literal; inside double quotes only `$` and the escape
/// of `"`, `$` and the escape character itself are special. Whitespace is kept.
pub fn process_word(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<String, ExpandError> {
    let mut lexer = Lexer::new(word, lookup, escape);
    lexer.run(None)
}

/// Process several words: the text is split on unquoted, unescaped whitespace and each
/// word is processed as by [`process_word`]. Quoted spaces (`"a b"`) and the value of a
/// variable never split a word. Words that come out empty (`""`, an unset `$X`) are
/// dropped, as BuildKit does.
pub fn process_words(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    let mut lexer = Lexer::new(text, lookup, escape);
    lexer.run_words(false)
}

/// BuildKit's exact `ProcessWords`: like [`process_words`], except that the value of an
/// *unquoted* variable is split on whitespace too. This is what docker does for EXPOSE
/// (`ARG PORTS="80 443"` then `EXPOSE $PORTS` exposes two ports).
pub fn process_fields(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    let mut lexer = Lexer::new(text, lookup, escape);
    lexer.run_words(true)
}

/// Expand a heredoc body as BuildKit does for `COPY <<EOF` (unquoted delimiter): `$VAR`
/// forms are expanded and `\` escapes processed, but quotes are ordinary characters.
/// The escape is always `\`, whatever the Dockerfile's escape directive says.
pub fn process_heredoc(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut lexer = Lexer::new(content, lookup, '\\');
    lexer.quotes = false;
    lexer.run(None)
}

/// Accumulates words while the lexer walks the text.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
}

impl Words {
    /// A character from unquoted text: whitespace ends the current word.
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            self.flush();
        } else {
            self.buf.push(ch);
        }
    }

    /// Text that belongs to the current word whatever it contains (quoted or escaped).
    fn add_raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    fn flush(&mut self) {
        // An empty word (from `""` or an unset variable) is dropped, as in BuildKit.
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
    }
}

struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
    source: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    escape: char,
    /// Whether quotes are special (they are not in heredoc bodies).
    quotes: bool,
}

impl<'a> Lexer<'a> {
    fn new(source: &'a str, lookup: &'a dyn Fn(&str) -> Option<String>, escape: char) -> Self {
        Lexer {
            chars: source.chars().peekable(),
            source,
            lookup,
            escape,
            quotes: true,
        }
    }

    fn missing(&self, delimiter: char) -> ExpandError {
        ExpandError::Missing {
            delimiter,
            word: self.source.to_string(),
        }
    }

    fn run(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        self.process(stop, false, None)
    }

    fn run_words(&mut self, split_values: bool) -> Result<Vec<String>, ExpandError> {
        let mut words = Words::default();
        self.process_into(&mut words, split_values)?;
        words.flush();
        Ok(words.words)
    }

    /// Top-level walk that also tracks word boundaries.
    fn process_into(&mut self, words: &mut Words, split_values: bool) -> Result<(), ExpandError> {
        self.process(None, false, Some((words, split_values)))
            .map(|_| ())
    }

    /// Walk until `stop` (consumed) or the end of input. `raw_escapes` keeps escape
    /// characters in the result, which the pattern operators need so that `\*` still
    /// means a literal star when the pattern is interpreted.
    fn process(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        mut words: Option<(&mut Words, bool)>,
    ) -> Result<String, ExpandError> {
        let mut result = String::new();
        while let Some(&ch) = self.chars.peek() {
            if Some(ch) == stop {
                self.chars.next();
                return Ok(result);
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    if let Some((w, split)) = words.as_mut() {
                        if *split {
                            value.chars().for_each(|c| w.add_char(c));
                        } else {
                            w.add_raw(&value);
                        }
                    }
                    result.push_str(&value);
                }
                '\'' if self.quotes => {
                    let value = self.single_quote()?;
                    if let Some((w, _)) = words.as_mut() {
                        w.add_raw(&value);
                    }
                    result.push_str(&value);
                }
                '"' if self.quotes => {
                    let value = self.double_quote(raw_escapes)?;
                    if let Some((w, _)) = words.as_mut() {
                        w.add_raw(&value);
                    }
                    result.push_str(&value);
                }
                _ => {
                    self.chars.next();
                    if ch == self.escape {
                        if raw_escapes {
                            result.push(ch);
                        }
                        // A trailing escape is dropped; otherwise the next character is
                        // taken literally, so an escaped space does not end a word.
                        let Some(next) = self.chars.next() else { break };
                        if let Some((w, _)) = words.as_mut() {
                            w.add_raw(next.encode_utf8(&mut [0; 4]));
                        }
                        result.push(next);
                    } else {
                        if let Some((w, _)) = words.as_mut() {
                            w.add_char(ch);
                        }
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(delimiter) => Err(self.missing(delimiter)),
            None => Ok(result),
        }
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.chars.next();
        let mut out = String::new();
        loop {
            match self.chars.next() {
                None => {
                    return Err(ExpandError::UnterminatedQuote {
                        quote: "single",
                        word: self.source.to_string(),
                    });
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        self.chars.next();
        let mut out = String::new();
        loop {
            match self.chars.peek().copied() {
                None => {
                    return Err(ExpandError::UnterminatedQuote {
                        quote: "double",
                        word: self.source.to_string(),
                    });
                }
                Some('"') => {
                    self.chars.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.chars.next();
                    if c != self.escape {
                        out.push(c);
                        continue;
                    }
                    // Inside double quotes the escape only protects `"`, `$` and
                    // itself; before anything else it is an ordinary character.
                    match self.chars.peek().copied() {
                        Some(n) if n == '"' || n == '$' || n == self.escape => {
                            self.chars.next();
                            if raw_escapes {
                                out.push(c);
                            }
                            out.push(n);
                        }
                        // The missing closing quote is reported on the next turn.
                        None => {}
                        Some(_) => out.push(c),
                    }
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.chars.next();
        if self.chars.peek() != Some(&'{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.chars.next();
        match self.chars.peek() {
            None => return Err(self.missing('}')),
            Some('{' | '}' | ':') => {
                return Err(ExpandError::BadSubstitution {
                    word: self.source.to_string(),
                });
            }
            Some(_) => {}
        }
        let name = self.name();
        let Some(op) = self.chars.next() else {
            return Err(self.missing('}'));
        };
        match op {
            '}' => Ok(self.lookup(&name).unwrap_or_default()),
            ':' => match self.chars.next() {
                Some(m @ ('-' | '+' | '?')) => self.modifier(&name, m, true),
                Some(m) => Err(self.unsupported(format!(":{m}"))),
                None => Err(self.missing('}')),
            },
            '-' | '+' | '?' | '#' | '%' => self.modifier(&name, op, false),
            '/' => self.replace(&name),
            other => Err(self.unsupported(other.to_string())),
        }
    }

    fn unsupported(&self, modifier: String) -> ExpandError {
        ExpandError::UnsupportedModifier {
            modifier,
            word: self.source.to_string(),
        }
    }

    /// `${name<op>word}`; `null_is_unset` is the `:` variant, where an empty value
    /// counts as unset.
    fn modifier(
        &mut self,
        name: &str,
        op: char,
        null_is_unset: bool,
    ) -> Result<String, ExpandError> {
        let raw = op == '#' || op == '%';
        let word = self.process(Some('}'), raw, None)?;
        let value = self.lookup(name);
        let unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            '?' => {
                if !unset {
                    return Ok(value.unwrap_or_default());
                }
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".to_string()
                } else {
                    "is not allowed to be empty".to_string()
                };
                Err(ExpandError::Required {
                    name: name.to_string(),
                    message,
                })
            }
            _ => {
                let value = value.unwrap_or_default();
                // `##` and `%%` remove the longest match, `#` and `%` the shortest.
                let (greedy, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let pat = self.compile(pattern)?;
                Ok(if op == '#' {
                    trim_prefix(&pat, &value, greedy)
                } else {
                    trim_suffix(&pat, &value, greedy)
                })
            }
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str) -> Result<String, ExpandError> {
        let all = self.chars.peek() == Some(&'/');
        if all {
            self.chars.next();
        }
        let pattern = self.process(Some('/'), true, None)?;
        let replacement = self.process(Some('}'), true, None)?;
        let value = self.lookup(name).unwrap_or_default();
        let pat = self.compile(&pattern)?;
        Ok(replace_matches(&pat, &value, &replacement, all))
    }

    fn compile(&self, pattern: &str) -> Result<Vec<Tok>, ExpandError> {
        compile_pattern(pattern).map_err(|reason| ExpandError::BadPattern {
            pattern: pattern.to_string(),
            word: self.source.to_string(),
            reason,
        })
    }

    /// A variable name: letters, digits and `_`; or a run of digits (`$1`); or one
    /// special parameter character (`$@`, `$$`, ...), which is looked up like any name.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.chars.peek().copied() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(&d) = self.chars.peek().filter(|d| d.is_ascii_digit()) {
                    name.push(d);
                    self.chars.next();
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.chars.next();
                return c.to_string();
            }
            _ => {}
        }
        while let Some(&c) = self
            .chars
            .peek()
            .filter(|c| c.is_alphanumeric() || **c == '_')
        {
            name.push(c);
            self.chars.next();
        }
        name
    }
}

/// One element of a `${VAR#pattern}` pattern: `?`, `*` or a literal character.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Any,
    Star,
    Lit(char),
}

/// Pattern syntax of the `#`, `%` and `/` operators: `*`, `?` and `\` escapes of `*`,
/// `?` and `\`. `\}` and `\/` are how the delimiters are written inside `${}`.
fn compile_pattern(pattern: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::Any),
            '\\' => match chars.next() {
                Some(n @ ('}' | '/' | '*' | '?' | '\\')) => toks.push(Tok::Lit(n)),
                Some(n) => return Err(format!("invalid escape '\\{n}'")),
                None => return Err("trailing '\\'".to_string()),
            },
            _ => toks.push(Tok::Lit(c)),
        }
    }
    Ok(toks)
}

/// Whether `toks` matches all of `text`.
fn glob_match(toks: &[Tok], text: &[char]) -> bool {
    match toks.split_first() {
        None => text.is_empty(),
        Some((Tok::Star, rest)) => (0..=text.len()).any(|i| glob_match(rest, &text[i..])),
        Some((Tok::Any, rest)) => !text.is_empty() && glob_match(rest, &text[1..]),
        Some((Tok::Lit(c), rest)) => text.first() == Some(c) && glob_match(rest, &text[1..]),
    }
}

fn trim_prefix(pat: &[Tok], value: &str, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut ends: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new((0..=chars.len()).rev())
    } else {
        Box::new(0..=chars.len())
    };
    match ends.find(|&end| glob_match(pat, &chars[..end])) {
        Some(end) => chars[end..].iter().collect(),
        None => value.to_string(),
    }
}

fn trim_suffix(pat: &[Tok], value: &str, greedy: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut starts: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new(0..=chars.len())
    } else {
        Box::new((0..=chars.len()).rev())
    };
    match starts.find(|&start| glob_match(pat, &chars[start..])) {
        Some(start) => chars[..start].iter().collect(),
        None => value.to_string(),
    }
}

/// Replace the leftmost (longest) match, or every non-overlapping match when `all`.
fn replace_matches(pat: &[Tok], value: &str, replacement: &str, all: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut replaced = false;
    while i <= chars.len() {
        let found = if replaced && !all {
            None
        } else {
            (i..=chars.len())
                .rev()
                .find(|&end| glob_match(pat, &chars[i..end]))
        };
        match found {
            Some(end) => {
                out.push_str(replacement);
                replaced = true;
                if end > i {
                    i = end;
                    continue;
                }
                // An empty match must still make progress.
                if let Some(&c) = chars.get(i) {
                    out.push(c);
                }
                i += 1;
            }
            None => {
                if let Some(&c) = chars.get(i) {
                    out.push(c);
                }
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(w: &str, vars: &[(&str, &str)]) -> Result<String, ExpandError> {
        let e = env(vars);
        process_word(w, &|k| e.get(k).cloned(), '\\')
    }

    fn ok(w: &str, vars: &[(&str, &str)]) -> String {
        word(w, vars).unwrap()
    }

    fn words(w: &str, vars: &[(&str, &str)]) -> Vec<String> {
        let e = env(vars);
        process_words(w, &|k| e.get(k).cloned(), '\\').unwrap()
    }

    #[test]
    fn plain_variables() {
        let v = [("foo", "bar"), ("x", "1")];
        assert_eq!(ok("$foo", &v), "bar");
        assert_eq!(ok("${foo}", &v), "bar");
        assert_eq!(ok("a${foo}b", &v), "abarb");
        assert_eq!(ok("$foo/$x", &v), "bar/1");
        assert_eq!(ok("$unset", &v), "");
        assert_eq!(ok("${unset}", &v), "");
        assert_eq!(ok("$foo-$x", &v), "bar-1");
        assert_eq!(ok("$foo.txt", &v), "bar.txt");
    }

    #[test]
    fn docker_docs_examples() {
        // https://docs.docker.com/reference/dockerfile/#environment-replacement
        let v = [("variable", "value"), ("empty", "")];
        assert_eq!(ok("${variable:-word}", &v), "value");
        assert_eq!(ok("${unset:-word}", &v), "word");
        assert_eq!(ok("${empty:-word}", &v), "word");
        assert_eq!(ok("${empty-word}", &v), "");
        assert_eq!(ok("${unset-word}", &v), "word");
        assert_eq!(ok("${variable:+word}", &v), "word");
        assert_eq!(ok("${unset:+word}", &v), "");
        assert_eq!(ok("${empty:+word}", &v), "");
        assert_eq!(ok("${empty+word}", &v), "word");
        assert_eq!(ok("${unset+word}", &v), "");
        assert_eq!(ok(r"\$foo", &[("foo", "x")]), "$foo");
        assert_eq!(ok(r"\${foo}", &[("foo", "x")]), "${foo}");
        assert_eq!(ok("'$foo'", &[("foo", "x")]), "$foo");
        assert_eq!(ok("\"$foo\"", &[("foo", "x")]), "x");
        // The default may itself contain variables and quotes.
        assert_eq!(ok("${unset:-$variable}", &v), "value");
        assert_eq!(ok("${unset:-\"a b\"}", &v), "a b");
    }

    #[test]
    fn required_variables() {
        let v = [("empty", ""), ("set", "s")];
        assert_eq!(ok("${set:?oops}", &v), "s");
        assert_eq!(ok("${empty?oops}", &v), "");
        let e = word("${unset:?oops}", &v).unwrap_err();
        assert_eq!(e.to_string(), "unset: oops");
        let e = word("${empty:?}", &v).unwrap_err();
        assert_eq!(e.to_string(), "empty: is not allowed to be empty");
        let e = word("${unset?}", &v).unwrap_err();
        assert_eq!(e.to_string(), "unset: is not allowed to be unset");
    }

    #[test]
    fn quotes_and_escapes() {
        let v = [("a", "1")];
        assert_eq!(ok("\"hello world\"", &v), "hello world");
        assert_eq!(ok("'it''s'", &v), "its");
        assert_eq!(ok("\"it's\"", &v), "it's");
        assert_eq!(ok("'say \"hi\"'", &v), "say \"hi\"");
        assert_eq!(ok(r#""a \"q\" \$a \\ \n""#, &v), r#"a "q" $a \ \n"#);
        assert_eq!(ok(r"a\ b", &v), "a b");
        assert_eq!(ok(r"\'x\'", &v), "'x'");
        assert_eq!(ok(r"trailing\", &v), "trailing");
        assert_eq!(ok("pre\"$a\"post", &v), "pre1post");
        assert_eq!(ok("  spaced  out ", &v), "  spaced  out ");
    }

    #[test]
    fn backtick_escape() {
        let e = env(&[("a", "1")]);
        let f = |k: &str| e.get(k).cloned();
        assert_eq!(process_word(r"C:\path\$a", &f, '`').unwrap(), r"C:\path\1");
        assert_eq!(process_word("`$a", &f, '`').unwrap(), "$a");
        assert_eq!(process_word("\"`\"x\"", &f, '`').unwrap(), "\"x");
    }

    #[test]
    fn dollar_edge_cases() {
        let v = [("1", "one"), ("a_b", "ab"), ("é", "accent")];
        assert_eq!(ok("$", &v), "$");
        assert_eq!(ok("a$", &v), "a$");
        assert_eq!(ok("$ x", &v), "$ x");
        assert_eq!(ok("$/", &v), "$/");
        // BuildKit looks special parameters up by name; unset gives "".
        assert_eq!(ok("$$", &v), "");
        assert_eq!(ok("$1", &v), "one");
        assert_eq!(ok("$12", &v), "");
        assert_eq!(ok("$a_b", &v), "ab");
        assert_eq!(ok("$é", &v), "accent");
        assert_eq!(ok("\"$\"", &v), "$");
    }

    #[test]
    fn substitution_errors() {
        let e = word("${FOO", &[]).unwrap_err();
        assert_eq!(e.to_string(), "missing '}' in ${FOO");
        assert!(matches!(word("${", &[]), Err(ExpandError::Missing { .. })));
        assert!(matches!(
            word("${FOO:-abc", &[]),
            Err(ExpandError::Missing { delimiter: '}', .. })
        ));
        assert!(matches!(
            word("${}", &[]),
            Err(ExpandError::BadSubstitution { .. })
        ));
        assert!(matches!(
            word("${:a}", &[]),
            Err(ExpandError::BadSubstitution { .. })
        ));
        assert!(matches!(
            word("${a.b}", &[]),
            Err(ExpandError::UnsupportedModifier { .. })
        ));
        assert!(matches!(
            word("${a:#b}", &[]),
            Err(ExpandError::UnsupportedModifier { .. })
        ));
        assert!(matches!(
            word("'abc", &[]),
            Err(ExpandError::UnterminatedQuote {
                quote: "single",
                ..
            })
        ));
        assert!(matches!(
            word("\"abc", &[]),
            Err(ExpandError::UnterminatedQuote {
                quote: "double",
                ..
            })
        ));
        assert!(matches!(
            word("\"abc\\", &[]),
            Err(ExpandError::UnterminatedQuote { .. })
        ));
    }

    #[test]
    fn pattern_operators() {
        let v = [("path", "/usr/local/bin/tool.tar.gz")];
        assert_eq!(ok("${path#*/}", &v), "usr/local/bin/tool.tar.gz");
        assert_eq!(ok("${path##*/}", &v), "tool.tar.gz");
        assert_eq!(ok("${path%.*}", &v), "/usr/local/bin/tool.tar");
        assert_eq!(ok("${path%%.*}", &v), "/usr/local/bin/tool");
        assert_eq!(ok("${path#nomatch}", &v), "/usr/local/bin/tool.tar.gz");
        assert_eq!(ok("${path/local/opt}", &v), "/usr/opt/bin/tool.tar.gz");
        assert_eq!(ok("${path//\\//_}", &v), "_usr_local_bin_tool.tar.gz");
        assert_eq!(ok("${path/?/X}", &v), "Xusr/local/bin/tool.tar.gz");
        let v = [("s", "a*b*c")];
        assert_eq!(ok(r"${s#*\*}", &v), "b*c");
        assert_eq!(ok(r"${s%\**}", &v), "a*b");
        assert!(matches!(
            word(r"${s#\x}", &v),
            Err(ExpandError::BadPattern { .. })
        ));
        assert!(matches!(
            word("${s/a", &v),
            Err(ExpandError::Missing { delimiter: '/', .. })
        ));
    }

    #[test]
    fn words_split_on_unquoted_whitespace_only() {
        let v = [("spaced", "x y"), ("empty", "")];
        assert_eq!(words("a b  c", &v), ["a", "b", "c"]);
        assert_eq!(words("\"a b\" c", &v), ["a b", "c"]);
        assert_eq!(words("'a b'c d", &v), ["a bc", "d"]);
        assert_eq!(words(r"a\ b c", &v), ["a b", "c"]);
        assert_eq!(words("$spaced z", &v), ["x y", "z"]);
        assert_eq!(words("${unset:-1 2} z", &v), ["1 2", "z"]);
        assert_eq!(words("  lead trail  ", &v), ["lead", "trail"]);
        assert_eq!(words("\"\" $empty x", &v), ["x"]);
        assert!(words("", &v).is_empty());
        let e = env(&[]);
        assert!(process_words("a 'b", &|k| e.get(k).cloned(), '\\').is_err());
    }

    #[test]
    fn heredoc_bodies_keep_quotes() {
        let e = env(&[("name", "world")]);
        let f = |k: &str| e.get(k).cloned();
        let body = "echo \"hello $name\" 'it''s' ${name:-x}\n\\$name\n";
        assert_eq!(
            process_heredoc(body, &f).unwrap(),
            "echo \"hello world\" 'it''s' world\n$name\n"
        );
        // An unmatched quote is just a character here.
        assert_eq!(process_heredoc("don't\n", &f).unwrap(), "don't\n");
    }

    #[test]
    fn fields_split_unquoted_values_like_expose() {
        let e = env(&[("ports", "80 443/udp")]);
        let f = |k: &str| e.get(k).cloned();
        assert_eq!(
            process_fields("$ports 8080", &f, '\\').unwrap(),
            ["80", "443/udp", "8080"]
        );
        assert_eq!(
            process_fields("\"$ports\"", &f, '\\').unwrap(),
            ["80 443/udp"]
        );
    }
}
