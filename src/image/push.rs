//! `push`: every blob the registry lacks (config and layers, as stored at import or pull),
//! then the manifest under the tag.

use super::config::Manifest;
use super::reference::Reference;
use super::registry::{Client, Credentials, Endpoint, Upload};
use super::store::ImageStore;
use super::{ImageError, io_err};

pub struct PushOptions {
    pub quiet: bool,
    pub insecure: bool,
    pub credentials: Option<Credentials>,
}

/// Push the local image named `name` (already tagged for the target registry). Returns the
/// manifest digest.
pub fn push(store: &ImageStore, name: &str, opts: &PushOptions) -> Result<String, ImageError> {
    let r = Reference::parse(name)?;
    let image = store.lookup(name)?;
    let manifest_path = store.blob_path(&image.manifest_digest);
    let manifest_bytes = std::fs::read(&manifest_path).map_err(io_err(&manifest_path))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(|source| ImageError::Corrupt {
            path: manifest_path.clone(),
            source,
        })?;
    let client = Client::connect(
        &Endpoint {
            host: r.registry.clone(),
            insecure: opts.insecure,
        },
        opts.credentials.clone(),
    )?;
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    // A repository of the same registry that already has this image (it was pulled from
    // or pushed to it): the registry can mount the blobs from there instead of receiving them.
    let mount_from = image
        .digests
        .iter()
        .chain(&image.names)
        .filter_map(|n| Reference::parse(n).ok())
        .find(|o| o.registry == r.registry && o.repository != r.repository)
        .map(|o| o.repository);
    if !opts.quiet {
        eprintln!("The push refers to repository [{}]", r.full_name());
    }
    for blob in manifest
        .layers
        .iter()
        .chain(std::iter::once(&manifest.config))
    {
        let short = &blob.digest.trim_start_matches("sha256:")[..12];
        if client.has_blob(&r.repository, &blob.digest)? {
            if !opts.quiet {
                eprintln!("{short}: Layer already exists");
            }
            continue;
        }
        let path = store.blob_path(&blob.digest);
        if !path.exists() {
            return Err(ImageError::Registry(format!(
                "blob {} of {name} is not in the local store: pull or import the image again",
                blob.digest
            )));
        }
        let how = client.upload_blob(&r.repository, &blob.digest, &path, mount_from.as_deref())?;
        if !opts.quiet {
            match (how, &mount_from) {
                (Upload::Mounted, Some(from)) => eprintln!("{short}: Mounted from {from}"),
                _ => eprintln!("{short}: Pushed"),
            }
        }
    }
    client.put_manifest(&r.repository, &tag, &manifest.media_type, &manifest_bytes)?;
    let digest = image.manifest_digest.clone();
    store.add_digest(&image.id, &format!("{}@{digest}", r.full_name()))?;
    println!("{tag}: digest: {digest} size: {}", manifest_bytes.len());
    Ok(digest)
}
