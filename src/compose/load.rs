//! From the command line's `-f`/`-p`/`--env-file`/`--profile` to one merged project: find the
//! files, read the environment (`.env`, then the process's, which wins), and for each file
//! parse, interpolate, lift a v1 file into `services:`, check against the schema, and resolve
//! `include`; then merge the files in order, resolve `extends`, pick the project name and apply
//! profiles. Every error names the file (and line where one is known).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{interpolate, merge, schema, yaml};

/// What the command line says about the project.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    pub files: Vec<PathBuf>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// Services named on the command line: their profiles are enabled for them.
    pub named_services: Vec<String>,
}

/// The project as loaded: the merged model (before normalisation) and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub name: String,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// Variables for interpolation: `.env` overlaid by the process environment.
    pub env: BTreeMap<String, String>,
    pub model: Value,
    /// Services left out by profiles, by name.
    pub disabled: Vec<String>,
}

const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
const OVERRIDE_NAMES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];
const TOP_LEVEL: [&str; 9] = [
    "version", "name", "include", "services", "models", "networks", "volumes", "secrets", "configs",
];

pub fn load(opts: &LoadOptions) -> Result<Loaded, String> {
    let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    let process_env: BTreeMap<String, String> = std::env::vars().collect();
    // `.env` (of --project-directory, or here) may name the files and profiles itself.
    let first_dir = opts
        .project_directory
        .as_deref()
        .map_or(cwd.clone(), |d| absolute(&cwd, d));
    let early_env = environment(opts, &[first_dir.as_path()], &process_env)?;
    let files = find_files(opts, &cwd, &early_env)?;
    let working_dir = match &opts.project_directory {
        Some(d) => absolute(&cwd, d),
        None => files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.clone()),
    };
    // The project directory's `.env`, then this directory's (it wins), then the process's.
    let env = environment(opts, &[working_dir.as_path(), cwd.as_path()], &process_env)?;
    let mut model = Value::Object(Map::new());
    for file in &files {
        let doc = read_file(file, &env, &working_dir, 0)?;
        merge::merge_files(&mut model, doc);
    }
    if let Value::Object(m) = &mut model {
        m.remove("include");
        m.remove("version");
        m.entry("services")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    resolve_extends(&mut model, &env, &working_dir)?;
    let name = project_name(opts, &env, &model, &working_dir)?;
    let profiles = active_profiles(opts, &env);
    let disabled = apply_profiles(&mut model, &profiles, &opts.named_services)?;
    Ok(Loaded {
        name,
        working_dir,
        config_files: files,
        env,
        model,
        disabled,
    })
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// `-f` files, else `COMPOSE_FILE`, else the first compose file found in this directory or
/// an ancestor, with its override file beside it.
fn find_files(
    opts: &LoadOptions,
    cwd: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Vec<PathBuf>, String> {
    let base = opts.project_directory.as_deref().map(|d| absolute(cwd, d));
    let base = base.as_deref().unwrap_or(cwd);
    let given: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files.iter().map(|f| absolute(cwd, f)).collect()
    } else if let Some(list) = env.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .map(String::as_str)
            .unwrap_or(":");
        list.split(sep)
            .map(|f| absolute(base, Path::new(f)))
            .collect()
    } else {
        Vec::new()
    };
    if !given.is_empty() {
        for f in &given {
            if f != Path::new("-") && !f.is_file() {
                return Err(format!("open {}: no such file or directory", f.display()));
            }
        }
        return Ok(given);
    }
    let mut dir = Some(base);
    while let Some(d) = dir {
        if let Some(found) = FILE_NAMES.iter().map(|n| d.join(n)).find(|p| p.is_file()) {
            let mut files = vec![found];
            if let Some(o) = OVERRIDE_NAMES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(format!(
        "no configuration file provided: not found (looked for compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml in {} and its parents; use -f FILE)",
        base.display()
    ))
}

/// The `.env` of each of `dirs` in turn, later ones winning (or the `--env-file`s), overlaid
/// by the process's variables.
fn environment(
    opts: &LoadOptions,
    dirs: &[&Path],
    process_env: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    let files: Vec<(PathBuf, bool)> = if opts.env_files.is_empty() {
        let mut seen: Vec<&Path> = Vec::new();
        dirs.iter()
            .filter(|d| {
                let new = !seen.contains(d);
                seen.push(d);
                new
            })
            .map(|d| (d.join(".env"), false))
            .collect()
    } else {
        opts.env_files.iter().map(|f| (f.clone(), true)).collect()
    };
    for (path, required) in files {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(e) => return Err(format!("env file {}: {e}", path.display())),
        };
        let lookup = |k: &str| process_env.get(k).or_else(|| env.get(k)).cloned();
        let pairs = interpolate::parse_env_file(&text, &lookup)
            .map_err(|e| format!("env file {}: {e}", path.display()))?;
        env.extend(pairs);
    }
    env.extend(process_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

/// One file (or `-` for standard input): parsed, interpolated, lifted from v1, checked, with
/// its `include`s merged in.
fn read_file(
    file: &Path,
    env: &BTreeMap<String, String>,
    working_dir: &Path,
    depth: usize,
) -> Result<Value, String> {
    let shown = file.display().to_string();
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("reading the compose file from standard input: {e}"))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("open {shown}: {e}"))?
    };
    let mut tree = yaml::parse(&shown, &text)?;
    let lookup = |k: &str| env.get(k).cloned();
    tree.strings_mut(&mut |s, line| {
        if s.contains('$') {
            *s =
                interpolate::interpolate(s, &lookup).map_err(|e| format!("{shown}:{line}: {e}"))?;
        }
        Ok(())
    })?;
    let mut doc = tree.to_json();
    if is_v1(&doc) {
        doc = serde_json::json!({ "services": doc });
        tree = yaml::Node::new(yaml::Value::Map(vec![("services".into(), tree)]));
    }
    schema::check(&shown, &doc, &tree)?;
    if let Some(Value::Array(includes)) = doc.get("include").cloned() {
        if depth > 8 {
            return Err(format!("{shown}: include: nested more than 8 deep"));
        }
        let base = file.parent().unwrap_or(working_dir);
        for inc in includes {
            let paths: Vec<String> = match &inc {
                Value::String(p) => vec![p.clone()],
                Value::Object(m) => match m.get("path") {
                    Some(Value::String(p)) => vec![p.clone()],
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            // `env_file:` of an include gives its files variables the project lacks.
            let mut inc_env = env.clone();
            let env_files: Vec<String> = match inc.get("env_file") {
                Some(Value::String(f)) => vec![f.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            for f in env_files {
                let path = absolute(base, Path::new(&f));
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{shown}: include: env_file {}: {e}", path.display()))?;
                let lookup = |k: &str| env.get(k).cloned();
                for (k, v) in interpolate::parse_env_file(&text, &lookup)
                    .map_err(|e| format!("{shown}: include: env_file {}: {e}", path.display()))?
                {
                    inc_env.entry(k).or_insert(v);
                }
            }
            for p in paths {
                let path = absolute(base, Path::new(&p));
                if !path.is_file() {
                    return Err(format!(
                        "{shown}: include: {}: no such file",
                        path.display()
                    ));
                }
                let mut included = read_file(&path, &inc_env, working_dir, depth + 1)?;
                // Secrets and configs read from the include's own variables keep their value.
                for kind in ["secrets", "configs"] {
                    if let Some(Value::Object(defs)) = included.get_mut(kind) {
                        for def in defs.values_mut() {
                            let var = def.get("environment").and_then(Value::as_str);
                            if let Some(v) = var.filter(|v| !env.contains_key(*v))
                                && let Some(value) = inc_env.get(v)
                            {
                                *def = serde_json::json!({ "content": value });
                            }
                        }
                    }
                }
                let dir = path.parent().unwrap_or(base).to_path_buf();
                rebase_paths(&mut included, &dir);
                for kind in ["services", "networks", "volumes", "secrets", "configs"] {
                    let theirs = included.get(kind).and_then(Value::as_object);
                    let ours = doc.get(kind).and_then(Value::as_object);
                    if let (Some(t), Some(o)) = (theirs, ours)
                        && let Some(clash) = t.keys().find(|k| o.contains_key(*k))
                    {
                        return Err(format!(
                            "{shown}: include: {} defines {kind} {clash:?} which this file also defines",
                            path.display()
                        ));
                    }
                }
                let mut merged = included;
                merge::merge_files(&mut merged, doc);
                doc = merged;
            }
        }
    }
    Ok(doc)
}

/// A v1 file has its services at the top level.
fn is_v1(doc: &Value) -> bool {
    let Some(m) = doc.as_object() else {
        return false;
    };
    !m.contains_key("services")
        && !m.is_empty()
        && m.iter().all(|(k, v)| {
            (!TOP_LEVEL.contains(&k.as_str()) && !k.starts_with("x-") && v.is_object())
                || k == "version"
        })
        && m.keys().any(|k| k != "version")
}

/// Relative paths of an included file are relative to its own directory.
fn rebase_paths(doc: &mut Value, dir: &Path) {
    let fix = |s: &mut String| {
        if s.starts_with("./") || s.starts_with("../") || s == "." {
            *s = dir.join(&*s).display().to_string();
        }
    };
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    for svc in services.values_mut() {
        match svc.get_mut("build") {
            Some(Value::String(s)) => fix(s),
            Some(Value::Object(b)) => {
                if let Some(Value::String(s)) = b.get_mut("context") {
                    fix(s)
                }
            }
            _ => {}
        }
        if let Some(Value::Array(vols)) = svc.get_mut("volumes") {
            for v in vols {
                match v {
                    Value::String(s) => {
                        if let Some((src, rest)) = s.split_once(':')
                            && (src.starts_with("./") || src.starts_with("../") || src == ".")
                        {
                            *s = format!("{}:{rest}", dir.join(src).display());
                        }
                    }
                    Value::Object(m) => {
                        if let Some(Value::String(src)) = m.get_mut("source") {
                            fix(src)
                        }
                    }
                    _ => {}
                }
            }
        }
        match svc.get_mut("env_file") {
            Some(Value::String(s)) => fix(s),
            Some(Value::Array(a)) => {
                for e in a {
                    match e {
                        Value::String(s) => fix(s),
                        Value::Object(m) => {
                            if let Some(Value::String(p)) = m.get_mut("path") {
                                fix(p)
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Object(m)) = doc.get_mut(kind) {
            for def in m.values_mut() {
                if let Some(Value::String(f)) = def.get_mut("file") {
                    fix(f)
                }
            }
        }
    }
}

/// `extends: {service: base}` or `{file: other.yaml, service: base}` (or `extends: base`),
/// recursively; a cycle is an error naming it.
fn resolve_extends(
    model: &mut Value,
    env: &BTreeMap<String, String>,
    working_dir: &Path,
) -> Result<(), String> {
    let Some(services) = model.get("services").and_then(Value::as_object).cloned() else {
        return Ok(());
    };
    let mut resolved = Map::new();
    for name in services.keys() {
        let svc = extended(name, &services, env, working_dir, &mut Vec::new())?;
        resolved.insert(name.clone(), svc);
    }
    model["services"] = Value::Object(resolved);
    Ok(())
}

fn extended(
    name: &str,
    services: &Map<String, Value>,
    env: &BTreeMap<String, String>,
    working_dir: &Path,
    chain: &mut Vec<String>,
) -> Result<Value, String> {
    let Some(svc) = services.get(name) else {
        return Err(format!("extends: service {name:?} not found"));
    };
    let mut svc = svc.clone();
    let Some(ext) = svc.as_object_mut().and_then(|m| m.remove("extends")) else {
        return Ok(svc);
    };
    if chain.iter().any(|c| c == name) {
        chain.push(name.to_string());
        return Err(format!(
            "extends: circular reference: {}",
            chain.join(" -> ")
        ));
    }
    chain.push(name.to_string());
    let (base_name, file) = match &ext {
        Value::String(s) => (s.clone(), None),
        Value::Object(m) => (
            m.get("service")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            m.get("file").and_then(Value::as_str).map(String::from),
        ),
        _ => return Err(format!("service {name:?}: extends: expected a mapping")),
    };
    let mut base = match file {
        None => extended(&base_name, services, env, working_dir, chain)?,
        Some(f) => {
            let path = absolute(working_dir, Path::new(&f));
            let doc = read_file(&path, env, working_dir, 0)?;
            let other = doc
                .get("services")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if !other.contains_key(&base_name) {
                return Err(format!(
                    "service {name:?}: extends: service {base_name:?} not found in {}",
                    path.display()
                ));
            }
            let mut b = extended(&base_name, &other, env, working_dir, &mut Vec::new())?;
            let mut wrapper = serde_json::json!({ "services": { "x": b } });
            rebase_paths(&mut wrapper, path.parent().unwrap_or(working_dir));
            b = wrapper["services"]["x"].take();
            b
        }
    };
    chain.pop();
    // What a base never passes on, as compose documents.
    if let Some(m) = base.as_object_mut() {
        for k in ["depends_on", "volumes_from", "links"] {
            if svc.get(k).is_none() {
                m.remove(k);
            }
        }
    }
    merge::merge_service(&mut base, svc);
    Ok(base)
}

/// `-p`, `COMPOSE_PROJECT_NAME`, the top-level `name:`, or the directory's name; normalised as
/// compose does (lower case; letters, digits, `_` and `-`; starting with a letter or digit).
fn project_name(
    opts: &LoadOptions,
    env: &BTreeMap<String, String>,
    model: &Value,
    working_dir: &Path,
) -> Result<String, String> {
    if let Some(p) = &opts.project_name {
        if !valid_project_name(p) {
            return Err(format!(
                "invalid project name {p:?}: it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
            ));
        }
        return Ok(p.clone());
    }
    let raw = env
        .get("COMPOSE_PROJECT_NAME")
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| model.get("name").and_then(Value::as_str).map(String::from))
        .or_else(|| {
            working_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let name = normalize_project_name(&raw);
    if name.is_empty() {
        return Err(format!(
            "project name {raw:?} is empty once normalised: give one with -p NAME"
        ));
    }
    Ok(name)
}

pub fn valid_project_name(p: &str) -> bool {
    p.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

pub fn normalize_project_name(raw: &str) -> String {
    let kept: String = raw
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

fn active_profiles(opts: &LoadOptions, env: &BTreeMap<String, String>) -> Vec<String> {
    if !opts.profiles.is_empty() {
        return opts.profiles.clone();
    }
    env.get("COMPOSE_PROFILES")
        .map(|p| {
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Removes services whose profiles are all inactive (unless named on the command line, or
/// `*` is active); returns their names.
fn apply_profiles(
    model: &mut Value,
    active: &[String],
    named: &[String],
) -> Result<Vec<String>, String> {
    let Some(services) = model.get_mut("services").and_then(Value::as_object_mut) else {
        return Ok(Vec::new());
    };
    let mut disabled = Vec::new();
    for (name, svc) in services.iter() {
        let profiles: Vec<&str> = svc
            .get("profiles")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let enabled = profiles.is_empty()
            || named.contains(name)
            || active
                .iter()
                .any(|a| a == "*" || profiles.contains(&a.as_str()));
        if !enabled {
            disabled.push(name.clone());
        }
    }
    for name in &disabled {
        services.remove(name);
    }
    Ok(disabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_like_compose() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("__x-Y"), "x-y");
        assert!(valid_project_name("web_1-a"));
        assert!(!valid_project_name("Web"));
        assert!(!valid_project_name("-x"));
    }

    #[test]
    fn v1_files_are_recognised() {
        assert!(is_v1(
            &serde_json::json!({"web": {"image": "x"}, "db": {"image": "y"}})
        ));
        assert!(!is_v1(&serde_json::json!({"services": {}})));
        assert!(!is_v1(&serde_json::json!({"version": "3"})));
        assert!(!is_v1(&serde_json::json!({"volumes": {"a": {}}})));
    }

    #[test]
    fn profiles_disable_services() {
        let mut m = serde_json::json!({"services": {
            "a": {"image": "x"},
            "b": {"image": "x", "profiles": ["debug"]},
            "c": {"image": "x", "profiles": ["tools"]}
        }});
        let off = apply_profiles(&mut m, &["debug".into()], &[]).expect("profiles");
        assert_eq!(off, vec!["c".to_string()]);
        assert!(m["services"]["b"].is_object());
        let mut m2 = serde_json::json!({"services": {"c": {"image": "x", "profiles": ["t"]}}});
        assert!(
            apply_profiles(&mut m2, &[], &["c".into()])
                .expect("named")
                .is_empty()
        );
    }
}
