//! Bridge networks: creating and removing networks (a Linux bridge each, on a subnet no host
//! route or interface uses), and attaching a container (an address lease, a veth pair whose
//! peer is born in the container's namespace, its address and default route, the firewall
//! rebuilt, /etc/hosts of every member rewritten) and detaching it.
//!
//! As root the bridges are the host's. Rootless they live in the user's own network
//! namespace (`user_netns`), entered by a thread for the work: the same code, the firewall
//! loaded in there (masquerade onto the namespace's one pasta, isolation between networks),
//! and published ports forwarded by the container's monitor (`forward`) instead of DNAT.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

use super::config::{DEFAULT_NETWORK, NetConfig};
use super::netlink::{Netlink, NetlinkError, in_namespace};
use super::ports::PortMapping;
use super::{NetError, firewall, forward, ipam, user_netns};
use crate::config::Paths;
use crate::state::network::{Lease, NetworkRecord, NetworkStore, valid_name};
use crate::state::{Lock, StateError};

/// What skiff names on the host for one store: its nftables table and its bridges. The
/// default store (`/var/lib/skiff`) has docker-like names (`skiff`, `skiff0`, `skiff1`...);
/// any other `--root` gets names with a hash of its path, so two stores never share them.
pub struct HostNames {
    pub table: String,
    prefix: String,
}

pub fn host_names(paths: &Paths) -> HostNames {
    if paths.root == Path::new("/var/lib/skiff") {
        return HostNames {
            table: "skiff".into(),
            prefix: "skiff".into(),
        };
    }
    let hash = crate::ids::to_hex(&Sha256::digest(paths.root.as_os_str().as_encoded_bytes()));
    HostNames {
        table: format!("skiff_{}", &hash[..8]),
        prefix: format!("sk{}_", &hash[..6]),
    }
}

/// One host-wide lock for choosing subnets: stores of their own still share the host's
/// address space. Rootless networks are private to the user: their runroot's lock.
fn subnet_lock(paths: &Paths) -> Result<Lock, StateError> {
    if paths.rootless {
        return Lock::exclusive_create(&paths.runroot.join("subnets.lock"));
    }
    Lock::exclusive_create(Path::new("/run/skiff-subnets.lock"))
}

/// Where the store's bridges are: the host's namespace as root (None); rootless, the user
/// networks' namespace, made when `make` (else None when it is not there: nothing in it).
pub(super) fn bridge_side(paths: &Paths, make: bool) -> Result<Option<File>, NetError> {
    if !paths.rootless {
        return Ok(None);
    }
    if make {
        return user_netns::ensure(paths).map(Some);
    }
    Ok(user_netns::open(paths))
}

/// Run `work` in the bridges' namespace: here as root; rootless on a thread that enters the
/// user networks' namespace first (setns moves only the calling thread).
pub(super) fn within<T: Send>(
    side: Option<&File>,
    work: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    let Some(ns) = side else {
        return work();
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                NetError::Invalid(format!("entering the user networks' namespace: {e}"))
            })?;
            work()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetError::Invalid(
                "network namespace thread panicked".into(),
            ))
        })
    })
}

pub struct CreateOptions {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<Ipv4Net>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub default: bool,
}

fn sysctl(path: &str, value: &str) -> Result<(), NetError> {
    std::fs::write(path, value)
        .map_err(|e| NetError::Invalid(format!("setting {path} to {value}: {e}")))
}

/// Make sure the network's bridge exists, carries the gateway address and is up.
fn ensure_bridge(nl: &mut Netlink, net: &NetworkRecord, rootless: bool) -> Result<(), NetError> {
    let index = match nl.link_index(&net.bridge)? {
        Some(i) => i,
        None => {
            nl.create_bridge(&net.bridge, net.mtu)?;
            nl.link_index(&net.bridge)?.ok_or_else(|| {
                NetError::Invalid(format!("bridge {} vanished after creation", net.bridge))
            })?
        }
    };
    nl.add_address(index, net.gateway, net.subnet.prefix_len())?;
    nl.set_up(index, None)?;
    if rootless {
        // The holder turned forwarding on for the whole namespace; no loopback DNAT there.
        return Ok(());
    }
    // Forwarding for the NAT, and loopback sources allowed onto the bridge so that DNAT of
    // 127.0.0.1:PORT reaches a container.
    sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    sysctl(
        &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
        "1",
    )?;
    Ok(())
}

/// Subnets in use on the host: routes, interface addresses, and this store's networks.
fn used_subnets(
    nl: &mut Netlink,
    store: &NetworkStore,
) -> Result<Vec<(Ipv4Net, String)>, NetError> {
    let mut used = Vec::new();
    for n in store.list()? {
        used.push((n.subnet, format!("network {}", n.name)));
    }
    for (dst, len) in nl.route_destinations()? {
        if let Ok(n) = Ipv4Net::new(dst, len) {
            used.push((n.trunc(), "a host route".to_string()));
        }
    }
    for a in nl.addresses()? {
        if a.address.is_loopback() {
            continue;
        }
        if let Ok(n) = Ipv4Net::new(a.address, a.prefix) {
            used.push((
                n.trunc(),
                format!("the host address {}/{}", a.address, a.prefix),
            ));
        }
    }
    Ok(used)
}

pub fn create_network(
    paths: &Paths,
    store: &NetworkStore,
    opts: CreateOptions,
) -> Result<NetworkRecord, NetError> {
    if !valid_name(&opts.name) {
        return Err(NetError::Invalid(format!(
            "invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            opts.name
        )));
    }
    if matches!(opts.name.as_str(), "bridge" | "host" | "none" | "default")
        || (opts.name == DEFAULT_NETWORK && !opts.default)
    {
        return Err(NetError::Invalid(format!(
            "network name {} is reserved: it names a pre-defined network mode",
            opts.name
        )));
    }
    for k in opts.options.keys() {
        if !matches!(
            k.as_str(),
            "mtu" | "com.docker.network.driver.mtu" | "com.docker.network.bridge.name"
        ) {
            return Err(NetError::Invalid(format!(
                "invalid -o {k}: expected mtu=BYTES or com.docker.network.bridge.name=NAME"
            )));
        }
    }
    let mtu = match opts
        .options
        .get("mtu")
        .or(opts.options.get("com.docker.network.driver.mtu"))
    {
        None => None,
        Some(m) => Some(
            m.parse::<u32>()
                .ok()
                .filter(|v| (68..=65535).contains(v))
                .ok_or_else(|| {
                    NetError::Invalid(format!("invalid -o mtu={m}: expected 68-65535"))
                })?,
        ),
    };
    // Always in this order: the host's subnet lock, then the store's.
    let _host = subnet_lock(paths)?;
    let _lock = store.lock()?;
    if store.exists(&opts.name) {
        return Err(NetError::Invalid(format!(
            "network with name {} already exists",
            opts.name
        )));
    }
    let mut nl = Netlink::open()?;
    let used = used_subnets(&mut nl, store)?;
    let subnet = match opts.subnet {
        Some(s) => {
            if let Some((_, what)) = used.iter().find(|(u, _)| ipam::overlaps(&s, u)) {
                return Err(NetError::Invalid(format!(
                    "invalid subnet {s}: it overlaps {what}"
                )));
            }
            s
        }
        None => {
            if opts.gateway.is_some() || opts.ip_range.is_some() {
                return Err(NetError::Invalid(
                    "--gateway and --ip-range need --subnet".into(),
                ));
            }
            let taken: Vec<Ipv4Net> = used.iter().map(|(n, _)| *n).collect();
            ipam::first_free(&taken, paths.rootless).ok_or_else(|| {
                NetError::Invalid(format!(
                    "no free subnet left in skiff's pool {}: remove unused networks (skiff network prune)",
                    ipam::POOL
                ))
            })?
        }
    };
    let gateway =
        ipam::validate(&subnet, opts.gateway, opts.ip_range.as_ref()).map_err(NetError::Invalid)?;
    let names = host_names(paths);
    let bridge = match opts.options.get("com.docker.network.bridge.name") {
        Some(b) => {
            if b.is_empty() || b.len() > 15 || b.contains(['/', ' ']) {
                return Err(NetError::Invalid(format!(
                    "invalid bridge name {b:?}: 1-15 characters, no / or spaces"
                )));
            }
            if !paths.rootless && nl.link_index(b)?.is_some() {
                return Err(NetError::Invalid(format!(
                    "invalid bridge name {b}: an interface of that name exists"
                )));
            }
            b.clone()
        }
        None => {
            let links = nl.link_names()?;
            let records = store.list()?;
            let start = if opts.default { 0 } else { 1 };
            (start..)
                .map(|i| format!("{}{i}", names.prefix))
                .find(|b| !links.contains(b) && !records.iter().any(|r| &r.bridge == b))
                .ok_or_else(|| NetError::Invalid("no free bridge name".into()))?
        }
    };
    let record = NetworkRecord {
        name: opts.name,
        id: crate::ids::random_id(),
        driver: "bridge".into(),
        bridge,
        subnet,
        gateway,
        ip_range: opts.ip_range,
        internal: opts.internal,
        mtu,
        labels: opts.labels,
        options: opts.options,
        created: crate::timefmt::rfc3339(crate::timefmt::now()),
        default: opts.default,
    };
    if paths.rootless {
        // Its bridge is made in the user networks' namespace when a container first joins.
        store.save(&record)?;
        return Ok(record);
    }
    let made = ensure_bridge(&mut nl, &record, false).and_then(|()| Ok(store.save(&record)?));
    if let Err(e) = made {
        if let Some(i) = nl.link_index(&record.bridge).ok().flatten() {
            let _ = nl.delete_link(i);
        }
        return Err(e);
    }
    Ok(record)
}

/// The default network, made on first use.
fn default_network(paths: &Paths, store: &NetworkStore) -> Result<NetworkRecord, NetError> {
    if store.exists(DEFAULT_NETWORK) {
        return Ok(store.find(DEFAULT_NETWORK)?);
    }
    match create_network(
        paths,
        store,
        CreateOptions {
            name: DEFAULT_NETWORK.into(),
            subnet: None,
            gateway: None,
            ip_range: None,
            internal: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            default: true,
        },
    ) {
        Ok(n) => Ok(n),
        // A parallel first run made it.
        Err(_) if store.exists(DEFAULT_NETWORK) => Ok(store.find(DEFAULT_NETWORK)?),
        Err(e) => Err(e),
    }
}

/// Rebuild the firewall from this store's networks and live leases (callers hold the lock).
pub fn sync_firewall(paths: &Paths, store: &NetworkStore) -> Result<(), NetError> {
    let networks = store.list()?;
    if paths.rootless {
        // In the user networks' namespace, with no DNAT (the monitors forward the ports).
        let Some(ns) = user_netns::open(paths) else {
            return Ok(());
        };
        let stamp = user_netns::firewall_stamp(paths);
        let table = host_names(paths).table;
        return within(Some(&ns), || {
            Ok(firewall::apply(
                &table,
                &networks,
                &[],
                &stamp,
                firewall::Place::UserNamespace,
            )?)
        });
    }
    let leases = store.all_leases();
    let stamp = paths.runroot.join("firewall.loaded");
    match firewall::apply(
        &host_names(paths).table,
        &networks,
        &leases,
        &stamp,
        firewall::Place::Host,
    ) {
        // Without nft, containers still reach each other on their bridges; only published
        // ports (and outbound NAT) need rules, so only `-p` is refused.
        Err(firewall::FirewallError::NoNft) if leases.iter().all(|l| l.ports.is_empty()) => Ok(()),
        other => Ok(other?),
    }
}

pub fn remove_network(
    paths: &Paths,
    store: &NetworkStore,
    query: &str,
) -> Result<String, NetError> {
    let _lock = store.lock()?;
    let net = store.find(query)?;
    let members = store.leases(&net.name);
    if let Some(m) = members.first() {
        return Err(NetError::Invalid(format!(
            "error while removing network: network {} has active endpoints (container {})",
            net.name, m.container_name
        )));
    }
    let side = bridge_side(paths, false)?;
    if !paths.rootless || side.is_some() {
        within(side.as_ref(), || {
            if let Ok(mut nl) = Netlink::open()
                && let Ok(Some(i)) = nl.link_index(&net.bridge)
            {
                nl.delete_link(i)?;
            }
            Ok(())
        })?;
    }
    store.remove(&net.name)?;
    sync_firewall(paths, store)?;
    Ok(net.name)
}

/// What a started container holds on one network (kept in its state for inspect and ps).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    pub network: String,
    pub network_id: String,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub mac: String,
    pub aliases: Vec<String>,
    pub ports: Vec<PortMapping>,
    /// The interface in the container (`eth0`...).
    #[serde(default)]
    pub interface: String,
}

/// What `attach` needs to know of the container.
pub struct Joiner<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub hostname: &'a str,
    pub net: &'a NetConfig,
    /// The container's pid 1, whose network namespace gets the interfaces.
    pub pid: i32,
    /// Its /etc/hosts (bind-mounted into it) and the static part the rewrites start from.
    pub hosts_file: PathBuf,
    /// The process whose life the leases last: the container's monitor.
    pub holder: (i32, u64),
    /// The networks to join now, and the index of the first one's interface (`eth0` at
    /// start; `network connect` adds the next).
    pub networks: &'a [super::config::NetworkAttach],
    pub first_index: usize,
    /// At start (ports, default route, static hosts lines), not `network connect`.
    pub starting: bool,
    /// `--link` hosts lines.
    pub link_lines: Vec<String>,
}

fn random_veth() -> String {
    format!("veth{}", &crate::ids::random_id()[..8])
}

/// Attach a container to networks: at start, or one more with `network connect`. On error
/// nothing is left: leases, veths and rules are undone.
pub fn attach(paths: &Paths, j: &Joiner) -> Result<Vec<Attachment>, NetError> {
    let store = NetworkStore::open(paths)?;
    // The default network is made (taking its own locks) before the store's lock is held.
    if j.networks.iter().any(|n| n.name == DEFAULT_NETWORK) {
        default_network(paths, &store)?;
    }
    // Rootless, this process binds the published ports on the host now, and forwards them
    // once the container has its address.
    let (ports, listeners) = if j.starting && paths.rootless {
        forward::bind(j.net)?
    } else {
        (Vec::new(), Vec::new())
    };
    let lock = store.lock()?;
    // Ports are published once, at start, on the first network: chosen here, in the host's
    // namespace, where they are bound.
    let ports = if j.starting && !paths.rootless {
        super::host_ports::resolve(j.net, &store.all_leases()).map_err(NetError::Invalid)?
    } else {
        ports
    };
    let side = bridge_side(paths, true)?;
    let mut written: Vec<Lease> = Vec::new();
    let mut result = within(side.as_ref(), || {
        attach_locked(paths, &store, j, ports, &mut written)
    });
    if let (Ok(attached), Some(ns)) = (&result, &side)
        && let Some(first) = attached.first()
        && let Err(e) = forward::start(j.id, listeners, first.ip, ns)
    {
        forward::stop(j.id);
        result = Err(e);
    }
    if result.is_err() {
        for l in &written {
            let _ = std::fs::remove_file(store.lease_path(&l.network, l.ip));
        }
        let _ = within(side.as_ref(), || {
            if let Ok(mut nl) = Netlink::open() {
                for l in &written {
                    if let Ok(Some(i)) = nl.link_index(&l.veth) {
                        let _ = nl.delete_link(i);
                    }
                }
            }
            Ok(())
        });
        let _ = sync_firewall(paths, &store);
        stop_if_unused(paths, &store);
    }
    drop(lock);
    result
}

/// Rootless: once no container holds a lease, the user networks' namespace ends (after its
/// holder's linger, which it checks for itself).
pub(super) fn stop_if_unused(paths: &Paths, store: &NetworkStore) {
    if paths.rootless && store.all_leases().is_empty() {
        user_netns::notify_idle(paths);
    }
}

fn attach_locked(
    paths: &Paths,
    store: &NetworkStore,
    j: &Joiner,
    ports: Vec<PortMapping>,
    written: &mut Vec<Lease>,
) -> Result<Vec<Attachment>, NetError> {
    let (me, my_start) = j.holder;
    let starting = j.starting;
    let mut nl = Netlink::open()?;
    let mut attachments = Vec::new();
    let mut records = Vec::new();
    for (i, want) in j.networks.iter().enumerate() {
        let net = store.find(&want.name)?;
        ensure_bridge(&mut nl, &net, paths.rootless)?;
        let taken = store.taken(&net.name);
        let ip = match want.ip {
            Some(ip) => {
                if !ipam::usable(&net.subnet, ip) || ip == net.gateway {
                    return Err(NetError::Invalid(format!(
                        "invalid --ip {ip}: it is not a free host address of network {} ({})",
                        net.name, net.subnet
                    )));
                }
                if taken.contains(&ip) {
                    return Err(NetError::Invalid(format!(
                        "invalid --ip {ip}: the address is already in use on network {}",
                        net.name
                    )));
                }
                ip
            }
            None => ipam::pick(&net.subnet, net.ip_range.as_ref(), net.gateway, &taken)
                .ok_or_else(|| {
                    NetError::Invalid(format!(
                        "no free address left on network {} ({})",
                        net.name, net.subnet
                    ))
                })?,
        };
        let mac = match &want.mac {
            Some(m) => ipam::parse_mac(m).unwrap_or_else(|| ipam::mac_for(ip)),
            None => ipam::mac_for(ip),
        };
        let lease = Lease {
            network: net.name.clone(),
            ip,
            mac: ipam::mac_text(mac),
            container_id: j.id.to_string(),
            container_name: j.name.to_string(),
            aliases: want.aliases.clone(),
            // Published ports lead to the first network's address.
            ports: if i == 0 { ports.clone() } else { Vec::new() },
            veth: random_veth(),
            hosts_file: j.hosts_file.clone(),
            holder_pid: me,
            holder_start: my_start,
        };
        store.write_lease(&lease)?;
        written.push(lease.clone());
        attachments.push(Attachment {
            network: net.name.clone(),
            network_id: net.id.clone(),
            ip,
            prefix: net.subnet.prefix_len(),
            gateway: net.gateway,
            mac: lease.mac.clone(),
            aliases: want.aliases.clone(),
            ports: lease.ports.clone(),
            interface: format!("eth{}", j.first_index + i),
        });
        records.push((net, lease, mac));
    }
    sync_firewall(paths, store)?;

    let netns = std::fs::File::open(format!("/proc/{}/ns/net", j.pid)).map_err(|e| {
        NetError::Invalid(format!("opening the container's network namespace: {e}"))
    })?;
    if starting {
        // IPv4 networks: no IPv6 on the container's interfaces (docker does the same). It
        // also spares each run the addrconf work (DAD, router solicitation) on the way up
        // and down.
        in_namespace(&netns, |_| {
            for conf in ["all", "default"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"), "1");
            }
            Ok(())
        })?;
    }
    for (i, (net, lease, mac)) in records.iter().enumerate() {
        let peer = format!("eth{}", j.first_index + i);
        nl.create_veth(&lease.veth, &peer, &netns, net.mtu, Some(*mac))?;
        let host_side = nl.link_index(&lease.veth)?.ok_or_else(|| {
            NetError::Invalid(format!("veth {} vanished after creation", lease.veth))
        })?;
        let bridge = nl
            .link_index(&net.bridge)?
            .ok_or_else(|| NetError::Invalid(format!("bridge {} is missing", net.bridge)))?;
        let _ = std::fs::write(
            format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", lease.veth),
            "1",
        );
        nl.set_up(host_side, Some(bridge))?;
    }
    let inside: Vec<(String, Ipv4Addr, u8)> = records
        .iter()
        .enumerate()
        .map(|(i, (net, lease, _))| {
            (
                format!("eth{}", j.first_index + i),
                lease.ip,
                net.subnet.prefix_len(),
            )
        })
        .collect();
    // The default route, once: via the first network that leads out (rootless too: the
    // user networks' namespace routes it on to its pasta).
    let gateway = records
        .iter()
        .find(|(net, _, _)| !net.internal)
        .map(|(net, _, _)| net.gateway)
        .filter(|_| starting);
    in_namespace(&netns, move |nl| {
        if let Some(lo) = nl.link_index("lo")? {
            nl.set_up(lo, None)?;
        }
        for (name, ip, prefix) in &inside {
            let index = nl.link_index(name)?.ok_or_else(|| NetlinkError::Protocol {
                what: format!("configuring {name}"),
                message: "not found in the container".into(),
            })?;
            nl.add_address(index, *ip, *prefix)?;
            nl.set_up(index, None)?;
        }
        if let Some(gw) = gateway {
            nl.add_default_route(gw)?;
        }
        Ok(())
    })?;
    // Rootless, nothing of the host answers on the bridge: host-gateway has no address.
    let host_gateway = records
        .first()
        .map(|(net, _, _)| net.gateway)
        .filter(|_| !paths.rootless);
    let own: Vec<Lease> = records.into_iter().map(|(_, l, _)| l).collect();
    if starting {
        write_own_hosts(j, &own, host_gateway);
    }
    for l in &own {
        super::hosts::refresh_members(store, &l.network);
    }
    Ok(attachments)
}

/// The container's static hosts lines: the local names, `--add-host` (host-gateway is the
/// bridge's address, where the host answers), its own address and name.
fn write_own_hosts(j: &Joiner, own: &[Lease], host_gateway: Option<Ipv4Addr>) {
    let mut base = super::hosts::LOCAL_HOSTS.to_string();
    for (name, addr) in &j.net.extra_hosts {
        let addr = match (addr.as_str(), host_gateway) {
            ("host-gateway", Some(gw)) => gw.to_string(),
            ("host-gateway", None) => continue,
            (a, _) => a.to_string(),
        };
        base.push_str(&format!("{addr}\t{name}\n"));
    }
    for line in &j.link_lines {
        base.push_str(line);
    }
    if let Some(first) = own.first() {
        base.push_str(&format!("{}\t{}\n", first.ip, j.hostname));
    }
    let _ = std::fs::write(super::hosts::base_path(&j.hosts_file), &base);
}
