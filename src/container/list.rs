//! `ps`: docker's rows, filters and columns, computed from reconciled records.

use serde::Serialize;

use crate::state::container::{ContainerRecord, Status};
use crate::timefmt::{human_duration, seconds_since};

/// One row of `ps`, with docker's template field names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PsRow {
    #[serde(rename = "ID")]
    pub id: String,
    pub image: String,
    pub command: String,
    pub created_at: String,
    pub running_for: String,
    pub ports: String,
    pub state: String,
    pub status: String,
    pub size: String,
    pub names: String,
    pub labels: String,
    pub mounts: String,
    pub networks: String,
    pub local_volumes: String,
}

/// Docker's header for each field, used to render `table` templates.
pub fn header_row() -> PsRow {
    PsRow {
        id: "CONTAINER ID".into(),
        image: "IMAGE".into(),
        command: "COMMAND".into(),
        created_at: "CREATED AT".into(),
        running_for: "CREATED".into(),
        ports: "PORTS".into(),
        state: "STATE".into(),
        status: "STATUS".into(),
        size: "SIZE".into(),
        names: "NAMES".into(),
        labels: "LABELS".into(),
        mounts: "MOUNTS".into(),
        networks: "NETWORKS".into(),
        local_volumes: "LOCAL VOLUMES".into(),
    }
}

pub fn row(r: &ContainerRecord, no_trunc: bool) -> PsRow {
    let argv = r.config.argv();
    let mut command = argv.join(" ");
    if !no_trunc && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    PsRow {
        id: if no_trunc {
            r.id.clone()
        } else {
            r.short_id().to_string()
        },
        image: r.image.clone(),
        command: format!("\"{command}\""),
        created_at: docker_date(&r.created),
        running_for: format!("{} ago", human_duration(seconds_since(&r.created))),
        ports: if r.state.status == crate::state::container::Status::Running {
            let ports: Vec<_> = r
                .state
                .networks
                .iter()
                .flat_map(|a| a.ports.clone())
                .collect();
            crate::net::ports::ps_column(&ports, &r.config.net.exposed)
        } else {
            String::new()
        },
        state: r.state.status.as_str().to_string(),
        status: status_text(r),
        size: String::new(),
        names: r.name.clone(),
        labels: r
            .config
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        // docker: volume names (truncated ids for anonymous ones) and bind sources.
        mounts: r
            .config
            .mounts
            .iter()
            .filter(|m| m.kind != crate::mount::volume::MountKind::Tmpfs)
            .map(|m| {
                if m.anonymous && !no_trunc {
                    m.source.chars().take(15).collect::<String>() + "…"
                } else {
                    m.source.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        // Docker's column: the networks by name, or the mode (host, none, container:X).
        networks: if r.config.network == crate::spec::NetworkMode::Bridge {
            let names: Vec<&str> = r
                .config
                .net
                .networks
                .iter()
                .map(|n| n.name.as_str())
                .collect();
            names.join(",")
        } else {
            r.config.network.as_str().to_string()
        },
        local_volumes: "0".into(),
    }
}

/// "Up 3 seconds", "Exited (0) 5 seconds ago", "Created".
pub fn status_text(r: &ContainerRecord) -> String {
    match r.state.status {
        Status::Running => {
            let since = r.state.started_at.as_deref().unwrap_or(&r.created);
            let paused = if r.state.paused { " (Paused)" } else { "" };
            // docker: "Up 5 seconds (healthy)", "(health: starting)".
            let health = match r.state.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)".to_string(),
                Some(s) => format!(" ({s})"),
                None => String::new(),
            };
            format!(
                "Up {}{paused}{health}",
                human_duration(seconds_since(since))
            )
        }
        Status::Exited => match r.state.finished_at.as_deref() {
            Some(f) => format!(
                "Exited ({}) {} ago",
                r.state.exit_code,
                human_duration(seconds_since(f))
            ),
            None => format!("Exited ({})", r.state.exit_code),
        },
        // docker: "Restarting (1) 2 seconds ago", counted from the last exit.
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            human_duration(seconds_since(
                r.state.finished_at.as_deref().unwrap_or(&r.created)
            ))
        ),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// Go's default time format, which docker prints for CreatedAt: `2026-11-23 10:00:00 +0000 UTC`.
fn docker_date(rfc3339: &str) -> String {
    crate::timefmt::parse(rfc3339)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Id(String),
    Name(String),
    Status(String),
    Exited(i32),
    Ancestor(String),
    Label(String, Option<String>),
    /// starting, healthy, unhealthy or none.
    Health(String),
    /// Created before / after this container (name or id).
    Before(String),
    Since(String),
    /// A volume name or a mount destination.
    Volume(String),
    Network(String),
    /// A published (host) port, or an exposed (container) port: PORT[-PORT][/PROTO].
    Publish(PortSpec),
    Expose(PortSpec),
    /// swarm tasks: skiff has none.
    IsTask(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub from: u16,
    pub to: u16,
    pub protocol: Option<String>,
}

impl PortSpec {
    fn parse(key: &str, v: &str) -> Result<PortSpec, String> {
        let bad = || format!("invalid filter '{key}={v}': expected PORT[-PORT][/tcp|udp|sctp]");
        let (ports, proto) = match v.split_once('/') {
            Some((p, proto)) if ["tcp", "udp", "sctp"].contains(&proto) => {
                (p, Some(proto.to_string()))
            }
            Some(_) => return Err(bad()),
            None => (v, None),
        };
        let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
        let from: u16 = a.parse().map_err(|_| bad())?;
        let to: u16 = b.parse().map_err(|_| bad())?;
        if from > to {
            return Err(bad());
        }
        Ok(PortSpec {
            from,
            to,
            protocol: proto,
        })
    }

    fn matches(&self, port: u16, protocol: &str) -> bool {
        (self.from..=self.to).contains(&port)
            && self.protocol.as_deref().is_none_or(|p| p == protocol)
    }
}

pub fn parse_filter(s: &str) -> Result<Filter, String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("invalid filter {s:?}: expected key=value"))?;
    Ok(match k {
        "id" => Filter::Id(v.to_string()),
        "name" => Filter::Name(v.strip_prefix('/').unwrap_or(v).to_string()),
        "status" => {
            const OK: &[&str] = &[
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ];
            if !OK.contains(&v) {
                return Err(format!(
                    "invalid filter 'status={v}': expected one of {}",
                    OK.join(", ")
                ));
            }
            Filter::Status(v.to_string())
        }
        "exited" => Filter::Exited(
            v.parse()
                .map_err(|_| format!("invalid filter 'exited={v}': expected an exit code"))?,
        ),
        "ancestor" => Filter::Ancestor(v.to_string()),
        "health" => {
            const OK: &[&str] = &["starting", "healthy", "unhealthy", "none"];
            if !OK.contains(&v) {
                return Err(format!(
                    "invalid filter 'health={v}': expected one of {}",
                    OK.join(", ")
                ));
            }
            Filter::Health(v.to_string())
        }
        "label" => match v.split_once('=') {
            Some((k, val)) => Filter::Label(k.to_string(), Some(val.to_string())),
            None => Filter::Label(v.to_string(), None),
        },
        "before" => Filter::Before(v.to_string()),
        "since" => Filter::Since(v.to_string()),
        "volume" => Filter::Volume(v.to_string()),
        "network" => Filter::Network(v.to_string()),
        "publish" => Filter::Publish(PortSpec::parse(k, v)?),
        "expose" => Filter::Expose(PortSpec::parse(k, v)?),
        "is-task" => Filter::IsTask(match v {
            "true" => true,
            "false" => false,
            _ => {
                return Err(format!(
                    "invalid filter 'is-task={v}': expected true or false"
                ));
            }
        }),
        other => {
            return Err(format!(
                "invalid filter {other:?}: supported are id, name, status, exited, ancestor, label, health, before, since, volume, network, publish, expose, is-task"
            ));
        }
    })
}

/// Docker ANDs different filter keys and ORs repeated values of one key.
pub fn matches(r: &ContainerRecord, filters: &[Filter], ancestor_ids: &[String]) -> bool {
    let groups: [fn(&Filter) -> bool; 14] = [
        |f| matches!(f, Filter::Id(_)),
        |f| matches!(f, Filter::Name(_)),
        |f| matches!(f, Filter::Status(_)),
        |f| matches!(f, Filter::Exited(_)),
        |f| matches!(f, Filter::Ancestor(_)),
        |f| matches!(f, Filter::Label(..)),
        |f| matches!(f, Filter::Health(_)),
        |f| matches!(f, Filter::Before(_)),
        |f| matches!(f, Filter::Since(_)),
        |f| matches!(f, Filter::Volume(_)),
        |f| matches!(f, Filter::Network(_)),
        |f| matches!(f, Filter::Publish(_)),
        |f| matches!(f, Filter::Expose(_)),
        |f| matches!(f, Filter::IsTask(_)),
    ];
    groups.iter().all(|in_group| {
        let mut of_kind = filters.iter().filter(|f| in_group(f)).peekable();
        of_kind.peek().is_none() || of_kind.any(|f| one(r, f, ancestor_ids))
    })
}

fn one(r: &ContainerRecord, f: &Filter, ancestor_ids: &[String]) -> bool {
    match f {
        Filter::Id(p) => r.id.starts_with(p.as_str()),
        // docker matches names as a regular expression; a substring is its common use.
        Filter::Name(n) => r.name.contains(n.as_str()),
        Filter::Volume(v) => r
            .config
            .mounts
            .iter()
            .any(|m| m.source == *v || m.destination == *v),
        Filter::Network(n) => {
            r.config.net.networks.iter().any(|x| x.name == *n)
                || r.state.networks.iter().any(|x| x.network == *n)
                || r.config.network.as_str() == n
        }
        Filter::Publish(p) => r
            .config
            .net
            .ports
            .iter()
            .any(|m| p.matches(m.host_port, &m.protocol)),
        Filter::Expose(p) => {
            r.config
                .net
                .ports
                .iter()
                .any(|m| p.matches(m.container_port, &m.protocol))
                || r.config
                    .net
                    .exposed
                    .iter()
                    .any(|(port, proto)| p.matches(*port, proto))
        }
        Filter::IsTask(t) => !t,
        // Resolved against the other container by the caller (`created_between`).
        Filter::Before(_) | Filter::Since(_) => true,
        Filter::Health(h) => {
            r.state
                .health
                .as_ref()
                .map_or("none", |x| x.status.as_str())
                == h.as_str()
        }
        Filter::Status(s) if r.state.paused => s == "paused",
        Filter::Status(s) => r.state.status.as_str() == s,
        Filter::Exited(c) => r.state.status == Status::Exited && r.state.exit_code == *c,
        Filter::Ancestor(a) => r.image == *a || ancestor_ids.contains(&r.image_id),
        Filter::Label(k, v) => match (r.config.labels.get(k), v) {
            (Some(_), None) => true,
            (Some(have), Some(want)) => have == want,
            (None, _) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ContainerConfig;
    use crate::state::container::ContainerState;

    fn rec(name: &str, status: Status, code: i32) -> ContainerRecord {
        ContainerRecord {
            id: format!("{:0<64}", "abc"),
            name: name.into(),
            created: "2026-01-01T00:00:00Z".into(),
            image: "busybox".into(),
            image_id: "sha256:1".into(),
            config: ContainerConfig {
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo a very long command line".into(),
                ],
                ..Default::default()
            },
            state: ContainerState {
                status,
                exit_code: code,
                ..ContainerState::created()
            },
            restart_count: 0,
        }
    }

    #[test]
    fn rows_truncate_like_docker() {
        let r = row(&rec("web", Status::Created, 0), false);
        assert_eq!(r.id.len(), 12);
        assert_eq!(r.command, "\"sh -c echo a very l…\"");
        assert_eq!(r.status, "Created");
        assert_eq!(r.created_at, "2026-01-01 00:00:00 +0000 UTC");
        assert!(
            row(&rec("web", Status::Created, 0), true)
                .command
                .ends_with("line\"")
        );
    }

    #[test]
    fn filters() {
        let a = rec("web", Status::Exited, 3);
        let f = |s: &str| parse_filter(s).expect(s);
        assert!(matches(&a, &[f("name=we"), f("exited=3")], &[]));
        assert!(!matches(&a, &[f("status=running")], &[]));
        assert!(matches(&a, &[f("status=running"), f("status=exited")], &[]));
        assert!(matches(&a, &[f("ancestor=busybox")], &[]));
        assert!(matches(&a, &[f("ancestor=x")], &["sha256:1".into()]));
        assert!(parse_filter("status=bogus").is_err());
        assert!(parse_filter("color=red").is_err());
        assert!(parse_filter("nokey").is_err());
    }
}
