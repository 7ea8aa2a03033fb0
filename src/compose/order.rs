//! The dependency graph between services: `depends_on`, plus the implicit edges compose adds
//! for `links`, `volumes_from`, and `network_mode`/`pid`/`ipc: service:x` (a container can only
//! join another that exists). Cycles are refused with the cycle named.

use serde_json::Value;

use super::Project;

/// A service's dependencies: (service, condition, required, restart).
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    pub service: String,
    pub condition: String,
    pub required: bool,
    pub restart: bool,
}

pub fn dependencies(project: &Project, service: &str) -> Vec<Dependency> {
    let Some(svc) = project.service(service) else {
        return Vec::new();
    };
    let mut deps: Vec<Dependency> = Vec::new();
    if let Some(Value::Object(m)) = svc.get("depends_on") {
        for (name, c) in m {
            deps.push(Dependency {
                service: name.clone(),
                condition: c
                    .get("condition")
                    .and_then(Value::as_str)
                    .unwrap_or("service_started")
                    .to_string(),
                required: c.get("required").and_then(Value::as_bool).unwrap_or(true),
                restart: c.get("restart").and_then(Value::as_bool).unwrap_or(false),
            });
        }
    }
    let mut implicit = Vec::new();
    if let Some(Value::Array(links)) = svc.get("links") {
        for l in links.iter().filter_map(Value::as_str) {
            implicit.push(l.split(':').next().unwrap_or(l).to_string());
        }
    }
    if let Some(Value::Array(vf)) = svc.get("volumes_from") {
        for v in vf.iter().filter_map(Value::as_str) {
            if !v.starts_with("container:") {
                implicit.push(v.split(':').next().unwrap_or(v).to_string());
            }
        }
    }
    for key in ["network_mode", "pid", "ipc"] {
        if let Some(t) = svc
            .get(key)
            .and_then(Value::as_str)
            .and_then(|m| m.strip_prefix("service:"))
        {
            implicit.push(t.to_string());
        }
    }
    for name in implicit {
        if !deps.iter().any(|d| d.service == name) {
            deps.push(Dependency {
                service: name,
                condition: "service_started".into(),
                required: true,
                restart: false,
            });
        }
    }
    // A dependency on a service that is not in the project (disabled, `required: false`)
    // is no edge.
    deps.retain(|d| project.service(&d.service).is_some());
    deps
}

pub fn check_cycles(project: &Project) -> Result<(), String> {
    let names = project.service_names();
    // 0 unvisited, 1 on the current path, 2 done.
    let mut state = vec![0u8; names.len()];
    let mut path = Vec::new();
    for i in 0..names.len() {
        visit(project, &names, i, &mut state, &mut path)?;
    }
    Ok(())
}

fn visit(
    project: &Project,
    names: &[String],
    i: usize,
    state: &mut [u8],
    path: &mut Vec<String>,
) -> Result<(), String> {
    match state[i] {
        2 => return Ok(()),
        1 => {
            let start = path.iter().position(|p| *p == names[i]).unwrap_or(0);
            let mut cycle: Vec<String> = path[start..].to_vec();
            cycle.push(names[i].clone());
            return Err(format!("dependency cycle detected: {}", cycle.join(" -> ")));
        }
        _ => {}
    }
    state[i] = 1;
    path.push(names[i].clone());
    for d in dependencies(project, &names[i]) {
        if let Some(j) = names.iter().position(|n| *n == d.service) {
            visit(project, names, j, state, path)?;
        }
    }
    path.pop();
    state[i] = 2;
    Ok(())
}

/// `wanted` and everything it depends on (unless `no_deps`), dependencies first.
pub fn with_dependencies(project: &Project, wanted: &[String], no_deps: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    fn add(project: &Project, name: &str, out: &mut Vec<String>, no_deps: bool) {
        if out.iter().any(|o| o == name) {
            return;
        }
        if !no_deps {
            for d in dependencies(project, name) {
                add(project, &d.service, out, no_deps);
            }
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    for w in wanted {
        add(project, w, &mut out, no_deps);
    }
    out
}

/// Services that depend on any of `names` (directly or not), for stopping dependents first.
pub fn dependents(project: &Project, names: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut changed = true;
    while changed {
        changed = false;
        for s in project.service_names() {
            if out.contains(&s) || names.contains(&s) {
                continue;
            }
            if dependencies(project, &s)
                .iter()
                .any(|d| names.contains(&d.service) || out.contains(&d.service))
            {
                out.push(s);
                changed = true;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(services: Value) -> Project {
        Project {
            name: "p".into(),
            working_dir: "/".into(),
            config_files: Vec::new(),
            env: Default::default(),
            model: json!({ "services": services }),
            disabled: Vec::new(),
            broken: Default::default(),
        }
    }

    #[test]
    fn cycles_are_named() {
        let p = project(json!({
            "a": {"depends_on": {"b": {}}},
            "b": {"depends_on": {"c": {}}},
            "c": {"depends_on": {"a": {}}}
        }));
        let e = check_cycles(&p).expect_err("cycle");
        assert_eq!(e, "dependency cycle detected: a -> b -> c -> a");
    }

    #[test]
    fn order_puts_dependencies_first() {
        let p = project(json!({
            "web": {"depends_on": {"db": {"condition": "service_healthy"}}, "links": ["cache:c"]},
            "db": {},
            "cache": {"network_mode": "service:db"},
            "tool": {}
        }));
        check_cycles(&p).expect("no cycle");
        assert_eq!(
            with_dependencies(&p, &["web".into()], false),
            vec!["db", "cache", "web"]
        );
        assert_eq!(with_dependencies(&p, &["web".into()], true), vec!["web"]);
        assert_eq!(dependents(&p, &["db".into()]), vec!["cache", "web"]);
        assert_eq!(dependencies(&p, "web")[0].condition, "service_healthy");
    }
}
