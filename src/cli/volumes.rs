//! Handlers for `volume create|ls|inspect|rm|prune` and `cp`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::format::human_size;
use super::{
    CliError, VolumeCommand, VolumeCreateArgs, VolumeInspectArgs, VolumeLsArgs, VolumePruneArgs,
    VolumeRmArgs, for_each,
};
use crate::container::Ctx;
use crate::container::volumes::users_of;
use crate::state::volume::VolumeRecord;

pub fn volume(ctx: &Ctx, c: VolumeCommand) -> Result<i32, CliError> {
    match c {
        VolumeCommand::Create(a) => create(ctx, a),
        VolumeCommand::Ls(a) => ls(ctx, a),
        VolumeCommand::Inspect(a) => inspect(ctx, a),
        VolumeCommand::Rm(a) => rm(ctx, a),
        VolumeCommand::Prune(a) => prune(ctx, a),
        VolumeCommand::Exists(a) => Ok(i32::from(ctx.volumes.get(&a.name).is_err())),
    }
}

/// `KEY=VALUE` flags (`--label`, `--opt`) into a map; `KEY` alone has an empty value.
pub(super) fn key_values(
    flag: &str,
    items: &[String],
) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for kv in items {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if k.is_empty() {
            return Err(CliError::Usage(format!(
                "invalid {flag} {kv:?}: expected KEY=VALUE"
            )));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// docker's local driver options: `type`, `device`, `o`.
pub fn check_options(options: &BTreeMap<String, String>) -> Result<(), CliError> {
    for k in options.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o") {
            return Err(CliError::Usage(format!(
                "invalid option {k:?} for the local volume driver: expected type, device or o"
            )));
        }
    }
    match options.get("type").map(String::as_str) {
        None if options.is_empty() => Ok(()),
        Some("tmpfs") => Ok(()),
        Some("none") => match options.get("device") {
            Some(d)
                if d.starts_with('/')
                    && options
                        .get("o")
                        .is_some_and(|o| o.split(',').any(|x| x == "bind")) =>
            {
                if std::path::Path::new(d).is_dir() {
                    Ok(())
                } else {
                    Err(CliError::Usage(format!(
                        "invalid volume device {d:?}: no such directory"
                    )))
                }
            }
            _ => Err(CliError::Usage(
                "a type=none volume needs o=bind and device=/absolute/host/path".into(),
            )),
        },
        other => Err(CliError::Usage(format!(
            "unsupported volume type {:?}: the local driver here takes type=tmpfs or type=none with o=bind",
            other.unwrap_or("")
        ))),
    }
}

fn create(ctx: &Ctx, a: VolumeCreateArgs) -> Result<i32, CliError> {
    let name = match (&a.name, &a.name_flag) {
        (Some(p), Some(f)) if p != f => {
            return Err(CliError::Usage(format!(
                "conflicting names: {p:?} and --name {f:?}"
            )));
        }
        (Some(n), _) | (None, Some(n)) => n.clone(),
        (None, None) => crate::ids::random_id(),
    };
    if a.driver != "local" {
        return Err(CliError::Usage(format!(
            "volume driver {:?} is not supported: only local",
            a.driver
        )));
    }
    let options = key_values("--opt", &a.opt)?;
    check_options(&options)?;
    let (v, _) = ctx
        .volumes
        .create(&VolumeRecord {
            name,
            driver: a.driver,
            created_at: crate::timefmt::rfc3339(crate::timefmt::now()),
            labels: key_values("--label", &a.label)?,
            options,
            anonymous: false,
        })
        .map_err(crate::container::ContainerError::from)?;
    ctx.event("volume", "create", &v.name, &[("driver", v.driver.clone())]);
    println!("{}", v.name);
    Ok(0)
}

/// docker's `volume inspect` object.
fn to_json(ctx: &Ctx, v: &VolumeRecord) -> Value {
    let mut labels = v.labels.clone();
    if v.anonymous {
        labels.insert("com.docker.volume.anonymous".into(), String::new());
    }
    json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": if labels.is_empty() { Value::Null } else { json!(labels) },
        "Mountpoint": ctx.volumes.data_dir(&v.name),
        "Name": v.name,
        "Options": if v.options.is_empty() { Value::Null } else { json!(v.options) },
        "Scope": "local",
    })
}

/// Volume names some container (running or not) uses.
fn used_volumes(ctx: &Ctx) -> Result<Vec<String>, CliError> {
    Ok(ctx
        .all()?
        .into_iter()
        .flat_map(|r| r.config.mounts.into_iter())
        .filter(|m| m.kind == crate::mount::volume::MountKind::Volume)
        .map(|m| m.source)
        .collect())
}

fn label_matches(v: &VolumeRecord, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, val)) => v.labels.get(k).is_some_and(|x| x == val),
        None => v.labels.contains_key(want),
    }
}

fn ls(ctx: &Ctx, a: VolumeLsArgs) -> Result<i32, CliError> {
    let used = used_volumes(ctx)?;
    let mut vols = ctx
        .volumes
        .list()
        .map_err(crate::container::ContainerError::from)?;
    for f in &a.filter {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("invalid filter {f:?}: expected KEY=VALUE")))?;
        match k {
            "dangling" => {
                let want = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(CliError::Usage(format!(
                            "invalid filter {f:?}: dangling takes true or false"
                        )));
                    }
                };
                vols.retain(|x| used.contains(&x.name) != want);
            }
            "name" => vols.retain(|x| x.name.contains(v)),
            "driver" => vols.retain(|x| x.driver == v),
            "label" => vols.retain(|x| label_matches(x, v)),
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid filter {k:?}: expected dangling, name, driver or label"
                )));
            }
        }
    }
    if a.quiet {
        for v in &vols {
            println!("{}", v.name);
        }
        return Ok(0);
    }
    let rows: Vec<Value> = vols
        .iter()
        .map(|v| {
            let labels: Vec<String> = v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
            json!({
                "Driver": v.driver, "Name": v.name, "Scope": "local",
                "Mountpoint": ctx.volumes.data_dir(&v.name), "Labels": labels.join(","),
                "Anonymous": v.anonymous,
            })
        })
        .collect();
    let header = json!({"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE",
        "Mountpoint": "MOUNTPOINT", "Labels": "LABELS"});
    let format = a
        .format
        .unwrap_or_else(|| "table {{.Driver}}\t{{.Name}}".into());
    super::format::print_rows_with(&format, (!a.noheading).then_some(&header), &rows)?;
    Ok(0)
}

fn inspect(ctx: &Ctx, a: VolumeInspectArgs) -> Result<i32, CliError> {
    let mut values = Vec::new();
    let mut failed = false;
    for n in &a.names {
        match ctx.volumes.get(n) {
            Ok(v) => values.push(to_json(ctx, &v)),
            Err(e) => {
                eprintln!("skiff: {e}");
                failed = true;
            }
        }
    }
    match &a.format {
        Some(f) => print!("{}", super::containers::render_each(f, &values)?),
        None => println!(
            "{}",
            serde_json::to_string_pretty(&values).unwrap_or_default()
        ),
    }
    if failed {
        return Err(CliError::Reported(1));
    }
    Ok(0)
}

fn rm(ctx: &Ctx, a: VolumeRmArgs) -> Result<i32, CliError> {
    for_each(&a.names, |n| {
        if a.force && ctx.volumes.get(n).is_err() {
            return Ok(()); // docker: -f ignores volumes that do not exist
        }
        ctx.volumes
            .get(n)
            .map_err(crate::container::ContainerError::from)?;
        let users = users_of(ctx, n, None)?;
        if !users.is_empty() {
            return Err(CliError::Usage(format!(
                "remove {n}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        ctx.volumes
            .remove(n)
            .map_err(crate::container::ContainerError::from)?;
        ctx.event("volume", "destroy", n, &[]);
        Ok(())
    })
}

fn prune(ctx: &Ctx, a: VolumePruneArgs) -> Result<i32, CliError> {
    let (removed, reclaimed) = prune_matching(ctx, a.all, &a.filter)?;
    if !removed.is_empty() {
        println!("Deleted Volumes:\n{}\n", removed.join("\n"));
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

/// Remove the volumes no container uses (anonymous ones only, unless `all`): (names, bytes).
pub fn prune_unused(ctx: &Ctx, all: bool) -> Result<(Vec<String>, u64), CliError> {
    prune_matching(ctx, all, &[])
}

fn prune_matching(
    ctx: &Ctx,
    all: bool,
    filters: &[String],
) -> Result<(Vec<String>, u64), CliError> {
    let used = used_volumes(ctx)?;
    let mut removed = Vec::new();
    let mut reclaimed = 0;
    'volumes: for v in ctx
        .volumes
        .list()
        .map_err(crate::container::ContainerError::from)?
    {
        if used.contains(&v.name) || !(all || v.anonymous) {
            continue;
        }
        for f in filters {
            let keep = match f.split_once('=') {
                Some(("label", want)) => !label_matches(&v, want),
                Some(("label!", want)) => label_matches(&v, want),
                _ => {
                    return Err(CliError::Usage(format!(
                        "invalid filter {f:?}: expected label=KEY[=VALUE] or label!=KEY[=VALUE]"
                    )));
                }
            };
            if keep {
                continue 'volumes;
            }
        }
        let size = crate::container::volumes::tree_size(&ctx.volumes.data_dir(&v.name));
        if ctx.volumes.remove(&v.name).is_ok() {
            ctx.event("volume", "destroy", &v.name, &[]);
            reclaimed += size;
            removed.push(v.name);
        }
    }
    Ok((removed, reclaimed))
}

pub fn cp(ctx: &Ctx, a: super::CpArgs) -> Result<i32, CliError> {
    crate::container::copy::cp(ctx, &a.source, &a.destination, a.follow_link, a.archive)?;
    Ok(0)
}

pub fn export(ctx: &Ctx, a: super::ExportArgs) -> Result<i32, CliError> {
    use std::io::IsTerminal;
    let Some(path) = &a.output else {
        if std::io::stdout().is_terminal() {
            return Err(CliError::Usage(
                "refusing to write an archive to a terminal: use -o FILE or redirect stdout".into(),
            ));
        }
        crate::container::export::export(ctx, &a.container, &mut std::io::stdout().lock())?;
        return Ok(0);
    };
    // Written beside the target and renamed, so a failed export leaves no partial file.
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".skiff-{}", std::process::id()));
    let partial = std::path::PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .map_err(|e| CliError::Usage(format!("creating {}: {e}", path.display())))?;
    let mut out = std::io::BufWriter::new(file);
    let result = crate::container::export::export(ctx, &a.container, &mut out)
        .map_err(CliError::from)
        .and_then(|()| {
            drop(out);
            std::fs::rename(&partial, path)
                .map_err(|e| CliError::Usage(format!("writing {}: {e}", path.display())))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result.map(|()| 0)
}
