//! `info`: what skiff sees of this host and its store, with docker's field names (its JSON for
//! `--format`, its "Server:" section as text).

use serde_json::{Value, json};

use super::format::{compile, render};
use super::{CliError, InfoArgs};
use crate::cgroup::Hierarchy;
use crate::container::Ctx;
use crate::state::container::Status;

/// `--format`: `json` (or `{{json .}}`) as is, else the Go template over `v`.
fn print_formatted(format: &str, v: &Value) -> Result<i32, CliError> {
    let out = if format == "json" || format == "{{json .}}" {
        v.to_string()
    } else {
        render(&compile(format)?, v)?
    };
    println!("{out}");
    Ok(0)
}

pub fn info(ctx: &Ctx, a: InfoArgs) -> Result<i32, CliError> {
    let v = facts(ctx)?;
    if let Some(f) = a.format.as_deref() {
        return print_formatted(f, &v);
    }
    print!("{}", text(&v));
    Ok(0)
}

fn facts(ctx: &Ctx) -> Result<Value, CliError> {
    let records = ctx.all()?;
    // docker counts a paused container as paused, not running.
    let paused = records.iter().filter(|r| r.state.paused).count();
    let running = records
        .iter()
        .filter(|r| r.state.status == Status::Running && !r.state.paused)
        .count();
    let images = ctx.images.list()?.len();
    let (driver, version) = match ctx.hierarchy() {
        None => ("none".to_string(), ""),
        // Rootless on v1 nobody can make a cgroup: docker says "none" there too.
        Some(Hierarchy::Legacy { .. }) if ctx.paths.rootless => ("none".to_string(), "1"),
        Some(Hierarchy::Legacy { .. }) => ("cgroupfs".to_string(), "1"),
        Some(Hierarchy::Unified(_)) => (ctx.cgroup_driver().map(|d| d.as_str().to_string())?, "2"),
    };
    let storage = ctx.storage()?;
    let mut driver_status = vec![json!([
        "Backing Filesystem",
        crate::image::storage::backing_filesystem(&ctx.paths.root)
    ])];
    if let Some(p) = &storage.mount_program {
        driver_status.push(json!(["Mount Program", p]));
    }
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
        uname
            .as_ref()
            .map(|u| f(u).to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    // Containers get the built-in seccomp filter unless they ask otherwise.
    let mut security = vec![
        "name=seccomp,profile=builtin".to_string(),
        "name=cgroupns".to_string(),
    ];
    if ctx.paths.rootless {
        security.push("name=rootless".into());
    }
    Ok(json!({
        "Containers": records.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": records.len() - running - paused,
        "Images": images,
        "Driver": storage.driver.as_str(),
        "DriverStatus": driver_status,
        "LoggingDriver": "json-file",
        "CgroupDriver": driver,
        "CgroupVersion": version,
        "KernelVersion": field(|u| u.release()),
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "Architecture": field(|u| u.machine()),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "Name": field(|u| u.nodename()),
        "DockerRootDir": ctx.paths.root,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "SecurityOptions": security,
        "Rootless": ctx.paths.rootless,
        "RootlessNetworkCmd": rootless_network(ctx),
    }))
}

fn text(v: &Value) -> String {
    let s = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::from("Server:\n");
    out.push_str(&format!(" Containers: {}\n", s("Containers")));
    out.push_str(&format!("  Running: {}\n", s("ContainersRunning")));
    out.push_str(&format!("  Paused: {}\n", s("ContainersPaused")));
    out.push_str(&format!("  Stopped: {}\n", s("ContainersStopped")));
    out.push_str(&format!(" Images: {}\n", s("Images")));
    out.push_str(&format!(" Server Version: {}\n", s("ServerVersion")));
    out.push_str(&format!(" Storage Driver: {}\n", s("Driver")));
    for pair in v["DriverStatus"].as_array().into_iter().flatten() {
        let field = |i: usize| pair[i].as_str().unwrap_or_default().to_string();
        out.push_str(&format!("  {}: {}\n", field(0), field(1)));
    }
    out.push_str(&format!(" Logging Driver: {}\n", s("LoggingDriver")));
    out.push_str(&format!(" Cgroup Driver: {}\n", s("CgroupDriver")));
    out.push_str(&format!(" Cgroup Version: {}\n", s("CgroupVersion")));
    out.push_str(" Security Options:\n");
    for o in v["SecurityOptions"].as_array().into_iter().flatten() {
        out.push_str(&format!("  {}\n", o.as_str().unwrap_or_default()));
    }
    out.push_str(&format!(" Kernel Version: {}\n", s("KernelVersion")));
    out.push_str(&format!(" Operating System: {}\n", s("OperatingSystem")));
    out.push_str(&format!(" OSType: {}\n", s("OSType")));
    out.push_str(&format!(" Architecture: {}\n", s("Architecture")));
    out.push_str(&format!(" CPUs: {}\n", s("NCPU")));
    let mem = v["MemTotal"].as_u64().unwrap_or(0);
    out.push_str(&format!(
        " Total Memory: {}\n",
        crate::units::bytes_size(mem)
    ));
    out.push_str(&format!(" Name: {}\n", s("Name")));
    out.push_str(&format!(" Docker Root Dir: {}\n", s("DockerRootDir")));
    out.push_str(&format!(" Rootless: {}\n", s("Rootless")));
    if let Some(cmd) = v["RootlessNetworkCmd"].as_str() {
        out.push_str(&format!(" Rootless Network: {cmd}\n"));
    }
    out
}

/// Rootless: the user networks' stack (podman's `rootlessNetworkCmd`), the running one or
/// the one a start would choose (pasta, or slirp4netns with no default route); None as root.
fn rootless_network(ctx: &Ctx) -> Option<String> {
    use crate::net::outside;
    if !ctx.paths.rootless {
        return None;
    }
    if let Some(b) = crate::net::user_netns::backend(&ctx.paths) {
        return Some(format!("{} (running)", b.as_str()));
    }
    Some(outside::preferred().map_or_else(
        || "none: install passt or slirp4netns".to_string(),
        |b| b.as_str().to_string(),
    ))
}

/// PRETTY_NAME from os-release.
/// `version`: docker's Client and Server sections (one binary is both: there is no daemon),
/// as text or through `--format` (`{{.Server.Version}}`, `{{json .}}`).
pub fn version(a: InfoArgs) -> Result<i32, CliError> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let side = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": "none (daemonless)",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel,
    });
    let v = json!({"Client": side.clone(), "Server": side});
    if let Some(f) = a.format.as_deref() {
        return print_formatted(f, &v);
    }
    let s = |k: &str| v["Client"][k].as_str().unwrap_or_default().to_string();
    print!(
        "Client: skiff\n Version:           {}\n OS/Arch:           linux/{}\n\nServer: skiff (no daemon: this same binary)\n Engine:\n  Version:          {}\n  OS/Arch:          linux/{}\n  Kernel Version:   {}\n",
        s("Version"),
        s("Arch"),
        s("Version"),
        s("Arch"),
        s("KernelVersion")
    );
    Ok(0)
}

fn os_name() -> String {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// Bytes of memory, from /proc/meminfo.
fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let kb = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                kb.trim().parse::<u64>().ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}
