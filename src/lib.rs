#![recursion_limit = "256"]
//! skiff: a daemonless, single-binary container launcher with docker's command line.
//! See ARCHITECTURE.md for the module map and the flow of one `run`.

pub mod attach;
pub mod build;
pub mod cgroup;
pub mod cli;
pub mod compose;
pub mod config;
pub mod container;
pub mod ids;
pub mod image;
pub mod kube;
pub mod monitor;
pub mod mount;
pub mod net;
pub mod ns;
pub mod oci;
pub mod securejoin;
pub mod security;
pub mod spec;
pub mod state;
pub mod timefmt;
pub mod units;
