//! The steps that change files, each in a real container made by the runtime from the
//! build's state between two steps (its layers are in the store; no image record is needed):
//! RUN runs it (same namespaces, mounts, network, resolv.conf, user, workdir and env as `run`),
//! COPY/ADD copy into its overlay from a forked helper, as `cp` does. Either way the
//! container's upper directory becomes the step's layer and the container goes.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::context::{Context, Source};
use super::layer::{self, Made};
use super::{BuildError, ImageState};
use crate::container::Ctx;
use crate::container::create::{CreateRequest, create_from};
use crate::image::store::ImageRecord;
use crate::securejoin::secure_join;
use crate::spec::RunRequest;
use crate::state::container::ContainerRecord;

/// A container for one step; removed when dropped, whatever happened.
pub struct StepContainer<'a> {
    ctx: &'a Ctx,
    pub record: ContainerRecord,
}

impl Drop for StepContainer<'_> {
    fn drop(&mut self) {
        if let Ok(r) = self.ctx.store.load(&self.record.id) {
            self.ctx.release_cgroup(&r);
            let _ = self.ctx.remove_container(&r, true);
        }
    }
}

/// What a RUN's container gets besides the state's config.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub argv: Vec<String>,
    /// Build args in scope, given to the command but not kept in the image.
    pub env: Vec<String>,
    /// default, host or none.
    pub network: String,
    pub add_hosts: Vec<String>,
    /// `-v`-style binds: cache mounts, secrets, bind mounts.
    pub volumes: Vec<String>,
}

pub fn container<'a>(
    ctx: &'a Ctx,
    state: &ImageState,
    run: RunRequest,
) -> Result<StepContainer<'a>, BuildError> {
    let image = ImageRecord {
        id: format!("sha256:{}", state.key),
        names: Vec::new(),
        manifest_digest: String::new(),
        added: String::new(),
        size: 0,
        layers: state.layers.clone(),
        digests: Vec::new(),
    };
    let mut run = run;
    if run.command.is_empty() {
        // A container only copied into or out of (COPY, COPY --from, -o): never started, so any
        // command will do, and it acts as root whatever USER says (as docker's COPY does).
        run.command = vec!["true".into()];
        run.entrypoint = Some(String::new());
        run.user = Some("0:0".into());
    }
    // Whose step this is: the next build removes the containers of one that was killed.
    let me = std::process::id() as i32;
    let start = crate::state::proc::start_time(me).unwrap_or(0);
    run.labels
        .push(format!("{}={me}.{start}", super::dispatch::OWNER_LABEL));
    let req = CreateRequest {
        image: "skiff-build".into(),
        name: None,
        run,
        resources: Default::default(),
    };
    let record = create_from(ctx, &req, &image, &state.config)?;
    Ok(StepContainer { ctx, record })
}

/// Run a RUN step; its layer (None: the command changed nothing... still a layer, as docker).
pub fn run(
    ctx: &Ctx,
    state: &ImageState,
    spec: &RunSpec,
    scratch: &Path,
    log: &super::progress::Log,
) -> Result<Made, BuildError> {
    let mut net = crate::net::config::NetRequest::default();
    if spec.network != "default" {
        net.networks = vec![spec.network.clone()];
    }
    net.add_hosts = spec.add_hosts.clone();
    let req = RunRequest {
        command: spec.argv.clone(),
        entrypoint: Some(String::new()),
        env: spec.env.clone(),
        net,
        volumes: spec.volumes.clone(),
        ..Default::default()
    };
    let step = container(ctx, state, req)?;
    log.running(&step.record.id);
    let mut draw = |_: crate::monitor::Stream, bytes: &[u8]| log.output(bytes);
    let code = crate::container::start::run_attached_to(
        ctx,
        &step.record.id,
        false,
        log.echoes(),
        log.draws()
            .then_some(&mut draw as &mut dyn FnMut(crate::monitor::Stream, &[u8])),
        true,
    )?;
    crate::build::interrupted()?;
    if code != 0 {
        log.failed();
        return Err(BuildError::RunFailed {
            command: spec.argv.join(" "),
            code,
        });
    }
    let upper = ctx.container_changes(&step.record, scratch)?;
    // The runtime made mountpoints the image lacked (the hosts files, RUN --mount targets):
    // they are the container's, not the step's.
    let mut stubs: Vec<String> = ["etc/hosts", "etc/hostname", "etc/resolv.conf"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    stubs.extend(
        spec.volumes
            .iter()
            .filter_map(|v| v.split(':').nth(1))
            .map(|t| t.trim_start_matches('/').to_string()),
    );
    drop_stubs(&upper, &ctx.lower_dirs(&step.record), &stubs);
    Ok(layer::store_layer(
        &ctx.images,
        &upper,
        scratch,
        false,
        &[],
        None,
    )?)
}

/// Remove from `upper` the empty files and directories at `paths` that no lower layer has
/// (and their parents, when they were made for them alone).
fn drop_stubs(upper: &Path, lower: &[PathBuf], paths: &[String]) {
    for rel in paths {
        let mut rel = rel.as_str();
        loop {
            if rel.is_empty() || lower.iter().any(|l| l.join(rel).symlink_metadata().is_ok()) {
                break;
            }
            let p = upper.join(rel);
            let Ok(meta) = p.symlink_metadata() else {
                break;
            };
            let removed = if meta.is_dir() {
                std::fs::remove_dir(&p).is_ok()
            } else if meta.is_file() && meta.len() == 0 {
                std::fs::remove_file(&p).is_ok()
            } else {
                false
            };
            if !removed {
                break;
            }
            rel = match rel.rsplit_once('/') {
                Some((parent, _)) => parent,
                None => "",
            };
        }
    }
}

/// How COPY/ADD put one source down.
#[derive(Debug, Clone)]
pub struct CopySpec {
    /// The destination in the image, absolute (WORKDIR applied).
    pub dest: String,
    pub owner: Option<(u32, u32)>,
    pub mode: Option<u32>,
    /// ADD: unpack local tar archives instead of copying them.
    pub unpack_archives: bool,
}

/// COPY/ADD `sources` (from `from`, a context or a stage's extracted files) into a container
/// of `state`; returns the layer.
pub fn copy(
    ctx: &Ctx,
    state: &ImageState,
    from: &Context,
    sources: &[Source],
    spec: &CopySpec,
    scratch: &Path,
) -> Result<Made, BuildError> {
    let step = container(ctx, state, RunRequest::default())?;
    // The file list is made here, before the fork: the helper only copies.
    let mut plan: Vec<Planned> = Vec::new();
    if sources.len() > 1 && !spec.dest.ends_with('/') {
        return Err(BuildError::Step(
            "When using COPY with more than one source file, the destination must be a directory and end with a /".into(),
        ));
    }
    let single_file = sources.len() == 1 && !sources[0].is_dir;
    for src in sources {
        let base = src.rel.rsplit('/').next().unwrap_or(&src.rel).to_string();
        for (rel, path, meta) in from.files(src)? {
            // A directory's contents land in dest; a file lands in dest, or dest/name.
            let below = if src.is_dir {
                rel.strip_prefix(&src.rel)
                    .unwrap_or(&rel)
                    .trim_start_matches('/')
                    .to_string()
            } else {
                base.clone()
            };
            plan.push(Planned {
                below,
                host: path,
                meta,
                lone_file: single_file,
            });
        }
    }
    let spec = spec.clone();
    crate::container::file_view::with_bare_rootfs(ctx, &step.record, move |root| {
        put_all(root, &plan, &spec)
    })?;
    let upper = ctx.container_changes(&step.record, scratch)?;
    Ok(layer::store_layer(
        &ctx.images,
        &upper,
        scratch,
        false,
        &[],
        None,
    )?)
}

/// One file or directory to put down.
struct Planned {
    /// Its path below the destination (for a lone file: its name).
    below: String,
    host: PathBuf,
    meta: std::fs::Metadata,
    /// The only source, and a file: docker's rule makes dest its new name.
    lone_file: bool,
}

/// In the helper, with the container's root at `root`: make the destination and copy.
fn put_all(root: &Path, plan: &[Planned], spec: &CopySpec) -> Result<(), String> {
    let dest = spec.dest.trim_end_matches('/');
    for p in plan {
        // A lone file to a dest without a trailing slash is the file's new name, unless dest
        // is an existing directory.
        let rel = if p.lone_file && !spec.dest.ends_with('/') {
            let existing_dir = secure_join(root, Path::new(dest))
                .ok()
                .is_some_and(|d| d.is_dir());
            if existing_dir {
                format!("{dest}/{}", p.below)
            } else {
                dest.to_string()
            }
        } else if p.below.is_empty() {
            dest.to_string()
        } else {
            format!("{dest}/{}", p.below)
        };
        let target =
            secure_join(root, Path::new(&rel)).map_err(|e| format!("COPY to {rel}: {e}"))?;
        if let Some(parent) = target.parent() {
            make_parents(root, parent)?;
        }
        if spec.unpack_archives && p.meta.is_file() && is_archive(&p.host) {
            // An archive is unpacked into the destination directory.
            let into = secure_join(root, Path::new(dest)).map_err(|e| e.to_string())?;
            unpack_archive(&p.host, &into, spec.owner)?;
            continue;
        }
        put_one(&p.host, &target, &p.meta, spec)
            .map_err(|e| format!("COPY {}: {e}", p.host.display()))?;
    }
    // The destination exists even when the sources were empty directories.
    let target = secure_join(root, Path::new(dest)).map_err(|e| e.to_string())?;
    if plan.is_empty() || plan.iter().any(|p| !p.lone_file) {
        make_parents(root, &target)?;
    }
    Ok(())
}

/// Missing directories on the way are made root-owned, mode 0755, as docker does.
fn make_parents(root: &Path, dir: &Path) -> Result<(), String> {
    if dir.is_dir() || !dir.starts_with(root) {
        return Ok(());
    }
    if let Some(p) = dir.parent() {
        make_parents(root, p)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("creating {}: {e}", dir.display())),
    }
}

fn put_one(
    host: &Path,
    target: &Path,
    meta: &std::fs::Metadata,
    spec: &CopySpec,
) -> std::io::Result<()> {
    let ft = meta.file_type();
    let (uid, gid) = spec.owner.unwrap_or((0, 0));
    if ft.is_dir() {
        match std::fs::create_dir(target) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    } else if ft.is_symlink() {
        let _ = std::fs::remove_file(target);
        std::os::unix::fs::symlink(std::fs::read_link(host)?, target)?;
        std::os::unix::fs::lchown(target, Some(uid), Some(gid))?;
        return Ok(());
    } else if ft.is_file() {
        if target.is_dir() {
            return Err(std::io::Error::other(format!(
                "cannot overwrite directory {} with a file",
                target.display()
            )));
        }
        let _ = std::fs::remove_file(target);
        std::fs::copy(host, target)?;
    } else {
        return Ok(()); // sockets, fifos, devices: docker skips them too
    }
    std::os::unix::fs::lchown(target, Some(uid), Some(gid))?;
    let mode = spec.mode.unwrap_or(meta.mode() & 0o7777);
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(mode))?;
    let mtime = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    let _ = nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        target,
        &mtime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    );
    Ok(())
}

/// A local file ADD unpacks: a tar, plain or compressed (told by content, as docker does).
fn is_archive(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut r = std::io::BufReader::new(f);
    let Ok(mut decoded) = archive_decoder(&mut r) else {
        return false;
    };
    let mut block = [0u8; 512];
    if std::io::Read::read_exact(&mut decoded, &mut block).is_err() {
        return false;
    }
    // The ustar magic at offset 257 ("ustar\0" POSIX, "ustar " GNU).
    &block[257..262] == b"ustar"
}

/// A reader of an ADD archive decompressed: docker's builder takes gzip, bzip2 and xz
/// (BuildKit zstd too), told by their magic bytes; layers only ever need gzip and zstd.
fn archive_decoder<'a, R: std::io::BufRead + 'a>(
    mut input: R,
) -> Result<Box<dyn std::io::Read + 'a>, String> {
    let magic = input.fill_buf().map_err(|e| e.to_string())?;
    if magic.starts_with(b"BZh") {
        Ok(Box::new(bzip2::read::MultiBzDecoder::new(input)))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Ok(Box::new(lzma_rust2::XzReader::new(input, true)))
    } else {
        let (decoded, _) = crate::image::import::decoder(input).map_err(|e| e.to_string())?;
        Ok(decoded)
    }
}

fn unpack_archive(host: &Path, dest: &Path, owner: Option<(u32, u32)>) -> Result<(), String> {
    let f = std::fs::File::open(host).map_err(|e| format!("{}: {e}", host.display()))?;
    let mut r = std::io::BufReader::new(f);
    let decoded = archive_decoder(&mut r)?;
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let mut ar = tar::Archive::new(decoded);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(owner.is_none());
    ar.set_unpack_xattrs(false);
    for entry in ar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let unpacked = entry.unpack_in(dest).map_err(|e| e.to_string())?;
        if let (true, Some((u, g))) = (unpacked, owner)
            && let Ok(p) = entry.path()
            && let Ok(path) = secure_join(dest, &p)
        {
            let _ = std::os::unix::fs::lchown(path, Some(u), Some(g));
        }
    }
    Ok(())
}

/// COPY --from: the named paths of a stage's (or image's) filesystem, copied out into
/// `into` (same relative layout), so they can be copied in like context files.
pub fn extract_from(
    ctx: &Ctx,
    state: &ImageState,
    patterns: &[String],
    into: &Path,
) -> Result<(), BuildError> {
    let step = container(ctx, state, RunRequest::default())?;
    let patterns = patterns.to_vec();
    let into = into.to_path_buf();
    crate::container::file_view::with_bare_rootfs(ctx, &step.record, move |root| {
        let source = Context::new(root.to_path_buf(), super::ignore::Matcher::parse(""));
        for p in &patterns {
            let found = source.resolve(p).map_err(|e| e.to_string())?;
            for src in found {
                for (rel, host, meta) in source.files(&src).map_err(|e| e.to_string())? {
                    let target = into.join(&rel);
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                    }
                    let keep = CopySpec {
                        dest: String::new(),
                        owner: Some((meta.uid(), meta.gid())),
                        mode: None,
                        unpack_archives: false,
                    };
                    put_one(&host, &target, &meta, &keep)
                        .map_err(|e| format!("COPY --from {rel}: {e}"))?;
                }
            }
        }
        Ok(())
    })?;
    Ok(())
}
