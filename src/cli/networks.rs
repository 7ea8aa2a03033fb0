//! Handlers for `network create|ls|inspect|rm|prune` and `port`.

use serde_json::{Value, json};

use super::volumes::key_values;
use super::{
    CliError, NetworkCommand, NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs,
    NetworkInspectArgs, NetworkLsArgs, NetworkPruneArgs, NetworkRmArgs, PortArgs, for_each,
};
use crate::container::{ContainerError, Ctx};
use crate::net::NetError;
use crate::net::bridge::{self, CreateOptions};
use crate::state::network::{NetworkRecord, NetworkStore};

impl From<NetError> for CliError {
    fn from(e: NetError) -> CliError {
        CliError::Usage(e.to_string())
    }
}

fn store(ctx: &Ctx) -> Result<NetworkStore, CliError> {
    NetworkStore::open(&ctx.paths).map_err(|e| CliError::Container(ContainerError::from(e)))
}

pub fn network(ctx: &Ctx, c: NetworkCommand) -> Result<i32, CliError> {
    match c {
        NetworkCommand::Create(a) => create(ctx, a),
        NetworkCommand::Ls(a) => ls(ctx, a),
        NetworkCommand::Inspect(a) => inspect(ctx, a),
        NetworkCommand::Rm(a) => rm(ctx, a),
        NetworkCommand::Prune(a) => prune(ctx, a),
        NetworkCommand::Connect(a) => connect(ctx, a),
        NetworkCommand::Disconnect(a) => disconnect(ctx, a),
        NetworkCommand::Exists(a) => Ok(i32::from(store(ctx)?.find(&a.name).is_err())),
    }
}

fn create(ctx: &Ctx, a: NetworkCreateArgs) -> Result<i32, CliError> {
    if a.driver != "bridge" {
        return Err(CliError::Usage(format!(
            "network driver {:?} is not supported: only bridge",
            a.driver
        )));
    }
    let net = |flag: &str, v: &Option<String>| -> Result<Option<ipnet::Ipv4Net>, CliError> {
        v.as_ref()
            .map(|s| {
                s.parse().map_err(|_| {
                    CliError::Usage(format!(
                        "invalid {flag} {s:?}: expected an IPv4 subnet in CIDR form, such as 10.50.0.0/24"
                    ))
                })
            })
            .transpose()
    };
    let subnet = net("--subnet", &a.subnet)?;
    if let Some(s) = subnet
        && s.addr() != s.network()
    {
        return Err(CliError::Usage(format!(
            "invalid --subnet {s}: it is not a network address (did you mean {}?)",
            s.trunc()
        )));
    }
    let gateway = a
        .gateway
        .as_ref()
        .map(|g| {
            g.parse().map_err(|_| {
                CliError::Usage(format!("invalid --gateway {g:?}: expected an IPv4 address"))
            })
        })
        .transpose()?;
    let record = bridge::create_network(
        &ctx.paths,
        &store(ctx)?,
        CreateOptions {
            name: a.name,
            subnet,
            gateway,
            ip_range: net("--ip-range", &a.ip_range)?,
            internal: a.internal,
            labels: key_values("--label", &a.label)?,
            options: key_values("--opt", &a.opt)?,
            default: false,
        },
    )?;
    ctx.event(
        "network",
        "create",
        &record.id,
        &[
            ("name", record.name.clone()),
            ("type", "bridge".to_string()),
        ],
    );
    println!("{}", record.id);
    Ok(0)
}

/// Name shown for a network: the default one is docker's `bridge` to scripts too.
fn to_json(store: &NetworkStore, n: &NetworkRecord) -> Value {
    let members: serde_json::Map<String, Value> = store
        .leases(&n.name)
        .into_iter()
        .map(|l| {
            (
                l.container_id.clone(),
                json!({
                    "Name": l.container_name,
                    "EndpointID": "",
                    "MacAddress": l.mac,
                    "IPv4Address": format!("{}/{}", l.ip, n.subnet.prefix_len()),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    let mut options = n.options.clone();
    options.insert("com.docker.network.bridge.name".into(), n.bridge.clone());
    let mut ipam = json!({"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()});
    if let Some(r) = n.ip_range {
        ipam["IPRange"] = json!(r.to_string());
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [ipam]},
        "Internal": n.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": members,
        "Options": options,
        "Labels": n.labels,
    })
}

fn ls(ctx: &Ctx, a: NetworkLsArgs) -> Result<i32, CliError> {
    let store = store(ctx)?;
    let mut nets = store.list().map_err(ContainerError::from)?;
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("invalid filter {f:?}: expected KEY=VALUE")))?;
        match k {
            "name" => nets.retain(|n| n.name.contains(v)),
            "id" => nets.retain(|n| n.id.starts_with(v)),
            "driver" => nets.retain(|n| n.driver == v),
            "label" => nets.retain(|n| match v.split_once('=') {
                Some((lk, lv)) => n.labels.get(lk).is_some_and(|x| x == lv),
                None => n.labels.contains_key(v),
            }),
            other => {
                return Err(CliError::Usage(format!(
                    "invalid filter {other:?}: expected name, id, driver or label"
                )));
            }
        }
    }
    let rows: Vec<Value> = nets
        .iter()
        .map(|n| {
            json!({
                "ID": if a.no_trunc { n.id.clone() } else { n.id[..12].to_string() },
                "Name": n.name,
                "Driver": n.driver,
                "Scope": "local",
                "Internal": n.internal,
                "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                "CreatedAt": n.created,
            })
        })
        .collect();
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format
            .unwrap_or_else(|| "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".into())
    };
    let header = json!({"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"});
    super::format::print_rows_with(&format, (!a.noheading).then_some(&header), &rows)?;
    Ok(0)
}

fn inspect(ctx: &Ctx, a: NetworkInspectArgs) -> Result<i32, CliError> {
    let store = store(ctx)?;
    let mut found = Vec::new();
    let mut failed = false;
    for q in &a.networks {
        match store.find(q) {
            Ok(n) => found.push(to_json(&store, &n)),
            Err(e) => {
                eprintln!("skiff: {e}");
                failed = true;
            }
        }
    }
    match &a.format {
        Some(f) => {
            let tpl = super::format::compile(&super::format::unescape(f))?;
            for v in &found {
                println!("{}", super::format::render(&tpl, v)?);
            }
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(found)).unwrap_or_default()
        ),
    }
    Ok(if failed { 125 } else { 0 })
}

fn rm(ctx: &Ctx, a: NetworkRmArgs) -> Result<i32, CliError> {
    let store = store(ctx)?;
    for_each(&a.networks, |q| {
        bridge::remove_network(&ctx.paths, &store, q)?;
        ctx.event("network", "destroy", q, &[("name", q.to_string())]);
        Ok(())
    })
}

fn prune(ctx: &Ctx, a: NetworkPruneArgs) -> Result<i32, CliError> {
    if !a.force {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            eprint!(
                "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
            );
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            if !answer.trim().eq_ignore_ascii_case("y") {
                return Ok(0);
            }
        }
    }
    let removed = prune_unused(ctx)?;
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in removed {
            println!("{n}");
        }
    }
    Ok(0)
}

/// Remove the networks no container names (the default one stays): their names.
pub fn prune_unused(ctx: &Ctx) -> Result<Vec<String>, CliError> {
    let store = store(ctx)?;
    // Networks named by any container, running or not, stay (docker's rule).
    let named: Vec<String> = ctx
        .all()?
        .into_iter()
        .flat_map(|r| r.config.net.networks.into_iter().map(|n| n.name))
        .collect();
    let mut removed = Vec::new();
    for n in store.list().map_err(ContainerError::from)? {
        if n.default || named.contains(&n.name) {
            continue;
        }
        if bridge::remove_network(&ctx.paths, &store, &n.name).is_ok() {
            ctx.event("network", "destroy", &n.id, &[("name", n.name.clone())]);
            removed.push(n.name);
        }
    }
    Ok(removed)
}

/// `port CONTAINER [PORT[/PROTO]]`: `80/tcp -> 0.0.0.0:8080`, one line per mapping.
pub fn port(ctx: &Ctx, a: PortArgs) -> Result<i32, CliError> {
    let record = ctx.find(&a.container)?;
    let ports: Vec<_> = if record.state.status == crate::state::container::Status::Running {
        record
            .state
            .networks
            .iter()
            .flat_map(|n| n.ports.clone())
            .collect()
    } else {
        Vec::new()
    };
    match &a.port {
        None => {
            for p in &ports {
                println!("{} -> {}:{}", p.key(), p.host_ip_or_any(), p.host_port);
            }
        }
        Some(want) => {
            let key = if want.contains('/') {
                want.clone()
            } else {
                format!("{want}/tcp")
            };
            let matching: Vec<_> = ports.iter().filter(|p| p.key() == key).collect();
            if matching.is_empty() {
                return Err(CliError::Usage(format!(
                    "No public port '{key}' published for {}",
                    record.name
                )));
            }
            for p in matching {
                println!("{}:{}", p.host_ip_or_any(), p.host_port);
            }
        }
    }
    Ok(0)
}

/// The record name of the network a user names; the default one even before it exists.
fn network_name(store: &NetworkStore, query: &str) -> Result<String, CliError> {
    let name = crate::net::config::canonical_name(query);
    if name == crate::net::config::DEFAULT_NETWORK {
        return Ok(name.to_string());
    }
    Ok(store.find(name).map_err(ContainerError::from)?.name)
}

fn connect(ctx: &Ctx, a: NetworkConnectArgs) -> Result<i32, CliError> {
    use crate::net::config::NetworkAttach;
    let store = store(ctx)?;
    let name = network_name(&store, &a.network)?;
    let ip =
        a.ip.as_ref()
            .map(|s| {
                s.parse::<std::net::Ipv4Addr>().map_err(|_| {
                    CliError::Usage(format!("invalid --ip {s:?}: expected an IPv4 address"))
                })
            })
            .transpose()?;
    let found = ctx.find(&a.container)?;
    let _lock = ctx.store.lock(&found.id).map_err(ContainerError::from)?;
    let mut record = ctx.store.load(&found.id).map_err(ContainerError::from)?;
    if record.config.network != crate::spec::NetworkMode::Bridge {
        return Err(CliError::Usage(format!(
            "container {} uses --network {}: only bridge containers can join networks",
            record.name,
            record.config.network.as_str()
        )));
    }
    if record.config.net.networks.iter().any(|n| n.name == name) {
        return Err(CliError::Usage(format!(
            "container {} is already connected to network {}",
            record.name, a.network
        )));
    }
    let want = NetworkAttach {
        name: name.clone(),
        ip,
        mac: None,
        aliases: a.alias.clone(),
    };
    let running = record.state.status == crate::state::container::Status::Running
        && crate::state::proc::is_alive(record.state.pid, record.state.pid_start);
    if running {
        let wants = [want.clone()];
        let joiner = bridge::Joiner {
            id: &record.id,
            name: &record.name,
            hostname: &record.config.hostname,
            net: &record.config.net,
            pid: record.state.pid,
            hosts_file: ctx.userdata_dir(&record.id).join("hosts"),
            holder: (record.state.monitor_pid, record.state.monitor_start),
            networks: &wants,
            // The next free ethN.
            first_index: (0..)
                .find(|i| {
                    !record
                        .state
                        .networks
                        .iter()
                        .any(|n| n.interface == format!("eth{i}"))
                })
                .unwrap_or(0),
            starting: false,
            link_lines: Vec::new(),
        };
        let added = bridge::attach(&ctx.paths, &joiner)?;
        record.state.networks.extend(added);
    }
    record.config.net.networks.push(want);
    ctx.store.save(&record).map_err(ContainerError::from)?;
    ctx.event(
        "network",
        "connect",
        &name,
        &[("container", record.id.clone()), ("name", name.clone())],
    );
    Ok(0)
}

fn disconnect(ctx: &Ctx, a: NetworkDisconnectArgs) -> Result<i32, CliError> {
    let store = store(ctx)?;
    let name = network_name(&store, &a.network)?;
    let found = ctx.find(&a.container)?;
    let _lock = ctx.store.lock(&found.id).map_err(ContainerError::from)?;
    let mut record = ctx.store.load(&found.id).map_err(ContainerError::from)?;
    if !record.config.net.networks.iter().any(|n| n.name == name) {
        return Err(CliError::Usage(format!(
            "container {} is not connected to network {}",
            record.name, a.network
        )));
    }
    crate::net::release::disconnect(&ctx.paths, &record.id, &name)?;
    record.config.net.networks.retain(|n| n.name != name);
    record.state.networks.retain(|n| n.network != name);
    ctx.store.save(&record).map_err(ContainerError::from)?;
    ctx.event(
        "network",
        "disconnect",
        &name,
        &[("container", record.id.clone()), ("name", name.clone())],
    );
    Ok(0)
}
