//! The network flags of `run`/`create`, validated into what the container keeps: its mode,
//! the networks it joins (with `--ip`, `--mac-address`, `--network-alias`), published and
//! exposed ports, and the DNS and hosts settings. Pure: whether the networks exist is checked
//! at create, against the store.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::ports::{PortMapping, parse_expose, parse_publish};

/// The default network's name and docker's other names for it: the store's (`state::network`).
pub use crate::state::network::{DEFAULT_NETWORK, canonical_name};

/// How a container is networked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    None,
    Host,
    /// Bridge networks: the default one and user-defined ones (`ContainerConfig::net`).
    Bridge,
    /// Another container's network namespace.
    Container,
    /// `--network pasta[:OPTIONS]`: a pasta of the container's own (podman's mode).
    Pasta,
    /// `--network slirp4netns[:OPTIONS]`: a slirp4netns of the container's own.
    Slirp4netns,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
            NetworkMode::Bridge => "bridge",
            NetworkMode::Container => "container",
            NetworkMode::Pasta => "pasta",
            NetworkMode::Slirp4netns => "slirp4netns",
        }
    }
    /// Whether the container gets a network namespace of its own.
    pub fn own_namespace(self) -> bool {
        matches!(
            self,
            NetworkMode::None | NetworkMode::Bridge | NetworkMode::Pasta | NetworkMode::Slirp4netns
        )
    }
    /// Whether it has a user-mode stack of its own (which publishes its ports).
    pub fn own_stack(self) -> bool {
        matches!(self, NetworkMode::Pasta | NetworkMode::Slirp4netns)
    }
}

#[derive(Debug, Clone, Default)]
pub struct NetRequest {
    /// `--network`, repeatable.
    pub networks: Vec<String>,
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub expose: Vec<String>,
    pub ip: Option<String>,
    pub mac_address: Option<String>,
    pub aliases: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub add_hosts: Vec<String>,
    pub links: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttach {
    pub name: String,
    #[serde(default)]
    pub ip: Option<Ipv4Addr>,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    #[serde(default)]
    pub networks: Vec<NetworkAttach>,
    /// `container:NAME|ID`: whose network namespace to share.
    #[serde(default)]
    pub container: String,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// The image's EXPOSE and `--expose`: (port, protocol).
    #[serde(default)]
    pub exposed: Vec<(u16, String)>,
    #[serde(default)]
    pub publish_all: bool,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--add-host NAME:IP` (`host-gateway` resolved at start).
    #[serde(default)]
    pub extra_hosts: Vec<(String, String)>,
    /// `--link NAME:ALIAS`.
    #[serde(default)]
    pub links: Vec<(String, String)>,
    /// `--network pasta:OPTIONS` / `slirp4netns:OPTIONS`, split at commas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stack_options: Vec<String>,
}

impl NetConfig {
    /// The ports to publish: `-p`'s, and with `-P` every exposed port not among them (host
    /// port 0: chosen at start).
    pub fn wanted_ports(&self) -> Vec<PortMapping> {
        let mut wanted = self.ports.clone();
        if self.publish_all {
            for (port, proto) in &self.exposed {
                if !wanted
                    .iter()
                    .any(|p| p.container_port == *port && &p.protocol == proto)
                {
                    wanted.push(PortMapping {
                        host_ip: String::new(),
                        host_port: 0,
                        container_port: *port,
                        protocol: proto.clone(),
                    });
                }
            }
        }
        wanted
    }
}

/// One `--network`: a name, or docker's `name=NET,alias=A,ip=IP,mac-address=M` form.
#[derive(Debug, Default, PartialEq)]
struct NetworkEntry {
    name: String,
    aliases: Vec<String>,
    ip: Option<Ipv4Addr>,
    mac: Option<String>,
}

impl NetworkEntry {
    fn parse(spec: &str) -> Result<NetworkEntry, String> {
        if !spec.starts_with("name=") {
            return Ok(NetworkEntry {
                name: spec.to_string(),
                ..NetworkEntry::default()
            });
        }
        let mut e = NetworkEntry::default();
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            match k {
                "name" => e.name = v.to_string(),
                "alias" => {
                    if !crate::state::network::valid_name(v) {
                        return Err(format!(
                            "invalid --network {spec:?}: alias {v:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                        ));
                    }
                    e.aliases.push(v.to_string())
                }
                "ip" => {
                    e.ip = Some(v.parse().map_err(|_| {
                        format!("invalid --network {spec:?}: ip {v:?} is not an IPv4 address")
                    })?)
                }
                "mac-address" => e.mac = Some(v.to_string()),
                other => {
                    return Err(format!(
                        "invalid --network {spec:?}: unknown key {other:?} (expected name, alias, ip or mac-address)"
                    ));
                }
            }
        }
        Ok(e)
    }
}

/// Validate the flags. `image_exposed` are the image's `ExposedPorts` keys.
pub fn build(
    req: &NetRequest,
    image_exposed: &[String],
) -> Result<(NetworkMode, NetConfig), String> {
    let mut cfg = NetConfig::default();
    let entries = req
        .networks
        .iter()
        .map(|n| NetworkEntry::parse(n))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<&str> = if entries.is_empty() {
        vec![DEFAULT_NETWORK]
    } else {
        entries.iter().map(|e| canonical_name(&e.name)).collect()
    };
    let stack = |n: &str| {
        ["pasta", "slirp4netns"]
            .into_iter()
            .find(|s| n == *s || n.starts_with(&format!("{s}:")))
    };
    let special =
        |n: &str| n == "none" || n == "host" || n.starts_with("container:") || stack(n).is_some();
    if names.len() > 1 && names.iter().any(|n| special(n)) {
        return Err(format!(
            "invalid --network {}: none, host, container:, pasta and slirp4netns cannot be combined with other networks",
            names.join(",")
        ));
    }
    let mode = match names[0] {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        n if stack(n).is_some() => {
            let options = n.split_once(':').map_or("", |(_, o)| o);
            cfg.stack_options = options
                .split(',')
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect();
            if stack(n) == Some("pasta") {
                NetworkMode::Pasta
            } else {
                super::rootless::check_slirp_options(&cfg.stack_options)?;
                NetworkMode::Slirp4netns
            }
        }
        n if n.starts_with("container:") => {
            let target = &n["container:".len()..];
            if target.is_empty() {
                return Err(
                    "invalid --network container:: expected container:NAME or container:ID".into(),
                );
            }
            cfg.container = target.to_string();
            NetworkMode::Container
        }
        _ => NetworkMode::Bridge,
    };

    for e in image_exposed.iter().chain(&req.expose) {
        for p in parse_expose(e)? {
            if !cfg.exposed.contains(&p) {
                cfg.exposed.push(p);
            }
        }
    }
    for p in &req.publish {
        cfg.ports.extend(parse_publish(p)?);
    }
    // A published port is an exposed one too (docker's ExposedPorts, and --link's env).
    for p in &cfg.ports {
        let key = (p.container_port, p.protocol.clone());
        if !cfg.exposed.contains(&key) {
            cfg.exposed.push(key);
        }
    }
    cfg.publish_all = req.publish_all;
    if mode != NetworkMode::Bridge
        && !mode.own_stack()
        && (!cfg.ports.is_empty() || cfg.publish_all)
    {
        if mode == NetworkMode::Host {
            // docker drops them with a warning: the container's ports are the host's.
            eprintln!("WARNING: Published ports are discarded when using host network mode");
            cfg.ports.clear();
            cfg.publish_all = false;
        } else {
            return Err(format!(
                "conflicting options: port publishing and --network {}",
                names[0]
            ));
        }
    }
    if mode == NetworkMode::Container {
        for (flag, set) in [
            ("--dns", !req.dns.is_empty()),
            ("--add-host", !req.add_hosts.is_empty()),
            ("--mac-address", req.mac_address.is_some()),
            ("--network-alias", !req.aliases.is_empty()),
        ] {
            if set {
                return Err(format!(
                    "conflicting options: {flag} and --network container: (the container uses the other container's network)"
                ));
            }
        }
    }

    let ip = match &req.ip {
        None => None,
        Some(s) => Some(s.parse::<Ipv4Addr>().map_err(|_| {
            format!("invalid --ip {s:?}: expected an IPv4 address such as 10.90.5.10")
        })?),
    };
    if ip.is_some() && (mode != NetworkMode::Bridge || names[0] == DEFAULT_NETWORK) {
        return Err(
            "invalid --ip: a chosen address is supported on user-defined networks only (skiff network create)"
                .into(),
        );
    }
    if let Some(m) = &req.mac_address
        && super::ipam::parse_mac(m).is_none()
    {
        return Err(format!(
            "invalid --mac-address {m:?}: expected a unicast MAC such as 02:42:ac:11:00:02"
        ));
    }
    for a in &req.aliases {
        if !crate::state::network::valid_name(a) {
            return Err(format!(
                "invalid --network-alias {a:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            ));
        }
    }
    if !req.aliases.is_empty() && names[0] == DEFAULT_NETWORK {
        return Err(
            "invalid --network-alias: aliases are supported on user-defined networks only".into(),
        );
    }
    if mode == NetworkMode::Bridge {
        let mut seen = Vec::new();
        for (i, n) in names.iter().enumerate() {
            if seen.contains(n) {
                return Err(format!("invalid --network {n}: given twice"));
            }
            seen.push(*n);
            // --ip, --mac-address and aliases go with the first network, as docker's do;
            // `name=N,alias=A,ip=I` gives them per network.
            let entry = entries.get(i);
            if *n == DEFAULT_NETWORK
                && entry.is_some_and(|e| !e.aliases.is_empty() || e.ip.is_some())
            {
                return Err(format!(
                    "invalid --network {}: aliases and addresses are supported on user-defined networks only",
                    req.networks[i]
                ));
            }
            let mut aliases = if i == 0 {
                req.aliases.clone()
            } else {
                Vec::new()
            };
            aliases.extend(entry.map(|e| e.aliases.clone()).unwrap_or_default());
            cfg.networks.push(NetworkAttach {
                name: n.to_string(),
                ip: entry.and_then(|e| e.ip).or(if i == 0 { ip } else { None }),
                mac: entry.and_then(|e| e.mac.clone()).or(if i == 0 {
                    req.mac_address.clone()
                } else {
                    None
                }),
                aliases,
            });
        }
    }

    for d in &req.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(format!("invalid --dns {d:?}: expected an IP address"));
        }
    }
    cfg.dns = req.dns.clone();
    cfg.dns_search = req.dns_search.clone();
    cfg.dns_options = req.dns_options.clone();
    for h in &req.add_hosts {
        let (name, addr) = h
            .split_once(':')
            .or_else(|| h.split_once('='))
            .ok_or_else(|| {
                format!("invalid --add-host {h:?}: expected NAME:IP or NAME:host-gateway")
            })?;
        if name.is_empty()
            || (addr != "host-gateway"
                && addr
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_err())
        {
            return Err(format!(
                "invalid --add-host {h:?}: expected NAME:IP or NAME:host-gateway"
            ));
        }
        cfg.extra_hosts
            .push((name.to_string(), addr.trim_matches(['[', ']']).to_string()));
    }
    for l in &req.links {
        let (name, alias) = l.split_once(':').unwrap_or((l.as_str(), l.as_str()));
        if name.is_empty() || alias.is_empty() {
            return Err(format!("invalid --link {l:?}: expected NAME[:ALIAS]"));
        }
        if mode != NetworkMode::Bridge {
            return Err(format!(
                "conflicting options: --link and --network {}",
                names[0]
            ));
        }
        cfg.links.push((name.to_string(), alias.to_string()));
    }
    Ok((mode, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(networks: &[&str]) -> NetRequest {
        NetRequest {
            networks: networks.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn modes() {
        let (m, c) = build(&req(&[]), &[]).expect("default");
        assert_eq!(m, NetworkMode::Bridge);
        assert_eq!(c.networks[0].name, DEFAULT_NETWORK);
        assert_eq!(
            build(&req(&["bridge"]), &[]).expect("bridge").1.networks[0].name,
            "skiff"
        );
        assert_eq!(
            build(&req(&["none"]), &[]).expect("none").0,
            NetworkMode::None
        );
        let (m, c) = build(&req(&["container:web"]), &[]).expect("container");
        assert_eq!((m, c.container.as_str()), (NetworkMode::Container, "web"));
        let (_, c) = build(&req(&["a", "b"]), &[]).expect("two");
        assert_eq!(c.networks.len(), 2);
        assert!(build(&req(&["host", "a"]), &[]).is_err());
        assert!(build(&req(&["a", "a"]), &[]).is_err());
    }

    #[test]
    fn ports_and_flags() {
        let mut r = req(&[]);
        r.publish = vec!["8080:80".into()];
        r.expose = vec!["9000/udp".into()];
        let (_, c) = build(&r, &["80/tcp".into()]).expect("ok");
        assert_eq!(c.ports.len(), 1);
        assert_eq!(c.exposed, vec![(80, "tcp".into()), (9000, "udp".into())]);
        let mut r = req(&["none"]);
        r.publish = vec!["80".into()];
        assert!(
            build(&r, &[])
                .expect_err("none")
                .contains("conflicting options")
        );
        let mut r = req(&[]);
        r.ip = Some("10.90.0.9".into());
        assert!(
            build(&r, &[])
                .expect_err("default")
                .contains("user-defined networks only")
        );
        let mut r = req(&["mynet"]);
        r.ip = Some("10.1.2.3".into());
        r.aliases = vec!["db".into()];
        let (_, c) = build(&r, &[]).expect("ip");
        assert_eq!(c.networks[0].ip, Some(Ipv4Addr::new(10, 1, 2, 3)));
        let mut r = req(&[]);
        r.add_hosts = vec!["gw:host-gateway".into(), "x:1.2.3.4".into()];
        assert_eq!(build(&r, &[]).expect("hosts").1.extra_hosts.len(), 2);
        r.add_hosts = vec!["nocolon".into()];
        assert!(build(&r, &[]).is_err());
    }

    #[test]
    fn per_network_settings() {
        let (_, c) = build(
            &req(&["name=front,alias=web,alias=www,ip=10.9.0.5", "back"]),
            &[],
        )
        .expect("long form");
        assert_eq!(c.networks[0].name, "front");
        assert_eq!(c.networks[0].aliases, vec!["web", "www"]);
        assert_eq!(c.networks[0].ip, Some(Ipv4Addr::new(10, 9, 0, 5)));
        assert_eq!(c.networks[1].name, "back");
        assert!(c.networks[1].aliases.is_empty());
        assert!(
            build(&req(&["name=x,colour=red"]), &[])
                .expect_err("unknown key")
                .contains("unknown key \"colour\"")
        );
        assert!(build(&req(&["name=bridge,alias=a"]), &[]).is_err());
    }
}
