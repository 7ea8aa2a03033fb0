//! Compose's merge rules, for several `-f` files (each overrides the one before) and for
//! `extends` (the service overrides its base): mappings merge key by key, and each list merges
//! by what identifies its entries — ports by their published binding, volumes by their target,
//! `environment`/`labels` by variable name even across the list and mapping forms — while
//! `command`, `entrypoint` and `healthcheck.test` are replaced whole. Runs on the files' JSON
//! form after interpolation, before normalisation.

use serde_json::{Map, Value};

/// `over` onto `base`, top level of a compose file.
pub fn merge_files(base: &mut Value, over: Value) {
    let (Value::Object(b), Value::Object(o)) = (&mut *base, over) else {
        return;
    };
    for (key, value) in o {
        match key.as_str() {
            "services" => {
                let services = b
                    .entry("services")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(bs), Value::Object(os)) = (services, value) {
                    for (name, svc) in os {
                        match bs.get_mut(&name) {
                            Some(existing) => merge_service(existing, svc),
                            None => {
                                bs.insert(name, svc);
                            }
                        }
                    }
                }
            }
            _ => match b.get_mut(&key) {
                Some(existing) => merge_mapping(existing, value),
                None => {
                    b.insert(key, value);
                }
            },
        }
    }
}

/// `over` onto `base`, one service.
pub fn merge_service(base: &mut Value, over: Value) {
    let Value::Object(o) = over else {
        *base = over;
        return;
    };
    if !base.is_object() {
        *base = Value::Object(Map::new());
    }
    let Value::Object(b) = base else { return };
    for (key, value) in o {
        let Some(existing) = b.get_mut(&key) else {
            b.insert(key, value);
            continue;
        };
        match key.as_str() {
            // Replaced whole, as compose does: a list here is one command line.
            "command" | "entrypoint" | "image" => *existing = value,
            "environment" | "labels" | "annotations" | "sysctls" | "extra_hosts" => {
                let mut merged = as_pairs(existing);
                for (k, v) in as_pairs(&value) {
                    match merged.iter_mut().find(|(mk, _)| *mk == k) {
                        Some(slot) => slot.1 = v,
                        None => merged.push((k, v)),
                    }
                }
                *existing = Value::Object(
                    merged
                        .into_iter()
                        .map(|(k, v)| (k, v.map_or(Value::Null, Value::String)))
                        .collect(),
                );
            }
            "ports" => merge_list_by(existing, value, port_key),
            "volumes" => merge_list_by(existing, value, volume_target),
            "secrets" | "configs" => merge_list_by(existing, value, source_key),
            "expose" | "dns" | "dns_search" | "cap_add" | "cap_drop" | "env_file" | "devices"
            | "security_opt" | "tmpfs" | "profiles" | "external_links" | "links"
            | "volumes_from" | "group_add" | "dns_opt" => {
                merge_list_by(existing, value, |v| Some(v.to_string()))
            }
            "depends_on" | "networks" => {
                let mut b = to_mapping(existing);
                let o = to_mapping(&value);
                merge_mapping(&mut b, o);
                *existing = b;
            }
            "build" => {
                let mut b = build_mapping(existing);
                merge_mapping(&mut b, build_mapping(&value));
                *existing = b;
            }
            "healthcheck" | "deploy" | "logging" | "ulimits" | "blkio_config" => {
                merge_mapping(existing, value)
            }
            _ => *existing = value,
        }
    }
}

/// Mappings merge recursively; anything else is replaced. `healthcheck.test` and other lists
/// inside mappings are replaced whole.
fn merge_mapping(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_mapping(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Appends `over`'s entries, replacing those of `base` with the same key.
fn merge_list_by(base: &mut Value, over: Value, key: fn(&Value) -> Option<String>) {
    let Value::Array(o) = over else {
        *base = over;
        return;
    };
    let Value::Array(b) = base else {
        *base = Value::Array(o);
        return;
    };
    for item in o {
        let k = key(&item);
        match b.iter_mut().find(|e| k.is_some() && key(e) == k) {
            Some(slot) => *slot = item,
            None => b.push(item),
        }
    }
}

/// `environment:`-like values as pairs, from either the list (`K=V`, `K`) or mapping form.
pub fn as_pairs(v: &Value) -> Vec<(String, Option<String>)> {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(scalar_text)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (s, None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A scalar as compose prints it (`true`, `8080`, `1.5`); null is "no value".
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// `depends_on: [a, b]` and `networks: [a]` as mappings.
fn to_mapping(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Object(
            a.iter()
                .filter_map(|e| e.as_str().map(|s| (s.to_string(), Value::Null)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn build_mapping(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::json!({ "context": s }),
        other => other.clone(),
    }
}

/// What identifies a port entry: its host address, published port, target and protocol.
fn port_key(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => Some(format!(
            "{}:{}:{}/{}",
            m.get("host_ip").and_then(Value::as_str).unwrap_or(""),
            m.get("published")
                .map(|p| p.to_string())
                .unwrap_or_default(),
            m.get("target").map(|t| t.to_string()).unwrap_or_default(),
            m.get("protocol").and_then(Value::as_str).unwrap_or("tcp")
        )),
        other => scalar_text(other),
    }
}

/// A volume entry's mount point in the container.
fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.get("target").and_then(Value::as_str).map(String::from),
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            })
        }
        _ => None,
    }
}

fn source_key(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.get("source").and_then(Value::as_str).map(String::from),
        other => scalar_text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn override_file_rules() {
        let mut base = json!({
            "services": {"web": {
                "image": "busybox", "command": ["a", "b"],
                "environment": ["A=1", "B=2"],
                "ports": ["8080:80"], "volumes": ["data:/data", "./x:/x"],
                "depends_on": ["db"], "healthcheck": {"test": ["CMD", "a"], "retries": 3}
            }},
            "volumes": {"data": {}}
        });
        merge_files(
            &mut base,
            json!({
                "services": {
                    "web": {
                        "command": ["c"], "environment": {"B": "3", "C": "4"},
                        "ports": ["8080:80", "9090:90"], "volumes": ["other:/data"],
                        "depends_on": {"cache": {"condition": "service_healthy"}},
                        "healthcheck": {"test": ["CMD", "z"]}
                    },
                    "cache": {"image": "busybox"}
                },
                "volumes": {"other": {}}
            }),
        );
        let web = &base["services"]["web"];
        assert_eq!(web["command"], json!(["c"]));
        assert_eq!(web["environment"], json!({"A": "1", "B": "3", "C": "4"}));
        assert_eq!(web["ports"], json!(["8080:80", "9090:90"]));
        assert_eq!(web["volumes"], json!(["other:/data", "./x:/x"]));
        assert_eq!(web["depends_on"]["db"], Value::Null);
        assert_eq!(web["depends_on"]["cache"]["condition"], "service_healthy");
        assert_eq!(
            web["healthcheck"],
            json!({"test": ["CMD", "z"], "retries": 3})
        );
        assert!(base["services"]["cache"].is_object());
        assert!(base["volumes"]["other"].is_object() && base["volumes"]["data"].is_object());
    }

    #[test]
    fn build_string_and_mapping_merge() {
        let mut svc = json!({"build": "./app"});
        merge_service(&mut svc, json!({"build": {"args": {"X": "1"}}}));
        assert_eq!(
            svc["build"],
            json!({"context": "./app", "args": {"X": "1"}})
        );
    }

    #[test]
    fn pairs_from_both_forms() {
        assert_eq!(
            as_pairs(&json!(["A=1", "B"])),
            vec![("A".into(), Some("1".into())), ("B".into(), None)]
        );
        assert_eq!(
            as_pairs(&json!({"A": 1, "B": null, "C": true})),
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("C".into(), Some("true".into()))
            ]
        );
    }
}
