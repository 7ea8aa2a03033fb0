//! Making processes in new namespaces: clone (parent side), the child's setup ending in execve,
//! joining a running container's namespaces, and the rootless per-user user namespace.

pub mod caps;
pub mod exec;
pub mod idmap;
pub mod init;
pub mod initproc;
pub mod process;
pub mod pty;
pub mod rlimits;
pub mod seccomp;
pub mod seccomp_cache;
pub mod seccomp_profile;
pub mod seccomp_tree;
pub mod spawn;
pub mod sync;
pub mod userns;
pub mod users;

pub use sync::{ChildError, Stage};
