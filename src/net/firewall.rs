//! The nftables table skiff owns. It is never edited rule by rule: every change rebuilds the
//! whole table from the state (networks and live leases) and loads it with one `nft -f -`
//! batch (`add table; delete table; table { ... }`), which the kernel applies atomically. So a
//! crashed container's rules disappear at the next rebuild, with nothing to track.
//!
//! On a host where docker has set the iptables FORWARD policy to DROP, every forward hook
//! must accept, so skiff also keeps accept rules for its bridges in docker's `DOCKER-USER`
//! chain (or `FORWARD` without it), tagged with a comment naming skiff's table.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::state::network::{Lease, NetworkRecord};

#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error(
        "this needs nftables rules but the nft command is missing: install it (Debian: apt-get install nftables)"
    )]
    NoNft,
    #[error("nft: {0}")]
    Nft(String),
}

/// The whole table but the published ports' rules (`published_rules`).
pub fn ruleset(table: &str, networks: &[NetworkRecord]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "add table inet {table}\ndelete table inet {table}");
    let _ = writeln!(s, "table inet {table} {{");

    // Isolation: nothing crosses between two of skiff's bridges; internal networks keep
    // everything on their bridge.
    let _ = writeln!(
        s,
        "  chain forward {{\n    type filter hook forward priority filter; policy accept;"
    );
    for a in networks {
        for b in networks {
            if a.bridge != b.bridge {
                let _ = writeln!(
                    s,
                    "    iifname \"{}\" oifname \"{}\" drop",
                    a.bridge, b.bridge
                );
            }
        }
        if a.internal {
            let _ = writeln!(
                s,
                "    iifname \"{0}\" oifname != \"{0}\" drop\n    oifname \"{0}\" iifname != \"{0}\" drop",
                a.bridge
            );
        }
    }
    let _ = writeln!(s, "  }}");

    // Published ports: DNAT for traffic to the host's own addresses, arriving from outside
    // (prerouting) or sent by the host itself (output).
    let _ = writeln!(
        s,
        "  chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump published\n  }}"
    );
    let _ = writeln!(
        s,
        "  chain output {{\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump published\n  }}"
    );
    // Filled separately (see `published_rules`): the chain is the only part that changes
    // as containers with `-p` come and go.
    let _ = writeln!(s, "  chain published {{\n  }}");

    // Outbound NAT per subnet; and masquerade for DNATed traffic that reaches a bridge from
    // the host's loopback (needs route_localnet) or from the same bridge (hairpin), so the
    // replies come back through the host.
    let _ = writeln!(
        s,
        "  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;"
    );
    for n in networks {
        if !n.internal {
            let _ = writeln!(s, "    ip saddr {0} ip daddr != {0} masquerade", n.subnet);
        }
        let _ = writeln!(
            s,
            "    oifname \"{}\" ct status dnat ip saddr {{ 127.0.0.0/8, {} }} masquerade",
            n.bridge, n.subnet
        );
    }
    let _ = writeln!(s, "  }}\n}}");
    s
}

/// The DNAT rules of the published ports, one per line, for chain `published`.
pub fn published_rules(leases: &[Lease]) -> Vec<String> {
    let mut rules = Vec::new();
    for lease in leases {
        for p in &lease.ports {
            let daddr = match p.host_ip.as_str() {
                "" | "0.0.0.0" => String::new(),
                ip if ip.contains(':') => continue,
                ip => format!("ip daddr {ip} "),
            };
            rules.push(format!(
                "{daddr}{proto} dport {hp} dnat ip to {ip}:{cp}",
                proto = p.protocol,
                hp = p.host_port,
                ip = lease.ip,
                cp = p.container_port
            ));
        }
    }
    rules
}

/// Refill chain `published` alone: no base chain is touched, so the kernel's commit need not
/// wait for hooks to be unregistered (a full rebuild costs ~18 ms here, this ~4 ms).
fn ports_batch(table: &str, rules: &[String]) -> String {
    let mut s = format!("flush chain inet {table} published\n");
    for r in rules {
        let _ = writeln!(s, "add rule inet {table} published {r}");
    }
    s
}

fn nft(script: &str) -> Result<String, FirewallError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => FirewallError::NoNft,
            _ => FirewallError::Nft(e.to_string()),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| FirewallError::Nft(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| FirewallError::Nft(e.to_string()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err
            .lines()
            .find(|l| l.contains("Error"))
            .unwrap_or(err.trim());
        return Err(FirewallError::Nft(first.to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn nft_args(args: &[&str]) -> Option<String> {
    let out = Command::new("nft").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where the table is loaded: the host (where docker's chains may need accept rules too), or
/// the rootless user networks' own namespace (which has no other rules).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Host,
    UserNamespace,
}

/// Load the table; with no networks at all, remove it. `stamp` remembers what was loaded
/// last (the ruleset's text): a container without published ports changes nothing, and then
/// no `nft` runs at all — which is most of a bridged `run`'s cost otherwise.
pub fn apply(
    table: &str,
    networks: &[NetworkRecord],
    leases: &[Lease],
    stamp: &std::path::Path,
    place: Place,
) -> Result<(), FirewallError> {
    let base = if networks.is_empty() {
        format!("add table inet {table}\ndelete table inet {table}\n")
    } else {
        ruleset(table, networks)
    };
    let rules = if networks.is_empty() {
        Vec::new()
    } else {
        published_rules(leases)
    };
    let bridges: Vec<&str> = networks.iter().map(|n| n.bridge.as_str()).collect();
    let base_record = format!("{base}#bridges {}\n", bridges.join(" "));
    let record = format!("{base_record}#published\n{}\n", rules.join("\n"));
    let previous = std::fs::read_to_string(stamp).unwrap_or_default();
    if previous == record {
        return Ok(());
    }
    // Forget the stamp first: if loading fails half-way, the next change reloads for sure.
    let _ = std::fs::remove_file(stamp);
    let same_base = previous.starts_with(&base_record) && !networks.is_empty();
    if same_base {
        nft(&ports_batch(table, &rules))?;
    } else if networks.is_empty() {
        // Nothing to delete is fine.
        let _ = nft(&base);
    } else {
        // One batch: the table rebuilt, then its published chain filled.
        nft(&format!("{base}{}", ports_batch(table, &rules)))?;
    }
    let bridges_line = |r: &str| {
        r.lines()
            .find(|l| l.starts_with("#bridges"))
            .map(str::to_string)
    };
    if place == Place::Host && bridges_line(&previous) != bridges_line(&record) {
        accept_in_docker_chains(table, networks);
    }
    let _ = std::fs::write(stamp, record);
    Ok(())
}

/// Keep one accept rule per bridge direction in iptables' filter FORWARD path, when such a
/// chain exists (docker's DROP policy); remove the ones for bridges that are gone.
fn accept_in_docker_chains(table: &str, networks: &[NetworkRecord]) {
    let chain = if nft_args(&["list", "chain", "ip", "filter", "DOCKER-USER"]).is_some() {
        "DOCKER-USER"
    } else if nft_args(&["list", "chain", "ip", "filter", "FORWARD"]).is_some() {
        "FORWARD"
    } else {
        return;
    };
    let tag = format!("skiff:{table}");
    let Some(listing) = nft_args(&["-a", "list", "chain", "ip", "filter", chain]) else {
        return;
    };
    let mut script = String::new();
    for line in listing.lines() {
        if line.contains(&format!("comment \"{tag}\""))
            && let Some(handle) = line.rsplit("# handle ").next()
        {
            let _ = writeln!(
                script,
                "delete rule ip filter {chain} handle {}",
                handle.trim()
            );
        }
    }
    for n in networks {
        for dir in ["iifname", "oifname"] {
            let _ = writeln!(
                script,
                "insert rule ip filter {chain} {dir} \"{}\" counter accept comment \"{tag}\"",
                n.bridge
            );
        }
    }
    if !script.is_empty() {
        let _ = nft(&script);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ports::PortMapping;

    fn network(name: &str, bridge: &str, subnet: &str, internal: bool) -> NetworkRecord {
        NetworkRecord {
            name: name.into(),
            id: "0".repeat(64),
            driver: "bridge".into(),
            bridge: bridge.into(),
            subnet: subnet.parse().expect("subnet"),
            gateway: "10.90.0.1".parse().expect("gw"),
            ip_range: None,
            internal,
            mtu: None,
            labels: Default::default(),
            options: Default::default(),
            created: String::new(),
            default: false,
        }
    }

    #[test]
    fn ruleset_has_nat_isolation_and_ports() {
        let nets = vec![
            network("a", "skiff0", "10.90.0.0/24", false),
            network("b", "skiff1", "10.90.1.0/24", true),
        ];
        let lease = Lease {
            network: "a".into(),
            ip: "10.90.0.2".parse().expect("ip"),
            mac: String::new(),
            container_id: "c".into(),
            container_name: "web".into(),
            aliases: vec![],
            ports: vec![
                PortMapping {
                    host_ip: String::new(),
                    host_port: 8080,
                    container_port: 80,
                    protocol: "tcp".into(),
                },
                PortMapping {
                    host_ip: "127.0.0.1".into(),
                    host_port: 5353,
                    container_port: 53,
                    protocol: "udp".into(),
                },
            ],
            veth: String::new(),
            hosts_file: Default::default(),
            holder_pid: 1,
            holder_start: 0,
        };
        let r = ruleset("skiff", &nets);
        assert!(r.starts_with("add table inet skiff\ndelete table inet skiff\n"));
        assert!(r.contains("iifname \"skiff0\" oifname \"skiff1\" drop"));
        assert!(r.contains("iifname \"skiff1\" oifname != \"skiff1\" drop"));
        assert!(r.contains("ip saddr 10.90.0.0/24 ip daddr != 10.90.0.0/24 masquerade"));
        assert!(!r.contains("ip saddr 10.90.1.0/24 ip daddr != 10.90.1.0/24 masquerade"));
        let p = published_rules(&[lease]);
        assert_eq!(
            p,
            vec![
                "tcp dport 8080 dnat ip to 10.90.0.2:80",
                "ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.90.0.2:53"
            ]
        );
        assert_eq!(
            ports_batch("skiff", &p[..1]),
            "flush chain inet skiff published\nadd rule inet skiff published tcp dport 8080 dnat ip to 10.90.0.2:80\n"
        );
    }
}
