//! skiff as an OCI runtime: runc's command line (`cli`) over OCI bundles (`bundle`), for
//! containerd's shim and anyone else who speaks it. The same launch code as `skiff run`
//! (`ns::init`, `mount::apply`, `cgroup`, `ns::seccomp_profile`) behind a second front end;
//! this module owns only the runtime's own state (`state`), the create/start split
//! (`create`), `exec`/`run` (`exec`), the other commands (`ops`), hooks and the features
//! document.

pub mod bundle;
pub mod cli;
pub mod create;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod ops;
pub mod state;
