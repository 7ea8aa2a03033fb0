//! Networking: bridge networks made with netlink (`netlink`, `bridge`), addresses (`ipam`),
//! the nftables table (`firewall`), published ports (`ports`), the network flags (`config`),
//! and the per-container files name resolution reads (`hosts`); a container's leaving is
//! `release`.

pub mod bridge;
pub mod config;
pub mod firewall;
pub mod forward;
pub mod host_ports;
pub mod hosts;
pub mod ipam;
pub mod links;
pub mod netlink;
pub mod netns_holder;
pub mod outside;
pub mod ports;
pub mod release;
pub mod rootless;
pub mod user_netns;

/// What the networking layer can fail with, kept here so that every part can name it without
/// importing another part.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Netlink(#[from] netlink::NetlinkError),
    #[error(transparent)]
    Firewall(#[from] firewall::FirewallError),
    #[error("{0}")]
    Invalid(String),
}
