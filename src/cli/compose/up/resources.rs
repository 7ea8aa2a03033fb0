//! What containers need before they are made: their images (built or pulled as the files and
//! `--build`/`--pull` say), the project's networks and volumes (made once, labelled, reused).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::cli::CliError;
use crate::cli::compose::{BuildArgs, Progress, PullArgs, PushArgs};
use crate::compose::{Project, labels, merge::scalar_text};
use crate::container::Ctx;
use crate::state::network::NetworkStore;
use crate::state::volume::VolumeRecord;

#[derive(Debug, Default)]
pub struct ImagePolicy {
    pub build: bool,
    pub no_build: bool,
    pub pull: Option<String>,
    pub quiet: bool,
}

fn missing(ctx: &Ctx, image: &str) -> bool {
    matches!(
        ctx.images.lookup(image),
        Err(crate::image::ImageError::NoSuchImage(_))
    )
}

pub fn ensure_images(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
    policy: &ImagePolicy,
) -> Result<(), CliError> {
    for s in services {
        let Some(svc) = project.service(s) else {
            continue;
        };
        let image = project.image_of(s);
        let pull_policy = policy
            .pull
            .clone()
            .or_else(|| {
                svc.get("pull_policy")
                    .and_then(Value::as_str)
                    .map(String::from)
            })
            .unwrap_or_else(|| "missing".into());
        let has_build = svc.get("build").is_some();
        if has_build
            && !policy.no_build
            && (policy.build || pull_policy == "build" || missing(ctx, &image))
        {
            build_service(ctx, project, progress, s, &BuildFlags::default())?;
            continue;
        }
        match pull_policy.as_str() {
            "always" if !has_build => pull_one(ctx, progress, &image, policy.quiet)?,
            "never" if missing(ctx, &image) => {
                return Err(CliError::Usage(format!(
                    "service {s:?}: image {image} is not here and pull_policy is never"
                )));
            }
            "never" | "build" => {}
            _ if missing(ctx, &image) => {
                if has_build {
                    return Err(CliError::Usage(format!(
                        "service {s:?}: image {image} is not built and --no-build was given"
                    )));
                }
                pull_one(ctx, progress, &image, policy.quiet)?
            }
            _ => {}
        }
    }
    Ok(())
}

fn pull_one(ctx: &Ctx, progress: &Progress, image: &str, quiet: bool) -> Result<(), CliError> {
    progress.event("Image", image, "Pulling");
    crate::cli::registry::pull_image(ctx, image, quiet, None, true)?;
    progress.event("Image", image, "Pulled");
    Ok(())
}

/// `dockerfile_inline:` as a file in the runroot, removed when the build is done.
struct InlineDockerfile {
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl InlineDockerfile {
    fn write(ctx: &Ctx, text: &str) -> Result<InlineDockerfile, CliError> {
        let dir = ctx
            .paths
            .runroot
            .join(format!("compose-dockerfile-{}", crate::ids::random_id()));
        let file = dir.join("Dockerfile");
        let made = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, text));
        let scratch = InlineDockerfile { dir, file };
        made.map_err(|e| CliError::Usage(format!("dockerfile_inline: {e}")))?;
        Ok(scratch)
    }
}

impl Drop for InlineDockerfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug, Default)]
struct BuildFlags {
    no_cache: bool,
    pull: bool,
    quiet: bool,
    args: Vec<String>,
}

fn build_service(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    service: &str,
    flags: &BuildFlags,
) -> Result<(), CliError> {
    let svc = project.service(service).cloned().unwrap_or(Value::Null);
    let b = svc.get("build").cloned().unwrap_or(Value::Null);
    let image = project.image_of(service);
    let context = b
        .get("context")
        .and_then(Value::as_str)
        .unwrap_or(".")
        .to_string();
    if !context.contains("://") && !std::path::Path::new(&context).is_dir() {
        return Err(CliError::Usage(format!(
            "service {service:?}: build context {context} is not a directory"
        )));
    }
    // An inline Dockerfile is written where only this build reads it, and removed after.
    let inline = b.get("dockerfile_inline").and_then(Value::as_str);
    let scratch = match inline {
        Some(text) => Some(InlineDockerfile::write(ctx, text)?),
        None => None,
    };
    let dockerfile = match &scratch {
        Some(s) => Some(s.file.display().to_string()),
        None => b.get("dockerfile").and_then(Value::as_str).map(|d| {
            if d.starts_with('/') {
                d.to_string()
            } else {
                format!("{context}/{d}")
            }
        }),
    };
    let map = |key: &str| crate::compose::convert::map_pairs(&b, key);
    let mut build_args = map("args");
    build_args.extend(flags.args.iter().cloned());
    progress.event("Image", &image, "Building");
    let code = crate::cli::build::build(
        ctx,
        crate::cli::build::BuildArgs {
            tag: vec![image.clone()],
            file: dockerfile,
            build_arg: build_args,
            target: b.get("target").and_then(Value::as_str).map(String::from),
            no_cache: flags.no_cache || b.get("no_cache").and_then(Value::as_bool) == Some(true),
            pull: flags.pull || b.get("pull").and_then(Value::as_bool) == Some(true),
            quiet: flags.quiet,
            iidfile: None,
            label: map("labels"),
            network: b
                .get("network")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string(),
            add_host: b
                .get("extra_hosts")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(scalar_text).collect())
                .unwrap_or_default(),
            secret: Vec::new(),
            progress: "plain".into(),
            platform: None,
            output: None,
            rm: None,
            force_rm: false,
            context,
        },
    )?;
    if code != 0 {
        return Err(CliError::Reported(code));
    }
    progress.event("Image", &image, "Built");
    Ok(())
}

pub fn build(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    a: BuildArgs,
) -> Result<i32, CliError> {
    let services = project.select(&a.services).map_err(CliError::Usage)?;
    let flags = BuildFlags {
        no_cache: a.no_cache,
        pull: a.pull,
        quiet: a.quiet,
        args: a.build_arg,
    };
    for s in services {
        if project.service(&s).and_then(|v| v.get("build")).is_some() {
            build_service(ctx, project, progress, &s, &flags)?;
        }
    }
    Ok(0)
}

pub fn pull(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    a: PullArgs,
) -> Result<i32, CliError> {
    let selected = project.select(&a.services).map_err(CliError::Usage)?;
    let services = crate::compose::order::with_dependencies(project, &selected, !a.include_deps);
    let mut failed = false;
    for s in services {
        let svc = project.service(&s).cloned().unwrap_or(Value::Null);
        // Built images without an `image:` are never pulled.
        if svc.get("image").is_none() {
            continue;
        }
        let image = project.image_of(&s);
        match pull_one(ctx, progress, &image, a.quiet) {
            Ok(()) => {}
            Err(e) if a.ignore_pull_failures || svc.get("build").is_some() => {
                eprintln!("skiff: {image}: {e}");
                failed = true;
            }
            Err(e) => return Err(e),
        }
    }
    let _ = failed;
    Ok(0)
}

pub fn push(ctx: &Ctx, project: &Project, a: PushArgs) -> Result<i32, CliError> {
    let services = project.select(&a.services).map_err(CliError::Usage)?;
    for s in services {
        let svc = project.service(&s).cloned().unwrap_or(Value::Null);
        let Some(image) = svc.get("image").and_then(Value::as_str) else {
            continue;
        };
        let r = crate::cli::registry::push(
            ctx,
            crate::cli::PushArgs {
                quiet: a.quiet,
                tls_verify: true,
                image: image.to_string(),
            },
        );
        match r {
            Ok(_) => {}
            Err(e) if a.ignore_push_failures => eprintln!("skiff: {image}: {e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(0)
}

/// A top-level network's or volume's labels, with compose's own (project, key, version).
fn project_labels(
    project: &Project,
    def: &Value,
    kind_label: &str,
    key: &str,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> =
        crate::compose::merge::as_pairs(def.get("labels").unwrap_or(&Value::Null))
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
    out.insert(labels::PROJECT.into(), project.name.clone());
    out.insert(kind_label.into(), key.to_string());
    out.insert(
        labels::VERSION.into(),
        crate::compose::COMPAT_VERSION.into(),
    );
    out
}

/// The project's networks the services use: made with compose's labels when missing; an
/// external one must exist.
pub fn ensure_networks(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
) -> Result<(), CliError> {
    let store = NetworkStore::open(&ctx.paths)
        .map_err(|e| CliError::Container(crate::container::ContainerError::from(e)))?;
    let mut used: Vec<String> = Vec::new();
    for s in services {
        if let Some(Value::Object(nets)) = project.service(s).and_then(|v| v.get("networks")) {
            for k in nets.keys() {
                if !used.contains(k) {
                    used.push(k.clone());
                }
            }
        }
    }
    for key in used {
        let def = project
            .model
            .get("networks")
            .and_then(|n| n.get(&key))
            .cloned()
            .unwrap_or(Value::Null);
        let name = project.resource_name("networks", &key);
        if store.find(&name).is_ok() {
            continue;
        }
        if def.get("external").and_then(Value::as_bool) == Some(true) {
            return Err(CliError::Usage(format!(
                "network {name} declared as external, but could not be found"
            )));
        }
        if let Some(d) = def.get("driver").and_then(Value::as_str)
            && d != "bridge"
        {
            return Err(CliError::Usage(format!(
                "network {key:?}: driver {d:?} is not supported: only bridge"
            )));
        }
        let ipam = def
            .get("ipam")
            .and_then(|i| i.get("config"))
            .and_then(Value::as_array)
            .and_then(|c| c.first())
            .cloned()
            .unwrap_or(Value::Null);
        let parse_net = |field: &str| -> Result<Option<ipnet::Ipv4Net>, CliError> {
            ipam.get(field)
                .and_then(Value::as_str)
                .map(|s| {
                    s.parse().map_err(|_| {
                        CliError::Usage(format!(
                            "network {key:?}: ipam {field} {s:?} is not an IPv4 subnet"
                        ))
                    })
                })
                .transpose()
        };
        let gateway = ipam
            .get("gateway")
            .and_then(Value::as_str)
            .map(|g| {
                g.parse().map_err(|_| {
                    CliError::Usage(format!(
                        "network {key:?}: ipam gateway {g:?} is not an IPv4 address"
                    ))
                })
            })
            .transpose()?;
        let net_labels = project_labels(project, &def, labels::NETWORK, &key);
        progress.event("Network", &name, "Creating");
        let record = crate::net::bridge::create_network(
            &ctx.paths,
            &store,
            crate::net::bridge::CreateOptions {
                name: name.clone(),
                subnet: parse_net("subnet")?,
                gateway,
                ip_range: parse_net("ip_range")?,
                internal: def
                    .get("internal")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                labels: net_labels,
                options: BTreeMap::new(),
                default: false,
            },
        );
        let record = match record {
            Ok(r) => r,
            // Another `up` of a project sharing an external-less name made it meanwhile.
            Err(_) if store.find(&name).is_ok() => continue,
            Err(e) => return Err(CliError::Usage(e.to_string())),
        };
        ctx.event(
            "network",
            "create",
            &record.id,
            &[("name", record.name.clone()), ("type", "bridge".into())],
        );
        progress.event("Network", &name, "Created");
    }
    Ok(())
}

/// The named volumes the services use, made with compose's labels when missing.
pub fn ensure_volumes(
    ctx: &Ctx,
    project: &Project,
    progress: &Progress,
    services: &[String],
) -> Result<(), CliError> {
    let mut used: Vec<String> = Vec::new();
    for s in services {
        for v in project
            .service(s)
            .and_then(|v| v.get("volumes"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if v.get("type").and_then(Value::as_str) == Some("volume")
                && let Some(src) = v.get("source").and_then(Value::as_str)
                && !used.iter().any(|u| u == src)
            {
                used.push(src.to_string());
            }
        }
    }
    for key in used {
        let def = project
            .model
            .get("volumes")
            .and_then(|v| v.get(&key))
            .cloned()
            .unwrap_or(Value::Null);
        let name = project.resource_name("volumes", &key);
        if ctx.volumes.get(&name).is_ok() {
            continue;
        }
        if def.get("external").and_then(Value::as_bool) == Some(true) {
            return Err(CliError::Usage(format!(
                "external volume {name:?} not found"
            )));
        }
        if let Some(d) = def.get("driver").and_then(Value::as_str)
            && d != "local"
        {
            return Err(CliError::Usage(format!(
                "volume {key:?}: driver {d:?} is not supported: only local"
            )));
        }
        let options: BTreeMap<String, String> = def
            .get("driver_opts")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), scalar_text(v).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        crate::cli::volumes::check_options(&options)
            .map_err(|e| CliError::Usage(format!("volume {key:?}: driver_opts: {e}")))?;
        let vol_labels = project_labels(project, &def, labels::VOLUME, &key);
        progress.event("Volume", &name, "Creating");
        let (v, _) = ctx
            .volumes
            .create(&VolumeRecord {
                name: name.clone(),
                driver: "local".into(),
                created_at: crate::timefmt::rfc3339(crate::timefmt::now()),
                labels: vol_labels,
                options,
                anonymous: false,
            })
            .map_err(crate::container::ContainerError::from)?;
        ctx.event("volume", "create", &v.name, &[("driver", v.driver.clone())]);
        progress.event("Volume", &name, "Created");
    }
    Ok(())
}
