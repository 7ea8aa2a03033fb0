//! The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, written into its userdata
//! directory and bind-mounted (so they can later be rewritten in place).

use std::path::{Path, PathBuf};

use super::config::NetConfig;
use crate::spec::NetworkMode;
use crate::state::network::{Lease, NetworkStore};

pub const LOCAL_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The hosts file: the host's own with `--network host` (as docker), else the local names.
pub fn hosts_file(mode: NetworkMode, host_hosts: &str) -> String {
    match mode {
        NetworkMode::Host => host_hosts.to_string(),
        _ => LOCAL_HOSTS.to_string(),
    }
}

/// resolv.conf from the host's: with the host's network every nameserver works; in a network
/// namespace of its own a loopback nameserver (systemd-resolved, dnsmasq) would be the
/// container's own loopback, so those lines are dropped.
pub fn resolv_conf(mode: NetworkMode, host_resolv: &str) -> String {
    if mode == NetworkMode::Host {
        return host_resolv.to_string();
    }
    host_resolv
        .lines()
        .filter(|l| !is_loopback_server(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn is_loopback_server(line: &str) -> bool {
    let mut f = line.split_whitespace();
    f.next() == Some("nameserver")
        && f.next()
            .is_some_and(|ip| ip.starts_with("127.") || ip == "::1")
}

/// Every nameserver line names a loopback address (and there is at least one).
pub fn only_loopback_servers(resolv: &str) -> bool {
    let servers: Vec<&str> = resolv
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("nameserver"))
        .collect();
    !servers.is_empty() && servers.iter().all(|l| is_loopback_server(l))
}

/// `--dns`, `--dns-search` and `--dns-option` replace the matching lines of the derived
/// file; with no nameserver left at all, docker's public fallbacks are written.
pub fn with_overrides(derived: &str, net: &NetConfig) -> String {
    let mut out = String::new();
    for line in derived.lines() {
        let key = line.split_whitespace().next().unwrap_or("");
        let replaced = (key == "nameserver" && !net.dns.is_empty())
            || ((key == "search" || key == "domain") && !net.dns_search.is_empty())
            || (key == "options" && !net.dns_options.is_empty());
        if !replaced {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !net.dns_search.is_empty() {
        out.push_str(&format!("search {}\n", net.dns_search.join(" ")));
    }
    for d in &net.dns {
        out.push_str(&format!("nameserver {d}\n"));
    }
    if !out.lines().any(|l| l.starts_with("nameserver")) {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    if !net.dns_options.is_empty() {
        out.push_str(&format!("options {}\n", net.dns_options.join(" ")));
    }
    out
}

pub fn write_userdata(
    dir: &Path,
    mode: NetworkMode,
    hostname: &str,
    net: &NetConfig,
    rootless: bool,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if mode != NetworkMode::Host && only_loopback_servers(&host_resolv) {
        // systemd-resolved's stub (127.0.0.53) is unreachable from a namespace of its own;
        // its upstream servers, which it lists here, are what docker uses then.
        if let Ok(upstream) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            host_resolv = upstream;
        }
    }
    let mut hosts = hosts_file(mode, &host_hosts);
    for (name, addr) in &net.extra_hosts {
        if addr != "host-gateway" {
            hosts.push_str(&format!("{addr}\t{name}\n"));
        }
    }
    std::fs::write(dir.join("hosts"), &hosts)?;
    std::fs::write(dir.join("hosts.base"), &hosts)?;
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let mut resolv = resolv_conf(mode, &host_resolv);
    if rootless && mode == NetworkMode::Bridge && only_loopback_servers(&host_resolv) {
        // A loopback resolver (dnsmasq, a stub without upstream list): the user networks'
        // stack answers at this address and asks it from the host's side.
        resolv.push_str(&format!("nameserver {}\n", super::outside::DNS_FORWARD));
    }
    let resolv = if mode == NetworkMode::Host
        && net.dns.is_empty()
        && net.dns_search.is_empty()
        && net.dns_options.is_empty()
    {
        resolv
    } else {
        with_overrides(&resolv, net)
    };
    std::fs::write(dir.join("resolv.conf"), resolv)
}

/// Where a container's static hosts lines are kept, beside its hosts file.
pub fn base_path(hosts: &Path) -> PathBuf {
    hosts.with_file_name("hosts.base")
}

/// Rewrite, in place, the hosts file of every live member of `network` (a user network):
/// each one's static lines, then every other member it shares a user network with.
pub fn refresh_members(store: &NetworkStore, network: &str) {
    let Ok(net) = store.find(network) else { return };
    if net.default {
        // Like docker's default bridge: no name resolution between members.
        for l in store.leases(network) {
            write_hosts(store, &l);
        }
        return;
    }
    for l in store.leases(network) {
        write_hosts(store, &l);
    }
}

/// `me`'s hosts file: its static lines, then every member of a user network it is on
/// (itself included, by name and aliases).
pub fn write_hosts(store: &NetworkStore, me: &Lease) {
    use std::io::Write;
    let Ok(base) = std::fs::read_to_string(base_path(&me.hosts_file)) else {
        return;
    };
    let mut text = base;
    let all = store.all_leases();
    let my_networks: Vec<&str> = all
        .iter()
        .filter(|l| l.container_id == me.container_id)
        .map(|l| l.network.as_str())
        .collect();
    let mut seen = Vec::new();
    for l in &all {
        if !my_networks.contains(&l.network.as_str()) {
            continue;
        }
        if store.find(&l.network).is_ok_and(|n| n.default) {
            continue;
        }
        let mut names = vec![l.container_name.clone()];
        names.extend(l.aliases.iter().cloned());
        // Its own names resolve too, as docker's DNS answers them (the static lines already
        // give the hostname).
        if l.container_id != me.container_id {
            names.push(l.container_id[..12.min(l.container_id.len())].to_string());
        }
        let line = format!("{}\t{}\n", l.ip, names.join(" "));
        if !seen.contains(&line) {
            seen.push(line.clone());
            text.push_str(&line);
        }
    }
    // In place: the file is bind-mounted into the container, a rename would not be seen.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&me.hosts_file)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only_resolvers() {
        assert!(only_loopback_servers(
            "nameserver 127.0.0.53\noptions edns0\n"
        ));
        assert!(!only_loopback_servers(
            "nameserver 127.0.0.53\nnameserver 10.0.0.1\n"
        ));
        assert!(!only_loopback_servers("search lan\n"));
    }

    #[test]
    fn dns_overrides_replace_lines() {
        let derived = "search lan\nnameserver 10.0.0.1\noptions ndots:2\n";
        let net = NetConfig {
            dns: vec!["10.9.9.9".into()],
            dns_search: vec!["example.com".into()],
            dns_options: vec!["ndots:1".into()],
            ..Default::default()
        };
        assert_eq!(
            with_overrides(derived, &net),
            "search example.com\nnameserver 10.9.9.9\noptions ndots:1\n"
        );
        assert_eq!(
            with_overrides("", &NetConfig::default()),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }

    #[test]
    fn loopback_nameservers_dropped_in_own_netns() {
        let host =
            "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\n";
        assert_eq!(
            resolv_conf(NetworkMode::None, host),
            "search example.org\nnameserver 10.0.0.2\n"
        );
        assert_eq!(resolv_conf(NetworkMode::Host, host), host);
    }

    #[test]
    fn hosts_for_modes() {
        assert!(hosts_file(NetworkMode::None, "x").starts_with("127.0.0.1\tlocalhost\n"));
        assert_eq!(hosts_file(NetworkMode::Host, "1.2.3.4 h\n"), "1.2.3.4 h\n");
    }
}
