//! `kube generate`: containers -> a Pod (or Deployment) and, with `--service`, a Service, as
//! Kubernetes YAML. Pure: the caller hands over the records and their images' configs.

use std::collections::BTreeMap;

use super::model::*;
use crate::image::config::RunConfig as ImageDefaults;
use crate::mount::volume::MountKind;
use crate::spec::restart::PolicyName;
use crate::state::container::ContainerRecord;

/// One container and what its image would have given it anyway (left out of the YAML).
pub struct Source<'a> {
    pub record: &'a ContainerRecord,
    pub image: Option<&'a ImageDefaults>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Deployment,
}

pub struct Options {
    pub kind: Kind,
    pub service: bool,
    pub replicas: u32,
    /// The pod's name (default: the first container's, with `-pod`, as podman names it).
    pub name: Option<String>,
}

/// A DNS-1123 label from anything: lowercase alphanumerics and '-', at most 63.
pub fn dns_label(s: &str) -> String {
    let mut out: String = s
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-');
    let out: String = out.chars().take(63).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "x".into() } else { out }
}

fn container(src: &Source, volumes: &mut Vec<Volume>) -> Container {
    let r = src.record;
    let c = &r.config;
    let defaults = src.image;
    let image_entrypoint = defaults
        .and_then(|d| d.entrypoint.clone())
        .unwrap_or_default();
    let image_cmd = defaults.and_then(|d| d.cmd.clone()).unwrap_or_default();
    let image_env = defaults.and_then(|d| d.env.clone()).unwrap_or_default();
    let command = if c.entrypoint != image_entrypoint {
        c.entrypoint.clone()
    } else {
        Vec::new()
    };
    // A command given in the YAML replaces the image's CMD too: give the args with it.
    let args = if !command.is_empty() || c.cmd != image_cmd {
        c.cmd.clone()
    } else {
        Vec::new()
    };
    let env = c
        .env
        .iter()
        .filter(|e| !image_env.contains(e))
        .filter(|e| !e.starts_with("HOSTNAME="))
        // skiff's own default PATH, given when the image sets none.
        .filter(|e| e.strip_prefix("PATH=") != Some(crate::spec::DEFAULT_PATH))
        .filter_map(|e| {
            let (k, v) = e.split_once('=')?;
            Some(EnvVar {
                name: k.into(),
                value: v.into(),
            })
        })
        .collect();
    let ports = c
        .net
        .ports
        .iter()
        .map(|p| ContainerPort {
            container_port: p.container_port,
            host_port: (p.host_port != 0).then_some(p.host_port),
            host_ip: (!p.host_ip.is_empty() && p.host_ip != "0.0.0.0").then(|| p.host_ip.clone()),
            protocol: Some(p.protocol.to_uppercase()),
        })
        .collect();
    let mut mounts = Vec::new();
    for m in &c.mounts {
        let (name, volume) = match m.kind {
            MountKind::Bind => {
                let name = dns_label(&format!("{}-host", m.source));
                let v = Volume {
                    name: name.clone(),
                    host_path: Some(HostPath {
                        path: m.source.clone(),
                        kind: None,
                    }),
                    ..Volume::default()
                };
                (name, v)
            }
            MountKind::Volume if !m.anonymous => {
                let name = dns_label(&m.source);
                let v = Volume {
                    name: name.clone(),
                    persistent_volume_claim: Some(ClaimRef {
                        claim_name: m.source.clone(),
                    }),
                    ..Volume::default()
                };
                (name, v)
            }
            kind => {
                let name = dns_label(&format!("{}-{}", r.name, m.destination));
                let medium = (kind == MountKind::Tmpfs).then(|| "Memory".to_string());
                let v = Volume {
                    name: name.clone(),
                    empty_dir: Some(EmptyDir { medium }),
                    ..Volume::default()
                };
                (name, v)
            }
        };
        if !volumes.iter().any(|v| v.name == name) {
            volumes.push(volume);
        }
        mounts.push(VolumeMount {
            name,
            mount_path: m.destination.clone(),
            read_only: m.readonly,
        });
    }
    let mut limits = BTreeMap::new();
    if let Some(m) = c.resources.memory {
        limits.insert("memory".into(), m.to_string());
    }
    if let Some(n) = c.resources.nano_cpus {
        limits.insert("cpu".into(), format!("{}m", n / 1_000_000));
    }
    let (uid, gid) = numeric_user(&c.user);
    let strip = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|x| x.trim_start_matches("CAP_").to_string())
            .collect()
    };
    let caps = Capabilities {
        add: strip(&c.security.cap_add),
        drop: strip(&c.security.cap_drop),
    };
    let security = SecurityContext {
        privileged: c.security.privileged.then_some(true),
        read_only_root_filesystem: c.security.read_only.then_some(true),
        run_as_user: uid,
        run_as_group: gid,
        capabilities: (!caps.add.is_empty() || !caps.drop.is_empty()).then_some(caps),
    };
    let image_workdir = defaults
        .and_then(|d| d.working_dir.clone())
        .unwrap_or_default();
    Container {
        name: dns_label(&r.name),
        image: r.image.clone(),
        command,
        args,
        working_dir: (!c.working_dir.is_empty()
            && c.working_dir != image_workdir
            && c.working_dir != "/")
            .then(|| c.working_dir.clone()),
        env,
        ports,
        volume_mounts: mounts,
        resources: (!limits.is_empty()).then_some(Requirements { limits }),
        security_context: (security != SecurityContext::default()).then_some(security),
        tty: c.tty,
        stdin: c.open_stdin,
    }
}

/// `uid[:gid]` as numbers; a name cannot be said in a securityContext.
fn numeric_user(user: &str) -> (Option<u32>, Option<u32>) {
    let (u, g) = user
        .split_once(':')
        .map_or((user, None), |(u, g)| (u, Some(g)));
    (u.parse().ok(), g.and_then(|g| g.parse().ok()))
}

fn restart_policy(sources: &[Source], kind: Kind) -> Option<String> {
    if kind == Kind::Deployment {
        // The only value a Deployment's template accepts.
        return Some("Always".into());
    }
    let policy = sources.first()?.record.config.restart.name;
    Some(
        match policy {
            PolicyName::No => "Never",
            PolicyName::OnFailure => "OnFailure",
            PolicyName::Always | PolicyName::UnlessStopped => "Always",
        }
        .into(),
    )
}

pub fn generate(sources: &[Source], o: &Options) -> Result<String, String> {
    let first = sources
        .first()
        .ok_or("kube generate needs at least one container")?;
    let name = dns_label(
        &o.name
            .clone()
            .unwrap_or_else(|| format!("{}-pod", first.record.name)),
    );
    let mut volumes = Vec::new();
    let containers: Vec<Container> = sources.iter().map(|s| container(s, &mut volumes)).collect();
    let c = &first.record.config;
    let spec = PodSpec {
        containers,
        init_containers: Vec::new(),
        volumes,
        restart_policy: restart_policy(sources, o.kind),
        host_network: c.network == crate::spec::NetworkMode::Host,
        host_pid: c.security.pid.docker_mode("") == "host",
        host_ipc: c.security.ipc.docker_mode("") == "host",
        hostname: None,
    };
    let labels: BTreeMap<String, String> = [("app".to_string(), name.clone())].into();
    let mut docs = Vec::new();
    let header = |kind: &str, api: &str| (api.to_string(), kind.to_string());
    match o.kind {
        Kind::Pod => {
            let (api_version, kind) = header("Pod", "v1");
            let pod = Pod {
                api_version,
                kind,
                metadata: Metadata {
                    name: name.clone(),
                    labels: labels.clone(),
                    ..Metadata::default()
                },
                spec: spec.clone(),
            };
            docs.push(serde_saphyr::to_string(&pod).map_err(|e| e.to_string())?);
        }
        Kind::Deployment => {
            let (api_version, kind) = header("Deployment", "apps/v1");
            let deployment = Deployment {
                api_version,
                kind,
                metadata: Metadata {
                    name: format!("{name}-deployment"),
                    labels: labels.clone(),
                    ..Metadata::default()
                },
                spec: DeploymentSpec {
                    replicas: o.replicas.max(1),
                    selector: Selector {
                        match_labels: labels.clone(),
                    },
                    template: PodTemplate {
                        metadata: Metadata {
                            name: name.clone(),
                            labels: labels.clone(),
                            ..Metadata::default()
                        },
                        spec: spec.clone(),
                    },
                },
            };
            docs.push(serde_saphyr::to_string(&deployment).map_err(|e| e.to_string())?);
        }
    }
    if o.service {
        let mut ports = Vec::new();
        for c in &spec.containers {
            for p in &c.ports {
                let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                ports.push(ServicePort {
                    name: format!("{}-{}", p.container_port, protocol.to_lowercase()),
                    port: p.container_port,
                    target_port: p.container_port,
                    protocol,
                });
            }
        }
        if ports.is_empty() {
            return Err(format!(
                "--service: {} publishes no ports, so a Service would have nothing to expose",
                first.record.name
            ));
        }
        let service = Service {
            api_version: "v1".into(),
            kind: "Service".into(),
            metadata: Metadata {
                name,
                labels: labels.clone(),
                ..Metadata::default()
            },
            spec: ServiceSpec {
                kind: "NodePort".into(),
                selector: labels,
                ports,
            },
        };
        docs.push(serde_saphyr::to_string(&service).map_err(|e| e.to_string())?);
    }
    Ok(docs
        .iter()
        .map(|d| d.trim_end().to_string() + "\n")
        .collect::<Vec<_>>()
        .join("---\n"))
}
