//! RUN: its flags (`--mount`, `--network`), heredoc scripts, and the step container that
//! carries it out; the stage loop in `dispatch` calls it on a cache miss.

use std::collections::HashMap;

use super::cache;
use super::context::Context;
use super::dispatch::{Others, Run, flag, flag_all, hex_name, image_state, json};
use super::dockerfile::{CmdForm, Flags, Heredoc};
use super::step::RunSpec;
use super::{BuildError, ImageState};

impl Run<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn run(
        &mut self,
        st: &mut ImageState,
        flags: &Flags,
        cmd: &CmdForm,
        heredocs: &[Heredoc],
        shell: &[String],
        args_in_scope: &[String],
        others: &Others,
    ) -> Result<String, BuildError> {
        let argv = match cmd {
            CmdForm::Exec(v) => v.clone(),
            CmdForm::Shell(text) => {
                let mut script = text.clone();
                let only_heredoc = heredocs.len() == 1
                    && super::dockerfile::heredoc_name(text.trim()).as_deref()
                        == Some(heredocs[0].name.as_str());
                if only_heredoc {
                    // `RUN <<EOF`: the heredoc is the script.
                    script = heredocs[0].content.clone();
                } else {
                    // The shell reads the heredocs itself, as written.
                    for h in heredocs {
                        script.push('\n');
                        script.push_str(&h.content);
                        if !h.content.ends_with('\n') {
                            script.push('\n');
                        }
                        script.push_str(&h.name);
                    }
                }
                shell.iter().cloned().chain([script]).collect()
            }
        };
        let network = flag(flags, "network").unwrap_or_else(|| self.opts.network.clone());
        if !matches!(network.as_str(), "default" | "host" | "none") {
            return Err(BuildError::Step(format!(
                "invalid RUN --network={network}: expected default, host or none"
            )));
        }
        let mut volumes = Vec::new();
        for m in flag_all(flags, "mount") {
            volumes.push(self.mount(&m, others)?);
        }
        let spec = RunSpec {
            argv: argv.clone(),
            env: args_in_scope.to_vec(),
            network,
            add_hosts: self.opts.add_hosts.clone(),
            volumes,
        };
        let made = super::step::run(self.ctx, st, &spec, self.scratch, self.log)?;
        st.layers.push(made.diff_id);
        st.blobs.push(made.blob);
        let shown = match cmd {
            CmdForm::Exec(v) => json(v),
            CmdForm::Shell(_) => argv.join(" "),
        };
        Ok(if args_in_scope.is_empty() {
            shown
        } else {
            format!(
                "|{} {} {shown}",
                args_in_scope.len(),
                args_in_scope.join(" ")
            )
        })
    }

    /// `RUN --mount=...` as a bind for the step's container.
    fn mount(&self, spec: &str, others: &Others) -> Result<String, BuildError> {
        let mut kv: HashMap<&str, &str> = HashMap::new();
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            kv.insert(k, v);
        }
        let target = kv
            .get("target")
            .or_else(|| kv.get("dst"))
            .or_else(|| kv.get("destination"))
            .map(|s| s.to_string());
        match kv.get("type").copied().unwrap_or("bind") {
            "cache" => {
                let target = target.ok_or_else(|| {
                    BuildError::Step(format!("RUN --mount={spec}: a cache mount needs target="))
                })?;
                let id = kv
                    .get("id")
                    .map(|s| s.to_string())
                    .unwrap_or(target.clone());
                let dir = cache::mounts_dir(&self.ctx.paths).join(hex_name(&id));
                std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
                Ok(format!("{}:{target}", dir.display()))
            }
            "secret" => {
                let id = kv.get("id").copied().unwrap_or_default();
                let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                let Some((_, src)) = self.opts.secrets.iter().find(|(i, _)| i == id) else {
                    if kv.get("required").is_some_and(|v| *v == "true") {
                        return Err(BuildError::Step(format!(
                            "RUN --mount={spec}: no secret with id {id:?} (give it with --secret id={id},src=FILE)"
                        )));
                    }
                    return Ok(format!("/dev/null:{target}:ro"));
                };
                Ok(format!("{}:{target}:ro", src.display()))
            }
            "bind" => {
                let target = target.ok_or_else(|| {
                    BuildError::Step(format!("RUN --mount={spec}: a bind mount needs target="))
                })?;
                let source = kv
                    .get("source")
                    .or_else(|| kv.get("src"))
                    .copied()
                    .unwrap_or("");
                let source = if source.is_empty() { "." } else { source };
                let found = if let Some(from) = kv.get("from") {
                    // Another stage's (or image's) files: copied out into scratch, bound from there.
                    let state = match super::stage_index(others.stages, from)
                        .and_then(|i| others.built[i].clone())
                    {
                        Some(s) => s,
                        None => image_state(self.ctx, from, false, self.opts.pull_image)?,
                    };
                    let dir = self
                        .scratch
                        .join(format!("mount-{}", &crate::ids::random_id()[..12]));
                    std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
                    super::step::extract_from(self.ctx, &state, &[source.to_string()], &dir)?;
                    Context::new(dir, super::ignore::Matcher::parse("")).resolve(source)?
                } else {
                    self.context.resolve(source)?
                };
                let rw = kv.contains_key("rw") || kv.contains_key("readwrite");
                let path = found
                    .first()
                    .map(|s| s.path.display().to_string())
                    .unwrap_or_default();
                Ok(format!("{path}:{target}{}", if rw { "" } else { ":ro" }))
            }
            "tmpfs" => {
                let target = target.ok_or_else(|| {
                    BuildError::Step(format!("RUN --mount={spec}: a tmpfs mount needs target="))
                })?;
                let dir = self.scratch.join(format!("tmpfs-{}", hex_name(&target)));
                std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
                Ok(format!("{}:{target}", dir.display()))
            }
            other => Err(BuildError::Step(format!(
                "RUN --mount={spec}: unknown mount type {other:?} (cache, bind, secret or tmpfs)"
            ))),
        }
    }
}
