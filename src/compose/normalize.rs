//! The merged model in one canonical form, as `compose config` prints it and as the rest of
//! skiff reads it: every short syntax expanded (ports, volumes, depends_on, build, env_file),
//! lists-or-mappings made mappings, relative paths made absolute against the project
//! directory, `env_file`s read into `environment`, and the implicit `default` network added.
//! Checks that need the whole project (an undefined volume or network, a dependency on a
//! missing service, a malformed port) fail here with the service and key named.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::interpolate;
use super::merge::{as_pairs, scalar_text};

pub struct Context<'a> {
    pub project: &'a str,
    pub working_dir: &'a Path,
    pub env: &'a BTreeMap<String, String>,
}

/// Normalises `model` in place. Returns the services that cannot run and why (a missing
/// `env_file`): that is an error only for a command that uses them, as in docker compose.
pub fn normalize(model: &mut Value, cx: &Context) -> Result<BTreeMap<String, String>, String> {
    let mut broken = BTreeMap::new();
    let Some(top) = model.as_object_mut() else {
        return Err("the compose file is not a mapping".into());
    };
    top.insert("name".into(), Value::String(cx.project.to_string()));
    let mut services = top
        .remove("services")
        .and_then(|s| s.as_object().cloned())
        .unwrap_or_default();
    let mut uses_default = false;
    for (name, svc) in services.iter_mut() {
        if svc.is_null() {
            *svc = json!({});
        }
        let Some(s) = svc.as_object_mut() else {
            return Err(format!("service {name:?} must be a mapping"));
        };
        service(name, s, cx).map_err(|e| format!("service {name:?}: {e}"))?;
        if let Err(e) = environment(s, cx) {
            broken.insert(name.clone(), e);
        }
        if s.get("networks")
            .and_then(Value::as_object)
            .is_some_and(|n| n.contains_key("default"))
        {
            uses_default = true;
        }
    }
    let names: Vec<String> = services.keys().cloned().collect();
    let mut networks = top
        .remove("networks")
        .and_then(|n| n.as_object().cloned())
        .unwrap_or_default();
    if uses_default && !networks.contains_key("default") {
        networks.insert("default".into(), json!({}));
    }
    for (key, net) in networks.iter_mut() {
        resource(key, net, cx.project);
    }
    let mut volumes = top
        .remove("volumes")
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    for (key, vol) in volumes.iter_mut() {
        resource(key, vol, cx.project);
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Object(defs)) = top.get_mut(kind) {
            for (key, def) in defs.iter_mut() {
                if let Some(Value::String(f)) = def.get_mut("file") {
                    *f = absolute(cx, f);
                } else if def.get("environment").is_none()
                    && def.get("content").is_none()
                    && def.get("external").is_none()
                {
                    return Err(format!(
                        "{kind} {key:?}: expected file, environment or content"
                    ));
                }
            }
        }
    }
    for (name, svc) in &services {
        check_references(name, svc, &names, &networks, &volumes, top)
            .map_err(|e| format!("service {name:?}: {e}"))?;
    }
    top.insert("services".into(), Value::Object(services));
    if !networks.is_empty() {
        top.insert("networks".into(), Value::Object(networks));
    }
    if !volumes.is_empty() {
        top.insert("volumes".into(), Value::Object(volumes));
    }
    Ok(broken)
}

/// A top-level network or volume gets its real name: `<project>_<key>`, or `name:`, or the key
/// itself when external.
fn resource(key: &str, def: &mut Value, project: &str) {
    if def.is_null() {
        *def = json!({});
    }
    let Some(m) = def.as_object_mut() else { return };
    let external = m.get("external").is_some_and(|e| match e {
        Value::Bool(b) => *b,
        Value::Object(_) => true,
        _ => false,
    });
    if let Some(Value::Object(e)) = m.get("external").cloned() {
        // The old form `external: {name: x}`.
        if let Some(n) = e.get("name") {
            m.insert("name".into(), n.clone());
        }
        m.insert("external".into(), Value::Bool(true));
    }
    if !m.contains_key("name") {
        let name = if external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        };
        m.insert("name".into(), Value::String(name));
    }
}

fn absolute(cx: &Context, p: &str) -> String {
    let expanded = match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = cx.env.get("HOME").cloned().unwrap_or_default();
            format!("{home}{rest}")
        }
        _ => p.to_string(),
    };
    let path = Path::new(&expanded);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cx.working_dir.join(path)
    };
    // Lexically tidy `./` and `..` so labels and `config` read cleanly.
    let mut out = std::path::PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.display().to_string()
}

fn service(name: &str, s: &mut Map<String, Value>, cx: &Context) -> Result<(), String> {
    if s.get("image").is_none() && s.get("build").is_none() {
        return Err("has neither an image nor a build context specified".into());
    }
    if let Some(b) = s.get_mut("build") {
        if let Value::String(ctx) = b {
            *b = json!({ "context": ctx });
        }
        if let Some(m) = b.as_object_mut() {
            let ctx = m
                .get("context")
                .and_then(Value::as_str)
                .unwrap_or(".")
                .to_string();
            let abs = if ctx.contains("://") || ctx.starts_with("git@") {
                ctx
            } else {
                absolute(cx, &ctx)
            };
            m.insert("context".into(), Value::String(abs));
            if !m.contains_key("dockerfile") && !m.contains_key("dockerfile_inline") {
                m.insert("dockerfile".into(), Value::String("Dockerfile".into()));
            }
            for key in ["args", "labels"] {
                if let Some(v) = m.get(key).cloned() {
                    m.insert(key.into(), pairs_to_map(&v, cx.env, key == "args"));
                }
            }
        }
    }
    for key in ["command", "entrypoint"] {
        if let Some(Value::String(line)) = s.get(key).cloned() {
            let words = shell_words::split(&line).map_err(|e| format!("{key}: {e} in {line:?}"))?;
            s.insert(key.into(), json!(words));
        }
    }
    for key in ["labels", "sysctls", "annotations"] {
        if let Some(v) = s.get(key).cloned() {
            s.insert(key.into(), pairs_to_map(&v, cx.env, false));
        }
    }
    if let Some(v) = s.get("extra_hosts").cloned() {
        let list: Vec<Value> = match &v {
            Value::Object(m) => m
                .iter()
                .map(|(h, ip)| json!(format!("{h}:{}", scalar_text(ip).unwrap_or_default())))
                .collect(),
            Value::Array(a) => a.clone(),
            _ => Vec::new(),
        };
        s.insert("extra_hosts".into(), Value::Array(list));
    }
    for key in ["dns", "dns_search", "tmpfs", "env_file"] {
        if let Some(Value::String(one)) = s.get(key).cloned() {
            s.insert(key.into(), json!([one]));
        }
    }
    if let Some(Value::Array(ports)) = s.get("ports").cloned() {
        let mut out = Vec::new();
        for p in &ports {
            out.extend(port(p)?);
        }
        s.insert("ports".into(), Value::Array(out));
    }
    if let Some(Value::Array(expose)) = s.get("expose").cloned() {
        let list: Vec<Value> = expose
            .iter()
            .filter_map(scalar_text)
            .map(Value::String)
            .collect();
        s.insert("expose".into(), Value::Array(list));
    }
    if let Some(Value::Array(vols)) = s.get("volumes").cloned() {
        let mut out = Vec::new();
        for v in &vols {
            out.push(volume(v, cx)?);
        }
        s.insert("volumes".into(), Value::Array(out));
    }
    let deps = match s.get("depends_on") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|d| {
                (
                    d.to_string(),
                    json!({"condition": "service_started", "required": true}),
                )
            })
            .collect(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(d, c)| {
                let mut c = c.as_object().cloned().unwrap_or_default();
                c.entry("condition")
                    .or_insert_with(|| json!("service_started"));
                c.entry("required").or_insert(Value::Bool(true));
                (d.clone(), Value::Object(c))
            })
            .collect(),
        _ => Map::new(),
    };
    if !deps.is_empty() {
        s.insert("depends_on".into(), Value::Object(deps));
    }
    if s.get("network_mode").is_none() {
        let nets = match s.get("networks") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(|n| (n.to_string(), Value::Null))
                .collect(),
            Some(Value::Object(m)) => m.clone(),
            _ => {
                let mut m = Map::new();
                m.insert("default".into(), Value::Null);
                m
            }
        };
        s.insert("networks".into(), Value::Object(nets));
    } else if s.get("networks").is_some() {
        return Err("network_mode and networks cannot be combined".into());
    }
    if let Some(Value::Object(h)) = s.get_mut("healthcheck") {
        match h.get("test").cloned() {
            Some(Value::String(cmd)) => {
                h.insert("test".into(), json!(["CMD-SHELL", cmd]));
            }
            Some(Value::Array(_)) | None => {}
            Some(_) => return Err("healthcheck.test: expected a string or a list".into()),
        }
    }
    if let Some(Value::Object(u)) = s.get_mut("ulimits") {
        for v in u.values_mut() {
            if let Some(n) = v
                .as_i64()
                .or_else(|| v.as_str().and_then(|t| t.parse().ok()))
            {
                *v = json!({"soft": n, "hard": n});
            }
        }
    }
    for key in ["secrets", "configs"] {
        if let Some(Value::Array(list)) = s.get(key).cloned() {
            let out: Vec<Value> = list
                .iter()
                .map(|e| match e {
                    Value::String(src) => json!({ "source": src }),
                    other => other.clone(),
                })
                .collect();
            s.insert(key.into(), Value::Array(out));
        }
    }
    let _ = name;
    Ok(())
}

/// `env_file`s (in order) then `environment` (which wins); a variable without a value takes
/// the process's, or is dropped when that is unset, as compose does.
fn environment(s: &mut Map<String, Value>, cx: &Context) -> Result<(), String> {
    let mut env: Vec<(String, Option<String>)> = Vec::new();
    if let Some(files) = s.remove("env_file") {
        let files = match files {
            Value::String(f) => vec![json!({"path": f, "required": true})],
            Value::Array(a) => a
                .into_iter()
                .map(|e| match e {
                    Value::String(f) => json!({"path": f, "required": true}),
                    other => other,
                })
                .collect(),
            _ => Vec::new(),
        };
        for f in files {
            let path = absolute(cx, f.get("path").and_then(Value::as_str).unwrap_or(""));
            let required = f.get("required").and_then(Value::as_bool).unwrap_or(true);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
                Err(e) => return Err(format!("env_file {path}: {e}")),
            };
            let known: BTreeMap<String, String> = env
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                .collect();
            let lookup = |k: &str| known.get(k).or_else(|| cx.env.get(k)).cloned();
            let pairs = if f.get("format").and_then(Value::as_str) == Some("raw") {
                // `format: raw`: each line's value exactly as written, quotes and all.
                text.lines()
                    .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                    .collect()
            } else {
                interpolate::parse_env_file(&text, &lookup)
                    .map_err(|e| format!("env_file {path}: {e}"))?
            };
            for (k, v) in pairs {
                set(&mut env, k, Some(v));
            }
        }
    }
    if let Some(v) = s.get("environment") {
        for (k, v) in as_pairs(v) {
            set(&mut env, k, v);
        }
    }
    if env.is_empty() {
        s.remove("environment");
        return Ok(());
    }
    let map: Map<String, Value> = env
        .into_iter()
        .filter_map(|(k, v)| {
            v.or_else(|| cx.env.get(&k).cloned())
                .map(|v| (k, Value::String(v)))
        })
        .collect();
    s.insert("environment".into(), Value::Object(map));
    Ok(())
}

fn set(env: &mut Vec<(String, Option<String>)>, k: String, v: Option<String>) {
    match env.iter_mut().find(|(ek, _)| *ek == k) {
        Some(slot) => slot.1 = v,
        None => env.push((k, v)),
    }
}

/// `labels`/`args` as a mapping of strings. Build args without a value take the environment's.
fn pairs_to_map(v: &Value, env: &BTreeMap<String, String>, from_env: bool) -> Value {
    Value::Object(
        as_pairs(v)
            .into_iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    Some(v) => Some(v),
                    None if from_env => env.get(&k).cloned(),
                    None => Some(String::new()),
                };
                v.map(|v| (k, Value::String(v)))
            })
            .collect(),
    )
}

/// A `ports:` entry in the long form (a short range gives one entry per port).
fn port(p: &Value) -> Result<Vec<Value>, String> {
    match p {
        Value::Object(m) => {
            let target = m
                .get("target")
                .and_then(scalar_text)
                .ok_or("ports: the long syntax needs target")?;
            let target: u16 = target
                .parse()
                .ok()
                .filter(|t| *t > 0)
                .ok_or_else(|| format!("ports: invalid target {target:?}: expected 1-65535"))?;
            let mut out = json!({
                "target": target,
                "protocol": m.get("protocol").and_then(Value::as_str).unwrap_or("tcp"),
                "mode": m.get("mode").and_then(Value::as_str).unwrap_or("ingress"),
            });
            if let Some(p) = m.get("published").and_then(scalar_text) {
                out["published"] = Value::String(p);
            }
            if let Some(ip) = m.get("host_ip").and_then(Value::as_str) {
                out["host_ip"] = Value::String(ip.into());
            }
            Ok(vec![out])
        }
        other => {
            let spec = scalar_text(other).unwrap_or_default();
            let mappings =
                crate::net::ports::parse_publish(&spec).map_err(|e| format!("ports: {e}"))?;
            Ok(mappings
                .into_iter()
                .map(|m| {
                    let mut out = json!({
                        "target": m.container_port,
                        "protocol": m.protocol,
                        "mode": "ingress",
                    });
                    if m.host_port != 0 {
                        out["published"] = Value::String(m.host_port.to_string());
                    }
                    if !m.host_ip.is_empty() {
                        out["host_ip"] = Value::String(m.host_ip);
                    }
                    out
                })
                .collect())
        }
    }
}

/// A `volumes:` entry in the long form. Short: `SRC:DST[:OPTS]` where SRC is a path (bind) or
/// a name (volume), or `DST` alone (an anonymous volume).
fn volume(v: &Value, cx: &Context) -> Result<Value, String> {
    let mut out = match v {
        Value::Object(m) => Value::Object(m.clone()),
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            let (src, dst, opts) = match parts.as_slice() {
                [dst] => ("", *dst, ""),
                [src, dst] => (*src, *dst, ""),
                [src, dst, opts] => (*src, *dst, *opts),
                _ => {
                    return Err(format!(
                        "volumes: invalid spec {s:?}: expected SRC:DST[:OPTS]"
                    ));
                }
            };
            if dst.is_empty() || !dst.starts_with('/') {
                return Err(format!(
                    "volumes: invalid spec {s:?}: the container path must be absolute"
                ));
            }
            let is_path = src.starts_with('.') || src.starts_with('/') || src.starts_with('~');
            let kind = if src.is_empty() || !is_path {
                "volume"
            } else {
                "bind"
            };
            let mut o = json!({ "type": kind, "target": dst });
            if !src.is_empty() {
                o["source"] = Value::String(src.to_string());
            }
            for opt in opts.split(',').filter(|o| !o.is_empty()) {
                match opt {
                    "ro" => o["read_only"] = Value::Bool(true),
                    "rw" => {}
                    // SELinux relabelling: accepted, nothing to relabel without SELinux.
                    "z" | "Z" => {}
                    "nocopy" => o["volume"] = json!({"nocopy": true}),
                    "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                        o["bind"] = json!({"propagation": opt})
                    }
                    other => {
                        return Err(format!(
                            "volumes: invalid option {other:?} in {s:?}: expected ro, rw, z, Z, nocopy or a propagation"
                        ));
                    }
                }
            }
            if kind == "bind" {
                o["bind"]
                    .as_object_mut()
                    .map(|b| b.insert("create_host_path".into(), Value::Bool(true)))
                    .unwrap_or_else(|| {
                        o["bind"] = json!({"create_host_path": true});
                        None
                    });
            }
            o
        }
        _ => return Err("volumes: expected a string or a mapping".into()),
    };
    let kind = out
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("volume")
        .to_string();
    if kind == "bind"
        && let Some(Value::String(src)) = out.get_mut("source")
    {
        *src = absolute(cx, src);
    }
    if out.get("target").and_then(Value::as_str).is_none() {
        return Err("volumes: an entry needs a target".into());
    }
    Ok(out)
}

/// Names a service uses that the project does not define.
fn check_references(
    name: &str,
    svc: &Value,
    services: &[String],
    networks: &Map<String, Value>,
    volumes: &Map<String, Value>,
    top: &Map<String, Value>,
) -> Result<(), String> {
    if let Some(Value::Object(deps)) = svc.get("depends_on") {
        for (dep, cond) in deps {
            let required = cond
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if !services.contains(dep) && required {
                return Err(format!("depends on undefined service {dep:?}"));
            }
            if dep == name {
                return Err("depends on itself".into());
            }
        }
    }
    if let Some(Value::Object(nets)) = svc.get("networks") {
        for n in nets.keys() {
            if !networks.contains_key(n) {
                return Err(format!("refers to undefined network {n:?}"));
            }
        }
    }
    if let Some(Value::Array(vols)) = svc.get("volumes") {
        for v in vols {
            if v.get("type").and_then(Value::as_str) == Some("volume")
                && let Some(src) = v.get("source").and_then(Value::as_str)
                && !volumes.contains_key(src)
            {
                return Err(format!("refers to undefined volume {src:?}"));
            }
        }
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Array(list)) = svc.get(kind) {
            for e in list {
                let src = e.get("source").and_then(Value::as_str).unwrap_or("");
                if !top
                    .get(kind)
                    .and_then(Value::as_object)
                    .is_some_and(|d| d.contains_key(src))
                {
                    return Err(format!(
                        "refers to undefined {} {src:?}",
                        &kind[..kind.len() - 1]
                    ));
                }
            }
        }
    }
    for key in ["network_mode", "pid", "ipc"] {
        if let Some(target) = svc
            .get(key)
            .and_then(Value::as_str)
            .and_then(|m| m.strip_prefix("service:"))
            && !services.iter().any(|s| s == target)
        {
            return Err(format!("{key}: undefined service {target:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(model: Value) -> Result<Value, String> {
        let env = BTreeMap::from([("HOME".to_string(), "/home/u".to_string())]);
        let cx = Context {
            project: "proj",
            working_dir: Path::new("/srv/app"),
            env: &env,
        };
        let mut m = model;
        let broken = normalize(&mut m, &cx)?;
        if let Some((name, e)) = broken.iter().next() {
            return Err(format!("service {name:?}: {e}"));
        }
        Ok(m)
    }

    #[test]
    fn short_forms_expand() {
        let m = norm(json!({
            "services": {"web": {
                "image": "busybox", "command": "sh -c 'echo hi'",
                "ports": ["127.0.0.1:8080:80", "9000-9001:9000-9001/udp", 7000],
                "volumes": ["./data:/data:Z", "db:/var/lib/db:ro", "/anon", "~/x:/x"],
                "depends_on": ["db"], "environment": ["A=1", "HOME"],
                "healthcheck": {"test": "true"}
            }, "db": {"image": "busybox"}},
            "volumes": {"db": null}
        }))
        .expect("normalize");
        let web = &m["services"]["web"];
        assert_eq!(web["command"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(
            web["ports"][0],
            json!({"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp", "mode": "ingress"})
        );
        assert_eq!(web["ports"].as_array().map(Vec::len), Some(4));
        assert_eq!(
            web["ports"][3],
            json!({"target": 7000, "protocol": "tcp", "mode": "ingress"})
        );
        assert_eq!(web["volumes"][0]["source"], "/srv/app/data");
        assert_eq!(web["volumes"][0]["type"], "bind");
        assert_eq!(
            web["volumes"][1],
            json!({"type": "volume", "source": "db", "target": "/var/lib/db", "read_only": true})
        );
        assert_eq!(
            web["volumes"][2],
            json!({"type": "volume", "target": "/anon"})
        );
        assert_eq!(web["volumes"][3]["source"], "/home/u/x");
        assert_eq!(web["depends_on"]["db"]["condition"], "service_started");
        assert_eq!(web["environment"], json!({"A": "1", "HOME": "/home/u"}));
        assert_eq!(web["healthcheck"]["test"], json!(["CMD-SHELL", "true"]));
        assert_eq!(web["networks"], json!({"default": null}));
        assert_eq!(m["networks"]["default"]["name"], "proj_default");
        assert_eq!(m["volumes"]["db"]["name"], "proj_db");
    }

    #[test]
    fn undefined_references_name_the_service() {
        let e = norm(json!({"services": {"a": {"image": "x", "volumes": ["nope:/d"]}}}))
            .expect_err("undefined volume");
        assert_eq!(e, "service \"a\": refers to undefined volume \"nope\"");
        let e = norm(json!({"services": {"a": {"image": "x", "depends_on": ["b"]}}}))
            .expect_err("undefined dep");
        assert!(e.contains("undefined service \"b\""), "{e}");
        let e = norm(json!({"services": {"a": {"image": "x", "ports": ["99999:80"]}}}))
            .expect_err("bad port");
        assert!(e.contains("ports:"), "{e}");
        let e = norm(json!({"services": {"a": {}}})).expect_err("no image");
        assert!(e.contains("neither an image nor a build"), "{e}");
    }

    #[test]
    fn external_resources_keep_their_names() {
        let m = norm(json!({
            "services": {"a": {"image": "x", "networks": ["front"]}},
            "networks": {"front": {"external": true}},
            "volumes": {"v": {"external": {"name": "shared"}}}
        }))
        .expect("normalize");
        assert_eq!(m["networks"]["front"]["name"], "front");
        assert_eq!(m["volumes"]["v"]["name"], "shared");
        assert!(m["networks"].get("default").is_none());
    }
}
