//! `search`: a private registry's repositories through its catalog (`search
//! 127.0.0.1:5000/busy`, the tutorials' case), Docker Hub's through its search API, in
//! docker's columns.

use clap::Args;
use serde_json::{Value, json};

use super::CliError;
use crate::container::Ctx;
use crate::image::registry::{Client, Endpoint};

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter: stars=N, is-official=true|false
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Pretty-print with a Go template (.Name .Description .StarCount .IsOfficial)
    #[arg(long)]
    pub format: Option<String>,
    /// Maximum number of results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Do not truncate descriptions
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Verify TLS certificates (default true; plain http is tried for localhost)
    #[arg(long = "tls-verify", value_parser = super::object_args::parse_bool_flag, default_value = "true", num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,
    /// [REGISTRY/]TERM
    pub term: String,
}

struct Hit {
    name: String,
    description: String,
    stars: u64,
    official: bool,
}

/// `host:5000/term` names a registry when its first part looks like a host, as references do.
fn split_registry(term: &str) -> (Option<&str>, &str) {
    match term.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => {
            (Some(host), rest)
        }
        _ => (None, term),
    }
}

fn from_catalog(ctx: &Ctx, host: &str, term: &str, a: &SearchArgs) -> Result<Vec<Hit>, CliError> {
    let ep = Endpoint {
        host: host.to_string(),
        insecure: !a.tls_verify,
    };
    let creds = crate::image::auth::lookup(ctx.host_ids.0, host);
    let client = Client::connect(&ep, creds)?;
    Ok(client
        .catalog(100_000)?
        .into_iter()
        .filter(|r| r.contains(term))
        .map(|r| Hit {
            name: format!("{host}/{r}"),
            description: String::new(),
            stars: 0,
            official: false,
        })
        .collect())
}

fn from_hub(term: &str, limit: usize) -> Result<Vec<Hit>, CliError> {
    let url = format!("https://index.docker.io/v1/search?q={term}&n={limit}");
    let mut resp = ureq::get(&url).call().map_err(|e| {
        CliError::Usage(format!(
            "cannot search Docker Hub: {e} (is index.docker.io reachable from here? a private registry is searched as REGISTRY/TERM)"
        ))
    })?;
    let body: Value = resp
        .body_mut()
        .with_config()
        .limit(4 << 20)
        .read_to_vec()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| CliError::Usage("reading Docker Hub's answer: not JSON".into()))?;
    Ok(body["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Hit {
            name: r["name"].as_str().unwrap_or_default().to_string(),
            description: r["description"].as_str().unwrap_or_default().to_string(),
            stars: r["star_count"].as_u64().unwrap_or(0),
            official: r["is_official"].as_bool().unwrap_or(false),
        })
        .collect())
}

pub fn search(ctx: &Ctx, a: SearchArgs) -> Result<i32, CliError> {
    let mut min_stars = 0;
    let mut official = None;
    for f in &a.filter {
        match f.split_once('=') {
            Some(("stars", n)) => {
                min_stars = n.parse().map_err(|_| {
                    CliError::Usage(format!("invalid filter 'stars={n}': expected a number"))
                })?;
            }
            Some(("is-official", v)) => official = Some(v == "true"),
            _ => {
                return Err(CliError::Usage(format!(
                    "invalid filter {f:?}: supported are stars=N and is-official=true|false"
                )));
            }
        }
    }
    if !(1..=100).contains(&a.limit) {
        return Err(CliError::Usage(format!(
            "invalid --limit {}: it must be from 1 to 100",
            a.limit
        )));
    }
    let hits = match split_registry(&a.term) {
        (Some(host), term) => from_catalog(ctx, host, term, &a)?,
        (None, term) => from_hub(term, a.limit)?,
    };
    let rows: Vec<Value> = hits
        .into_iter()
        .filter(|h| h.stars >= min_stars && official.is_none_or(|o| o == h.official))
        .take(a.limit)
        .map(|h| {
            let mut description = h.description.replace('\n', " ");
            if !a.no_trunc && description.chars().count() > 45 {
                description = description.chars().take(44).collect::<String>() + "…";
            }
            json!({
                "Name": h.name, "Description": description, "StarCount": h.stars.to_string(),
                "IsOfficial": if h.official { "[OK]" } else { "" },
            })
        })
        .collect();
    let header = json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
        "IsOfficial": "OFFICIAL"});
    let format = a.format.clone().unwrap_or_else(|| {
        "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}".into()
    });
    super::format::print_rows(&format, &header, &rows)?;
    Ok(0)
}
