//! `kube play`: Pod and Deployment YAML -> skiff containers, planned here (pure) as the same
//! `CreateRequest`s that `run`'s flags make. A pod is its containers sharing one network, IPC
//! and UTS namespace: the first container holds them (and every published port), the others
//! join it, as a pod's sandbox would.

use super::model::*;
use crate::cgroup::ResourceFlags;
use crate::container::create::CreateRequest;
use crate::spec::RunRequest;

/// The label that ties a container (or volume) to the pod `kube play` made it for.
pub const POD_LABEL: &str = "io.skiff.kube.pod";

#[derive(Debug)]
pub struct PodPlan {
    pub name: String,
    /// In start order; the first holds the pod's namespaces.
    pub containers: Vec<CreateRequest>,
    /// Volumes to make when missing: (name, made for this pod: removed by `kube down`).
    pub volumes: Vec<(String, bool)>,
    /// What could not be followed exactly, said as warnings.
    pub warnings: Vec<String>,
}

/// Every document of the file, typed by kind; `kube down` needs only the names.
pub fn parse(text: &str) -> Result<Vec<Object>, String> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| {
        // serde-saphyr's message carries the line and column; keep that first line.
        let msg = e.to_string();
        let first = msg.lines().next().unwrap_or("").trim().to_string();
        format!("not valid YAML: {}", first.trim_start_matches("error: "))
    })?;
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(|d| serde_json::from_value(d).map_err(|e| format!("not a Kubernetes object: {e}")))
        .collect()
}

/// The pods a set of objects describes: a Pod is one, a Deployment one (replicas are not
/// spread over one host), a PersistentVolumeClaim a volume, a Service nothing to run.
pub fn plan(objects: &[Object]) -> Result<Vec<PodPlan>, String> {
    let claims: Vec<String> = objects
        .iter()
        .filter(|o| o.kind == "PersistentVolumeClaim")
        .map(|o| o.metadata.name.clone())
        .collect();
    let mut pods = Vec::new();
    for o in objects {
        let (name, spec, mut warnings) = match o.kind.as_str() {
            "Pod" => {
                let spec: PodSpec = serde_json::from_value(o.spec.clone())
                    .map_err(|e| format!("Pod {:?}: spec: {e}", o.metadata.name))?;
                (o.metadata.name.clone(), spec, Vec::new())
            }
            "Deployment" => {
                let spec: DeploymentSpec = serde_json::from_value(o.spec.clone())
                    .map_err(|e| format!("Deployment {:?}: spec: {e}", o.metadata.name))?;
                let mut w = Vec::new();
                if spec.replicas > 1 {
                    w.push(format!(
                        "Deployment {:?}: {} replicas asked for, one pod made: replicas on one host would fight over the same host ports",
                        o.metadata.name, spec.replicas
                    ));
                }
                (format!("{}-pod", o.metadata.name), spec.template.spec, w)
            }
            "Service" | "PersistentVolumeClaim" => continue,
            other => {
                return Err(format!(
                    "kind {other:?} ({:?}) is not supported by kube play: Pod, Deployment, Service and PersistentVolumeClaim are",
                    o.metadata.name
                ));
            }
        };
        if name.is_empty() {
            return Err(format!("a {} without metadata.name", o.kind));
        }
        let mut pod = pod_plan(&name, &spec, &claims)?;
        pod.warnings.append(&mut warnings);
        pods.push(pod);
    }
    if pods.is_empty() {
        return Err("no Pod or Deployment in the file: nothing to play".into());
    }
    Ok(pods)
}

/// A Kubernetes quantity (`64Mi`, `1G`, `500m` for CPUs) as docker's flag text.
fn memory_flag(q: &str) -> Result<String, String> {
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("K", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            let n: u64 = n
                .parse()
                .map_err(|_| format!("invalid memory quantity {q:?}"))?;
            return Ok((n * factor).to_string());
        }
    }
    q.parse::<u64>()
        .map(|n| n.to_string())
        .map_err(|_| format!("invalid memory quantity {q:?}: use e.g. 64Mi or 1G"))
}

fn cpu_flag(q: &str) -> Result<String, String> {
    match q.strip_suffix('m') {
        Some(milli) => milli
            .parse::<u64>()
            .map(|m| format!("{}", m as f64 / 1000.0))
            .map_err(|_| format!("invalid cpu quantity {q:?}")),
        None => q
            .parse::<f64>()
            .map(|c| c.to_string())
            .map_err(|_| format!("invalid cpu quantity {q:?}: use e.g. 500m or 2")),
    }
}

fn pod_plan(name: &str, spec: &PodSpec, claims: &[String]) -> Result<PodPlan, String> {
    if spec.containers.is_empty() {
        return Err(format!("pod {name:?}: spec.containers is empty"));
    }
    if !spec.init_containers.is_empty() {
        return Err(format!(
            "pod {name:?}: initContainers are not supported by kube play yet"
        ));
    }
    let mut volumes: Vec<(String, bool)> = claims.iter().map(|c| (c.clone(), false)).collect();
    // Where each volume of the pod comes from, as a `-v` source.
    let mut sources = std::collections::BTreeMap::new();
    for v in &spec.volumes {
        let source = if let Some(h) = &v.host_path {
            h.path.clone()
        } else if let Some(c) = &v.persistent_volume_claim {
            if !volumes.iter().any(|(n, _)| n == &c.claim_name) {
                volumes.push((c.claim_name.clone(), false));
            }
            c.claim_name.clone()
        } else if v.empty_dir.is_some() {
            // Shared by the pod's containers and gone with the pod, as emptyDir is.
            let vol = format!("{name}-{}", v.name);
            volumes.push((vol.clone(), true));
            vol
        } else {
            let kind = v.other.keys().next().cloned().unwrap_or_default();
            return Err(format!(
                "pod {name:?}: volume {:?} of type {kind:?} is not supported: hostPath, persistentVolumeClaim and emptyDir are",
                v.name
            ));
        };
        sources.insert(v.name.clone(), source);
    }
    let holder = format!("{name}-{}", spec.containers[0].name);
    let restart = match spec.restart_policy.as_deref().unwrap_or("Always") {
        "Always" => "always",
        "OnFailure" => "on-failure",
        "Never" => "no",
        other => {
            return Err(format!(
                "pod {name:?}: restartPolicy {other:?}: use Always, OnFailure or Never"
            ));
        }
    };
    let all_ports: Vec<&ContainerPort> = spec.containers.iter().flat_map(|c| &c.ports).collect();
    let mut containers = Vec::new();
    for (i, c) in spec.containers.iter().enumerate() {
        if c.image.is_empty() {
            return Err(format!(
                "pod {name:?}: container {:?} names no image",
                c.name
            ));
        }
        let mut run = RunRequest {
            command: c.args.clone(),
            entrypoint_argv: (!c.command.is_empty()).then(|| c.command.clone()),
            env: c
                .env
                .iter()
                .map(|e| format!("{}={}", e.name, e.value))
                .collect(),
            workdir: c.working_dir.clone(),
            tty: c.tty,
            interactive: c.stdin,
            restart: Some(restart.into()),
            labels: vec![
                format!("{POD_LABEL}={name}"),
                format!("io.skiff.kube.container={}", c.name),
            ],
            ..RunRequest::default()
        };
        for m in &c.volume_mounts {
            let source = sources.get(&m.name).ok_or_else(|| {
                format!(
                    "pod {name:?}: container {:?} mounts volume {:?}, which spec.volumes does not define",
                    c.name, m.name
                )
            })?;
            let ro = if m.read_only { ":ro" } else { "" };
            run.volumes.push(format!("{source}:{}{ro}", m.mount_path));
        }
        if let Some(s) = &c.security_context {
            run.privileged = s.privileged == Some(true);
            run.read_only = s.read_only_root_filesystem == Some(true);
            run.user = match (s.run_as_user, s.run_as_group) {
                (Some(u), Some(g)) => Some(format!("{u}:{g}")),
                (Some(u), None) => Some(u.to_string()),
                (None, Some(g)) => Some(format!("0:{g}")),
                (None, None) => None,
            };
            if let Some(caps) = &s.capabilities {
                run.cap_add = caps.add.clone();
                run.cap_drop = caps.drop.clone();
            }
        }
        let mut resources = ResourceFlags::default();
        if let Some(r) = &c.resources {
            if let Some(m) = r.limits.get("memory") {
                resources.memory = Some(memory_flag(m)?);
            }
            if let Some(cpu) = r.limits.get("cpu") {
                resources.cpus = Some(cpu_flag(cpu)?);
            }
        }
        if spec.host_network {
            run.net.networks = vec!["host".into()];
        } else if i == 0 {
            run.hostname = Some(spec.hostname.clone().unwrap_or_else(|| name.to_string()));
            for p in &all_ports {
                let proto = p.protocol.as_deref().unwrap_or("TCP").to_lowercase();
                match p.host_port {
                    Some(h) => {
                        let ip = p
                            .host_ip
                            .as_deref()
                            .map(|ip| format!("{ip}:"))
                            .unwrap_or_default();
                        run.net
                            .publish
                            .push(format!("{ip}{h}:{}/{proto}", p.container_port));
                    }
                    None => run.net.expose.push(format!("{}/{proto}", p.container_port)),
                }
            }
        } else {
            run.net.networks = vec![format!("container:{holder}")];
        }
        run.ipc = if spec.host_ipc {
            Some("host".into())
        } else if i == 0 {
            None
        } else {
            Some(format!("container:{holder}"))
        };
        if spec.host_pid {
            run.pid = Some("host".into());
        }
        containers.push(CreateRequest {
            image: c.image.clone(),
            name: Some(format!("{name}-{}", c.name)),
            run,
            resources,
        });
    }
    Ok(PodPlan {
        name: name.to_string(),
        containers,
        volumes,
        warnings: Vec::new(),
    })
}

/// The pod names a file describes (for `kube down`).
pub fn pod_names(objects: &[Object]) -> Vec<String> {
    objects
        .iter()
        .filter_map(|o| match o.kind.as_str() {
            "Pod" => Some(o.metadata.name.clone()),
            "Deployment" => Some(format!("{}-pod", o.metadata.name)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[path = "play_tests.rs"]
mod tests;
