//! `pull`: manifest (choosing this platform from an index), config, then the layers in
//! parallel: each streamed to a scratch file while hashed, verified against its digest,
//! unpacked while its diff id is computed and checked against the config, then renamed into
//! the store. Layers already present are skipped. The image record is written last, so an
//! interrupted pull leaves no half image (only scratch, removed, or whole layers, reused).

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::config::{ImageConfig, Manifest, host_arch};
use super::import::{HashTee, digest_of, unpack_stream};
use super::progress::{Progress, Row};
use super::reference::Reference;
use super::registry::{Client, Credentials, Endpoint};
use super::store::{ImageRecord, ImageStore};
use super::unpack::WhiteoutStyle;
use super::{ImageError, io_err};

pub struct PullOptions {
    pub quiet: bool,
    /// `os/arch[/variant]`; default linux/<this arch>.
    pub platform: Option<String>,
    pub insecure: bool,
    pub credentials: Option<Credentials>,
}

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

fn sha256_hex(data: &[u8]) -> String {
    format!("sha256:{}", crate::ids::to_hex(&Sha256::digest(data)))
}

/// Pick the manifest for `platform` (os/arch[/variant]) from an index.
pub fn choose_platform(index: &serde_json::Value, platform: &str) -> Result<String, String> {
    let mut want = platform.split('/');
    let (os, arch, variant) = (
        want.next().unwrap_or(""),
        want.next().unwrap_or(""),
        want.next(),
    );
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let found = entries.iter().find(|m| {
        let p = &m["platform"];
        p["os"] == os
            && p["architecture"] == arch
            && variant.is_none_or(|v| p["variant"].as_str() == Some(v))
    });
    match found.and_then(|m| m["digest"].as_str()) {
        Some(d) => Ok(d.to_string()),
        None => {
            let have: Vec<String> = entries
                .iter()
                .map(|m| {
                    let p = &m["platform"];
                    format!(
                        "{}/{}",
                        p["os"].as_str().unwrap_or("?"),
                        p["architecture"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            Err(format!(
                "no image for platform {platform} in the manifest list (it has: {})",
                have.join(", ")
            ))
        }
    }
}

pub fn pull(store: &ImageStore, name: &str, opts: &PullOptions) -> Result<ImageRecord, ImageError> {
    let r = Reference::parse(name)?;
    let ep = Endpoint {
        host: r.registry.clone(),
        insecure: opts.insecure,
    };
    let client = Client::connect(&ep, opts.credentials.clone())?;
    let progress = Progress::new(opts.quiet);
    let wanted = r
        .digest
        .clone()
        .unwrap_or_else(|| r.tag.clone().unwrap_or_else(|| "latest".into()));
    progress.say(&format!(
        "{}: Pulling from {}",
        r.tag.as_deref().unwrap_or(&wanted),
        r.repository
    ));
    let (mut body, mut media) = client.manifest(&r.repository, &wanted)?;
    if let Some(d) = &r.digest
        && &sha256_hex(&body) != d
    {
        return Err(ImageError::Registry(format!(
            "manifest digest mismatch: asked for {d}, got {}",
            sha256_hex(&body)
        )));
    }
    let mut as_json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ImageError::Registry(format!("invalid manifest: {e}")))?;
    let media_of = |v: &serde_json::Value, header: &str| {
        v["mediaType"]
            .as_str()
            .map_or(header.to_string(), str::to_string)
    };
    if INDEX_TYPES.contains(&media_of(&as_json, &media).as_str()) {
        let platform = opts
            .platform
            .clone()
            .unwrap_or_else(|| format!("linux/{}", host_arch()));
        let digest = choose_platform(&as_json, &platform).map_err(ImageError::Registry)?;
        let (b, m) = client.manifest(&r.repository, &digest)?;
        if sha256_hex(&b) != digest {
            return Err(ImageError::Registry(format!(
                "manifest digest mismatch for {digest}"
            )));
        }
        body = b;
        media = m;
        as_json = serde_json::from_slice(&body)
            .map_err(|e| ImageError::Registry(format!("invalid manifest: {e}")))?;
    }
    let mut manifest: Manifest = serde_json::from_value(as_json.clone())
        .map_err(|e| ImageError::Registry(format!("unsupported manifest ({media}): {e}")))?;
    if manifest.media_type.is_empty() {
        manifest.media_type = media_of(&as_json, &media);
    }

    // The config, verified, then parsed for the diff ids the layers must have.
    let mut config_bytes = Vec::new();
    client
        .blob(&r.repository, &manifest.config.digest)?
        .read_to_end(&mut config_bytes)
        .map_err(|e| ImageError::Registry(format!("reading the image config: {e}")))?;
    if sha256_hex(&config_bytes) != manifest.config.digest {
        return Err(ImageError::Registry(format!(
            "config blob does not match its digest {}",
            manifest.config.digest
        )));
    }
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| ImageError::Registry(format!("invalid image config: {e}")))?;
    let diff_ids = config.rootfs.diff_ids.clone();
    if diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::Registry(format!(
            "the manifest has {} layers but the config {}",
            manifest.layers.len(),
            diff_ids.len()
        )));
    }

    let style = store.whiteout_style();
    let jobs: Vec<(usize, &super::config::Descriptor)> = manifest
        .layers
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            let present =
                store.layer_dir(&diff_ids[*i]).is_dir() && store.blob_path(&l.digest).exists();
            if present {
                progress.row(short(&l.digest), "Already exists");
            }
            !present
        })
        .collect();
    let mut total = 0u64;
    // Up to three downloads at a time, as docker does.
    for chunk in jobs.chunks(3) {
        let results: Vec<Result<u64, ImageError>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|(i, layer)| {
                    let job = LayerJob {
                        store,
                        client: &client,
                        repo: &r.repository,
                        layer,
                        diff_id: &diff_ids[*i],
                        style,
                        progress: &progress,
                    };
                    s.spawn(move || fetch_layer(&job))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ImageError::Registry("a download thread panicked".into()))
                    })
                })
                .collect()
        });
        for r in results {
            total += r?;
        }
    }
    progress.finish();
    store.put_blob(&config_bytes)?;
    let manifest_digest = store.put_blob(&body)?;
    let size = diff_ids
        .iter()
        .map(|d| dir_size(&store.layer_dir(d)))
        .sum::<u64>()
        .max(total);
    let canonical = r.tag.as_ref().map(|_| r.canonical());
    let digest_name = format!("{}/{}@{}", r.registry, r.repository, manifest_digest);
    let record = store.register(ImageRecord {
        id: manifest.config.digest.clone(),
        names: canonical.into_iter().collect(),
        manifest_digest: manifest_digest.clone(),
        added: crate::timefmt::rfc3339(crate::timefmt::now()),
        size,
        layers: diff_ids,
        digests: Vec::new(),
    })?;
    store.add_digest(&record.id, &digest_name)?;
    progress.say(&format!("Digest: {manifest_digest}"));
    progress.say(&format!(
        "Status: Downloaded newer image for {}",
        crate::image::reference::familiar(&r.canonical())
    ));
    Ok(record)
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..12.min(hex.len())]
}

fn dir_size(p: &Path) -> u64 {
    crate::container::volumes::tree_size(p)
}

/// What one layer download needs to know.
struct LayerJob<'a> {
    store: &'a ImageStore,
    client: &'a Client,
    repo: &'a str,
    layer: &'a super::config::Descriptor,
    diff_id: &'a str,
    style: WhiteoutStyle,
    progress: &'a Progress,
}

/// Download one layer into scratch and unpack it as it arrives, hashing both the compressed
/// stream (the digest) and the tar (the diff id); only when both match is anything renamed
/// into the store. Returns the unpacked bytes.
fn fetch_layer(job: &LayerJob) -> Result<u64, ImageError> {
    let work = job.store.scratch_dir("pull")?;
    let row = job
        .progress
        .row(short(&job.layer.digest), "Pulling fs layer");
    let result = fetch_into(job, row, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// Counts what it reads, for the progress display.
struct Counted<'a, R> {
    inner: R,
    done: u64,
    total: u64,
    row: Row,
    progress: &'a Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.progress
            .bytes(self.row, "Downloading", self.done, self.total);
        Ok(n)
    }
}

fn fetch_into(job: &LayerJob, row: Row, work: &Path) -> Result<u64, ImageError> {
    let layer = job.layer;
    let blob_tmp = work.join("blob");
    let file = std::fs::File::create(&blob_tmp).map_err(io_err(&blob_tmp))?;
    let source = job.client.blob(job.repo, &layer.digest)?;
    let mut tee = HashTee {
        inner: Counted {
            inner: source,
            done: 0,
            total: layer.size,
            row,
            progress: job.progress,
        },
        hasher: Sha256::new(),
        copy: Some(BufWriter::with_capacity(256 * 1024, file)),
        count: 0,
    };
    let downloading = |e: std::io::Error| {
        ImageError::Registry(format!("downloading {}: {e}", short(&layer.digest)))
    };
    let layer_dir = job.store.layer_dir(job.diff_id);
    let diff_dir = work.join("diff");
    // Unpacked while it downloads, unless a layer with this diff id is already here.
    let unpacked = if layer_dir.is_dir() {
        None
    } else {
        std::fs::create_dir(&diff_dir).map_err(io_err(&diff_dir))?;
        let mut reader = BufReader::with_capacity(256 * 1024, &mut tee);
        let outcome = unpack_stream(&mut reader, &diff_dir, job.style);
        // The rest of the blob (compressed padding) belongs to its digest too.
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(downloading)?;
        Some(outcome)
    };
    std::io::copy(&mut tee, &mut std::io::sink()).map_err(downloading)?;
    let size = tee.count;
    let got = digest_of(tee.hasher);
    if let Some(mut w) = tee.copy {
        w.flush().map_err(io_err(&blob_tmp))?;
    }
    // The digest first: an unpack error on a corrupt download is the digest's fault.
    if got != layer.digest || (layer.size > 0 && size != layer.size) {
        return Err(ImageError::Registry(format!(
            "layer {} does not match its digest (got {got}, {size} bytes): refusing it",
            layer.digest
        )));
    }
    if let Some(outcome) = unpacked {
        let (_, computed, _) = outcome?;
        if computed != job.diff_id {
            return Err(ImageError::Registry(format!(
                "layer {} unpacks to {computed}, but the image config says {}",
                short(&layer.digest),
                job.diff_id
            )));
        }
        let parent = layer_dir.parent().unwrap_or(&layer_dir);
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        match std::fs::rename(&diff_dir, &layer_dir) {
            Ok(()) => {}
            // A parallel pull of the same layer won; its copy is as good as ours.
            Err(_) if layer_dir.is_dir() => {}
            Err(e) => return Err(io_err(&layer_dir)(e)),
        }
    }
    let blob_path = job.store.blob_path(&layer.digest);
    if !blob_path.exists() {
        std::fs::rename(&blob_tmp, &blob_path).map_err(io_err(&blob_path))?;
    }
    job.progress.status(row, "Pull complete");
    Ok(dir_size(&layer_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_choice() {
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        assert_eq!(
            choose_platform(&index, "linux/amd64"),
            Ok("sha256:b".into())
        );
        assert_eq!(
            choose_platform(&index, "linux/arm64/v8"),
            Ok("sha256:a".into())
        );
        let e = choose_platform(&index, "linux/s390x").expect_err("none");
        assert!(
            e.contains("linux/arm64") && e.contains("linux/amd64"),
            "{e}"
        );
    }
}
