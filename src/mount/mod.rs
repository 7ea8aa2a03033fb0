//! The container's filesystem: a pure plan of mount operations, then a small executor that runs
//! in the child, inside its own mount namespace.

pub mod apply;
pub mod copyup;
pub mod detached;
pub mod fuse;
pub mod plan;
pub mod target;
pub mod volume;

pub use plan::{MountOp, RootfsInput};
