//! Checking a compose file against the Compose Specification's JSON schema (kept in the repo as
//! `compose-spec.json`, its origin in `compose-spec.VERSION`), so that an unknown key or a value
//! of the wrong type is refused with the file, line and key, as docker compose refuses it.
//! The validator is compiled once per process; it never fetches anything (no remote `$ref`s:
//! jsonschema is built without its HTTP resolver).

use std::sync::OnceLock;

use serde_json::Value;

use super::yaml::Node;

const SCHEMA: &str = include_str!("compose-spec.json");

fn validator() -> Result<&'static jsonschema::Validator, String> {
    static V: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(SCHEMA).map_err(|e| format!("compose schema: {e}"))?;
        jsonschema::options()
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|e| format!("compose schema: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Validates one file's (interpolated) content; `tree` gives the lines. The first error is
/// reported: `compose.yaml:7: services.web: additional property "prots" is not allowed`.
pub fn check(file: &str, doc: &Value, tree: &Node) -> Result<(), String> {
    let v = validator()?;
    let Some(err) = v.iter_errors(doc).min_by_key(|e| {
        // The deepest error says the most (a oneOf at a service hides which key failed).
        std::cmp::Reverse(e.instance_path().to_string().matches('/').count())
    }) else {
        return Ok(());
    };
    let path: Vec<String> = err
        .instance_path()
        .to_string()
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    // An unknown key is pointed at itself, not at the mapping that holds it.
    let mut at = path.clone();
    if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } = err.kind()
        && let [one] = unexpected.as_slice()
    {
        at.push(one.clone());
    }
    let line = tree.line_of(&at);
    let key = if path.is_empty() {
        "(top level)".to_string()
    } else {
        path.join(".")
    };
    let message = describe(err.kind(), &err.to_string());
    Err(if line > 0 {
        format!("{file}:{line}: {key}: {message}")
    } else {
        format!("{file}: {key}: {message}")
    })
}

/// compose's wording for the common cases; jsonschema's own otherwise.
fn describe(kind: &jsonschema::error::ValidationErrorKind, fallback: &str) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match kind {
        K::AdditionalProperties { unexpected } => match unexpected.as_slice() {
            [one] => format!("additional property {one:?} is not allowed"),
            many => format!("additional properties {many:?} are not allowed"),
        },
        K::Type { kind } => format!("must be {}", type_words(kind)),
        _ => fallback.lines().next().unwrap_or(fallback).to_string(),
    }
}

fn type_words(kind: &jsonschema::error::TypeKind) -> String {
    use jsonschema::error::TypeKind;
    let word = |t: jsonschema::types::JsonType| match t.to_string().as_str() {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        "integer" => "an integer".to_string(),
        "number" => "a number".to_string(),
        "boolean" => "a boolean".to_string(),
        "null" => "null".to_string(),
        other => format!("a {other}"),
    };
    match kind {
        TypeKind::Single(t) => word(*t),
        TypeKind::Multiple(ts) => ts.iter().map(word).collect::<Vec<_>>().join(" or "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::yaml;

    fn check_text(text: &str) -> Result<(), String> {
        let tree = yaml::parse("compose.yaml", text)?;
        check("compose.yaml", &tree.to_json(), &tree)
    }

    #[test]
    fn valid_files_pass() {
        check_text("services:\n  web:\n    image: busybox\n    ports: [\"80:80\", 81]\n    x-note: hi\nx-top: 1\n")
            .expect("valid");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = check_text("services:\n  web:\n    image: busybox\n    prots:\n      - 80\n")
            .expect_err("unknown key");
        assert!(e.starts_with("compose.yaml:4: services.web: "), "{e}");
        assert!(e.contains("\"prots\""), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = check_text("services:\n  web:\n    image: busybox\n    read_only: [1]\n")
            .expect_err("wrong type");
        assert!(e.contains("services.web.read_only"), "{e}");
        assert!(e.starts_with("compose.yaml:4:"), "{e}");
    }
}
