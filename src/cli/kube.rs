//! `kube generate`, `kube play`, `kube down` (podman's commands): the YAML side is
//! `crate::kube`; here the containers are read, made, started and removed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::CliError;
use crate::container::Ctx;
use crate::kube::generate::{self, Kind, Source};
use crate::kube::play::{self, POD_LABEL, PodPlan};
use crate::state::volume::VolumeRecord;

#[derive(Debug, Subcommand)]
pub enum KubeCommand {
    /// Print Kubernetes YAML (a Pod or Deployment, and with -s a Service) for containers
    Generate(GenerateArgs),
    /// Run the pods of a Kubernetes YAML file (Pod, Deployment) on this host
    Play(PlayArgs),
    /// Remove the pods a Kubernetes YAML file describes, and their emptyDir volumes
    Down(DownArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Also write a Service exposing the containers' published ports
    #[arg(short, long)]
    pub service: bool,
    /// What to write: pod or deployment
    #[arg(short = 't', long = "type", default_value = "pod")]
    pub kind: String,
    /// The Deployment's replicas
    #[arg(short, long, default_value_t = 1)]
    pub replicas: u32,
    /// Write to this file instead of stdout
    #[arg(short = 'f', long = "filename")]
    pub filename: Option<PathBuf>,
    /// The pod's name (default: the first container's name with -pod)
    #[arg(long)]
    pub name: Option<String>,
    /// Containers (names or ids) that make the pod, or one network: a pod per container on it
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Remove pods of the same names first
    #[arg(long)]
    pub replace: bool,
    /// Start the containers (--start=false: only create them)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub start: bool,
    /// The YAML file, or - for stdin
    pub file: String,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// The YAML file, or - for stdin
    pub file: String,
}

pub fn dispatch(ctx: &Ctx, c: KubeCommand) -> Result<i32, CliError> {
    match c {
        KubeCommand::Generate(a) => generate_yaml(ctx, &a),
        KubeCommand::Play(a) => play_file(ctx, &a),
        KubeCommand::Down(a) => down(ctx, &a.file),
    }
}

fn generate_yaml(ctx: &Ctx, a: &GenerateArgs) -> Result<i32, CliError> {
    // One NETWORK instead of containers: a pod for each container on it.
    if let [one] = a.containers.as_slice()
        && ctx.find(one).is_err()
        && let Some(members) = network_members(ctx, one)?
    {
        if members.is_empty() {
            return Err(CliError::Usage(format!(
                "network {one:?} has no containers"
            )));
        }
        let mut docs = Vec::new();
        for m in &members {
            let args = GenerateArgs {
                service: a.service && !m.config.net.ports.is_empty(),
                kind: a.kind.clone(),
                replicas: a.replicas,
                filename: None,
                name: None,
                containers: vec![m.id.clone()],
            };
            docs.push(generate_text(ctx, &args)?);
        }
        return write_out(a, docs.join("---\n"));
    }
    let yaml = generate_text(ctx, a)?;
    write_out(a, yaml)
}

/// The containers on network `name`, or None when there is no such network.
fn network_members(
    ctx: &Ctx,
    name: &str,
) -> Result<Option<Vec<crate::state::container::ContainerRecord>>, CliError> {
    let store = crate::state::network::NetworkStore::open(&ctx.paths)
        .map_err(crate::container::ContainerError::from)?;
    let Ok(net) = store.find(name) else {
        return Ok(None);
    };
    let members = ctx
        .all()?
        .into_iter()
        .filter(|r| r.config.net.networks.iter().any(|n| n.name == net.name))
        .collect();
    Ok(Some(members))
}

fn write_out(a: &GenerateArgs, yaml: String) -> Result<i32, CliError> {
    match &a.filename {
        Some(f) => std::fs::write(f, yaml)
            .map_err(|e| CliError::Usage(format!("writing {}: {e}", f.display())))?,
        None => print!("{yaml}"),
    }
    Ok(0)
}

fn generate_text(ctx: &Ctx, a: &GenerateArgs) -> Result<String, CliError> {
    let kind = match a.kind.as_str() {
        "pod" => Kind::Pod,
        "deployment" => Kind::Deployment,
        other => {
            return Err(CliError::Usage(format!(
                "invalid --type {other:?}: use pod or deployment"
            )));
        }
    };
    let records = a
        .containers
        .iter()
        .map(|c| ctx.find(c))
        .collect::<Result<Vec<_>, _>>()?;
    // What each image gives anyway, so the YAML says only what the user chose.
    let defaults: Vec<Option<crate::image::config::RunConfig>> = records
        .iter()
        .map(|r| {
            ctx.images
                .lookup(&r.image)
                .and_then(|i| ctx.images.config(&i))
                .ok()
                .map(|c| c.config)
        })
        .collect();
    let sources: Vec<Source> = records
        .iter()
        .zip(&defaults)
        .map(|(record, image)| Source {
            record,
            image: image.as_ref(),
        })
        .collect();
    generate::generate(
        &sources,
        &generate::Options {
            kind,
            service: a.service,
            replicas: a.replicas,
            name: a.name.clone(),
        },
    )
    .map_err(CliError::Usage)
}

fn read_file(file: &str) -> Result<String, CliError> {
    if file == "-" {
        return std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::Usage(format!("reading stdin: {e}")));
    }
    std::fs::read_to_string(file).map_err(|e| CliError::Usage(format!("reading {file}: {e}")))
}

/// The containers `kube play` made for `pod`, holder last (the order to remove them in).
fn pod_containers(
    ctx: &Ctx,
    pod: &str,
) -> Result<Vec<crate::state::container::ContainerRecord>, CliError> {
    let mut found: Vec<_> = ctx
        .all()?
        .into_iter()
        .filter(|r| r.config.labels.get(POD_LABEL).map(String::as_str) == Some(pod))
        .collect();
    // The holder is the one the others join: it goes last.
    found.sort_by_key(|r| r.config.network != crate::spec::NetworkMode::Container);
    Ok(found)
}

fn remove_pod(ctx: &Ctx, pod: &str) -> Result<bool, CliError> {
    let containers = pod_containers(ctx, pod)?;
    for r in &containers {
        crate::container::remove::remove(ctx, &r.id, true, true)?;
    }
    let mut any = !containers.is_empty();
    for v in ctx
        .volumes
        .list()
        .map_err(crate::container::ContainerError::from)?
    {
        if v.labels.get(POD_LABEL).map(String::as_str) == Some(pod) {
            ctx.volumes
                .remove(&v.name)
                .map_err(crate::container::ContainerError::from)?;
            any = true;
        }
    }
    Ok(any)
}

fn play_file(ctx: &Ctx, a: &PlayArgs) -> Result<i32, CliError> {
    let text = read_file(&a.file)?;
    let objects = play::parse(&text).map_err(CliError::Usage)?;
    let plans = play::plan(&objects).map_err(CliError::Usage)?;
    for p in &plans {
        if a.replace {
            remove_pod(ctx, &p.name)?;
        } else if !pod_containers(ctx, &p.name)?.is_empty() {
            return Err(CliError::Usage(format!(
                "pod {:?} already exists: remove it with kube down, or play with --replace",
                p.name
            )));
        }
    }
    for p in &plans {
        for w in &p.warnings {
            eprintln!("skiff: warning: {w}");
        }
        let mut made = Vec::new();
        let ids = match play_pod(ctx, p, a.start, &mut made) {
            Ok(ids) => ids,
            Err(e) => {
                // Nothing half-made stays: this pod's containers and the volumes this play
                // made (its claims too) go.
                let _ = remove_pod(ctx, &p.name);
                for v in made {
                    let _ = ctx.volumes.remove(&v);
                }
                return Err(e);
            }
        };
        println!("Pod:\n{}\nContainers:", p.name);
        for id in ids {
            println!("{id}");
        }
    }
    Ok(0)
}

/// Make the pod's volumes (their names go to `made`) and containers, and start them.
fn play_pod(
    ctx: &Ctx,
    p: &PodPlan,
    start: bool,
    made: &mut Vec<String>,
) -> Result<Vec<String>, CliError> {
    for (name, own) in &p.volumes {
        if ctx.volumes.get(name).is_ok() {
            continue;
        }
        let labels: BTreeMap<String, String> = if *own {
            [(POD_LABEL.to_string(), p.name.clone())].into()
        } else {
            BTreeMap::new()
        };
        ctx.volumes
            .create(&VolumeRecord {
                name: name.clone(),
                driver: "local".into(),
                created_at: crate::timefmt::rfc3339(crate::timefmt::now()),
                labels,
                options: BTreeMap::new(),
                anonymous: false,
            })
            .map_err(crate::container::ContainerError::from)?;
        made.push(name.clone());
        ctx.event("volume", "create", name, &[("driver", "local".into())]);
    }
    let mut ids = Vec::new();
    for req in &p.containers {
        if matches!(
            ctx.images.lookup(&req.image),
            Err(crate::image::ImageError::NoSuchImage(_))
        ) {
            super::registry::pull_image(ctx, &req.image, true, None, true)?;
        }
        let record = crate::container::create::create(ctx, req)?;
        ids.push(record.id.clone());
        // The holder runs before anyone joins its namespaces.
        if start {
            crate::container::detached::start_detached(ctx, &record.id, None)?;
        }
    }
    Ok(ids)
}

fn down(ctx: &Ctx, file: &str) -> Result<i32, CliError> {
    let text = read_file(file)?;
    let objects = play::parse(&text).map_err(CliError::Usage)?;
    let mut removed = Vec::new();
    for pod in play::pod_names(&objects) {
        if remove_pod(ctx, &pod)? {
            removed.push(pod);
        }
    }
    if !removed.is_empty() {
        println!("Pods removed:");
        for p in removed {
            println!("{p}");
        }
    }
    Ok(0)
}
