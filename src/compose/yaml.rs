//! A compose file as a tree that remembers where each value sits (line numbers for errors), read
//! with serde-saphyr: anchors, aliases and `<<:` merge keys resolved, duplicate keys refused, and
//! its default budgets bounding what a hostile file can make the parser do.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A value of the file and its line (1-based; 0 when unknown): a mapping's value carries the
/// line of its key.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: u64,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Mappings keep the file's order: `config` prints them as written.
    Map(Vec<(String, Node)>),
}

impl Node {
    pub fn new(value: Value) -> Node {
        Node { line: 0, value }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The line of the value at a JSON-pointer-like path (`["services", "web", "ports", "0"]`),
    /// or of the deepest ancestor that exists.
    pub fn line_of(&self, path: &[String]) -> u64 {
        let mut node = self;
        for seg in path {
            let next = match &node.value {
                Value::Map(m) => m.iter().find(|(k, _)| k == seg).map(|(_, v)| v),
                Value::Seq(s) => seg.parse::<usize>().ok().and_then(|i| s.get(i)),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.line
    }

    /// Every string in the tree, mutably (interpolation rewrites them in place). Mapping keys
    /// are not interpolated, as in compose.
    pub fn strings_mut(
        &mut self,
        f: &mut dyn FnMut(&mut String, u64) -> Result<(), String>,
    ) -> Result<(), String> {
        let line = self.line;
        match &mut self.value {
            Value::Str(s) => f(s, line),
            Value::Seq(items) => items.iter_mut().try_for_each(|n| n.strings_mut(f)),
            Value::Map(m) => m.iter_mut().try_for_each(|(_, n)| n.strings_mut(f)),
            _ => Ok(()),
        }
    }

    pub fn to_json(&self) -> Json {
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::Str(s) => Json::String(s.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(m) => {
                Json::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// Parses one YAML document. `name` is the file's name for the error message.
pub fn parse(name: &str, text: &str) -> Result<Node, String> {
    if text.trim().is_empty() {
        return Err(format!("{name}: empty compose file"));
    }
    serde_saphyr::from_str::<Node>(text).map_err(|e| {
        // serde-saphyr's message carries the line and column; keep it on one line.
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("invalid YAML").trim();
        format!("{name}: {first}")
    })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        let spanned = serde_saphyr::Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            line: spanned.referenced.line(),
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .or(Ok(Value::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<serde_saphyr::Spanned<Key>>()? {
            let mut value = map.next_value::<Node>()?;
            // An entry is found by its key's line: that is where an error about it points.
            if key.referenced.line() > 0 {
                value.line = key.referenced.line();
            }
            entries.push((key.value.0, value));
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key: compose keys are strings, but YAML lets `80:` or `true:` be typed scalars.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        match Value::deserialize(d)? {
            Value::Str(s) => Ok(Key(s)),
            Value::Int(i) => Ok(Key(i.to_string())),
            Value::Float(f) => Ok(Key(f.to_string())),
            Value::Bool(b) => Ok(Key(b.to_string())),
            Value::Null => Ok(Key("null".into())),
            _ => Err(de::Error::custom("a mapping key must be a scalar")),
        }
    }
}

/// Writes a JSON value as YAML for `compose config` (block style, keys in the value's order).
pub fn to_yaml(value: &Json) -> String {
    #[derive(Serialize)]
    #[serde(transparent)]
    struct Doc<'a>(&'a Json);
    serde_saphyr::to_string(&Doc(value)).unwrap_or_else(|e| format!("# {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_anchors_and_merge_keys() {
        let text = "x-base: &base\n  image: busybox\n  restart: always\nservices:\n  web:\n    <<: *base\n    ports:\n      - \"80:80\"\n";
        let n = parse("compose.yaml", text).expect("parse");
        let web = n.get("services").and_then(|s| s.get("web")).expect("web");
        assert_eq!(
            web.get("image").map(|i| &i.value),
            Some(&Value::Str("busybox".into()))
        );
        let path: Vec<String> = ["services", "web", "ports", "0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(n.line_of(&path), 8);
        let path: Vec<String> = ["services", "web", "ports"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(n.line_of(&path), 7);
        assert_eq!(n.to_json()["services"]["web"]["restart"], "always");
    }

    #[test]
    fn typed_scalars_and_numeric_keys() {
        let n = parse("f", "a: 1\nb: 1.5\nc: true\nd: ~\n80: x\ne: '3000:3000'\n").expect("parse");
        let j = n.to_json();
        assert_eq!(j["a"], 1);
        assert_eq!(j["b"], 1.5);
        assert_eq!(j["c"], true);
        assert!(j["d"].is_null());
        assert_eq!(j["80"], "x");
        assert_eq!(j["e"], "3000:3000");
    }

    #[test]
    fn syntax_errors_and_duplicates_name_the_file() {
        let e = parse("compose.yaml", "services:\n  web: [\n").expect_err("unterminated");
        assert!(e.starts_with("compose.yaml: "), "{e}");
        assert!(!e.contains('\n'));
        let e = parse("c.yml", "a: 1\na: 2\n").expect_err("duplicate");
        assert!(e.starts_with("c.yml: "), "{e}");
        assert!(parse("c.yml", "\n").is_err());
    }

    #[test]
    fn yaml_round_trip() {
        let j = serde_json::json!({"services": {"web": {"image": "busybox", "ports": ["80:80"]}}});
        let text = to_yaml(&j);
        let back = parse("x", &text).expect("reparse").to_json();
        assert_eq!(back, j);
    }
}
