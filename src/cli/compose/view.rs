//! Commands that show the project: config, ps, ls, logs, top, port, images, events, version.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Value, json};

use super::project::{self, Target, containers, is_oneoff, service_containers};
use super::{ConfigArgs, EventsArgs, ImagesArgs, LogsArgs, LsArgs, PortArgs, PsArgs, VersionArgs};
use crate::cli::CliError;
use crate::compose::{COMPAT_VERSION, Project, labels, yaml};
use crate::container::Ctx;
use crate::state::container::ContainerRecord;

fn write_out(path: Option<&std::path::Path>, text: &str) -> Result<(), CliError> {
    match path {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| CliError::Usage(format!("writing {}: {e}", p.display()))),
        None => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            Ok(())
        }
    }
}

pub fn config(project: Project, a: ConfigArgs) -> Result<i32, CliError> {
    if a.quiet {
        return Ok(0);
    }
    let keys = |kind: &str| -> Vec<String> {
        project
            .model
            .get(kind)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let lines: Option<Vec<String>> = if a.services {
        Some(project.service_names())
    } else if a.volumes {
        Some(keys("volumes"))
    } else if a.networks {
        Some(keys("networks"))
    } else if a.images {
        Some(
            project
                .service_names()
                .iter()
                .map(|s| project.image_of(s))
                .collect(),
        )
    } else if a.profiles {
        let mut all: Vec<String> = Vec::new();
        let opts_all = crate::compose::LoadOptions {
            files: project.config_files.clone(),
            project_directory: Some(project.working_dir.clone()),
            profiles: vec!["*".into()],
            ..Default::default()
        };
        let full = Project::load(&opts_all).map_err(CliError::Usage)?;
        for (_, svc) in full.services() {
            for p in svc
                .get("profiles")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(p) = p.as_str()
                    && !all.iter().any(|a| a == p)
                {
                    all.push(p.to_string());
                }
            }
        }
        all.sort();
        Some(all)
    } else if let Some(which) = &a.hash {
        let names = if which == "*" {
            project.service_names()
        } else {
            which.split(',').map(String::from).collect()
        };
        let names = project.select(&names).map_err(CliError::Usage)?;
        Some(
            names
                .iter()
                .map(|s| format!("{s} {}", project.config_hash(s)))
                .collect(),
        )
    } else {
        None
    };
    if let Some(lines) = lines {
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        write_out(a.output.as_deref(), &text)?;
        return Ok(0);
    }
    let mut model = project.model.clone();
    if a.services_args.is_empty() {
        project
            .usable(&project.service_names())
            .map_err(CliError::Usage)?;
    } else {
        let keep = project.select(&a.services_args).map_err(CliError::Usage)?;
        let keep = crate::compose::order::with_dependencies(&project, &keep, false);
        project.usable(&keep).map_err(CliError::Usage)?;
        if let Some(Value::Object(s)) = model.get_mut("services") {
            s.retain(|k, _| keep.contains(k));
        }
    }
    let text = if a.format == "json" {
        serde_json::to_string_pretty(&model).unwrap_or_default() + "\n"
    } else {
        yaml::to_yaml(&model)
    };
    write_out(a.output.as_deref(), &text)?;
    Ok(0)
}

/// docker compose's COMMAND cell: the argv, cut at 20 characters, quoted.
fn command_cell(r: &ContainerRecord, no_trunc: bool) -> String {
    crate::container::list::row(r, no_trunc).command
}

pub fn ps(ctx: &Ctx, target: &Target, a: PsArgs) -> Result<i32, CliError> {
    target.select(&a.names)?;
    let services = a.names.clone();
    let mut states: Vec<String> = a.status.clone();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("status", v)) => states.push(v.to_string()),
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid filter {f:?}: expected status=STATUS"
                )));
            }
        }
    }
    let all = a.all || !states.is_empty();
    let mut rows: Vec<ContainerRecord> = Vec::new();
    for r in containers(ctx, &target.name)? {
        let live = ctx.load_live(&r.id).unwrap_or(r);
        if !services.is_empty() && !services.iter().any(|s| s == project::service_of(&live)) {
            continue;
        }
        if is_oneoff(&live) && !all {
            continue;
        }
        let state = if live.state.paused && project::is_running(&live) {
            "paused"
        } else {
            live.state.status.as_str()
        };
        if !states.is_empty() && !states.iter().any(|s| s == state) {
            continue;
        }
        if !all && !project::is_running(&live) {
            continue;
        }
        rows.push(live);
    }
    if a.services {
        let mut names: Vec<&str> = rows.iter().map(project::service_of).collect();
        names.sort();
        names.dedup();
        for n in names {
            println!("{n}");
        }
        return Ok(0);
    }
    if a.quiet {
        for r in &rows {
            println!("{}", if a.no_trunc { &r.id } else { r.short_id() });
        }
        return Ok(0);
    }
    let objects: Vec<Value> = rows.iter().map(|r| ps_object(r, a.no_trunc)).collect();
    match a.format.as_deref() {
        Some("json") => {
            for o in &objects {
                println!("{o}");
            }
        }
        None | Some("table") => {
            let mut table = vec![
                [
                    "NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for o in &objects {
                table.push(
                    [
                        "Name",
                        "Image",
                        "Command",
                        "Service",
                        "RunningFor",
                        "Status",
                        "Ports",
                    ]
                    .iter()
                    .map(|k| o[*k].as_str().unwrap_or_default().to_string())
                    .collect(),
                );
            }
            print_table(&table, 10);
        }
        Some(template) => {
            let text = crate::cli::containers::render_each(template, &objects)?;
            print!("{text}");
        }
    }
    Ok(0)
}

/// One container as docker compose's `ps --format json` object.
fn ps_object(r: &ContainerRecord, no_trunc: bool) -> Value {
    let row = crate::container::list::row(r, no_trunc);
    let published: Vec<&crate::net::ports::PortMapping> = r
        .state
        .networks
        .iter()
        .flat_map(|n| n.ports.iter())
        .collect();
    let mut publishers: Vec<Value> = published
        .iter()
        .map(|p| {
            json!({
                "URL": if p.host_ip.is_empty() { "0.0.0.0" } else { p.host_ip.as_str() },
                "TargetPort": p.container_port,
                "PublishedPort": p.host_port,
                "Protocol": p.protocol,
            })
        })
        .collect();
    // Exposed ports nobody published, as docker compose lists them.
    for (port, proto) in &r.config.net.exposed {
        if !published
            .iter()
            .any(|p| p.container_port == *port && p.protocol == *proto)
        {
            publishers.push(
                json!({"URL": "", "TargetPort": port, "PublishedPort": 0, "Protocol": proto}),
            );
        }
    }
    let state = if r.state.paused && r.state.status == crate::state::container::Status::Running {
        "paused".to_string()
    } else {
        row.state.clone()
    };
    json!({
        "Command": command_cell(r, no_trunc),
        "CreatedAt": row.created_at,
        "ExitCode": r.state.exit_code,
        "Health": r.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
        "ID": row.id,
        "Image": r.image,
        "Labels": row.labels,
        "LocalVolumes": row.local_volumes,
        "Mounts": row.mounts,
        "Name": r.name,
        "Names": r.name,
        "Networks": row.networks,
        "Ports": row.ports,
        "Project": project::label(r, labels::PROJECT).unwrap_or_default(),
        "Publishers": publishers,
        "RunningFor": row.running_for,
        "Service": project::service_of(r),
        "Size": row.size,
        "State": state,
        "Status": row.status,
    })
}

/// Go tabwriter's layout: columns at least `min` wide, three spaces between.
fn print_table(rows: &[Vec<String>], min: usize) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
                .max(min - 3)
                + 3
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    let _ = std::io::stdout().write_all(out.as_bytes());
}

pub fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32, CliError> {
    let mut name_filter: Option<String> = None;
    for f in &a.filter {
        match f.split_once('=') {
            Some(("name", v)) => name_filter = Some(v.to_string()),
            _ => return Err(CliError::Usage(format!("invalid filter '{f}'"))),
        }
    }
    // project -> (state counts, config files)
    let mut projects: BTreeMap<String, (BTreeMap<String, usize>, Vec<String>)> = BTreeMap::new();
    for r in ctx.all()? {
        let Some(p) = project::label(&r, labels::PROJECT) else {
            continue;
        };
        if name_filter
            .as_ref()
            .is_some_and(|n| !p.contains(n.as_str()))
        {
            continue;
        }
        let live = ctx.load_live(&r.id).unwrap_or(r.clone());
        let state = if live.state.paused {
            "paused".to_string()
        } else {
            live.state.status.as_str().to_string()
        };
        if !a.all && !project::is_running(&live) {
            continue;
        }
        let entry = projects.entry(p.to_string()).or_default();
        *entry.0.entry(state).or_default() += 1;
        for f in project::label(&r, labels::CONFIG_FILES)
            .unwrap_or_default()
            .split(',')
            .filter(|f| !f.is_empty())
        {
            if !entry.1.iter().any(|e| e == f) {
                entry.1.push(f.to_string());
            }
        }
    }
    let rows: Vec<(String, String, String)> = projects
        .into_iter()
        .map(|(name, (states, files))| {
            let status: Vec<String> = states.iter().map(|(s, n)| format!("{s}({n})")).collect();
            (name, status.join(", "), files.join(","))
        })
        .collect();
    if a.quiet {
        for (n, _, _) in &rows {
            println!("{n}");
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => {
            let list: Vec<Value> = rows
                .iter()
                .map(|(n, s, f)| json!({"Name": n, "Status": s, "ConfigFiles": f}))
                .collect();
            println!("{}", Value::Array(list));
        }
        "table" => {
            let mut table = vec![vec!["NAME".into(), "STATUS".into(), "CONFIG FILES".into()]];
            table.extend(rows.into_iter().map(|(n, s, f)| vec![n, s, f]));
            print_table(&table, 20);
        }
        other => {
            return Err(CliError::Usage(format!(
                "invalid --format {other:?}: expected table or json"
            )));
        }
    }
    Ok(0)
}

pub fn version(a: VersionArgs) -> Result<i32, CliError> {
    let v = env!("CARGO_PKG_VERSION");
    match (a.short, a.format.as_deref()) {
        (true, _) => println!("{v}"),
        (_, Some("json")) => println!("{}", json!({"version": v})),
        _ => println!("skiff compose version {v} (docker compose {COMPAT_VERSION} compatible)"),
    }
    Ok(0)
}

pub fn logs(ctx: &Ctx, target: &Target, a: LogsArgs) -> Result<i32, CliError> {
    target.select(&a.services)?;
    let services = a.services.clone();
    let list: Vec<ContainerRecord> = containers(ctx, &target.name)?
        .into_iter()
        .filter(|r| services.is_empty() || services.iter().any(|s| s == project::service_of(r)))
        .filter(|r| a.index.is_none_or(|i| project::number_of(r) == i))
        .collect();
    let tail = crate::cli::containers::tail_flag(a.tail.as_deref().unwrap_or("all"))?;
    let since = crate::cli::containers::time_flag("since", &a.since)?;
    let until = crate::cli::containers::time_flag("until", &a.until)?;
    let width = list.iter().map(|r| r.name.len()).max().unwrap_or(0) + 1;
    let colour = super::use_colour(a.no_color, None);
    std::thread::scope(|scope| {
        for (i, r) in list.iter().enumerate() {
            let prefix = if a.no_log_prefix {
                String::new()
            } else if colour {
                format!("\x1b[{}m{:width$} | \x1b[0m", super::colour(i), r.name)
            } else {
                format!("{:width$} | ", r.name)
            };
            let opts = crate::container::logs::LogOptions {
                follow: a.follow,
                tail,
                timestamps: a.timestamps,
                since,
                until,
                prefix: Some(prefix),
            };
            let id = r.id.clone();
            let run = move || {
                let _ = crate::container::logs::logs(ctx, &id, &opts);
            };
            if a.follow {
                scope.spawn(run);
            } else {
                // Without -f, one container after the other, as docker compose prints them.
                run();
            }
        }
    });
    Ok(0)
}

pub fn top(ctx: &Ctx, target: &Target, a: super::ServicesArgs) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    for r in service_containers(ctx, &target.name, &services)? {
        if !project::is_running(&ctx.load_live(&r.id)?) {
            continue;
        }
        println!("{}", r.name);
        crate::cli::resources::top(
            ctx,
            crate::cli::TopArgs {
                container: r.id.clone(),
                ps_args: Vec::new(),
            },
        )?;
        println!();
    }
    Ok(0)
}

pub fn port(ctx: &Ctx, target: &Target, a: PortArgs) -> Result<i32, CliError> {
    target.select(std::slice::from_ref(&a.service))?;
    let r = service_containers(ctx, &target.name, std::slice::from_ref(&a.service))?
        .into_iter()
        .find(|r| project::number_of(r) == a.index)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "service {:?} has no container #{}",
                a.service, a.index
            ))
        })?;
    let live = ctx.load_live(&r.id)?;
    let found = live
        .state
        .networks
        .iter()
        .flat_map(|n| n.ports.iter())
        .find(|p| p.container_port == a.private_port && p.protocol == a.protocol);
    match found {
        Some(p) => {
            println!("{}:{}", p.host_ip_or_any(), p.host_port);
            Ok(0)
        }
        None => Err(CliError::Usage(format!(
            "no port {}/{} for container {}",
            a.private_port, a.protocol, r.name
        ))),
    }
}

pub fn images(ctx: &Ctx, target: &Target, a: ImagesArgs) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    let list = service_containers(ctx, &target.name, &services)?;
    if a.quiet {
        let mut ids: Vec<String> = list.iter().map(|r| r.image_id.clone()).collect();
        ids.dedup();
        for id in ids {
            println!(
                "{}",
                id.trim_start_matches("sha256:")
                    .chars()
                    .take(12)
                    .collect::<String>()
            );
        }
        return Ok(0);
    }
    let mut table = vec![
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]
            .map(String::from)
            .to_vec(),
    ];
    let mut objects = Vec::new();
    for r in &list {
        let (repo, tag) = match crate::image::reference::Reference::parse(&r.image) {
            Ok(reference) => (
                // docker compose shows Docker Hub images without their registry.
                if reference.registry == crate::image::reference::DEFAULT_REGISTRY {
                    reference
                        .repository
                        .trim_start_matches("library/")
                        .to_string()
                } else {
                    format!("{}/{}", reference.registry, reference.repository)
                },
                reference.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
            Err(_) => (r.image.clone(), "latest".to_string()),
        };
        let size = ctx
            .images
            .lookup(&r.image_id)
            .map(|i| i.size)
            .unwrap_or_default();
        let id: String = r
            .image_id
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect();
        objects.push(json!({"ContainerName": r.name, "Repository": repo, "Tag": tag, "ID": r.image_id, "Size": size}));
        table.push(vec![
            r.name.clone(),
            repo,
            tag,
            id,
            crate::cli::format::human_size(size),
        ]);
    }
    if a.format.as_deref() == Some("json") {
        println!("{}", Value::Array(objects));
    } else {
        print_table(&table, 10);
    }
    Ok(0)
}

pub fn events(ctx: &Ctx, target: &Target, a: EventsArgs) -> Result<i32, CliError> {
    let services = target.select(&a.services)?;
    let mut filter = vec![
        "type=container".to_string(),
        format!("label={}={}", labels::PROJECT, target.name),
    ];
    for s in &services {
        filter.push(format!("label={}={s}", labels::SERVICE));
    }
    crate::cli::events::events(
        ctx,
        crate::cli::events::EventsArgs {
            since: None,
            until: None,
            filter,
            format: a.json.then(|| "json".to_string()),
        },
    )
}
