//! rtnetlink over a plain blocking socket (netlink-packet-route messages, netlink-sys socket):
//! links, bridges, veth pairs, addresses and routes. Each request asks for an ACK and reads
//! until it (or the dump's end) arrives. The crate's API churns between versions, so every use
//! of it stays in this file.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink: {what}: {message}")]
    Protocol { what: String, message: String },
}

impl NetlinkError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Io { source, .. } => source.raw_os_error(),
            NetlinkError::Protocol { .. } => None,
        }
    }
}

pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

/// One IPv4 address on a link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkAddress {
    pub index: u32,
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl Netlink {
    /// A socket in the caller's (thread's) network namespace.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |source| NetlinkError::Io { what, source }
        };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(io("socket"))?;
        socket.bind_auto().map_err(io("bind"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(io("connect"))?;
        Ok(Netlink {
            socket,
            sequence: 0,
        })
    }

    /// Send `msg`, collect every reply message until the ACK or the end of a dump.
    fn request(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, NetlinkError> {
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        let io = |source| NetlinkError::Io {
            what: what.to_string(),
            source,
        };
        self.socket.send(&buf, 0).map_err(io)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0).map_err(io)?;
            let mut offset = 0;
            while offset < n {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[offset..n])
                    .map_err(|e| NetlinkError::Protocol {
                        what: what.to_string(),
                        message: e.to_string(),
                    })?;
                let len = reply.header.length as usize;
                if reply.header.sequence_number != self.sequence {
                    offset += len.max(1);
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(NetlinkError::Io {
                                what: what.to_string(),
                                source: std::io::Error::from_raw_os_error(-code.get()),
                            }),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(m) => {
                        replies.push(m);
                        if !dump {
                            return Ok(replies);
                        }
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    fn ack(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), NetlinkError> {
        self.request(what, msg, NLM_F_ACK | flags).map(drop)
    }

    /// The index of the link called `name`, if there is one.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            &format!("looking up {name}"),
            RouteNetlinkMessage::GetLink(msg),
            NLM_F_ACK,
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every link's name.
    pub fn link_names(&mut self) -> Result<Vec<String>, NetlinkError> {
        let replies = self.request(
            "listing links",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => l.attributes.into_iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }

    pub fn create_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(m) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(m));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(
            &format!("creating bridge {name}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// A veth pair: `host` here, its peer `peer_name` created straight in the network
    /// namespace `netns` (a /proc/<pid>/ns/net file).
    pub fn create_veth(
        &mut self,
        host: &str,
        peer_name: &str,
        netns: &std::fs::File,
        mtu: Option<u32>,
        peer_mac: Option<[u8; 6]>,
    ) -> Result<(), NetlinkError> {
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(peer_name.to_string()));
        peer.attributes
            .push(LinkAttribute::NetNsFd(netns.as_fd().as_raw_fd()));
        if let Some(mac) = peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        if let Some(m) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(m));
            peer.attributes.push(LinkAttribute::Mtu(m));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        self.ack(
            &format!("creating veth {host}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Set a link up, and optionally enslave it to `master`.
    pub fn set_up(&mut self, index: u32, master: Option<u32>) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        if let Some(m) = master {
            msg.attributes.push(LinkAttribute::Controller(m));
        }
        self.ack(
            &format!("setting link {index} up"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
    }

    pub fn delete_link(&mut self, index: u32) -> Result<(), NetlinkError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.ack(
            &format!("deleting link {index}"),
            RouteNetlinkMessage::DelLink(msg),
            0,
        )
    }

    pub fn add_address(
        &mut self,
        index: u32,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes
            .push(AddressAttribute::Local(IpAddr::V4(address)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(address)));
        let host_bits = 32 - u32::from(prefix);
        if prefix < 31 {
            let broadcast = u32::from(address) | ((1u64 << host_bits) - 1) as u32;
            msg.attributes
                .push(AddressAttribute::Broadcast(Ipv4Addr::from(broadcast)));
        }
        match self.ack(
            &format!("adding {address}/{prefix}"),
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Every IPv4 address on the host's links.
    pub fn addresses(&mut self) -> Result<Vec<LinkAddress>, NetlinkError> {
        let mut query = AddressMessage::default();
        query.header.family = AddressFamily::Inet;
        let replies = self.request(
            "listing addresses",
            RouteNetlinkMessage::GetAddress(query),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => {
                    let address = a.attributes.iter().find_map(|x| match x {
                        AddressAttribute::Local(IpAddr::V4(v)) => Some(*v),
                        _ => None,
                    })?;
                    Some(LinkAddress {
                        index: a.header.index,
                        address,
                        prefix: a.header.prefix_len,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// Destinations (address, prefix length) of the main table's IPv4 routes, default
    /// route excluded.
    pub fn route_destinations(&mut self) -> Result<Vec<(Ipv4Addr, u8)>, NetlinkError> {
        let mut query = RouteMessage::default();
        query.header.address_family = AddressFamily::Inet;
        let replies = self.request(
            "listing routes",
            RouteNetlinkMessage::GetRoute(query),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r)
                    if r.header.table == RouteHeader::RT_TABLE_MAIN
                        && r.header.destination_prefix_length > 0 =>
                {
                    r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(RouteAddress::Inet(d)) => {
                            Some((*d, r.header.destination_prefix_length))
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// The default route via `gateway`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.ack(
            &format!("adding the default route via {gateway}"),
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}

/// Run `work` with a netlink socket inside the network namespace `netns`: on a thread of
/// its own, since setns(CLONE_NEWNET) moves only the calling thread, which then ends.
pub fn in_namespace<T: Send>(
    netns: &std::fs::File,
    work: impl FnOnce(&mut Netlink) -> Result<T, NetlinkError> + Send,
) -> Result<T, NetlinkError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).map_err(
                |e| NetlinkError::Io {
                    what: "entering the container's network namespace".into(),
                    source: e.into(),
                },
            )?;
            let mut nl = Netlink::open()?;
            work(&mut nl)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetlinkError::Protocol {
                what: "network namespace thread".into(),
                message: "panicked".into(),
            })
        })
    })
}
