//! `skiff system check`: what this host allows skiff to do, one line per piece, and for each
//! missing piece the way to get it. Meant for the first minutes on a new machine or in a new
//! CI image: it says up front what `run` would otherwise fail on one error at a time.
//! Exit 0 when containers can run here (storage works; rootless: the user namespace and id
//! mapping), 1 otherwise; what only some features need (limits, networking helpers) is
//! reported without failing the check.

use clap::{Args, Subcommand};

use super::CliError;
use crate::cgroup::Hierarchy;
use crate::cgroup::placement::Placement;
use crate::container::Ctx;

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Check what this host allows: user namespaces, storage, cgroups, tun, nft, pasta
    Check(CheckArgs),
    /// Show events (the same as `skiff events`)
    Events(super::events::EventsArgs),
    /// Show system-wide information (the same as `skiff info`)
    Info(super::InfoArgs),
    /// Show disk usage: images, containers, volumes, build cache
    Df(super::prune::DfArgs),
    /// Remove stopped containers, unused networks, dangling images and the build cache
    Prune(super::prune::SystemPruneArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    /// Missing, but only some features need it.
    Warn,
    /// Missing, and containers cannot run without it.
    Fail,
}

#[derive(Debug, serde::Serialize)]
struct Check {
    check: &'static str,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn ok(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        status: Status::Ok,
        detail: detail.into(),
        fix: None,
    }
}

fn missing(check: &'static str, status: Status, detail: impl Into<String>, fix: &str) -> Check {
    Check {
        check,
        status,
        detail: detail.into(),
        fix: Some(fix.to_string()),
    }
}

pub fn dispatch(ctx: &Ctx, command: SystemCommand) -> Result<i32, CliError> {
    match command {
        SystemCommand::Check(a) => check(ctx, a),
        SystemCommand::Events(a) => super::events::events(ctx, a),
        SystemCommand::Info(a) => super::info::info(ctx, a),
        SystemCommand::Df(a) => super::prune::df(ctx, a),
        SystemCommand::Prune(a) => super::prune::system_prune(ctx, a),
    }
}

fn check(ctx: &Ctx, a: CheckArgs) -> Result<i32, CliError> {
    let checks = [
        user_namespaces(ctx),
        id_mapping(ctx),
        storage(ctx),
        cgroups(ctx),
        tun(ctx),
        helper(
            ctx,
            "pasta",
            "passt",
            "rootless networking (or slirp4netns)",
        ),
        helper(
            ctx,
            "slirp4netns",
            "slirp4netns",
            "rootless networking without pasta, or with no default route",
        ),
        nft(ctx),
    ];
    if a.json {
        let text = serde_json::to_string_pretty(&checks.iter().flatten().collect::<Vec<_>>())
            .map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{text}");
    } else {
        println!("{:<18} {:<7} DETAIL", "CHECK", "STATUS");
        for c in checks.iter().flatten() {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            println!("{:<18} {:<7} {}", c.check, status, c.detail);
            if let Some(fix) = &c.fix {
                println!("{:<18} {:<7} fix: {fix}", "", "");
            }
        }
    }
    let failed = checks.iter().flatten().any(|c| c.status == Status::Fail);
    Ok(if failed { 1 } else { 0 })
}

fn user_namespaces(ctx: &Ctx) -> Option<Check> {
    let settings = crate::ns::userns::host_userns_settings();
    let why = crate::ns::userns::userns_refused_why(&settings);
    let refused = settings.max_user_namespaces.as_deref() == Some("0")
        || settings.unprivileged_clone.as_deref() == Some("0")
        || settings.apparmor_restrict.as_deref() == Some("1");
    Some(if ctx.paths.rootless {
        // Every rootless command joins the user's namespace first: we are in it.
        ok("user namespaces", "this user's namespace is in use")
    } else if refused {
        missing(
            "user namespaces",
            Status::Warn,
            "refused to ordinary users (root is not affected)",
            &why,
        )
    } else {
        ok(
            "user namespaces",
            "allowed to ordinary users (rootless skiff)",
        )
    })
}

fn id_mapping(ctx: &Ctx) -> Option<Check> {
    if !ctx.paths.rootless {
        return None;
    }
    let (uid, _) = ctx.host_ids;
    let tools = ["newuidmap", "newgidmap"]
        .iter()
        .all(|t| crate::config::find_program(t).is_some());
    Some(if !tools {
        missing(
            "id mapping",
            Status::Fail,
            "newuidmap/newgidmap not installed",
            "apt-get install uidmap",
        )
    } else if !crate::ns::userns::has_subid_ranges(uid) {
        missing(
            "id mapping",
            Status::Warn,
            "no range in /etc/subuid: containers get one id (yours) and no others",
            "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $USER",
        )
    } else {
        ok("id mapping", "newuidmap and a subordinate id range")
    })
}

fn storage(ctx: &Ctx) -> Option<Check> {
    let overlay = crate::image::storage::probe_overlay(&ctx.paths.root, ctx.paths.rootless);
    Some(match ctx.storage() {
        Ok(s) => {
            let mut detail = format!(
                "{} on {}",
                s.driver.as_str(),
                crate::image::storage::backing_filesystem(&ctx.paths.root)
            );
            if let Err(why) = overlay {
                detail.push_str(&format!(" (the kernel's overlay is refused here: {why})"));
            }
            ok("storage", detail)
        }
        Err(e) => missing(
            "storage",
            Status::Fail,
            e.to_string(),
            "apt-get install fuse-overlayfs, or give --root a directory on ext4, xfs or tmpfs",
        ),
    })
}

fn cgroups(ctx: &Ctx) -> Option<Check> {
    let version = match ctx.hierarchy() {
        None => "none",
        Some(Hierarchy::Legacy { .. }) => "v1",
        Some(Hierarchy::Unified(_)) => "v2",
    };
    let driver = ctx
        .cgroup_driver()
        .map(|d| d.as_str())
        .unwrap_or("cgroupfs");
    // A placement for a container that wants limits: refused exactly as `run -m` would be.
    let refused = match ctx.cgroup_placement("0000000000000000", "", true, true) {
        Ok(Placement::None { warn }) => Some(warn.unwrap_or_else(|| "no cgroup".into())),
        Err(e) => Some(e.to_string()),
        Ok(_) => None,
    };
    Some(match refused {
        Some(why) => missing(
            "cgroups",
            Status::Warn,
            format!("{version}: containers run without limits"),
            &why,
        ),
        None => ok("cgroups", format!("{version} ({driver}): limits available")),
    })
}

fn tun(ctx: &Ctx) -> Option<Check> {
    let open = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun");
    let need = if ctx.paths.rootless {
        "rootless networking needs it"
    } else {
        "only rootless networking needs it"
    };
    Some(match open {
        Ok(_) => ok("/dev/net/tun", "opens"),
        Err(e) => missing(
            "/dev/net/tun",
            Status::Warn,
            format!("cannot be opened ({e}): {need}"),
            "as root: mkdir -p /dev/net && mknod -m 0666 /dev/net/tun c 10 200 (in a container: --device /dev/net/tun); or --network none",
        ),
    })
}

fn helper(ctx: &Ctx, name: &'static str, package: &str, what: &str) -> Option<Check> {
    if !ctx.paths.rootless && name == "slirp4netns" {
        return None;
    }
    Some(match crate::config::find_program(name) {
        Some(p) => ok(name, p.display().to_string()),
        None => missing(
            name,
            Status::Warn,
            format!("not installed: {what} needs it"),
            &format!("apt-get install {package}"),
        ),
    })
}

fn nft(ctx: &Ctx) -> Option<Check> {
    let need = if ctx.paths.rootless {
        "not installed: the user networks' NAT and isolation need it (in your own namespace)"
    } else {
        "not installed: published ports and the bridge's NAT need it"
    };
    Some(match crate::config::find_program("nft") {
        Some(p) => ok("nft", p.display().to_string()),
        None => missing("nft", Status::Warn, need, "apt-get install nftables"),
    })
}
