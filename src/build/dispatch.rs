//! One stage, instruction by instruction: each is expanded where docker expands it, looked
//! up in the cache, and on a miss carried out (metadata in the config, files through `step`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use super::context::{Context, Source, StatCache, sources_hash};
use super::dockerfile::{CmdForm, Flags, Health, Heredoc, Instruction, Kind};
use super::progress::Log;
use super::step::CopySpec;
use super::{BuildError, BuildOptions, ImageState, Stage, cache, expand};
use crate::container::Ctx;
use crate::image::config::{Healthcheck, HistoryEntry};

/// Label on step containers: `pid.starttime` of the build that made them, so the next build
/// removes those of a build that was killed.
pub const OWNER_LABEL: &str = "skiff.build.owner";

/// The ARGs docker passes without a declaration (and keeps out of the history).
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

pub(super) struct Run<'a> {
    pub ctx: &'a Ctx,
    pub opts: &'a BuildOptions<'a>,
    pub log: &'a Log,
    pub context: &'a Context,
    pub scratch: &'a Path,
    pub stat: &'a mut StatCache,
    pub build_args: &'a HashMap<String, String>,
    pub escape: char,
    pub file: &'a str,
    pub total: usize,
}

/// What a stage has in scope while it builds.
struct Scope {
    /// Declared ARGs with their values (a build arg, or the default).
    args: BTreeMap<String, String>,
}

/// The first value of a flag (`--from=x`).
pub fn flag(flags: &Flags, name: &str) -> Option<String> {
    flags
        .0
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone().unwrap_or_default())
}

/// Every value of a repeatable flag (`--mount`).
pub fn flag_all(flags: &Flags, name: &str) -> Vec<String> {
    flags
        .0
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone().unwrap_or_default())
        .collect()
}

impl Run<'_> {
    pub fn stage(
        &mut self,
        stage: &Stage,
        stages: &[Stage],
        built: &[Option<ImageState>],
        globals: &BTreeMap<String, String>,
        step_no: &mut usize,
    ) -> Result<ImageState, BuildError> {
        *step_no += 1;
        self.log.step(*step_no, self.total, &stage.from.original);
        let mut state = self.from(&stage.from, stages, built, globals)?;
        self.log.done(&state.key, None);
        let mut scope = Scope {
            args: BTreeMap::new(),
        };
        // ONBUILD triggers of the base image run first, then are dropped from the config.
        let triggers = state.config.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            self.log.line(&format!(
                "# Executing {} build trigger{}",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
        }
        for t in triggers {
            let inst =
                super::dockerfile::parse_instruction(&t, stage.from.line, self.file, self.escape)?;
            state = self.step(&inst, state, &mut scope, globals, stages, built)?;
        }
        for inst in &stage.body {
            super::interrupted()?;
            *step_no += 1;
            self.log.step(*step_no, self.total, &inst.original);
            let started = Instant::now();
            state = self.step(inst, state, &mut scope, globals, stages, built)?;
            self.log.done(&state.key, Some(started));
        }
        Ok(state)
    }

    fn from(
        &mut self,
        inst: &Instruction,
        stages: &[Stage],
        built: &[Option<ImageState>],
        globals: &BTreeMap<String, String>,
    ) -> Result<ImageState, BuildError> {
        let Kind::From { flags, image, .. } = &inst.kind else {
            return Err(BuildError::Step("a stage must start with FROM".into()));
        };
        let lookup = |k: &str| globals.get(k).cloned();
        if let Some(p) = flag(flags, "platform") {
            let p = expand::process_word(&p, &lookup, self.escape)?;
            check_platform(&p)?;
        }
        let name = expand::process_word(image, &lookup, self.escape)?;
        if name.eq_ignore_ascii_case("scratch") {
            return Ok(ImageState::scratch());
        }
        if let Some(i) = super::stage_index(stages, &name)
            && stages[i].from.line < inst.line
        {
            return built[i].clone().ok_or_else(|| {
                BuildError::Step(format!("stage {name} was not built before it was needed"))
            });
        }
        image_state(self.ctx, &name, self.opts.pull, self.opts.pull_image)
    }

    fn lookup_env<'s>(
        state: &'s ImageState,
        scope: &'s Scope,
    ) -> impl Fn(&str) -> Option<String> + 's {
        move |k: &str| {
            state
                .config
                .config
                .env
                .iter()
                .flatten()
                .find_map(|e| {
                    e.split_once('=')
                        .filter(|(n, _)| *n == k)
                        .map(|(_, v)| v.to_string())
                })
                .or_else(|| scope.args.get(k).cloned())
        }
    }

    /// One instruction: cache lookup by key, else carry it out.
    fn step(
        &mut self,
        inst: &Instruction,
        state: ImageState,
        scope: &mut Scope,
        globals: &BTreeMap<String, String>,
        stages: &[Stage],
        built: &[Option<ImageState>],
    ) -> Result<ImageState, BuildError> {
        if let Kind::Arg(args) = &inst.kind {
            // ARG only changes what later steps see (their keys carry the values).
            for (name, default) in args {
                let value = match self.build_args.get(name) {
                    Some(v) => Some(v.clone()),
                    None => match default {
                        Some(d) => Some(expand::process_word(
                            d,
                            &Self::lookup_env(&state, scope),
                            self.escape,
                        )?),
                        None => globals.get(name).cloned(),
                    },
                };
                if let Some(v) = value {
                    scope.args.insert(name.clone(), v);
                }
            }
            return Ok(state);
        }
        // What the step sees of ARGs: part of its key, so changing one re-runs it.
        let args_in_scope: Vec<String> = scope
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(
                PROXY_ARGS
                    .iter()
                    .filter_map(|k| self.build_args.get(*k).map(|v| format!("{k}={v}"))),
            )
            .collect();
        let mut parts = vec![inst.original.clone(), args_in_scope.join("\n")];
        let sources = match &inst.kind {
            Kind::Copy {
                flags,
                sources,
                heredocs,
                ..
            }
            | Kind::Add {
                flags,
                sources,
                heredocs,
                ..
            } => {
                let resolved = self.resolve_sources(
                    inst, flags, sources, heredocs, &state, scope, stages, built,
                )?;
                parts.push(resolved.hash.clone());
                Some(resolved)
            }
            _ => None,
        };
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let key = cache::key(&state.key, &refs);
        if !self.opts.no_cache
            && let Some(hit) = cache::lookup(&self.ctx.paths, &self.ctx.images, &key)
        {
            self.log.cached();
            return Ok(hit);
        }
        let mut next = state.clone();
        next.key = key;
        let now = crate::timefmt::rfc3339(crate::timefmt::now());
        let others = Others { stages, built };
        let created_by = self.apply(inst, &mut next, scope, &args_in_scope, sources, &others)?;
        let empty_layer = next.layers.len() == state.layers.len();
        next.config.created = Some(now.clone());
        next.config.rootfs.diff_ids = next.layers.clone();
        next.config.history.push(HistoryEntry {
            created: Some(now),
            created_by: Some(created_by),
            empty_layer,
            ..Default::default()
        });
        cache::store(&self.ctx.paths, &next);
        Ok(next)
    }

    /// Carry out one instruction on `st`; returns docker's `created_by` for the history.
    fn apply(
        &mut self,
        inst: &Instruction,
        st: &mut ImageState,
        scope: &Scope,
        args_in_scope: &[String],
        sources: Option<Resolved>,
        others: &Others,
    ) -> Result<String, BuildError> {
        let esc = self.escape;
        let nop = |s: String| format!("/bin/sh -c #(nop)  {s}");
        let word = |st: &ImageState, w: &str| -> Result<String, BuildError> {
            Ok(expand::process_word(w, &Self::lookup_env(st, scope), esc)?)
        };
        let cfg_shell = st
            .config
            .config
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        match &inst.kind {
            Kind::Env(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = word(st, k)?;
                    let v = word(st, v)?;
                    let env = st.config.config.env.get_or_insert_with(Vec::new);
                    env.retain(|e| e.split_once('=').map(|(n, _)| n) != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                    shown.push(format!("{k}={v}"));
                }
                Ok(nop(format!("ENV {}", shown.join(" "))))
            }
            Kind::Label(pairs) => {
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let (k, v) = (word(st, k)?, word(st, v)?);
                    shown.push(format!("{k}={v}"));
                    st.config
                        .config
                        .labels
                        .get_or_insert_with(BTreeMap::new)
                        .insert(k, v);
                }
                Ok(nop(format!("LABEL {}", shown.join(" "))))
            }
            Kind::Maintainer(m) => {
                st.config.author = Some(m.clone());
                Ok(nop(format!("MAINTAINER {m}")))
            }
            Kind::Expose(ports) => {
                let mut shown = Vec::new();
                let mut words = Vec::new();
                for p in ports {
                    words.extend(expand::process_fields(
                        p,
                        &Self::lookup_env(st, scope),
                        esc,
                    )?);
                }
                {
                    for p in words {
                        let p = if p.contains('/') {
                            p
                        } else {
                            format!("{p}/tcp")
                        };
                        shown.push(p.clone());
                        st.config
                            .config
                            .exposed_ports
                            .get_or_insert_with(BTreeMap::new)
                            .insert(p, serde_json::json!({}));
                    }
                }
                Ok(nop(format!("EXPOSE {}", shown.join(" "))))
            }
            Kind::Volume(vols) => {
                let mut shown = Vec::new();
                let mut words = Vec::new();
                for v in vols {
                    words.extend(expand::process_words(v, &Self::lookup_env(st, scope), esc)?);
                }
                {
                    for v in words {
                        shown.push(v.clone());
                        st.config
                            .config
                            .volumes
                            .get_or_insert_with(BTreeMap::new)
                            .insert(v, serde_json::json!({}));
                    }
                }
                Ok(nop(format!("VOLUME [{}]", shown.join(" "))))
            }
            Kind::User(u) => {
                let u = word(st, u)?;
                st.config.config.user = Some(u.clone());
                Ok(nop(format!("USER {u}")))
            }
            Kind::Workdir(w) => {
                let w = word(st, w)?;
                let base = st.config.config.working_dir.clone().unwrap_or_default();
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", if base.is_empty() { "" } else { &base })
                };
                let clean = format!("/{}", super::context::clean(&joined).unwrap_or_default());
                st.config.config.working_dir = Some(clean.clone());
                Ok(nop(format!("WORKDIR {clean}")))
            }
            Kind::Stopsignal(s) => {
                let s = word(st, s)?;
                st.config.config.stop_signal = Some(s.clone());
                Ok(nop(format!("STOPSIGNAL {s}")))
            }
            Kind::Shell(sh) => {
                st.config.config.shell = Some(sh.clone());
                Ok(nop(format!("SHELL {}", json(sh))))
            }
            Kind::Cmd(form) => {
                let argv = argv_of(form, &cfg_shell);
                st.config.config.cmd = Some(argv.clone());
                st.cmd_set = true;
                Ok(nop(format!("CMD {}", json(&argv))))
            }
            Kind::Entrypoint(form) => {
                let argv = argv_of(form, &cfg_shell);
                st.config.config.entrypoint = Some(argv.clone());
                if !st.cmd_set {
                    // docker: an ENTRYPOINT drops a CMD inherited from the base image.
                    st.config.config.cmd = None;
                }
                Ok(nop(format!("ENTRYPOINT {}", json(&argv))))
            }
            Kind::Onbuild(text) => {
                st.config
                    .config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(text.clone());
                Ok(nop(format!("ONBUILD {text}")))
            }
            Kind::Healthcheck(h) => {
                st.config.config.healthcheck = Some(healthcheck(h, &cfg_shell)?);
                Ok(nop(inst.original.clone()))
            }
            Kind::Run {
                flags,
                cmd,
                heredocs,
            } => self.run(st, flags, cmd, heredocs, &cfg_shell, args_in_scope, others),
            Kind::Copy { .. } | Kind::Add { .. } => {
                let Some(resolved) = sources else {
                    return Err(BuildError::Step("COPY without sources".into()));
                };
                self.copy(inst, st, scope, resolved)
            }
            Kind::From { .. } | Kind::Arg(_) => Ok(nop(inst.original.clone())),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve_sources(
        &mut self,
        inst: &Instruction,
        flags: &Flags,
        sources: &[String],
        heredocs: &[Heredoc],
        st: &ImageState,
        scope: &Scope,
        stages: &[Stage],
        built: &[Option<ImageState>],
    ) -> Result<Resolved, BuildError> {
        let is_add = matches!(inst.kind, Kind::Add { .. });
        let lookup = Self::lookup_env(st, scope);
        let words: Vec<String> = sources
            .iter()
            .map(|s| expand::process_word(s, &lookup, self.escape))
            .collect::<Result<_, _>>()?;
        let dir = self
            .scratch
            .join(format!("src-{}", &crate::ids::random_id()[..12]));
        let mut from_ctx: Option<Context> = None;
        let mut found: Vec<Source> = Vec::new();
        let mut desc = "file";
        if let Some(from) = flag(flags, "from") {
            let state = match super::stage_index(stages, &from).and_then(|i| built[i].clone()) {
                Some(s) => s,
                None => image_state(self.ctx, &from, false, self.opts.pull_image)?,
            };
            std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
            super::step::extract_from(self.ctx, &state, &words, &dir)?;
            let c = Context::new(dir.clone(), super::ignore::Matcher::parse(""));
            for w in &words {
                found.extend(c.resolve(w)?);
            }
            from_ctx = Some(c);
        } else {
            std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
            let own = Context::new(dir.clone(), super::ignore::Matcher::parse(""));
            for (raw, w) in sources.iter().zip(&words) {
                let named = super::dockerfile::heredoc_name(raw);
                if let Some(h) = heredocs
                    .iter()
                    .find(|h| named.as_deref() == Some(h.name.as_str()))
                {
                    let content = if h.expand {
                        expand::process_heredoc(&h.content, &lookup)?
                    } else {
                        h.content.clone()
                    };
                    let p = dir.join(&h.name);
                    std::fs::write(&p, content).map_err(BuildError::io("writing", &p))?;
                    found.push(Source {
                        path: p,
                        rel: h.name.clone(),
                        is_dir: false,
                    });
                } else if is_add && (w.starts_with("http://") || w.starts_with("https://")) {
                    let name = download(w, flag(flags, "checksum").as_deref(), &dir)?;
                    found.push(Source {
                        path: dir.join(&name),
                        rel: name,
                        is_dir: false,
                    });
                } else {
                    let got = self.context.resolve(w)?;
                    if got.iter().any(|s| s.is_dir) {
                        desc = "dir";
                    }
                    found.extend(got);
                }
            }
            if found.iter().all(|s| s.path.starts_with(&dir)) {
                from_ctx = Some(own);
            }
        }
        let hash_ctx = from_ctx.as_ref().unwrap_or(self.context);
        let hash = sources_hash(hash_ctx, &found, self.stat)?;
        Ok(Resolved {
            sources: found,
            scratch_ctx: from_ctx,
            hash,
            desc,
        })
    }

    fn copy(
        &mut self,
        inst: &Instruction,
        st: &mut ImageState,
        scope: &Scope,
        resolved: Resolved,
    ) -> Result<String, BuildError> {
        let (flags, dest, is_add) = match &inst.kind {
            Kind::Copy { flags, dest, .. } => (flags, dest, false),
            Kind::Add { flags, dest, .. } => (flags, dest, true),
            _ => return Err(BuildError::Step("not a COPY".into())),
        };
        let mut dest = expand::process_word(dest, &Self::lookup_env(st, scope), self.escape)?;
        if !dest.starts_with('/') {
            let wd = st.config.config.working_dir.clone().unwrap_or_default();
            let keep_slash = dest.ends_with('/') || dest == ".";
            dest = format!("{}/{}", wd.trim_end_matches('/'), dest);
            if keep_slash && !dest.ends_with('/') {
                dest.push('/');
            }
        }
        let owner = match flag(flags, "chown") {
            Some(c) => {
                let c = expand::process_word(&c, &Self::lookup_env(st, scope), self.escape)?;
                let u = crate::container::create::image_user(self.ctx, &st.layers, &c)
                    .map_err(|e| BuildError::Step(format!("--chown={c}: {e}")))?;
                Some((u.uid, u.gid))
            }
            None => None,
        };
        let mode = match flag(flags, "chmod") {
            Some(m) => Some(u32::from_str_radix(&m, 8).map_err(|_| {
                BuildError::Step(format!(
                    "invalid --chmod={m}: expected an octal mode like 0755"
                ))
            })?),
            None => None,
        };
        let spec = CopySpec {
            dest: dest.clone(),
            owner,
            mode,
            unpack_archives: is_add,
        };
        let from = resolved.scratch_ctx.as_ref().unwrap_or(self.context);
        let made = super::step::copy(self.ctx, st, from, &resolved.sources, &spec, self.scratch)?;
        st.layers.push(made.diff_id);
        st.blobs.push(made.blob);
        Ok(format!(
            "/bin/sh -c #(nop) {} {}:{} in {dest} ",
            if is_add { "ADD" } else { "COPY" },
            resolved.desc,
            resolved.hash
        ))
    }
}

/// The other stages, for `RUN --mount=...,from=`.
pub(super) struct Others<'a> {
    pub(super) stages: &'a [Stage],
    pub(super) built: &'a [Option<ImageState>],
}

/// The sources of a COPY/ADD, found before the cache is asked (their hash is in its key).
struct Resolved {
    sources: Vec<Source>,
    /// The directory they were gathered in (COPY --from, heredocs, URLs), if not the context.
    scratch_ctx: Option<Context>,
    hash: String,
    desc: &'static str,
}

pub(super) fn hex_name(s: &str) -> String {
    use sha2::Digest;
    crate::ids::to_hex(&sha2::Sha256::digest(s.as_bytes()))[..32].to_string()
}

pub(super) fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn argv_of(form: &CmdForm, shell: &[String]) -> Vec<String> {
    match form {
        CmdForm::Exec(v) => v.clone(),
        CmdForm::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

fn check_platform(p: &str) -> Result<(), BuildError> {
    let host = format!("linux/{}", crate::image::config::host_arch());
    if p == host || p == "linux" || p == "$BUILDPLATFORM" || p == "$TARGETPLATFORM" {
        Ok(())
    } else {
        Err(BuildError::Step(format!(
            "platform {p:?} is not this host's ({host}): skiff builds only for the host's platform"
        )))
    }
}

/// The state of a stored image (pulled first when missing, or always with --pull).
pub fn image_state(
    ctx: &Ctx,
    name: &str,
    pull: bool,
    pull_image: &dyn Fn(&str) -> Result<(), String>,
) -> Result<ImageState, BuildError> {
    let missing = matches!(
        ctx.images.lookup(name),
        Err(crate::image::ImageError::NoSuchImage(_))
    );
    if pull || missing {
        pull_image(name).map_err(BuildError::Step)?;
    }
    let record = ctx.images.lookup(name)?;
    let config = ctx.images.config(&record)?;
    let manifest: crate::image::config::Manifest = {
        let path = ctx.images.blob_path(&record.manifest_digest);
        let data = std::fs::read(&path).map_err(BuildError::io("reading", &path))?;
        serde_json::from_slice(&data)
            .map_err(|e| BuildError::Step(format!("the manifest of {name}: {e}")))?
    };
    Ok(ImageState {
        key: record.id.trim_start_matches("sha256:").to_string(),
        layers: record.layers.clone(),
        blobs: manifest.layers,
        config,
        cmd_set: false,
    })
}

/// HEALTHCHECK in docker's config shape (durations in nanoseconds).
fn healthcheck(h: &Health, shell: &[String]) -> Result<Healthcheck, BuildError> {
    let _ = shell;
    Ok(match h {
        Health::None => Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        },
        Health::Check {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => Healthcheck {
            test: match test {
                CmdForm::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                CmdForm::Exec(v) => std::iter::once("CMD".to_string())
                    .chain(v.iter().cloned())
                    .collect(),
            },
            interval: duration(interval.as_deref())?,
            timeout: duration(timeout.as_deref())?,
            start_period: duration(start_period.as_deref())?,
            start_interval: duration(start_interval.as_deref())?,
            retries: match retries {
                Some(r) => r
                    .parse()
                    .map_err(|_| BuildError::Step(format!("invalid HEALTHCHECK --retries={r}")))?,
                None => 0,
            },
        },
    })
}

/// Go's duration syntax (`30s`, `1m30s`, `500ms`) in nanoseconds.
pub fn duration(s: Option<&str>) -> Result<i64, BuildError> {
    s.map_or(Ok(0), |s| {
        crate::units::parse_go_duration(s).map_err(BuildError::Step)
    })
}

/// ADD of a URL: downloaded into `dir` under the URL's last path segment.
fn download(url: &str, checksum: Option<&str>, dir: &Path) -> Result<String, BuildError> {
    use sha2::Digest;
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download")
        .to_string();
    let fail = |e: String| BuildError::Step(format!("ADD {url}: {e}"));
    let resp = ureq::get(url).call().map_err(|e| fail(e.to_string()))?;
    let mut body = resp.into_body().into_reader();
    let path = dir.join(&name);
    let mut f = std::fs::File::create(&path).map_err(BuildError::io("creating", &path))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(&mut body, &mut buf).map_err(|e| fail(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        std::io::Write::write_all(&mut f, &buf[..n]).map_err(BuildError::io("writing", &path))?;
    }
    let got = format!("sha256:{}", crate::ids::to_hex(&hasher.finalize()));
    if let Some(want) = checksum
        && want != got
    {
        return Err(fail(format!(
            "checksum mismatch: expected {want}, got {got}"
        )));
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(BuildError::io("writing", &path))?;
    Ok(name)
}
