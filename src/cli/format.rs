//! Output formats shared by ps, images and inspect: Go templates (with docker's functions)
//! evaluated over docker-shaped JSON, `table` templates with aligned columns, and `json`.

use std::sync::Arc;

use gotmpl::{Template, Value};

#[derive(Debug, thiserror::Error)]
#[error("invalid --format template: {0}")]
pub struct FormatError(String);

fn err(e: impl std::fmt::Display) -> FormatError {
    FormatError(e.to_string())
}

/// A template with docker's extra functions: json, join, split, lower, upper, title,
/// truncate, pad, println.
pub fn compile(src: &str) -> Result<Template, FormatError> {
    let text = |v: &Value| -> String {
        match v {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        }
    };
    Template::new("format")
        .func("json", move |args| {
            let v = args.first().map(to_json).unwrap_or(serde_json::Value::Null);
            Ok(Value::String(Arc::from(
                serde_json::to_string(&v).unwrap_or_default(),
            )))
        })
        .func("join", move |args| {
            let sep = args.get(1).map(text).unwrap_or_default();
            let items: Vec<String> = match args.first() {
                Some(Value::List(l)) => l.iter().map(text).collect(),
                Some(other) => vec![text(other)],
                None => vec![],
            };
            Ok(Value::String(Arc::from(items.join(&sep))))
        })
        .func("split", move |args| {
            let s = args.first().map(text).unwrap_or_default();
            let sep = args.get(1).map(text).unwrap_or_default();
            let parts: Vec<Value> = s
                .split(sep.as_str())
                .map(|p| Value::String(Arc::from(p)))
                .collect();
            Ok(Value::List(Arc::from(parts)))
        })
        .func("lower", move |args| {
            Ok(Value::String(Arc::from(
                args.first().map(text).unwrap_or_default().to_lowercase(),
            )))
        })
        .func("upper", move |args| {
            Ok(Value::String(Arc::from(
                args.first().map(text).unwrap_or_default().to_uppercase(),
            )))
        })
        .func("title", move |args| {
            let s = args.first().map(text).unwrap_or_default();
            let mut c = s.chars();
            let t = match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            };
            Ok(Value::String(Arc::from(t)))
        })
        .func("truncate", move |args| {
            let s = args.first().map(text).unwrap_or_default();
            let n = args
                .get(1)
                .and_then(Value::as_int)
                .unwrap_or(i64::MAX)
                .max(0) as usize;
            Ok(Value::String(Arc::from(
                s.chars().take(n).collect::<String>(),
            )))
        })
        .func("pad", move |args| {
            let s = args.first().map(text).unwrap_or_default();
            let l = args.get(1).and_then(Value::as_int).unwrap_or(0).max(0) as usize;
            let r = args.get(2).and_then(Value::as_int).unwrap_or(0).max(0) as usize;
            Ok(Value::String(Arc::from(format!(
                "{}{s}{}",
                " ".repeat(l),
                " ".repeat(r)
            ))))
        })
        .func("println", move |args| {
            let parts: Vec<String> = args.iter().map(text).collect();
            Ok(Value::String(Arc::from(parts.join(" ") + "\n")))
        })
        .parse(src)
        .map_err(err)
}

pub fn render(t: &Template, data: &serde_json::Value) -> Result<String, FormatError> {
    let v = gotmpl::to_value(data).map_err(err)?;
    t.execute_to_string(&v).map_err(err)
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Uint(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Value::from(*f),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
        }
        _ => serde_json::Value::Null,
    }
}

/// Render rows through a `--format`: `table TEMPLATE` gets a header row rendered from
/// `header` and aligned columns; `json` prints each row as one JSON line; anything else is a
/// plain template, one line per row.
pub fn print_rows(
    format: &str,
    header: &serde_json::Value,
    rows: &[serde_json::Value],
) -> Result<(), FormatError> {
    print_rows_with(format, Some(header), rows)
}

/// [`print_rows`]; a table without its header line when `header` is None (podman's
/// `--noheading`).
pub fn print_rows_with(
    format: &str,
    header: Option<&serde_json::Value>,
    rows: &[serde_json::Value],
) -> Result<(), FormatError> {
    let mut out = String::new();
    if format == "json" {
        for r in rows {
            out.push_str(&serde_json::to_string(r).map_err(err)?);
            out.push('\n');
        }
    } else if let Some(t) = format.strip_prefix("table") {
        let tpl = compile(&unescape(t.trim_start()))?;
        let mut lines = Vec::new();
        if let Some(h) = header {
            lines.push(render(&tpl, h)?);
        }
        for r in rows {
            lines.push(render(&tpl, r)?);
        }
        out = tabulate(&lines);
    } else {
        let tpl = compile(&unescape(format))?;
        for r in rows {
            out.push_str(&render(&tpl, r)?);
            out.push('\n');
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}

/// docker accepts `\t` and `\n` typed literally in a format string.
pub fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// Align tab-separated cells like Go's tabwriter as docker configures it: cells at least 10
/// wide, padding 3.
pub fn tabulate(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                let width = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(width - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// docker's sizes: decimal units, three significant digits ("4.26MB", "1.2kB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_over_docker_json() {
        let data = json!({"State": {"Pid": 42, "Status": "running"}, "Mounts": [{"Type": "bind"}], "Args": ["a", "b"]});
        let t = |s: &str| render(&compile(s).expect(s), &data).expect(s);
        assert_eq!(t("{{.State.Pid}}"), "42");
        assert_eq!(t("{{json .Mounts}}"), r#"[{"Type":"bind"}]"#);
        assert_eq!(t("{{range .Args}}{{.}},{{end}}"), "a,b,");
        assert_eq!(t("{{index .Args 1}}"), "b");
        assert_eq!(t("{{join .Args \"+\"}}"), "a+b");
        assert_eq!(t("{{upper .State.Status}}"), "RUNNING");
        assert!(compile("{{.Unclosed").is_err());
    }

    #[test]
    fn tables_align() {
        let out = tabulate(&["A\tBB\tC".into(), "AAAA\tB\tC".into()]);
        assert_eq!(out, "A         BB        C\nAAAA      B         C\n");
        let wide = tabulate(&["CONTAINER ID\tX".into()]);
        assert_eq!(wide, "CONTAINER ID   X\n");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1200), "1.2kB");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(123_456_789), "123MB");
    }
}
