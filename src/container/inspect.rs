//! docker's `inspect` JSON for containers and images, built from our records.

use serde_json::{Value, json};

use super::Ctx;
use crate::image::config::ImageConfig;
use crate::image::reference::{familiar, split_tag};
use crate::image::store::ImageRecord;
use crate::mount::volume::{MountKind, MountOrigin, MountSpec};
use crate::state::container::{ContainerRecord, Status};
use crate::timefmt::ZERO_TIME;

pub fn container(ctx: &Ctx, r: &ContainerRecord) -> Value {
    let st = &r.state;
    let dir = ctx.store.dir(&r.id);
    let userdata = ctx.userdata_dir(&r.id);
    let argv = r.config.argv();
    let lower: Vec<String> = r
        .config
        .layers
        .iter()
        .rev()
        .map(|l| ctx.images.layer_dir(l).display().to_string())
        .collect();
    let running = st.status == Status::Running;
    let res = &r.config.resources;
    let sec = &r.config.security;
    let opt_list = |v: &Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
    json!({
        "Id": r.id,
        "Created": r.created,
        "Path": argv.first().cloned().unwrap_or_default(),
        "Args": argv.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": if st.paused { "paused" } else { st.status.as_str() },
            "Running": running,
            "Paused": st.paused,
            "Restarting": st.status == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == Status::Dead,
            "Pid": if running { st.pid } else { 0 },
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": st.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            "FinishedAt": st.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            "Health": st.health,
        },
        "Image": r.image_id,
        "ResolvConfPath": userdata.join("resolv.conf"),
        "HostnamePath": userdata.join("hostname"),
        "HostsPath": userdata.join("hosts"),
        "LogPath": ctx.log_path(&r.id),
        "Name": format!("/{}", r.name),
        "RestartCount": r.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": Value::Null,
        "HostConfig": {
            "Binds": binds(&r.config.mounts),
            "Mounts": host_config_mounts(&r.config.mounts),
            "Tmpfs": tmpfs(&r.config.mounts),
            "ContainerIDFile": "",
            "LogConfig": {"Type": r.config.log.driver, "Config": r.config.log.opts},
            "Annotations": if r.config.annotations.is_empty() { Value::Null } else { json!(r.config.annotations) },
            "NetworkMode": network_mode(r),
            "PortBindings": port_bindings(&r.config.net.ports),
            "PublishAllPorts": r.config.net.publish_all,
            "Dns": r.config.net.dns,
            "DnsSearch": r.config.net.dns_search,
            "DnsOptions": r.config.net.dns_options,
            "ExtraHosts": r.config.net.extra_hosts.iter().map(|(n, a)| format!("{n}:{a}")).collect::<Vec<_>>(),
            "Links": r.config.net.links.iter().map(|(n, a)| format!("/{n}:/{}/{a}", r.name)).collect::<Vec<_>>(),
            "RestartPolicy": {
                "Name": r.config.restart.name(),
                "MaximumRetryCount": r.config.restart.max_retries,
            },
            "AutoRemove": r.config.auto_remove,
            "VolumeDriver": "",
            "VolumesFrom": opt_list(&r.config.volumes_from),
            "CapAdd": opt_list(&sec.cap_add),
            "CapDrop": opt_list(&sec.cap_drop),
            "SecurityOpt": opt_list(&sec.security_opt),
            "IpcMode": sec.ipc.docker_mode("private"),
            "PidMode": sec.pid.docker_mode(""),
            "Privileged": sec.privileged,
            "DeviceCgroupRules": opt_list(&sec.device_cgroup_rules),
            "Devices": sec.devices.iter().map(|d| json!({
                "PathOnHost": d.host,
                "PathInContainer": d.container,
                "CgroupPermissions": d.permissions,
            })).collect::<Vec<_>>(),
            "ReadonlyRootfs": sec.read_only,
            "GroupAdd": opt_list(&sec.group_add),
            "OomScoreAdj": sec.oom_score_adj.unwrap_or(0),
            "Sysctls": sec.sysctls.iter().cloned().collect::<std::collections::BTreeMap<String, String>>(),
            "UTSMode": if sec.uts_host { "host" } else { "" },
            "UsernsMode": match (&r.config.keep_id, &r.config.userns_auto) {
                (Some(_), _) => "keep-id".to_string(),
                (None, Some(a)) => format!("auto:size={}", a.size),
                (None, None) => String::new(),
            },
            // podman's key: the container's ids as (container, host, count).
            "IDMappings": r.config.userns_auto.map(|a| json!({
                "UidMap": [format!("0:{}:{}", a.uid_base, a.size)],
                "GidMap": [format!("0:{}:{}", a.gid_base, a.size)],
            })),
            "ShmSize": r.config.shm_size(),
            "Runtime": "skiff",
            "Init": if r.config.init { json!(true) } else { Value::Null },
            "CgroupnsMode": r.config.cgroupns.as_str(),
            "CgroupParent": r.config.cgroup_parent,
            "Memory": res.memory.unwrap_or(0),
            "MemorySwap": res.memsw().unwrap_or(0),
            "MemoryReservation": res.memory_reservation.unwrap_or(0),
            "OomKillDisable": res.oom_kill_disable,
            "NanoCpus": res.nano_cpus.unwrap_or(0),
            "CpuShares": res.cpu_shares.unwrap_or(0),
            "CpuPeriod": res.cpu_period.unwrap_or(0),
            "CpuQuota": res.cpu_quota.unwrap_or(0),
            "CpusetCpus": res.cpuset_cpus.clone().unwrap_or_default(),
            "CpusetMems": res.cpuset_mems.clone().unwrap_or_default(),
            "PidsLimit": res.pids_limit,
            "BlkioWeight": res.blkio_weight.unwrap_or(0),
            "Ulimits": if r.config.ulimits.is_empty() { json!([]) } else { json!(r.config.ulimits) },
            "MaskedPaths": sec.masked_paths(crate::mount::plan::MASKED_PATHS),
            "ReadonlyPaths": sec.readonly_paths(crate::mount::plan::READONLY_PATHS),
        },
        "GraphDriver": {
            "Data": {
                "LowerDir": lower.join(":"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
            },
            "Name": ctx.storage().map(|s| s.driver.as_str()).unwrap_or("overlay"),
        },
        "Mounts": mounts_json(ctx, &r.config.mounts),
        "Config": {
            "Hostname": r.config.hostname,
            "ExposedPorts": exposed_ports(r),
            "Domainname": r.config.domainname,
            "User": r.config.user,
            "AttachStdin": r.config.open_stdin,
            "AttachStdout": true,
            "AttachStderr": true,
            "Tty": r.config.tty,
            "OpenStdin": r.config.open_stdin,
            "StdinOnce": r.config.open_stdin,
            "Env": r.config.env,
            "Cmd": opt_list(&r.config.cmd),
            "Image": r.image,
            "Volumes": config_volumes(&r.config.mounts),
            "WorkingDir": if r.config.working_dir == "/" { String::new() } else { r.config.working_dir.clone() },
            "Entrypoint": opt_list(&r.config.entrypoint),
            "OnBuild": Value::Null,
            "Labels": r.config.labels,
            "StopSignal": r.config.stop_signal,
            "StopTimeout": r.config.stop_timeout,
            "Healthcheck": r.config.healthcheck,
        },
        "NetworkSettings": network_settings(r, running),
    })
}

/// docker's `Mounts`: what is mounted where, with host paths.
fn mounts_json(ctx: &Ctx, mounts: &[MountSpec]) -> Value {
    let list: Vec<Value> = mounts
        .iter()
        .map(|m| {
            let mut v = json!({
                "Type": m.kind.as_str(),
                "Source": match m.kind {
                    MountKind::Volume => ctx.volumes.data_dir(&m.source).display().to_string(),
                    MountKind::Bind => m.source.clone(),
                    MountKind::Tmpfs => String::new(),
                },
                "Destination": m.destination,
                "Mode": m.mode,
                "RW": !m.readonly,
                "Propagation": match m.kind {
                    MountKind::Bind if m.propagation.is_empty() => "rprivate".to_string(),
                    _ => m.propagation.clone(),
                },
            });
            if m.kind == MountKind::Volume {
                v["Name"] = json!(m.source);
                v["Driver"] = json!("local");
            }
            v
        })
        .collect();
    json!(list)
}

/// HostConfig.Binds: the `-v` mounts with a source, as `src:dst[:mode]`.
fn binds(mounts: &[MountSpec]) -> Value {
    let b: Vec<String> = mounts
        .iter()
        .filter(|m| m.origin == MountOrigin::Volume && !m.anonymous)
        .map(|m| {
            let mut s = format!("{}:{}", m.source, m.destination);
            if !m.mode.is_empty() {
                s.push(':');
                s.push_str(&m.mode);
            }
            s
        })
        .collect();
    if b.is_empty() { Value::Null } else { json!(b) }
}

/// HostConfig.Mounts: the `--mount` ones, in docker's API shape.
fn host_config_mounts(mounts: &[MountSpec]) -> Value {
    let list: Vec<Value> = mounts
        .iter()
        .filter(|m| m.origin == MountOrigin::Mount)
        .map(|m| {
            let mut v = json!({"Type": m.kind.as_str(), "Target": m.destination});
            if !m.source.is_empty() && !m.anonymous {
                v["Source"] = json!(m.source);
            }
            if m.readonly {
                v["ReadOnly"] = json!(true);
            }
            v
        })
        .collect();
    if list.is_empty() {
        Value::Null
    } else {
        json!(list)
    }
}

fn tmpfs(mounts: &[MountSpec]) -> Value {
    let t: serde_json::Map<String, Value> = mounts
        .iter()
        .filter(|m| m.origin == MountOrigin::Tmpfs)
        .map(|m| (m.destination.clone(), json!(m.tmpfs_options)))
        .collect();
    if t.is_empty() {
        Value::Null
    } else {
        Value::Object(t)
    }
}

/// Config.Volumes: destinations of anonymous `-v` volumes and the image's, as docker lists
/// them.
fn config_volumes(mounts: &[MountSpec]) -> Value {
    let v: serde_json::Map<String, Value> = mounts
        .iter()
        .filter(|m| m.anonymous && matches!(m.origin, MountOrigin::Volume | MountOrigin::Image))
        .map(|m| (m.destination.clone(), json!({})))
        .collect();
    if v.is_empty() {
        Value::Null
    } else {
        Value::Object(v)
    }
}

pub fn image(img: &ImageRecord, config: &ImageConfig) -> Value {
    let repo_tags: Vec<String> = img
        .names
        .iter()
        .map(|n| {
            let (name, tag) = split_tag(n);
            format!("{}:{tag}", familiar(name))
        })
        .collect();
    json!({
        "Id": img.id,
        "RepoTags": repo_tags,
        "RepoDigests": img.digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": config.history.first().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": config.created.clone().unwrap_or_else(|| ZERO_TIME.into()),
        "DockerVersion": "",
        "Author": config.author.clone().unwrap_or_default(),
        "Config": config.config,
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": img.size,
        "GraphDriver": {
            "Name": "overlay",
            "Data": Value::Null,
        },
        "RootFS": {
            "Type": config.rootfs.kind,
            "Layers": config.rootfs.diff_ids,
        },
        "Metadata": {"LastTagTime": img.added},
    })
}

/// docker's HostConfig.NetworkMode: `bridge` for the default network, else the first
/// network's name, `host`, `none` or `container:X`.
fn network_mode(r: &ContainerRecord) -> String {
    use crate::spec::NetworkMode;
    match r.config.network {
        NetworkMode::Bridge => match r.config.net.networks.first() {
            Some(n) if n.name != crate::net::config::DEFAULT_NETWORK => n.name.clone(),
            _ => "bridge".into(),
        },
        NetworkMode::Container => format!("container:{}", r.config.net.container),
        m => m.as_str().into(),
    }
}

fn exposed_ports(r: &ContainerRecord) -> Value {
    let mut map = serde_json::Map::new();
    for (port, proto) in &r.config.net.exposed {
        map.insert(format!("{port}/{proto}"), serde_json::json!({}));
    }
    for p in &r.config.net.ports {
        map.insert(p.key(), serde_json::json!({}));
    }
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// HostConfig.PortBindings: what was asked (host port "" when random).
fn port_bindings(ports: &[crate::net::ports::PortMapping]) -> Value {
    let mut map: serde_json::Map<String, Value> = serde_json::Map::new();
    for p in ports {
        let entry = map
            .entry(p.key())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(serde_json::json!({
                "HostIp": p.host_ip,
                "HostPort": if p.host_port == 0 { String::new() } else { p.host_port.to_string() },
            }));
        }
    }
    Value::Object(map)
}

/// docker's NetworkSettings: the first network's address at the top level (docker fills it
/// for the default bridge), every network under Networks.
fn network_settings(r: &ContainerRecord, running: bool) -> Value {
    let st = &r.state;
    let attached = if running { st.networks.as_slice() } else { &[] };
    let ports: Vec<crate::net::ports::PortMapping> =
        attached.iter().flat_map(|a| a.ports.clone()).collect();
    let mut networks = serde_json::Map::new();
    for want in &r.config.net.networks {
        let a = attached.iter().find(|a| a.network == want.name);
        let shown = if want.name == crate::net::config::DEFAULT_NETWORK {
            "bridge"
        } else {
            &want.name
        };
        let dns_names = if want.name == crate::net::config::DEFAULT_NETWORK {
            Value::Null
        } else {
            let mut names = vec![r.name.clone()];
            names.extend(want.aliases.iter().cloned());
            names.push(r.short_id().to_string());
            serde_json::json!(names)
        };
        networks.insert(
            shown.to_string(),
            endpoint(
                a,
                a.map(|a| a.network_id.clone()).unwrap_or_default(),
                want.ip
                    .map(|ip| serde_json::json!({"IPv4Address": ip.to_string()}))
                    .unwrap_or(Value::Null),
                if want.aliases.is_empty() {
                    Value::Null
                } else {
                    serde_json::json!(want.aliases)
                },
                dns_names,
            ),
        );
    }
    if networks.is_empty() {
        let mode = r.config.network.as_str();
        networks.insert(
            mode.to_string(),
            endpoint(
                None,
                mode.to_string(),
                Value::Null,
                Value::Null,
                Value::Null,
            ),
        );
    }
    let first = attached.first();
    serde_json::json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": if running && r.config.network.own_namespace() {
            format!("/proc/{}/ns/net", st.pid)
        } else {
            String::new()
        },
        "Ports": crate::net::ports::inspect_ports(&ports, &r.config.net.exposed),
        "Gateway": first.map(|a| a.gateway.to_string()).unwrap_or_default(),
        "IPAddress": first.map(|a| a.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": first.map(|a| a.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": first.map(|a| a.mac.clone()).unwrap_or_default(),
        "Networks": networks,
    })
}

/// One entry of NetworkSettings.Networks, docker's endpoint shape.
fn endpoint(
    a: Option<&crate::net::bridge::Attachment>,
    network_id: String,
    ipam: Value,
    aliases: Value,
    dns_names: Value,
) -> Value {
    serde_json::json!({
        "IPAMConfig": ipam,
        "Links": Value::Null,
        "Aliases": aliases,
        "MacAddress": a.map(|a| a.mac.clone()).unwrap_or_default(),
        "NetworkID": network_id,
        "EndpointID": "",
        "Gateway": a.map(|a| a.gateway.to_string()).unwrap_or_default(),
        "IPAddress": a.map(|a| a.ip.to_string()).unwrap_or_default(),
        "IPPrefixLen": a.map(|a| a.prefix).unwrap_or(0),
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": dns_names,
    })
}
