//! `skiff import`: a rootfs tarball becomes a one-layer image. One pass over the input hashes
//! the blob as given and the uncompressed tar (the diff id) while unpacking it.

use std::io::{BufRead, BufReader, Read, Write};

use sha2::{Digest, Sha256};

use super::config::{
    Descriptor, HistoryEntry, ImageConfig, MEDIA_CONFIG, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR,
    MEDIA_LAYER_ZSTD, MEDIA_MANIFEST, Manifest, RootFs, RunConfig, host_arch,
};
use super::store::{ImageRecord, ImageStore};
use super::unpack::{WhiteoutStyle, unpack_layer};
use super::{ImageError, io_err};

/// Reads through, hashing everything and copying it to `copy`.
pub(super) struct HashTee<R, W> {
    pub inner: R,
    pub hasher: Sha256,
    pub copy: Option<W>,
    pub count: u64,
}

impl<R: Read, W: Write> Read for HashTee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if let Some(c) = &mut self.copy {
            c.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

pub(super) fn digest_of(h: Sha256) -> String {
    format!("sha256:{}", crate::ids::to_hex(&h.finalize()))
}

pub struct ImportOptions {
    /// Canonical name to give the image, if any.
    pub name: Option<String>,
    pub changes: RunConfig,
    pub message: Option<String>,
}

pub fn import<R: Read>(
    store: &ImageStore,
    source: R,
    opts: ImportOptions,
) -> Result<ImageRecord, ImageError> {
    let work = store.scratch_dir("import")?;
    let result = import_into(store, source, opts, &work);
    // Whatever happened, the scratch directory goes: on success its content was renamed away.
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn import_into<R: Read>(
    store: &ImageStore,
    source: R,
    opts: ImportOptions,
    work: &std::path::Path,
) -> Result<ImageRecord, ImageError> {
    let blob_tmp = work.join("blob");
    let blob_file = std::fs::File::create(&blob_tmp).map_err(io_err(&blob_tmp))?;
    let outer = HashTee {
        inner: source,
        hasher: Sha256::new(),
        copy: Some(std::io::BufWriter::new(blob_file)),
        count: 0,
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, outer);
    let diff_dir = work.join("diff");
    std::fs::create_dir(&diff_dir).map_err(io_err(&diff_dir))?;
    let style = store.whiteout_style();
    let (stats, diff_id, compression) = unpack_stream(&mut buffered, &diff_dir, style)?;
    if stats.entries == 0 {
        return Err(ImageError::Unpack {
            entry: "<archive>".into(),
            reason: "not a tar archive, or an empty one".into(),
        });
    }
    if stats.skipped_devices > 0 {
        eprintln!(
            "skiff: warning: {} device node(s) skipped: creating devices needs root on the host",
            stats.skipped_devices
        );
    }
    std::io::copy(&mut buffered, &mut std::io::sink()).map_err(io_err(&blob_tmp))?;
    let mut outer = buffered.into_inner();
    if let Some(mut w) = outer.copy.take() {
        w.flush().map_err(io_err(&blob_tmp))?;
        w.get_ref().sync_all().map_err(io_err(&blob_tmp))?;
    }
    let blob_size = outer.count;
    let blob_digest = digest_of(outer.hasher);

    // Layer first, then blobs, then the index: a crash before the end leaves only
    // unreferenced content that garbage collection removes.
    let layer_dir = store.layer_dir(&diff_id);
    if !layer_dir.exists() {
        let parent = layer_dir.parent().unwrap_or(&layer_dir);
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        std::fs::rename(&diff_dir, &layer_dir).map_err(io_err(&layer_dir))?;
    }
    let blob_path = store.blob_path(&blob_digest);
    if !blob_path.exists() {
        std::fs::rename(&blob_tmp, &blob_path).map_err(io_err(&blob_path))?;
    }

    let now = crate::timefmt::rfc3339(crate::timefmt::now());
    let config = ImageConfig {
        created: Some(now.clone()),
        author: None,
        architecture: host_arch().to_string(),
        os: "linux".to_string(),
        config: opts.changes,
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![diff_id.clone()],
        },
        history: vec![HistoryEntry {
            created: Some(now.clone()),
            created_by: Some("skiff import".into()),
            comment: opts.message,
            ..Default::default()
        }],
    };
    let config_bytes = serde_json::to_vec(&config).map_err(|source| ImageError::Corrupt {
        path: blob_path.clone(),
        source,
    })?;
    let config_digest = store.put_blob(&config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST.into(),
        config: Descriptor {
            media_type: MEDIA_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
        },
        layers: vec![Descriptor {
            media_type: match compression {
                Compression::Gzip => MEDIA_LAYER_GZIP,
                Compression::Zstd => MEDIA_LAYER_ZSTD,
                Compression::None => MEDIA_LAYER_TAR,
            }
            .into(),
            digest: blob_digest,
            size: blob_size,
        }],
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|source| ImageError::Corrupt {
        path: blob_path,
        source,
    })?;
    let manifest_digest = store.put_blob(&manifest_bytes)?;
    store.register(ImageRecord {
        id: config_digest,
        names: opts.name.into_iter().collect(),
        manifest_digest,
        added: now,
        size: stats.bytes,
        layers: vec![diff_id],
        digests: Vec::new(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Unpack a layer stream (gzip, zstd or plain tar, told by its first bytes) into `diff_dir`;
/// returns what was unpacked, the diff id (digest of the uncompressed tar) and the
/// compression found.
/// A reader of what `input` holds decompressed: gzip and zstd by their magic, else as is.
pub fn decoder<'a, R: BufRead + 'a>(
    mut input: R,
) -> Result<(Box<dyn Read + 'a>, Compression), ImageError> {
    let fail = |reason: String| ImageError::Unpack {
        entry: "<archive>".into(),
        reason,
    };
    let magic = input.fill_buf().map_err(|e| fail(e.to_string()))?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        (
            Box::new(flate2::read::GzDecoder::new(input)),
            Compression::Gzip,
        )
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let z = ruzstd::decoding::StreamingDecoder::new(input)
            .map_err(|e| fail(format!("zstd: {e}")))?;
        (Box::new(z), Compression::Zstd)
    } else {
        (Box::new(input), Compression::None)
    })
}

pub(super) fn unpack_stream<R: BufRead>(
    input: &mut R,
    diff_dir: &std::path::Path,
    style: WhiteoutStyle,
) -> Result<(super::unpack::UnpackStats, String, Compression), ImageError> {
    let fail = |e: std::io::Error| ImageError::Unpack {
        entry: "<archive>".into(),
        reason: e.to_string(),
    };
    let (stats, diff_id, compression) = {
        let (decoded, compression) = decoder(&mut *input)?;
        let mut inner = HashTee::<_, std::io::Sink> {
            inner: decoded,
            hasher: Sha256::new(),
            copy: None,
            count: 0,
        };
        let stats = unpack_layer(&mut inner, diff_dir, style)?;
        // Hash the tar's trailing padding too: the diff id is the digest of the whole stream.
        std::io::copy(&mut inner, &mut std::io::sink()).map_err(fail)?;
        (stats, digest_of(inner.hasher), compression)
    };
    // And read the rest of the outer stream (compressed trailers) through.
    std::io::copy(input, &mut std::io::sink()).map_err(fail)?;
    Ok((stats, diff_id, compression))
}

/// Apply Dockerfile instructions given with `--change` to an image config.
pub fn apply_change(config: &mut RunConfig, change: &str) -> Result<(), ImageError> {
    let bad = |why: &str| ImageError::Change(change.to_string(), why.to_string());
    let (instr, rest) = change
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| bad("expected INSTRUCTION arguments"))?;
    let rest = rest.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(exec_or_shell(rest).map_err(&bad)?),
        "ENTRYPOINT" => config.entrypoint = Some(exec_or_shell(rest).map_err(&bad)?),
        "ENV" => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(rest).map_err(&bad)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = config.labels.get_or_insert_with(Default::default);
            for (k, v) in key_values(rest).map_err(&bad)? {
                labels.insert(k, v);
            }
        }
        "WORKDIR" => {
            if !rest.starts_with('/') {
                return Err(bad("WORKDIR must be an absolute path"));
            }
            config.working_dir = Some(rest.to_string());
        }
        "USER" => config.user = Some(rest.to_string()),
        "STOPSIGNAL" => config.stop_signal = Some(rest.to_string()),
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(Default::default);
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                ports.insert(p, serde_json::json!({}));
            }
        }
        "VOLUME" => {
            let vols = config.volumes.get_or_insert_with(Default::default);
            let list = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest).map_err(|_| bad("invalid JSON array"))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            for v in list {
                vols.insert(v, serde_json::json!({}));
            }
        }
        other => {
            return Err(bad(&format!(
                "{other} is not supported; use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR"
            )));
        }
    }
    Ok(())
}

fn exec_or_shell(s: &str) -> Result<Vec<String>, &'static str> {
    if s.starts_with('[') {
        serde_json::from_str(s).map_err(|_| "invalid JSON array")
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), s.to_string()])
    }
}

fn key_values(s: &str) -> Result<Vec<(String, String)>, &'static str> {
    if !s.contains('=') {
        // Legacy form: `ENV key value with spaces`.
        let (k, v) = s
            .split_once(char::is_whitespace)
            .ok_or("expected key=value")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    for pair in s.split_whitespace() {
        let (k, v) = pair.split_once('=').ok_or("expected key=value")?;
        if k.is_empty() {
            return Err("expected key=value");
        }
        out.push((k.to_string(), v.trim_matches('"').to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes() {
        let mut c = RunConfig::default();
        apply_change(&mut c, r#"CMD ["sh"]"#).expect("cmd");
        apply_change(&mut c, "ENTRYPOINT echo hi").expect("ep");
        apply_change(&mut c, "ENV A=1 B=2").expect("env");
        apply_change(&mut c, "ENV A 3").expect("env legacy");
        apply_change(&mut c, "WORKDIR /srv").expect("workdir");
        apply_change(&mut c, "EXPOSE 80 53/udp").expect("expose");
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(c.env, Some(vec!["B=2".into(), "A=3".into()]));
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        let ports = c.exposed_ports.expect("ports");
        assert!(ports.contains_key("80/tcp") && ports.contains_key("53/udp"));
        assert!(apply_change(&mut RunConfig::default(), "RUN make").is_err());
        assert!(apply_change(&mut RunConfig::default(), "WORKDIR rel").is_err());
        assert!(apply_change(&mut RunConfig::default(), "CMD [broken").is_err());
    }
}
