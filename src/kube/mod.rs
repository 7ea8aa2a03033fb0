//! The bridge from one host to a cluster: `kube generate` writes Kubernetes YAML for running
//! containers, `kube play` runs Pod and Deployment YAML here. The objects (`model`), the
//! writing (`generate`) and the planning (`play`) are pure; `cli/kube.rs` runs them.

pub mod generate;
pub mod model;
pub mod play;
