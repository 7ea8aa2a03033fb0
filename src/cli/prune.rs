//! `container prune`, `system prune` and `system df`: what stopped containers, unused images,
//! networks, volumes and the build cache hold, and giving it back, with docker's output.

use std::io::{IsTerminal, Write};

use clap::Args;

use super::CliError;
use super::format::human_size;
use crate::container::Ctx;
use crate::state::container::{ContainerRecord, Status};

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// until=TIMESTAMP|DURATION, label=KEY[=VALUE]
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Prune anonymous volumes too
    #[arg(long)]
    pub volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// until=TIMESTAMP|DURATION, label=KEY[=VALUE]
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show each image, container and volume
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

/// The filters prune takes: created before `until`, and labels.
struct PruneFilter {
    until: Option<i64>,
    labels: Vec<(String, Option<String>)>,
}

impl PruneFilter {
    fn parse(filters: &[String]) -> Result<PruneFilter, CliError> {
        let mut f = PruneFilter {
            until: None,
            labels: Vec::new(),
        };
        for item in filters {
            match item.split_once('=') {
                Some(("until", v)) => {
                    let t = crate::timefmt::parse_since(v).ok_or_else(|| {
                        CliError::Usage(format!(
                            "invalid filter 'until={v}': expected a time or a duration such as 24h"
                        ))
                    })?;
                    f.until = Some(t.as_second());
                }
                Some(("label", v)) => f.labels.push(match v.split_once('=') {
                    Some((k, val)) => (k.to_string(), Some(val.to_string())),
                    None => (v.to_string(), None),
                }),
                _ => {
                    return Err(CliError::Usage(format!(
                        "invalid filter {item:?}: prune takes until=… and label=…"
                    )));
                }
            }
        }
        Ok(f)
    }

    fn keeps_out(&self, r: &ContainerRecord) -> bool {
        let created = crate::timefmt::parse(&r.created).map_or(0, |t| t.as_second());
        self.until.is_some_and(|u| created >= u)
            || self.labels.iter().any(|(k, v)| match v {
                Some(v) => r.config.labels.get(k) != Some(v),
                None => !r.config.labels.contains_key(k),
            })
    }
}

/// docker's prompt; anything but y keeps everything.
fn confirmed(force: bool, what: &str) -> bool {
    if force {
        return true;
    }
    eprint!("WARNING! This will remove:\n{what}\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    if !std::io::stdin().is_terminal() && std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    if std::io::stdin().is_terminal() {
        let _ = std::io::stdin().read_line(&mut answer);
    }
    answer.trim().eq_ignore_ascii_case("y")
}

/// Remove the stopped containers the filter lets through: (ids, bytes freed).
fn prune_containers(ctx: &Ctx, filter: &PruneFilter) -> Result<(Vec<String>, u64), CliError> {
    let mut ids = Vec::new();
    let mut freed = 0;
    for r in ctx.all()? {
        if !matches!(
            r.state.status,
            Status::Exited | Status::Created | Status::Dead
        ) || filter.keeps_out(&r)
        {
            continue;
        }
        let size = crate::container::volumes::tree_size(&ctx.store.dir(&r.id).join("upper"));
        if crate::container::remove::remove(ctx, &r.id, false, false).is_ok() {
            freed += size;
            ids.push(r.id);
        }
    }
    Ok((ids, freed))
}

pub fn container_prune(ctx: &Ctx, a: ContainerPruneArgs) -> Result<i32, CliError> {
    let filter = PruneFilter::parse(&a.filter)?;
    if !confirmed(a.force, "  - all stopped containers") {
        return Ok(0);
    }
    let (ids, freed) = prune_containers(ctx, &filter)?;
    if !ids.is_empty() {
        println!("Deleted Containers:\n{}\n", ids.join("\n"));
    }
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

pub fn system_prune(ctx: &Ctx, a: SystemPruneArgs) -> Result<i32, CliError> {
    let filter = PruneFilter::parse(&a.filter)?;
    let mut what = vec![
        "  - all stopped containers",
        "  - all networks not used by at least one container",
    ];
    if a.volumes {
        what.push("  - all anonymous volumes not used by at least one container");
    }
    what.push(if a.all {
        "  - all images without at least one container associated to them"
    } else {
        "  - all dangling images"
    });
    what.push("  - all build cache");
    if !confirmed(a.force, &what.join("\n")) {
        return Ok(0);
    }
    let (ids, mut freed) = prune_containers(ctx, &filter)?;
    if !ids.is_empty() {
        println!("Deleted Containers:\n{}\n", ids.join("\n"));
    }
    let networks = super::networks::prune_unused(ctx)?;
    if !networks.is_empty() {
        println!("Deleted Networks:\n{}\n", networks.join("\n"));
    }
    if a.volumes {
        let (volumes, bytes) = super::volumes::prune_unused(ctx, false)?;
        freed += bytes;
        if !volumes.is_empty() {
            println!("Deleted Volumes:\n{}\n", volumes.join("\n"));
        }
    }
    let (images, bytes) = super::images::prune_unused(ctx, a.all)?;
    freed += bytes;
    if !images.is_empty() {
        println!("Deleted Images:\n{}\n", images.join("\n"));
    }
    freed += crate::build::cache::prune(&ctx.paths);
    let containers = ctx.all()?;
    super::images::gc(ctx, &containers)?;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(0)
}

fn pct(part: u64, whole: u64) -> String {
    match (part * 100).checked_div(whole) {
        Some(p) => format!("{} ({p}%)", human_size(part)),
        None => "0B".into(),
    }
}

pub fn df(ctx: &Ctx, a: DfArgs) -> Result<i32, CliError> {
    let containers = ctx.all()?;
    let images = ctx.images.list()?;
    let used_images: Vec<&str> = containers.iter().map(|c| c.image_id.as_str()).collect();
    let image_size: u64 = images.iter().map(|i| i.size).sum();
    let unused_image_size: u64 = images
        .iter()
        .filter(|i| !used_images.contains(&i.id.as_str()))
        .map(|i| i.size)
        .sum();
    let active_images = images
        .iter()
        .filter(|i| used_images.contains(&i.id.as_str()))
        .count();
    let sizes: Vec<(&ContainerRecord, u64)> = containers
        .iter()
        .map(|c| {
            let upper = ctx.store.dir(&c.id).join("upper");
            (c, crate::container::volumes::tree_size(&upper))
        })
        .collect();
    let ctr_size: u64 = sizes.iter().map(|(_, s)| s).sum();
    let stopped_size: u64 = sizes
        .iter()
        .filter(|(c, _)| c.state.status != Status::Running)
        .map(|(_, s)| s)
        .sum();
    let running = containers
        .iter()
        .filter(|c| c.state.status == Status::Running)
        .count();
    let volumes = ctx
        .volumes
        .list()
        .map_err(crate::container::ContainerError::from)?;
    let mut vol_rows = Vec::new();
    for v in &volumes {
        let users = crate::container::volumes::users_of(ctx, &v.name, None)?;
        let size = crate::container::volumes::tree_size(&ctx.volumes.data_dir(&v.name));
        vol_rows.push((v.name.clone(), users.len(), size));
    }
    let vol_size: u64 = vol_rows.iter().map(|(_, _, s)| s).sum();
    let vol_free: u64 = vol_rows
        .iter()
        .filter(|(_, n, _)| *n == 0)
        .map(|(_, _, s)| s)
        .sum();
    let (steps, cache_size) = crate::build::cache::usage(&ctx.paths);
    // Written, not printed: `system df -v | head` must end quietly.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<15}{:<10}{:<10}{:<10}RECLAIMABLE",
        "TYPE", "TOTAL", "ACTIVE", "SIZE"
    );
    let mut row = |t: &str, total: usize, active: usize, size: u64, free: String| {
        let _ = writeln!(
            out,
            "{t:<15}{total:<10}{active:<10}{:<10}{free}",
            human_size(size)
        );
    };
    row(
        "Images",
        images.len(),
        active_images,
        image_size,
        pct(unused_image_size, image_size),
    );
    row(
        "Containers",
        containers.len(),
        running,
        ctr_size,
        pct(stopped_size, ctr_size),
    );
    row(
        "Local Volumes",
        volumes.len(),
        vol_rows.iter().filter(|(_, n, _)| *n > 0).count(),
        vol_size,
        pct(vol_free, vol_size),
    );
    row("Build Cache", steps, 0, cache_size, human_size(cache_size));
    if a.verbose {
        let _ = writeln!(
            out,
            "\nImages space usage:\n\n{:<50}{:<15}{:<12}CONTAINERS",
            "REPOSITORY:TAG", "IMAGE ID", "SIZE"
        );
        for i in &images {
            let users = used_images.iter().filter(|u| **u == i.id).count();
            let name = i
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| "<none>:<none>".into());
            let short =
                i.id.trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect::<String>();
            let _ = writeln!(
                out,
                "{name:<50}{short:<15}{:<12}{users}",
                human_size(i.size)
            );
        }
        let _ = writeln!(
            out,
            "\nContainers space usage:\n\n{:<15}{:<20}{:<12}{:<10}NAMES",
            "CONTAINER ID", "IMAGE", "SIZE", "STATUS"
        );
        for (c, size) in &sizes {
            let _ = writeln!(
                out,
                "{:<15}{:<20}{:<12}{:<10}{}",
                c.short_id(),
                c.image,
                human_size(*size),
                c.state.status.as_str(),
                c.name
            );
        }
        let _ = writeln!(
            out,
            "\nLocal Volumes space usage:\n\n{:<40}{:<8}SIZE",
            "VOLUME NAME", "LINKS"
        );
        for (name, links, size) in &vol_rows {
            let _ = writeln!(out, "{name:<40}{links:<8}{}", human_size(*size));
        }
    }
    Ok(0)
}
