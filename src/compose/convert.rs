//! One replica of a service as a container request: the same `CreateRequest` that `run`'s flags
//! make, so every check, default and error of `run` applies to compose too. Values are given
//! in the flags' textual forms (`-p 127.0.0.1:8080:80/tcp`, `--mount type=volume,...`) because
//! that is what the request validates.

use serde_json::Value;

use super::merge::scalar_text;
use super::{COMPAT_VERSION, Project, labels, order};
use crate::container::create::CreateRequest;
use crate::spec::RunRequest;

/// Which replica, and the one-off details of `compose run`.
#[derive(Debug, Clone, Default)]
pub struct Replica {
    pub number: u32,
    pub oneoff: bool,
    /// `compose run`'s command and name overrides.
    pub command: Option<Vec<String>>,
    pub name: Option<String>,
    /// Anonymous volumes of the container this one replaces, by mount point: reused, as
    /// docker compose keeps them across a recreate.
    pub anonymous_volumes: Vec<(String, String)>,
}

fn str_of<'a>(svc: &'a Value, key: &str) -> Option<&'a str> {
    svc.get(key).and_then(Value::as_str)
}

fn text_of(svc: &Value, key: &str) -> Option<String> {
    svc.get(key).and_then(scalar_text)
}

fn strings(svc: &Value, key: &str) -> Vec<String> {
    svc.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(scalar_text).collect())
        .unwrap_or_default()
}

/// A mapping under `key` (environment, labels, build args...) as `K=V` flag values.
pub fn map_pairs(svc: &Value, key: &str) -> Vec<String> {
    svc.get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", scalar_text(v).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// `service:x` → the container of x's first replica.
fn service_ref(project: &Project, mode: &str) -> String {
    match mode.strip_prefix("service:") {
        Some(s) => format!("container:{}", project.container_name(s, 1)),
        None => mode.to_string(),
    }
}

/// A Go duration (`1m30s`) as whole seconds.
fn seconds(v: &str) -> Result<i64, String> {
    crate::units::parse_go_duration(v)
        .map(|ns| ns / 1_000_000_000)
        .map_err(|e| format!("invalid duration {v:?}: {e}"))
}

pub fn request(project: &Project, service: &str, r: &Replica) -> Result<CreateRequest, String> {
    let svc = project
        .service(service)
        .ok_or_else(|| format!("no such service: {service}"))?;
    if let Some(e) = project.broken.get(service) {
        return Err(e.clone());
    }
    if let Some(p) = str_of(svc, "platform") {
        crate::spec::check_platform(p)?;
    }
    let mut run = RunRequest {
        command: match &r.command {
            Some(c) => c.clone(),
            None => strings(svc, "command"),
        },
        env: map_pairs(svc, "environment"),
        workdir: text_of(svc, "working_dir"),
        user: text_of(svc, "user"),
        hostname: text_of(svc, "hostname"),
        domainname: text_of(svc, "domainname"),
        init: svc.get("init").and_then(Value::as_bool).unwrap_or(false),
        stop_signal: text_of(svc, "stop_signal"),
        stop_timeout: str_of(svc, "stop_grace_period").map(seconds).transpose()?,
        tty: svc.get("tty").and_then(Value::as_bool).unwrap_or(false),
        interactive: svc
            .get("stdin_open")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        shm_size: text_of(svc, "shm_size"),
        cgroup_parent: text_of(svc, "cgroup_parent"),
        cgroupns: text_of(svc, "cgroup"),
        cap_add: strings(svc, "cap_add"),
        cap_drop: strings(svc, "cap_drop"),
        security_opt: strings(svc, "security_opt"),
        read_only: svc
            .get("read_only")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        sysctls: map_pairs(svc, "sysctls"),
        group_add: strings(svc, "group_add"),
        oom_score_adj: svc.get("oom_score_adj").and_then(Value::as_i64),
        privileged: svc
            .get("privileged")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        device_cgroup_rules: strings(svc, "device_cgroup_rules"),
        pid: str_of(svc, "pid").map(|m| service_ref(project, m)),
        ipc: str_of(svc, "ipc").map(|m| service_ref(project, m)),
        uts: text_of(svc, "uts"),
        tmpfs: strings(svc, "tmpfs"),
        userns: text_of(svc, "userns_mode"),
        annotations: map_pairs(svc, "annotations"),
        ..RunRequest::default()
    };
    if let Some(ep) = svc.get("entrypoint").and_then(Value::as_array) {
        run.entrypoint_argv = Some(ep.iter().filter_map(scalar_text).collect());
    }
    run.restart = restart_policy(svc);
    if let Some(log) = svc.get("logging") {
        run.log_driver = text_of(log, "driver");
        run.log_opts = map_pairs(log, "options");
    }
    run.health = health(svc)?;
    run.ulimits = svc
        .get("ulimits")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let soft = v.get("soft").and_then(scalar_text).unwrap_or_default();
                    let hard = v.get("hard").and_then(scalar_text).unwrap_or(soft.clone());
                    format!("{k}={soft}:{hard}")
                })
                .collect()
        })
        .unwrap_or_default();
    run.devices = svc
        .get("devices")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| match d {
                    Value::Object(m) => {
                        let src = m.get("source").and_then(Value::as_str)?;
                        let dst = m.get("target").and_then(Value::as_str).unwrap_or(src);
                        let perm = m
                            .get("permissions")
                            .and_then(Value::as_str)
                            .unwrap_or("rwm");
                        Some(format!("{src}:{dst}:{perm}"))
                    }
                    other => scalar_text(other),
                })
                .collect()
        })
        .unwrap_or_default();
    run.volumes_from = strings(svc, "volumes_from")
        .into_iter()
        .map(|v| match v.strip_prefix("container:") {
            Some(c) => c.to_string(),
            None => {
                let (s, mode) = v
                    .split_once(':')
                    .map_or((v.as_str(), None), |(s, m)| (s, Some(m)));
                let c = project.container_name(s, 1);
                mode.map_or(c.clone(), |m| format!("{c}:{m}"))
            }
        })
        .collect();
    mounts(project, svc, &r.anonymous_volumes, &mut run)?;
    network(project, service, svc, r, &mut run);
    run.labels = labels_for(project, service, svc, r);
    Ok(CreateRequest {
        image: project.image_of(service),
        name: Some(match &r.name {
            Some(n) => n.clone(),
            None if r.oneoff => format!("{}-{service}-run-{}", project.name, short_random()),
            None => project.container_name(service, r.number),
        }),
        run,
        resources: resources(svc),
    })
}

fn short_random() -> String {
    let mut b = [0u8; 6];
    let _ = getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

fn restart_policy(svc: &Value) -> Option<String> {
    if let Some(r) = str_of(svc, "restart") {
        return Some(r.to_string());
    }
    let policy = svc.get("deploy")?.get("restart_policy")?;
    let max = policy.get("max_attempts").and_then(Value::as_u64);
    Some(match str_of(policy, "condition").unwrap_or("any") {
        "none" => "no".into(),
        "on-failure" => max.map_or("on-failure".into(), |m| format!("on-failure:{m}")),
        _ => "always".into(),
    })
}

fn health(svc: &Value) -> Result<crate::spec::health::HealthFlags, String> {
    let mut h = crate::spec::health::HealthFlags::default();
    let Some(hc) = svc.get("healthcheck") else {
        return Ok(h);
    };
    let test: Vec<String> = hc
        .get("test")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(scalar_text).collect())
        .unwrap_or_default();
    if hc.get("disable").and_then(Value::as_bool) == Some(true)
        || test.first().map(String::as_str) == Some("NONE")
    {
        h.none = true;
        return Ok(h);
    }
    match test.first().map(String::as_str) {
        None => {}
        Some("CMD") | Some("CMD-SHELL") => h.test = Some(test),
        Some(other) => {
            return Err(format!(
                "healthcheck.test: expected [\"CMD\", ...], [\"CMD-SHELL\", ...] or [\"NONE\"], not {other:?}"
            ));
        }
    }
    h.interval = text_of(hc, "interval");
    h.timeout = text_of(hc, "timeout");
    h.start_period = text_of(hc, "start_period");
    h.start_interval = text_of(hc, "start_interval");
    h.retries = hc.get("retries").and_then(Value::as_i64);
    Ok(h)
}

/// `volumes:`, `secrets:` and `configs:` as `--mount`s.
fn mounts(
    project: &Project,
    svc: &Value,
    reuse: &[(String, String)],
    run: &mut RunRequest,
) -> Result<(), String> {
    for v in svc
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kind = str_of(v, "type").unwrap_or("volume");
        let target = str_of(v, "target").unwrap_or_default();
        let mut parts = vec![format!("type={kind}")];
        match kind {
            "bind" => {
                let src = str_of(v, "source").unwrap_or_default();
                let create = v
                    .get("bind")
                    .and_then(|b| b.get("create_host_path"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if create && !std::path::Path::new(src).exists() {
                    std::fs::create_dir_all(src)
                        .map_err(|e| format!("volumes: creating {src}: {e}"))?;
                }
                parts.push(format!("source={src}"));
                if let Some(p) = v
                    .get("bind")
                    .and_then(|b| b.get("propagation"))
                    .and_then(Value::as_str)
                {
                    parts.push(format!("bind-propagation={p}"));
                }
            }
            "volume" => {
                if let Some(src) = str_of(v, "source") {
                    parts.push(format!("source={}", project.resource_name("volumes", src)));
                } else if let Some((_, name)) = reuse.iter().find(|(t, _)| t == target) {
                    parts.push(format!("source={name}"));
                }
                if v.get("volume")
                    .and_then(|o| o.get("nocopy"))
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    parts.push("volume-nocopy".into());
                }
            }
            "tmpfs" => {
                if let Some(size) = v
                    .get("tmpfs")
                    .and_then(|t| t.get("size"))
                    .and_then(scalar_text)
                {
                    parts.push(format!("tmpfs-size={size}"));
                }
            }
            other => {
                return Err(format!(
                    "volumes: type {other:?} is not supported (bind, volume or tmpfs)"
                ));
            }
        }
        parts.push(format!("target={target}"));
        if v.get("read_only").and_then(Value::as_bool) == Some(true) {
            parts.push("readonly".into());
        }
        run.mount.push(parts.join(","));
    }
    for (kind, default_dir) in [("secrets", "/run/secrets/"), ("configs", "/")] {
        for s in svc
            .get(kind)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let source = str_of(s, "source").unwrap_or_default();
            let def = project
                .model
                .get(kind)
                .and_then(|d| d.get(source))
                .ok_or_else(|| format!("{kind}: undefined {source:?}"))?;
            let file = match str_of(def, "file") {
                Some(f) => f.to_string(),
                None => {
                    return Err(format!(
                        "{kind} {source:?}: external {kind} are a swarm feature: give file:, environment: or content:"
                    ));
                }
            };
            let target = match str_of(s, "target") {
                Some(t) if t.starts_with('/') => t.to_string(),
                Some(t) => format!("{default_dir}{t}"),
                None => format!("{default_dir}{source}"),
            };
            run.mount
                .push(format!("type=bind,source={file},target={target},readonly"));
        }
    }
    Ok(())
}

fn network(project: &Project, service: &str, svc: &Value, r: &Replica, run: &mut RunRequest) {
    let net = &mut run.net;
    match str_of(svc, "network_mode") {
        Some(mode) => net.networks.push(service_ref(project, mode)),
        None => {
            let mut nets: Vec<(&String, &Value)> = svc
                .get("networks")
                .and_then(Value::as_object)
                .map(|m| m.iter().collect())
                .unwrap_or_default();
            // Higher priority first: the first network is the container's primary one.
            nets.sort_by_key(|(_, c)| -c.get("priority").and_then(Value::as_i64).unwrap_or(0));
            for (key, cfg) in nets {
                let mut spec = format!("name={}", project.resource_name("networks", key));
                // Service names resolve on every project network, as compose's aliases do.
                spec.push_str(&format!(",alias={service}"));
                for a in cfg
                    .get("aliases")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    spec.push_str(&format!(",alias={a}"));
                }
                if let Some(ip) = str_of(cfg, "ipv4_address") {
                    spec.push_str(&format!(",ip={ip}"));
                }
                net.networks.push(spec);
            }
        }
    }
    if !r.oneoff || r.command.is_none() {
        for p in svc
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            net.publish.push(publish_spec(p));
        }
    }
    net.expose = strings(svc, "expose");
    net.dns = strings(svc, "dns");
    net.dns_search = strings(svc, "dns_search");
    net.dns_options = strings(svc, "dns_opt");
    net.add_hosts = strings(svc, "extra_hosts");
    net.mac_address = text_of(svc, "mac_address");
    net.links = strings(svc, "links")
        .into_iter()
        .map(|l| {
            let (s, alias) = l
                .split_once(':')
                .map_or((l.as_str(), l.as_str()), |(s, a)| (s, a));
            format!("{}:{alias}", project.container_name(s, 1))
        })
        .chain(strings(svc, "external_links"))
        .collect();
}

/// A long-form port as `-p`'s text.
pub fn publish_spec(p: &Value) -> String {
    let target = p.get("target").and_then(scalar_text).unwrap_or_default();
    let proto = str_of(p, "protocol").unwrap_or("tcp");
    let published = p.get("published").and_then(scalar_text).unwrap_or_default();
    match str_of(p, "host_ip") {
        Some(ip) if ip.contains(':') => format!("[{ip}]:{published}:{target}/{proto}"),
        Some(ip) => format!("{ip}:{published}:{target}/{proto}"),
        None if published.is_empty() => format!("{target}/{proto}"),
        None => format!("{published}:{target}/{proto}"),
    }
}

fn labels_for(project: &Project, service: &str, svc: &Value, r: &Replica) -> Vec<String> {
    let mut out = map_pairs(svc, "labels");
    let deps: Vec<String> = order::dependencies(project, service)
        .iter()
        .map(|d| format!("{}:{}:{}", d.service, d.condition, d.restart))
        .collect();
    let files: Vec<String> = project
        .config_files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    for (k, v) in [
        (labels::PROJECT, project.name.clone()),
        (labels::SERVICE, service.to_string()),
        (labels::NUMBER, r.number.to_string()),
        (
            labels::ONEOFF,
            if r.oneoff { "True" } else { "False" }.to_string(),
        ),
        (labels::CONFIG_HASH, project.config_hash(service)),
        (
            labels::WORKING_DIR,
            project.working_dir.display().to_string(),
        ),
        (labels::CONFIG_FILES, files.join(",")),
        (labels::DEPENDS_ON, deps.join(",")),
        (labels::IMAGE, project.image_of(service)),
        (labels::VERSION, COMPAT_VERSION.to_string()),
    ] {
        out.push(format!("{k}={v}"));
    }
    out
}

fn resources(svc: &Value) -> crate::cgroup::limits::ResourceFlags {
    let limits = svc.get("deploy").and_then(|d| d.get("resources"));
    let lim = |k: &str| {
        limits
            .and_then(|l| l.get("limits"))
            .and_then(|l| l.get(k))
            .and_then(scalar_text)
    };
    let res = |k: &str| {
        limits
            .and_then(|l| l.get("reservations"))
            .and_then(|l| l.get(k))
            .and_then(scalar_text)
    };
    crate::cgroup::limits::ResourceFlags {
        memory: text_of(svc, "mem_limit").or_else(|| lim("memory")),
        memory_swap: text_of(svc, "memswap_limit"),
        memory_reservation: text_of(svc, "mem_reservation").or_else(|| res("memory")),
        oom_kill_disable: svc
            .get("oom_kill_disable")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cpus: text_of(svc, "cpus").or_else(|| lim("cpus")),
        cpu_shares: svc.get("cpu_shares").and_then(Value::as_i64),
        cpu_period: svc.get("cpu_period").and_then(Value::as_i64),
        cpu_quota: svc.get("cpu_quota").and_then(Value::as_i64),
        cpuset_cpus: text_of(svc, "cpuset"),
        cpuset_mems: None,
        pids_limit: svc
            .get("pids_limit")
            .and_then(Value::as_i64)
            .or_else(|| lim("pids").and_then(|p| p.parse().ok())),
        blkio_weight: svc
            .get("blkio_config")
            .and_then(|b| b.get("weight"))
            .and_then(Value::as_u64)
            .and_then(|w| u16::try_from(w).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_as_publish_flags() {
        assert_eq!(
            publish_spec(
                &json!({"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "tcp"})
            ),
            "127.0.0.1:8080:80/tcp"
        );
        assert_eq!(
            publish_spec(&json!({"target": 53, "protocol": "udp"})),
            "53/udp"
        );
        assert_eq!(
            publish_spec(&json!({"target": 80, "published": "81"})),
            "81:80/tcp"
        );
    }

    #[test]
    fn a_service_becomes_a_request() {
        let project = Project {
            name: "app".into(),
            working_dir: "/srv".into(),
            config_files: vec!["/srv/compose.yaml".into()],
            env: Default::default(),
            model: json!({
                "services": {
                    "web": {
                        "image": "busybox", "command": ["httpd", "-f"],
                        "entrypoint": ["/bin/sh", "-c"],
                        "environment": {"A": "1"},
                        "networks": {"default": null, "back": {"aliases": ["www"]}},
                        "ports": [{"target": 80, "published": "8080", "protocol": "tcp"}],
                        "volumes": [{"type": "volume", "source": "data", "target": "/data", "read_only": true}],
                        "depends_on": {"db": {"condition": "service_healthy", "required": true}},
                        "links": ["db:database"],
                        "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 2},
                        "restart": "unless-stopped", "stop_grace_period": "1m30s",
                        "deploy": {"resources": {"limits": {"memory": "64m", "cpus": "0.5"}}}
                    },
                    "db": {"image": "busybox"}
                },
                "networks": {"default": {"name": "app_default"}, "back": {"name": "app_back"}},
                "volumes": {"data": {"name": "app_data"}}
            }),
            disabled: Vec::new(),
            broken: Default::default(),
        };
        let req = request(
            &project,
            "web",
            &Replica {
                number: 2,
                ..Default::default()
            },
        )
        .expect("request");
        assert_eq!(req.name.as_deref(), Some("app-web-2"));
        assert_eq!(req.image, "busybox");
        assert_eq!(
            req.run.entrypoint_argv,
            Some(vec!["/bin/sh".to_string(), "-c".to_string()])
        );
        assert_eq!(
            req.run.net.networks,
            vec![
                "name=app_back,alias=web,alias=www",
                "name=app_default,alias=web"
            ]
        );
        assert_eq!(req.run.net.publish, vec!["8080:80/tcp"]);
        assert_eq!(req.run.net.links, vec!["app-db-1:database"]);
        assert_eq!(
            req.run.mount,
            vec!["type=volume,source=app_data,target=/data,readonly"]
        );
        assert_eq!(req.run.stop_timeout, Some(90));
        assert_eq!(
            req.run.health.test,
            Some(vec!["CMD".to_string(), "true".to_string()])
        );
        assert_eq!(req.resources.memory.as_deref(), Some("64m"));
        assert!(
            req.run
                .labels
                .contains(&"com.docker.compose.depends_on=db:service_healthy:false".to_string())
        );
        assert!(
            req.run
                .labels
                .contains(&"com.docker.compose.container-number=2".to_string())
        );
    }
}
