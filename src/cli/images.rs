//! Handlers for import, images, rmi, and inspect (containers and images).

use std::io::Read;

use serde_json::json;

use super::containers::render_each;
use super::format::human_size;
use super::{CliError, ImagesArgs, ImportArgs, InspectArgs, RmiArgs};
use crate::container::{ContainerError, Ctx, inspect};
use crate::image::ImageError;
use crate::image::config::RunConfig;
use crate::image::import::{ImportOptions, apply_change};
use crate::image::reference::Reference;
use crate::state::StateError;
use crate::timefmt::{human_duration, seconds_since};

pub fn import(ctx: &Ctx, a: ImportArgs) -> Result<i32, CliError> {
    let name = a
        .reference
        .as_deref()
        .map(|r| Reference::parse(r).map(|r| r.canonical()))
        .transpose()?;
    let mut changes = RunConfig::default();
    for c in &a.change {
        apply_change(&mut changes, c)?;
    }
    let source: Box<dyn Read> = if a.source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(&a.source)
            .map_err(|e| CliError::Usage(format!("open {}: {e}", a.source)))?;
        Box::new(f)
    };
    let opts = ImportOptions {
        name,
        changes,
        message: a.message,
    };
    let image = crate::image::import::import(&ctx.images, source, opts)?;
    println!("{}", image.id);
    ctx.image_event(
        "import",
        &image.id,
        image.names.first().map_or("", String::as_str),
    );
    Ok(0)
}

const IMAGES_TABLE: &str = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub fn images(ctx: &Ctx, a: ImagesArgs) -> Result<i32, CliError> {
    let mut list = ctx.images.list()?;
    list.sort_by(|x, y| y.added.cmp(&x.added));
    let wanted = a
        .reference
        .as_deref()
        .map(|r| Reference::parse(r).map(|r| r.canonical()))
        .transpose()?;
    let mut dangling: Option<bool> = None;
    let mut patterns = Vec::new();
    for f in &a.filter {
        match f.split_once('=') {
            Some(("dangling", v @ ("true" | "false"))) => dangling = Some(v == "true"),
            Some(("reference", p)) => patterns.push(p.to_string()),
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid filter {f:?}: expected dangling=true|false or reference=PATTERN"
                )));
            }
        }
    }
    let mut rows = Vec::new();
    for img in &list {
        if dangling.is_some_and(|d| d != img.names.is_empty()) {
            continue;
        }
        let created = ctx
            .images
            .config(img)
            .ok()
            .and_then(|c| c.created)
            .unwrap_or_else(|| img.added.clone());
        let id = if a.no_trunc {
            img.id.clone()
        } else {
            img.short_id().to_string()
        };
        for ((repo, tag), canonical) in img
            .repo_tags()
            .into_iter()
            .zip(img.names.iter().map(Some).chain(std::iter::repeat(None)))
        {
            if let Some(w) = &wanted
                && canonical != Some(w)
            {
                continue;
            }
            let shown = format!("{repo}:{tag}");
            if !patterns.is_empty() && !patterns.iter().any(|p| glob(p, &shown) || glob(p, &repo)) {
                continue;
            }
            let digest = img
                .digests
                .iter()
                .find(|d| {
                    d.split('@').next().map(crate::image::reference::familiar) == Some(repo.clone())
                })
                .and_then(|d| d.split('@').nth(1))
                .unwrap_or("<none>")
                .to_string();
            rows.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": id,
                "Digest": digest,
                "CreatedSince": format!("{} ago", human_duration(seconds_since(&created))),
                "CreatedAt": created,
                "Size": human_size(img.size),
                "VirtualSize": human_size(img.size),
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
                "Containers": "N/A",
            }));
        }
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or_default();
            if seen.insert(id.to_string()) {
                println!("{id}");
            }
        }
        return Ok(0);
    }
    let header = json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "Containers": "CONTAINERS",
    });
    let table = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        IMAGES_TABLE
    };
    super::format::print_rows_with(
        a.format.as_deref().unwrap_or(table),
        (!a.noheading).then_some(&header),
        &rows,
    )?;
    Ok(0)
}

/// `*` matches any run of characters (docker's reference filter, path.Match-like).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            let Some(after) = text.strip_prefix(head) else {
                return false;
            };
            (0..=after.len()).any(|i| after.is_char_boundary(i) && glob(rest, &after[i..]))
        }
    }
}

pub fn history(ctx: &Ctx, a: super::HistoryArgs) -> Result<i32, CliError> {
    let img = ctx.images.lookup(&a.image)?;
    let cfg = ctx.images.config(&img)?;
    let id = if a.no_trunc {
        img.id.clone()
    } else {
        img.short_id().to_string()
    };
    if a.quiet {
        println!("{id}");
        return Ok(0);
    }
    let mut lines = vec!["IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT".to_string()];
    let mut layer = img.layers.len();
    let n = cfg.history.len();
    for (i, h) in cfg.history.iter().enumerate().rev() {
        let size = if h.empty_layer || layer == 0 {
            0
        } else {
            layer -= 1;
            crate::container::volumes::tree_size(&ctx.images.layer_dir(&img.layers[layer]))
        };
        let created = h
            .created
            .as_deref()
            .map(|c| format!("{} ago", human_duration(seconds_since(c))))
            .unwrap_or_default();
        let mut by = h.created_by.clone().unwrap_or_default();
        if !a.no_trunc && by.chars().count() > 45 {
            by = by.chars().take(44).collect::<String>() + "…";
        }
        lines.push(format!(
            "{}\t{created}\t{by}\t{}\t{}",
            if i + 1 == n { id.as_str() } else { "<missing>" },
            human_size(size),
            h.comment.clone().unwrap_or_default()
        ));
    }
    print!("{}", super::format::tabulate(&lines));
    Ok(0)
}

pub fn prune(ctx: &Ctx, a: super::ImagePruneArgs) -> Result<i32, CliError> {
    let (out, reclaimed) = prune_unused(ctx, a.all)?;
    let containers = ctx.all()?;
    gc(ctx, &containers)?;
    if !out.is_empty() {
        println!("Deleted Images:\n{}\n", out.join("\n"));
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

/// Remove the dangling images (every image no container uses, with `all`): docker's
/// "untagged:"/"deleted:" lines and the bytes. The caller collects the garbage.
pub fn prune_unused(ctx: &Ctx, all: bool) -> Result<(Vec<String>, u64), CliError> {
    let containers = ctx.all()?;
    let mut out = Vec::new();
    let mut reclaimed = 0;
    for img in ctx.images.list()? {
        let used = containers.iter().any(|c| c.image_id == img.id);
        if used || (!all && !img.names.is_empty()) {
            continue;
        }
        let none = |_: &str| None;
        if let Ok(lines) = ctx.images.remove(&img.id, true, &none) {
            reclaimed += img.size;
            ctx.image_event(
                "delete",
                &img.id,
                img.names.first().map_or("", String::as_str),
            );
            out.extend(lines);
        }
    }
    Ok((out, reclaimed))
}

pub fn rmi(ctx: &Ctx, a: RmiArgs) -> Result<i32, CliError> {
    let containers = ctx.all()?;
    let used_by = |image_id: &str| {
        containers
            .iter()
            .find(|c| c.image_id == image_id)
            .map(|c| c.short_id().to_string())
    };
    let mut failed = None;
    for img in &a.images {
        match ctx.images.remove(img, a.force, &used_by) {
            Ok(lines) => lines.iter().for_each(|l| {
                println!("{l}");
                if let Some(name) = l.strip_prefix("Untagged: ") {
                    ctx.image_event("untag", name, name);
                } else if let Some(id) = l.strip_prefix("Deleted: ") {
                    ctx.image_event("delete", id, img);
                }
            }),
            Err(e) => {
                eprintln!("skiff: {e}");
                failed = Some(125);
            }
        }
    }
    gc(ctx, &containers)?;
    failed.map_or(Ok(0), |c| Err(CliError::Reported(c)))
}

/// Remove unreferenced layers and blobs. They stay while any container (even one of a
/// force-removed image) or the build cache still needs them.
pub fn gc(
    ctx: &Ctx,
    containers: &[crate::state::container::ContainerRecord],
) -> Result<(), CliError> {
    let (mut keep, blobs) = crate::build::cache::live(&ctx.paths);
    keep.extend(containers.iter().flat_map(|c| c.config.layers.clone()));
    ctx.images.collect_garbage(&keep, &blobs)?;
    Ok(())
}

pub fn inspect(ctx: &Ctx, a: InspectArgs) -> Result<i32, CliError> {
    let kind = a.kind.as_deref();
    if let Some(k) = kind
        && k != "container"
        && k != "image"
    {
        return Err(CliError::Usage(format!(
            "invalid --type {k:?}: expected container or image"
        )));
    }
    let mut values = Vec::new();
    let mut missing = Vec::new();
    for name in &a.names {
        let as_container = || -> Result<serde_json::Value, ContainerError> {
            let r = ctx.find(name)?;
            Ok(inspect::container(ctx, &r))
        };
        let as_image = || -> Result<serde_json::Value, ImageError> {
            let img = ctx.images.lookup(name)?;
            let cfg = ctx.images.config(&img)?;
            Ok(inspect::image(&img, &cfg))
        };
        let found = match kind {
            Some("image") => as_image().ok(),
            Some(_) => as_container().ok(),
            None => match as_container() {
                Ok(v) => Some(v),
                Err(ContainerError::State(StateError::NoSuchContainer(_))) => as_image().ok(),
                Err(e) => return Err(e.into()),
            },
        };
        match found {
            Some(v) => values.push(v),
            None => missing.push(name.clone()),
        }
    }
    match &a.format {
        Some(f) => print!("{}", render_each(f, &values)?),
        None => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&values, &mut ser)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            println!("{}", String::from_utf8_lossy(&buf));
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    for m in &missing {
        eprintln!("skiff: No such object: {m}");
    }
    Err(CliError::Reported(125))
}

pub fn save(ctx: &Ctx, a: super::SaveArgs) -> Result<i32, CliError> {
    use std::io::IsTerminal;
    let format = crate::image::archive::Format::parse(&a.format)?;
    let mut list = Vec::new();
    for name in &a.images {
        let img = ctx.images.lookup(name)?;
        let tag = Reference::parse(name)
            .ok()
            .map(|r| r.canonical())
            .filter(|c| img.names.contains(c));
        list.push((img, tag.into_iter().collect()));
    }
    match &a.output {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| CliError::Usage(format!("creating {}: {e}", p.display())))?;
            crate::image::archive::save(&ctx.images, &list, format, std::io::BufWriter::new(f))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::Usage(
                    "refusing to write an archive to a terminal: use -o FILE or redirect stdout"
                        .into(),
                ));
            }
            crate::image::archive::save(&ctx.images, &list, format, std::io::stdout().lock())?;
        }
    }
    for (img, _) in &list {
        ctx.image_event(
            "save",
            &img.id,
            img.names.first().map_or("", String::as_str),
        );
    }
    Ok(0)
}

pub fn load(ctx: &Ctx, a: super::LoadArgs) -> Result<i32, CliError> {
    let input: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(
            std::fs::File::open(p)
                .map_err(|e| CliError::Usage(format!("open {}: {e}", p.display())))?,
        ),
        None => Box::new(std::io::stdin().lock()),
    };
    let lines = crate::image::archive::load(&ctx.images, input)?;
    for l in &lines {
        if !a.quiet {
            println!("{l}");
        }
        if let Some(name) = l
            .strip_prefix("Loaded image: ")
            .or_else(|| l.strip_prefix("Loaded image ID: "))
        {
            ctx.image_event("load", name, name);
        }
    }
    Ok(0)
}

/// podman's `untag`: names off an image (all of them when none is given), the image kept.
pub fn untag(ctx: &Ctx, a: super::UntagArgs) -> Result<i32, CliError> {
    let image = ctx.images.lookup(&a.image)?;
    let names = if a.names.is_empty() {
        image.names.clone()
    } else {
        a.names.clone()
    };
    for n in &names {
        let id = ctx.images.untag(n)?;
        ctx.image_event("untag", &id, n);
    }
    Ok(0)
}
