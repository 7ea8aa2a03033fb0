//! Networking: bridge networks made with netlink (`netlink`, `bridge`), addresses (`ipam`),
//! the nftables table (`firewall`), published ports (`ports`), the network flags (`config`),
//! and the per-container files name resolution reads (`hosts`).

pub mod bridge;
pub mod config;
pub mod firewall;
pub mod host_ports;
pub mod hosts;
pub mod ipam;
pub mod links;
pub mod netlink;
pub mod ports;
pub mod rootless;
pub mod user_netns;
