//! `-p`/`--publish` in every docker form, `--expose`, and the views of published ports
//! (`ps`'s `0.0.0.0:8080->80/tcp`, `port`'s lines, inspect's `NetworkSettings.Ports`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One published port: host side (address "" = every address, port 0 = pick one at start)
/// and container side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    #[serde(default)]
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

impl PortMapping {
    /// `80/tcp`, the key docker uses.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }
    pub fn host_ip_or_any(&self) -> &str {
        if self.host_ip.is_empty() {
            "0.0.0.0"
        } else {
            &self.host_ip
        }
    }
}

const PROTOCOLS: &[&str] = &["tcp", "udp", "sctp"];

fn bad(spec: &str, why: impl std::fmt::Display) -> String {
    format!("invalid publish spec {spec:?}: {why}")
}

/// `80`, `80-90`: a port or an inclusive range.
fn port_range(s: &str, side: &str, spec: &str) -> Result<(u16, u16), String> {
    let one = |p: &str| -> Result<u16, String> {
        match p.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            Ok(_) => Err(bad(spec, format!("{side} port must be 1-65535"))),
            Err(_) => Err(bad(
                spec,
                format!(
                    "invalid {side} port {p:?}: expected a number 1-65535 or a range like 8000-8010"
                ),
            )),
        }
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (one(a)?, one(b)?);
            if b < a {
                return Err(bad(
                    spec,
                    format!("invalid {side} port range {s}: the end is below the start"),
                ));
            }
            Ok((a, b))
        }
        None => one(s).map(|p| (p, p)),
    }
}

/// Parse one `-p` value into its mappings (a range gives several).
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, String> {
    let (body, protocol) = match spec.rsplit_once('/') {
        Some((b, p)) => (b, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !PROTOCOLS.contains(&protocol.as_str()) {
        return Err(bad(
            spec,
            format!("unknown protocol {protocol:?}: expected tcp, udp or sctp"),
        ));
    }
    // ip:host:container, with the ip maybe in brackets (IPv6).
    let (ip, rest) = if let Some(r) = body.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| bad(spec, "unclosed [ in the host address"))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| bad(spec, "expected [IP]:HOSTPORT:CONTAINERPORT"))?;
        (Some(ip.to_string()), after.to_string())
    } else {
        let parts: Vec<&str> = body.split(':').collect();
        match parts.len() {
            1 | 2 => (None, body.to_string()),
            3 => (
                Some(parts[0].to_string()),
                format!("{}:{}", parts[1], parts[2]),
            ),
            _ => {
                return Err(bad(
                    spec,
                    "expected [IP:][HOSTPORT:]CONTAINERPORT[/PROTOCOL]",
                ));
            }
        }
    };
    if let Some(ip) = &ip
        && !ip.is_empty()
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(bad(spec, format!("invalid host address {ip:?}")));
    }
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (h, c),
        None => ("", rest.as_str()),
    };
    if container.is_empty() {
        return Err(bad(spec, "no container port"));
    }
    let (c0, c1) = port_range(container, "container", spec)?;
    let hosts = if host.is_empty() {
        None
    } else {
        Some(port_range(host, "host", spec)?)
    };
    if let Some((h0, h1)) = hosts
        && h1 - h0 != c1 - c0
        && h0 != h1
    {
        return Err(bad(
            spec,
            "the host and container port ranges must have the same length",
        ));
    }
    let host_ip = ip.unwrap_or_default();
    Ok((c0..=c1)
        .enumerate()
        .map(|(i, container_port)| PortMapping {
            host_ip: host_ip.clone(),
            host_port: match hosts {
                None => 0,
                Some((h0, h1)) if h0 == h1 => h0,
                Some((h0, _)) => h0 + i as u16,
            },
            container_port,
            protocol: protocol.clone(),
        })
        .collect())
}

/// `--expose 80`, `--expose 8000-8010/udp`, and the image's `ExposedPorts` keys.
pub fn parse_expose(spec: &str) -> Result<Vec<(u16, String)>, String> {
    let (ports, protocol) = match spec.rsplit_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !PROTOCOLS.contains(&protocol.as_str()) {
        return Err(format!(
            "invalid --expose {spec:?}: unknown protocol {protocol:?}: expected tcp, udp or sctp"
        ));
    }
    let (a, b) = port_range(ports, "container", spec)
        .map_err(|e| e.replacen("invalid publish spec", "invalid --expose", 1))?;
    Ok((a..=b).map(|p| (p, protocol.clone())).collect())
}

/// `0.0.0.0:8080->80/tcp, 0.0.0.0:5353->53/udp`, as docker's ps prints them.
pub fn ps_column(ports: &[PortMapping], exposed: &[(u16, String)]) -> String {
    let mut parts: Vec<String> = ports
        .iter()
        .map(|p| format!("{}:{}->{}", p.host_ip_or_any(), p.host_port, p.key()))
        .collect();
    for (port, proto) in exposed {
        let key = format!("{port}/{proto}");
        if !ports.iter().any(|p| p.key() == key) {
            parts.push(key);
        }
    }
    parts.join(", ")
}

/// inspect's `NetworkSettings.Ports`: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`,
/// exposed but unpublished ports as null.
pub fn inspect_ports(ports: &[PortMapping], exposed: &[(u16, String)]) -> serde_json::Value {
    let mut map: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for (port, proto) in exposed {
        map.insert(format!("{port}/{proto}"), serde_json::Value::Null);
    }
    for p in ports {
        let entry = map
            .entry(p.key())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if entry.is_null() {
            *entry = serde_json::Value::Array(Vec::new());
        }
        if let serde_json::Value::Array(list) = entry {
            list.push(serde_json::json!({
                "HostIp": p.host_ip_or_any(),
                "HostPort": p.host_port.to_string(),
            }));
        }
    }
    serde_json::to_value(map).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ip: &str, h: u16, c: u16, proto: &str) -> PortMapping {
        PortMapping {
            host_ip: ip.into(),
            host_port: h,
            container_port: c,
            protocol: proto.into(),
        }
    }

    #[test]
    fn every_docker_form() {
        assert_eq!(parse_publish("8080:80"), Ok(vec![m("", 8080, 80, "tcp")]));
        assert_eq!(parse_publish("80"), Ok(vec![m("", 0, 80, "tcp")]));
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp"),
            Ok(vec![m("127.0.0.1", 8080, 80, "udp")])
        );
        assert_eq!(
            parse_publish("127.0.0.1::80"),
            Ok(vec![m("127.0.0.1", 0, 80, "tcp")])
        );
        assert_eq!(
            parse_publish("[::1]:8080:80"),
            Ok(vec![m("::1", 8080, 80, "tcp")])
        );
        assert_eq!(
            parse_publish("8000-8002:80-82/sctp"),
            Ok(vec![
                m("", 8000, 80, "sctp"),
                m("", 8001, 81, "sctp"),
                m("", 8002, 82, "sctp")
            ])
        );
        assert_eq!(
            parse_publish("80-81"),
            Ok(vec![m("", 0, 80, "tcp"), m("", 0, 81, "tcp")])
        );
    }

    #[test]
    fn bad_specs_say_why() {
        assert_eq!(
            parse_publish("99999:80").expect_err("bad"),
            "invalid publish spec \"99999:80\": host port must be 1-65535"
        );
        assert!(
            parse_publish("abc")
                .expect_err("bad")
                .contains("invalid container port \"abc\"")
        );
        assert!(
            parse_publish("80/icmp")
                .expect_err("bad")
                .contains("unknown protocol")
        );
        assert!(
            parse_publish("8000-8001:80-85")
                .expect_err("bad")
                .contains("same length")
        );
        assert!(
            parse_publish("1.2.3:80:80")
                .expect_err("bad")
                .contains("invalid host address")
        );
        assert!(
            parse_publish("8080:")
                .expect_err("bad")
                .contains("no container port")
        );
        assert!(parse_publish("0:80").expect_err("bad").contains("1-65535"));
    }

    #[test]
    fn views() {
        let ports = vec![m("", 8080, 80, "tcp"), m("127.0.0.1", 5353, 53, "udp")];
        let exposed = vec![(80, "tcp".to_string()), (443, "tcp".to_string())];
        assert_eq!(
            ps_column(&ports, &exposed),
            "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp, 443/tcp"
        );
        let v = inspect_ports(&ports, &exposed);
        assert_eq!(v["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(v["53/udp"][0]["HostIp"], "127.0.0.1");
        assert!(v["443/tcp"].is_null());
        assert_eq!(
            parse_expose("8000-8001/udp"),
            Ok(vec![(8000, "udp".into()), (8001, "udp".into())])
        );
    }
}
