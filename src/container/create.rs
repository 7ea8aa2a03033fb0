//! `create` (and the first half of `run`): validate everything, then write the record. Nothing
//! is left behind when a step fails.

use std::path::Path;

use super::{ContainerError, Ctx, io_err};
use crate::cgroup::{HostCpus, ResourceFlags, Resources};
use crate::ids;
use crate::image::store::ImageRecord;
use crate::ns::idmap::{self, KeepId};
use crate::ns::users;
use crate::securejoin::secure_join;
use crate::spec::{self, RunRequest};
use crate::state::StateError;
use crate::state::container::{ContainerRecord, ContainerState};

#[derive(Debug)]
pub struct CreateRequest {
    pub image: String,
    pub name: Option<String>,
    pub run: RunRequest,
    pub resources: ResourceFlags,
}

pub fn create(ctx: &Ctx, req: &CreateRequest) -> Result<ContainerRecord, ContainerError> {
    let image = ctx.images.lookup(&req.image)?;
    let image_config = ctx.images.config(&image)?;
    create_from(ctx, req, &image, &image_config)
}

/// `create` from an image given whole: a stored one, or a build's state between two steps
/// (its layers are in the store; the record itself is not).
pub fn create_from(
    ctx: &Ctx,
    req: &CreateRequest,
    image: &ImageRecord,
    image_config: &crate::image::config::ImageConfig,
) -> Result<ContainerRecord, ContainerError> {
    let image = image.clone();
    let id = ids::random_id();
    let host_env = |k: &str| std::env::var(k).ok();
    let mut run = req.run.clone();
    let host_uts = run.uts.as_deref() == Some("host");
    if (host_uts || run.net.networks.iter().any(|n| n == "host")) && run.hostname.is_none() {
        // docker: a container on the host's network (or UTS namespace) carries the host's name.
        run.hostname = nix::unistd::gethostname()
            .ok()
            .map(|h| h.to_string_lossy().into_owned());
    }
    let config = spec::build(
        &run,
        &image_config.config,
        image.layers.clone(),
        &id,
        &host_env,
    )?;
    let mut config = config;
    if config.network == spec::NetworkMode::Container {
        // docker: the container joins the other's network, and goes by its name.
        let other = ctx.find(&config.net.container).map_err(|_| {
            ContainerError::Invalid(format!(
                "cannot join the network of container {}: No such container",
                config.net.container
            ))
        })?;
        config.hostname = other.config.hostname.clone();
    }
    config.resources = Resources::default()
        .merged(&req.resources, &HostCpus::read())
        .map_err(ContainerError::Invalid)?;
    // Refuse limits that cannot be had here (rootless on v1, no delegation) before writing.
    ctx.cgroup_placement(
        &id,
        &config.cgroup_parent,
        config.cgroups_enabled(),
        !config.resources.is_empty(),
    )?;
    // What the devices cgroup must let through besides docker's defaults.
    if config.security.privileged {
        config.resources.device_rules.push("a *:* rwm".into());
    }
    for d in &config.security.devices {
        config.resources.device_rules.push(d.rule());
    }
    config
        .resources
        .device_rules
        .extend(config.security.device_cgroup_rules.iter().cloned());
    if run.userns.as_deref() == Some("keep-id") {
        config.keep_id = Some(keep_id(ctx)?);
        if run.user.is_none() {
            // podman's rule: the container runs as the caller unless -u says otherwise.
            config.user = format!("{}:{}", ctx.host_ids.0, ctx.host_ids.1);
        }
    }
    // Held until the record that claims the ids is written.
    let auto_claim = match run.userns.as_deref().and_then(idmap::parse_auto) {
        Some(size) => {
            let claim = super::userns_auto::claim(ctx, size.map_err(ContainerError::Invalid)?)?;
            config.userns_auto = Some(claim.range);
            Some(claim)
        }
        None => None,
    };
    if !config.user.is_empty() {
        check_user_exists(ctx, &image, &config.user)?;
    }
    check_networks(ctx, &config)?;

    for layer in &config.layers {
        let dir = ctx.images.layer_dir(layer);
        if !dir.is_dir() {
            return Err(ContainerError::Invalid(format!(
                "image {} is incomplete: layer {layer} is missing from the store; remove and import or pull it again",
                req.image
            )));
        }
    }

    if let Some(k) = config.keep_id {
        // The image's layers with owners shifted for this mapping (a cache, shared by every
        // keep-id container of this user; removed with the image).
        for l in &config.layers {
            ctx.images.ensure_shifted(l, k)?;
        }
    }
    // Last of the checks, first of the writes: it creates volumes (undone on failure below).
    tracing::debug!(image = %image.id, layers = config.layers.len(), "config built, checks passed");
    let new_volumes = super::volumes::prepare(ctx, &mut config)?;
    let mut record = ContainerRecord {
        id: id.clone(),
        name: String::new(),
        created: crate::timefmt::rfc3339(crate::timefmt::now()),
        image: req.image.clone(),
        image_id: image.id.clone(),
        config,
        state: ContainerState::created(),
        restart_count: 0,
    };
    if let Err(e) = reserve_and_write(ctx, &mut record, req.name.as_deref()) {
        super::volumes::rollback(ctx, &new_volumes);
        return Err(e);
    }
    drop(auto_claim);
    if let Err(e) =
        prepare_dirs(ctx, &record).and_then(|()| super::volumes::copy_up_at_create(ctx, &record))
    {
        let _ = ctx.remove_container(&record, false);
        super::volumes::rollback(ctx, &new_volumes);
        return Err(e);
    }
    ctx.container_event(&record, "create", &[]);
    tracing::debug!(id = %record.id, name = %record.name, "container recorded");
    Ok(record)
}

/// Give the record its name (the requested one, or a generated one that is free) and write it.
fn reserve_and_write(
    ctx: &Ctx,
    record: &mut ContainerRecord,
    wanted: Option<&str>,
) -> Result<(), ContainerError> {
    if let Some(name) = wanted {
        record.name = name.strip_prefix('/').unwrap_or(name).to_string();
        return Ok(ctx.store.create(record)?);
    }
    for attempt in 0..16 {
        record.name = ids::generated_name(attempt);
        match ctx.store.create(record) {
            Err(StateError::NameInUse { .. }) => continue,
            other => return Ok(other?),
        }
    }
    Err(ContainerError::Invalid(
        "could not generate a free container name: give one with --name".into(),
    ))
}

/// `--userns=keep-id` needs a rootless store and subordinate ids that cover the caller's uid.
fn keep_id(ctx: &Ctx) -> Result<KeepId, ContainerError> {
    if !ctx.paths.rootless {
        return Err(ContainerError::Invalid(
            "--userns=keep-id is for rootless containers: as root, ids inside are the host's already".into(),
        ));
    }
    let (uid, gid) = ctx.host_ids;
    for (file, id) in [("uid_map", uid), ("gid_map", gid)] {
        let own = std::fs::read_to_string(format!("/proc/self/{file}")).unwrap_or_default();
        if idmap::map_text(id, idmap::mapped_count(&own)).is_none() {
            return Err(ContainerError::Invalid(format!(
                "--userns=keep-id needs subordinate ids covering your id {id}: give your user a range of more than {id} ids in /etc/subuid and /etc/subgid"
            )));
        }
    }
    Ok(KeepId { uid, gid })
}

fn prepare_dirs(ctx: &Ctx, record: &ContainerRecord) -> Result<(), ContainerError> {
    let dir = ctx.store.dir(&record.id);
    for sub in ["upper", "work"] {
        let p = dir.join(sub);
        std::fs::create_dir(&p).map_err(io_err(format!("creating {}", p.display())))?;
        if let Some(k) = record.config.keep_id {
            // The container's root directory belongs to its root, as in the image.
            let (u, g) = (idmap::shift(0, k.uid), idmap::shift(0, k.gid));
            std::os::unix::fs::chown(&p, Some(u), Some(g))
                .map_err(io_err(format!("chown {}", p.display())))?;
        }
        if let Some(a) = &record.config.userns_auto {
            super::userns_auto::give_to_root(a, &p)?;
        }
    }
    if let Some(rootfs) = ctx.copy_rootfs(record)? {
        // The copy driver: the container's own copy of the image, made once here.
        crate::image::vfs::materialize(&ctx.lower_dirs(record), &rootfs).map_err(io_err(
            format!("copying the image into {}", rootfs.display()),
        ))?;
    }
    write_userdata(ctx, record)?;
    match &record.config.userns_auto {
        Some(a) => super::userns_auto::give_volumes(ctx, record, a),
        None => Ok(()),
    }
}

/// The container's hosts, hostname and resolv.conf, in the runtime dir (as podman keeps
/// them): written at create, and again at start when a reboot emptied that dir.
pub(super) fn write_userdata(ctx: &Ctx, record: &ContainerRecord) -> Result<(), ContainerError> {
    let userdata = ctx.userdata_dir(&record.id);
    crate::net::hosts::write_userdata(
        &userdata,
        record.config.network,
        &record.config.hostname,
        &record.config.net,
        ctx.paths.rootless,
    )
    .map_err(io_err(format!("writing {}", userdata.display())))?;
    if let Some(a) = &record.config.userns_auto {
        // Root in the container edits them, as in docker.
        let listing = std::fs::read_dir(&userdata)
            .map_err(io_err(format!("reading {}", userdata.display())))?;
        for entry in listing.flatten() {
            super::userns_auto::give_to_root(a, &entry.path())?;
        }
    }
    Ok(())
}

/// Refuse `-u name` up front when the image has no such user, so a bad flag creates nothing.
fn check_user_exists(ctx: &Ctx, image: &ImageRecord, user: &str) -> Result<(), ContainerError> {
    image_user(ctx, &image.layers, user).map(drop)
}

/// The uid and gid that `user` (as `-u` takes it) has in the image with these layers.
pub fn image_user(
    ctx: &Ctx,
    layers: &[String],
    user: &str,
) -> Result<users::ExecUser, ContainerError> {
    let read_top = |file: &str| -> String {
        layers
            .iter()
            .rev()
            .find_map(|l| {
                let dir = ctx.images.layer_dir(l);
                let p = secure_join(&dir, Path::new(file)).ok()?;
                std::fs::read_to_string(p).ok()
            })
            .unwrap_or_default()
    };
    users::resolve(user, &read_top("etc/passwd"), &read_top("etc/group"))
        .map_err(|e| ContainerError::Invalid(e.to_string()))
}

/// The networks a container names exist (the default one is made at start), and what it
/// asks of them fits: `--ip` inside the subnet.
fn check_networks(ctx: &Ctx, config: &spec::ContainerConfig) -> Result<(), ContainerError> {
    use crate::net::config::DEFAULT_NETWORK;
    let user_networks: Vec<_> = config
        .net
        .networks
        .iter()
        .filter(|n| n.name != DEFAULT_NETWORK)
        .collect();
    if user_networks.is_empty() {
        return Ok(());
    }
    let store = crate::state::network::NetworkStore::open(&ctx.paths)?;
    for want in user_networks {
        let net = store.find(&want.name)?;
        if let Some(ip) = want.ip
            && (!crate::net::ipam::usable(&net.subnet, ip) || ip == net.gateway)
        {
            return Err(ContainerError::Invalid(format!(
                "invalid --ip {ip}: it is not a host address of network {} ({})",
                net.name, net.subnet
            )));
        }
    }
    Ok(())
}
