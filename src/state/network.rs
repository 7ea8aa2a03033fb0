//! Networks and their address leases.
//!
//! A network is `<root>/networks/<name>.json`. A lease is `<runroot>/leases/<network>/<ip>`:
//! one JSON file per address in use, naming the container and the process that holds it
//! (the container's monitor). Leases live in the runtime dir, so a reboot frees them all; a
//! lease whose holder is gone (a `kill -9`ed monitor) is stale and is dropped by the next
//! command that looks. All changes happen under one lock, `<runroot>/networks.lock`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use super::{Lock, StateError, io_err, read_json, write_json};
use crate::config::Paths;
use crate::net::ports::PortMapping;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub name: String,
    pub id: String,
    pub driver: String,
    /// The host's bridge interface.
    pub bridge: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// `--ip-range`: where automatic addresses come from (the subnet when None).
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub created: String,
    /// The default network (`skiff`): no name resolution between its members, as docker's
    /// default bridge.
    #[serde(default)]
    pub default: bool,
}

/// One address in use on a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    pub network: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub container_id: String,
    pub container_name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// The host side of the container's veth.
    #[serde(default)]
    pub veth: String,
    /// The container's /etc/hosts, rewritten when members come and go.
    #[serde(default)]
    pub hosts_file: PathBuf,
    pub holder_pid: i32,
    pub holder_start: u64,
}

impl Lease {
    pub fn is_live(&self) -> bool {
        crate::state::proc::is_alive(self.holder_pid, self.holder_start)
    }
}

pub struct NetworkStore {
    dir: PathBuf,
    leases: PathBuf,
    lock: PathBuf,
}

/// The default network's name (docker's `bridge`; `bridge` and `default` mean it too).
pub const DEFAULT_NETWORK: &str = "skiff";

/// A network as the user names it, with docker's names for the default one resolved.
pub fn canonical_name(name: &str) -> &str {
    match name {
        "bridge" | "default" | "" => DEFAULT_NETWORK,
        n => n,
    }
}

/// docker's rule for network names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

impl NetworkStore {
    pub fn open(paths: &Paths) -> Result<NetworkStore, StateError> {
        let dir = paths.root.join("networks");
        let leases = paths.runroot.join("leases");
        for d in [&dir, &leases] {
            crate::config::ensure_dir(d, 0o700).map_err(io_err(d))?;
        }
        Ok(NetworkStore {
            dir,
            leases,
            lock: paths.runroot.join("networks.lock"),
        })
    }

    /// Serialises every change to networks, leases and the firewall.
    pub fn lock(&self) -> Result<Lock, StateError> {
        Lock::exclusive_create(&self.lock)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn list(&self) -> Result<Vec<NetworkRecord>, StateError> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(io_err(&self.dir))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                out.push(read_json(&p)?);
            }
        }
        out.sort_by(|a: &NetworkRecord, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// By name, full id or unique id prefix.
    pub fn find(&self, query: &str) -> Result<NetworkRecord, StateError> {
        // docker's names for the default network (reserved: no user network has them).
        let query = canonical_name(query);
        if valid_name(query) && self.path(query).exists() {
            return read_json(&self.path(query));
        }
        let all = self.list()?;
        let matches: Vec<_> = all
            .into_iter()
            .filter(|n| !query.is_empty() && n.id.starts_with(query))
            .collect();
        let mut matches = matches.into_iter();
        match (matches.next(), matches.next()) {
            (Some(one), None) => Ok(one),
            (None, _) => Err(StateError::NoSuchNetwork(query.to_string())),
            (Some(_), Some(_)) => Err(StateError::Invalid(format!(
                "network {query} is ambiguous: more than one network has an id starting with it"
            ))),
        }
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    pub fn save(&self, record: &NetworkRecord) -> Result<(), StateError> {
        write_json(&self.path(&record.name), record)
    }

    pub fn remove(&self, name: &str) -> Result<(), StateError> {
        let p = self.path(name);
        std::fs::remove_file(&p).map_err(io_err(&p))?;
        let _ = std::fs::remove_dir_all(self.leases.join(name));
        Ok(())
    }

    fn lease_dir(&self, network: &str) -> PathBuf {
        self.leases.join(network)
    }

    /// The network's live leases; stale ones are removed on the way.
    pub fn leases(&self, network: &str) -> Vec<Lease> {
        let dir = self.lease_dir(network);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            match read_json::<Lease>(&e.path()) {
                Ok(l) if l.is_live() => out.push(l),
                Ok(_) => {
                    let _ = std::fs::remove_file(e.path());
                }
                Err(_) => {}
            }
        }
        out.sort_by_key(|l| l.ip);
        out
    }

    /// Every live lease of every network.
    pub fn all_leases(&self) -> Vec<Lease> {
        let Ok(entries) = std::fs::read_dir(&self.leases) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .flat_map(|n| self.leases(&n))
            .collect()
    }

    /// Addresses taken on `network`, live or stale-but-unswept (callers hold the lock).
    pub fn taken(&self, network: &str) -> Vec<Ipv4Addr> {
        self.leases(network).into_iter().map(|l| l.ip).collect()
    }

    pub fn write_lease(&self, lease: &Lease) -> Result<(), StateError> {
        let dir = self.lease_dir(&lease.network);
        crate::config::ensure_dir(&dir, 0o700).map_err(io_err(&dir))?;
        write_json(&dir.join(lease.ip.to_string()), lease)
    }

    /// Drop every lease `container_id` holds; returns them.
    pub fn release(&self, container_id: &str) -> Vec<Lease> {
        let mut dropped = Vec::new();
        let Ok(nets) = std::fs::read_dir(&self.leases) else {
            return dropped;
        };
        for net in nets.flatten() {
            let Ok(entries) = std::fs::read_dir(net.path()) else {
                continue;
            };
            for e in entries.flatten() {
                if let Ok(l) = read_json::<Lease>(&e.path())
                    && l.container_id == container_id
                {
                    let _ = std::fs::remove_file(e.path());
                    dropped.push(l);
                }
            }
        }
        dropped
    }

    pub fn lease_path(&self, network: &str, ip: Ipv4Addr) -> PathBuf {
        self.lease_dir(network).join(ip.to_string())
    }
}
