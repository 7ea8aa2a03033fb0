//! Images: references, the content-addressed store, layer unpacking, and tarball import.

pub mod archive;
pub mod auth;
pub mod config;
pub mod import;
pub mod progress;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod storage;
pub mod store;
pub mod tree;
pub mod unpack;
pub mod vfs;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    State(#[from] crate::state::StateError),
    #[error("invalid reference format {0:?}: {1}")]
    Reference(String, &'static str),
    #[error("{0}")]
    Storage(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error(
        "conflict: unable to remove image {image}: it is used by container {container}; stop and remove the container first, or use -f"
    )]
    InUse { image: String, container: String },
    #[error(
        "conflict: unable to delete {0}: the id is referenced by several names; remove them by name or use -f"
    )]
    MultipleNames(String),
    #[error("{path}: corrupt image metadata: {source}")]
    Corrupt {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("unpacking {entry}: {reason}")]
    Unpack { entry: String, reason: String },
    #[error("invalid --change {0:?}: {1}")]
    Change(String, String),
    #[error("{0}")]
    Registry(String),
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    }
}
