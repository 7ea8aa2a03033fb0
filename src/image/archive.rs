//! `save` and `load`: images as docker-archive (docker's `manifest.json` + `<id>.json` +
//! uncompressed `layer.tar`s) or oci-archive (an OCI image layout: `oci-layout`,
//! `index.json`, `blobs/sha256/...`). `load` reads both (and docker's newer archives, which
//! are OCI layouts with a `manifest.json`), checks every layer against the config's diff ids,
//! and registers the images last; what a failed load added is removed again.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::config::{
    Descriptor, ImageConfig, MEDIA_CONFIG, MEDIA_LAYER_TAR, MEDIA_MANIFEST, Manifest,
};
use super::import::unpack_stream;
use super::reference::{Reference, familiar, split_tag};
use super::store::{ImageRecord, ImageStore};
use super::unpack::WhiteoutStyle;
use super::{ImageError, io_err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Docker,
    Oci,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, ImageError> {
        match s {
            "docker-archive" | "docker" => Ok(Format::Docker),
            "oci-archive" | "oci" => Ok(Format::Oci),
            other => Err(ImageError::Registry(format!(
                "invalid --format {other:?}: expected docker-archive or oci-archive"
            ))),
        }
    }
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn bad(what: impl std::fmt::Display) -> ImageError {
    ImageError::Registry(format!("invalid archive: {what}"))
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

/// Write the images named by `names` (already looked up) as one archive.
pub fn save<W: Write>(
    store: &ImageStore,
    images: &[(ImageRecord, Vec<String>)],
    format: Format,
    out: W,
) -> Result<(), ImageError> {
    let mut b = tar::Builder::new(out);
    let fail = |e: std::io::Error| ImageError::Registry(format!("writing the archive: {e}"));
    match format {
        Format::Oci => {
            append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(fail)?;
            let mut index = Vec::new();
            let mut written = std::collections::HashSet::new();
            for (img, tags) in images {
                let manifest_path = store.blob_path(&img.manifest_digest);
                let manifest_bytes =
                    std::fs::read(&manifest_path).map_err(io_err(&manifest_path))?;
                let manifest: Manifest =
                    serde_json::from_slice(&manifest_bytes).map_err(|source| {
                        ImageError::Corrupt {
                            path: manifest_path.clone(),
                            source,
                        }
                    })?;
                for d in manifest.layers.iter().chain([&manifest.config]) {
                    if written.insert(d.digest.clone()) {
                        let p = store.blob_path(&d.digest);
                        b.append_path_with_name(&p, format!("blobs/sha256/{}", hex(&d.digest)))
                            .map_err(fail)?;
                    }
                }
                if written.insert(img.manifest_digest.clone()) {
                    b.append_path_with_name(
                        &manifest_path,
                        format!("blobs/sha256/{}", hex(&img.manifest_digest)),
                    )
                    .map_err(fail)?;
                }
                let refs: Vec<Option<String>> = if tags.is_empty() {
                    vec![None]
                } else {
                    tags.iter().cloned().map(Some).collect()
                };
                for t in refs {
                    let mut entry = serde_json::json!({
                        "mediaType": manifest.media_type,
                        "digest": img.manifest_digest,
                        "size": manifest_bytes.len(),
                    });
                    if let Some(t) = t {
                        // podman and skopeo write the full name; docker's OCI export too.
                        entry["annotations"] =
                            serde_json::json!({"org.opencontainers.image.ref.name": t});
                    }
                    index.push(entry);
                }
            }
            let index = serde_json::json!({"schemaVersion": 2, "manifests": index});
            append_bytes(
                &mut b,
                "index.json",
                &serde_json::to_vec(&index).unwrap_or_default(),
            )
            .map_err(fail)?;
        }
        Format::Docker => {
            let mut manifest_json = Vec::new();
            let scratch = store.scratch_dir("save")?;
            let result = (|| {
                for (img, tags) in images {
                    let config_name = format!("{}.json", hex(&img.id));
                    b.append_path_with_name(store.blob_path(&img.id), &config_name)
                        .map_err(fail)?;
                    let manifest_path = store.blob_path(&img.manifest_digest);
                    let manifest: Manifest = serde_json::from_slice(
                        &std::fs::read(&manifest_path).map_err(io_err(&manifest_path))?,
                    )
                    .map_err(|source| ImageError::Corrupt {
                        path: manifest_path.clone(),
                        source,
                    })?;
                    let mut layers = Vec::new();
                    for (d, diff) in manifest.layers.iter().zip(&img.layers) {
                        let name = format!("{}/layer.tar", hex(diff));
                        // docker-archive layers are plain tars: decompress to scratch first
                        // (a tar entry needs its size up front).
                        let plain = scratch.join(hex(diff));
                        decompress(&store.blob_path(&d.digest), &plain)?;
                        b.append_path_with_name(&plain, &name).map_err(fail)?;
                        let _ = std::fs::remove_file(&plain);
                        layers.push(name);
                    }
                    let repo_tags: Vec<String> = tags
                        .iter()
                        .map(|t| {
                            let (n, tag) = split_tag(t);
                            format!("{}:{tag}", familiar(n))
                        })
                        .collect();
                    manifest_json.push(serde_json::json!({
                        "Config": config_name,
                        "RepoTags": if repo_tags.is_empty() { serde_json::Value::Null } else { serde_json::json!(repo_tags) },
                        "Layers": layers,
                    }));
                }
                Ok::<(), ImageError>(())
            })();
            let _ = std::fs::remove_dir_all(&scratch);
            result?;
            append_bytes(
                &mut b,
                "manifest.json",
                &serde_json::to_vec(&manifest_json).unwrap_or_default(),
            )
            .map_err(fail)?;
        }
    }
    b.into_inner().map_err(fail)?.flush().map_err(fail)
}

/// Decompress a stored layer blob (gzip, zstd or plain) into a plain tar file.
fn decompress(blob: &Path, out: &Path) -> Result<(), ImageError> {
    let f = std::fs::File::open(blob).map_err(io_err(blob))?;
    let (mut reader, _) = super::import::decoder(BufReader::new(f))?;
    let mut w = std::fs::File::create(out).map_err(io_err(out))?;
    std::io::copy(&mut reader, &mut w).map_err(io_err(out))?;
    Ok(())
}

/// Load every image of an archive; returns what docker prints ("Loaded image: ...").
pub fn load<R: Read>(store: &ImageStore, input: R) -> Result<Vec<String>, ImageError> {
    let scratch = store.scratch_dir("load")?;
    let mut added_layers = Vec::new();
    let result = extract_and_load(store, input, &scratch, &mut added_layers);
    let _ = std::fs::remove_dir_all(&scratch);
    if result.is_err() {
        for l in added_layers {
            let _ = std::fs::remove_dir_all(l);
        }
    }
    result
}

fn extract_and_load<R: Read>(
    store: &ImageStore,
    input: R,
    scratch: &Path,
    added: &mut Vec<PathBuf>,
) -> Result<Vec<String>, ImageError> {
    // Plain files only, confined to the scratch directory.
    let mut archive = tar::Archive::new(input);
    let entries = archive.entries().map_err(bad)?;
    let mut count = 0;
    for e in entries {
        let mut e = e.map_err(bad)?;
        let path = e.path().map_err(bad)?.into_owned();
        let Some(rel) = crate::securejoin::clean_relative(&path) else {
            return Err(bad(format!("entry {} escapes the archive", path.display())));
        };
        let kind = e.header().entry_type();
        if kind.is_dir() || rel.as_os_str().is_empty() {
            continue;
        }
        if !kind.is_file() && !kind.is_symlink() {
            continue;
        }
        let dest = scratch.join(&rel);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(io_err(p))?;
        }
        if kind.is_symlink() {
            // docker's archives link identical layers; resolve them within the archive.
            let target = e
                .link_name()
                .map_err(bad)?
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let base = rel.parent().unwrap_or(Path::new(""));
            let resolved = crate::securejoin::clean_relative(&base.join(target))
                .ok_or_else(|| bad("a link escapes the archive"))?;
            let src = scratch.join(resolved);
            std::fs::copy(&src, &dest).map_err(io_err(&dest))?;
        } else {
            e.unpack(&dest).map_err(bad)?;
        }
        count += 1;
    }
    if count == 0 {
        return Err(bad("not a tar archive, or an empty one"));
    }
    let style = store.whiteout_style();
    let mut loaded = Vec::new();
    let mut records = Vec::new();
    if scratch.join("manifest.json").exists() {
        let list: Vec<serde_json::Value> = serde_json::from_slice(
            &std::fs::read(scratch.join("manifest.json")).map_err(io_err(scratch))?,
        )
        .map_err(|e| bad(format!("manifest.json: {e}")))?;
        for m in list {
            let config_file = m["Config"]
                .as_str()
                .ok_or_else(|| bad("manifest.json: no Config"))?;
            let config_bytes = read_inside(scratch, config_file)?;
            let layers: Vec<String> = m["Layers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let tags: Vec<String> = m["RepoTags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let files: Vec<PathBuf> = layers
                .iter()
                .map(|l| inside(scratch, l))
                .collect::<Result<_, _>>()?;
            records.push(import_image(
                store,
                &config_bytes,
                &files,
                style,
                added,
                tags,
            )?);
        }
    } else if scratch.join("index.json").exists() {
        let index: serde_json::Value = serde_json::from_slice(&read_inside(scratch, "index.json")?)
            .map_err(|e| bad(format!("index.json: {e}")))?;
        for d in index["manifests"].as_array().cloned().unwrap_or_default() {
            let digest = d["digest"]
                .as_str()
                .ok_or_else(|| bad("index.json: no digest"))?;
            let manifest: Manifest = serde_json::from_slice(&read_blob(scratch, digest)?)
                .map_err(|e| bad(format!("manifest {digest}: {e}")))?;
            let config_bytes = read_blob(scratch, &manifest.config.digest)?;
            let files: Vec<PathBuf> = manifest
                .layers
                .iter()
                .map(|l| inside(scratch, &format!("blobs/sha256/{}", hex(&l.digest))))
                .collect::<Result<_, _>>()?;
            let tags: Vec<String> = d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(|t| vec![t.to_string()])
                .unwrap_or_default();
            records.push(import_image(
                store,
                &config_bytes,
                &files,
                style,
                added,
                tags,
            )?);
        }
    } else {
        return Err(bad(
            "neither manifest.json (docker-archive) nor index.json (oci-archive) found",
        ));
    }
    // Everything verified and in place: now the names.
    for (record, names) in records {
        let shown: Vec<String> = names
            .iter()
            .map(|n| {
                let (name, tag) = split_tag(n);
                format!("{}:{tag}", familiar(name))
            })
            .collect();
        let reg = store.register(ImageRecord { names, ..record })?;
        if shown.is_empty() {
            loaded.push(format!("Loaded image ID: {}", reg.id));
        } else {
            loaded.extend(shown.into_iter().map(|s| format!("Loaded image: {s}")));
        }
    }
    Ok(loaded)
}

fn inside(scratch: &Path, rel: &str) -> Result<PathBuf, ImageError> {
    let clean = crate::securejoin::clean_relative(Path::new(rel))
        .ok_or_else(|| bad(format!("{rel} escapes the archive")))?;
    let p = scratch.join(clean);
    if !p.is_file() {
        return Err(bad(format!("{rel} is missing from the archive")));
    }
    Ok(p)
}

fn read_inside(scratch: &Path, rel: &str) -> Result<Vec<u8>, ImageError> {
    let p = inside(scratch, rel)?;
    std::fs::read(&p).map_err(io_err(&p))
}

fn read_blob(scratch: &Path, digest: &str) -> Result<Vec<u8>, ImageError> {
    let data = read_inside(scratch, &format!("blobs/sha256/{}", hex(digest)))?;
    let got = format!("sha256:{}", crate::ids::to_hex(&Sha256::digest(&data)));
    if got != digest {
        return Err(bad(format!("blob {digest} does not match its digest")));
    }
    Ok(data)
}

/// Unpack the layers (each checked against the config's diff ids), store config, layer blobs
/// and a manifest; the record is returned unregistered with the names to give it.
fn import_image(
    store: &ImageStore,
    config_bytes: &[u8],
    layer_files: &[PathBuf],
    style: WhiteoutStyle,
    added: &mut Vec<PathBuf>,
    tags: Vec<String>,
) -> Result<(ImageRecord, Vec<String>), ImageError> {
    let config: ImageConfig =
        serde_json::from_slice(config_bytes).map_err(|e| bad(format!("image config: {e}")))?;
    if config.rootfs.diff_ids.len() != layer_files.len() {
        return Err(bad("the number of layers does not match the image config"));
    }
    let mut descriptors = Vec::new();
    let mut size = 0;
    for (file, diff) in layer_files.iter().zip(&config.rootfs.diff_ids) {
        let layer_dir = store.layer_dir(diff);
        if !layer_dir.is_dir() {
            let tmp = store.scratch_dir("loadlayer")?;
            let f = std::fs::File::open(file).map_err(io_err(file))?;
            let unpacked = unpack_stream(&mut BufReader::new(f), &tmp, style);
            let (_, computed, _) = match unpacked {
                Ok(u) => u,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&tmp);
                    return Err(e);
                }
            };
            if &computed != diff {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(bad(format!(
                    "a layer unpacks to {computed}, but the image config says {diff}"
                )));
            }
            let parent = layer_dir.parent().unwrap_or(&layer_dir);
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            std::fs::rename(&tmp, &layer_dir).map_err(io_err(&layer_dir))?;
            added.push(layer_dir.parent().unwrap_or(&layer_dir).to_path_buf());
        }
        size += crate::container::volumes::tree_size(&layer_dir);
        // The layer's blob as it came (compressed or not), by its own digest.
        let data_digest = {
            let data = std::fs::read(file).map_err(io_err(file))?;
            format!("sha256:{}", crate::ids::to_hex(&Sha256::digest(&data)))
        };
        let blob = store.blob_path(&data_digest);
        if !blob.exists() {
            std::fs::copy(file, &blob).map_err(io_err(&blob))?;
        }
        let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        let mut magic = [0u8; 4];
        let _ = std::fs::File::open(file).and_then(|mut f| f.read(&mut magic));
        let media = if magic.starts_with(&[0x1f, 0x8b]) {
            super::config::MEDIA_LAYER_GZIP
        } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            super::config::MEDIA_LAYER_ZSTD
        } else {
            MEDIA_LAYER_TAR
        };
        descriptors.push(Descriptor {
            media_type: media.into(),
            digest: data_digest,
            size: len,
        });
    }
    let config_digest = store.put_blob(config_bytes)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: MEDIA_MANIFEST.into(),
        config: Descriptor {
            media_type: MEDIA_CONFIG.into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
        },
        layers: descriptors,
    };
    let manifest_digest = store.put_blob(&serde_json::to_vec(&manifest).unwrap_or_default())?;
    let names = tags
        .iter()
        .filter_map(|t| Reference::parse(t).ok().map(|r| r.canonical()))
        .collect();
    Ok((
        ImageRecord {
            id: config_digest,
            names: Vec::new(),
            manifest_digest,
            added: crate::timefmt::rfc3339(crate::timefmt::now()),
            size,
            layers: config.rootfs.diff_ids.clone(),
            digests: Vec::new(),
        },
        names,
    ))
}
