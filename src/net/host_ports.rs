//! Host ports for a container's `-p`/`-P`: fixed ones checked against other containers'
//! leases and against the host (a bind for a moment), random ones chosen by the kernel.

use super::config::NetConfig;
use super::ports::PortMapping;
use crate::state::network::Lease;

/// Two mappings want the same host port (same protocol, overlapping addresses).
fn clash(q: &PortMapping, p: &PortMapping) -> bool {
    q.host_port == p.host_port
        && q.protocol == p.protocol
        && (q.host_ip.is_empty() || p.host_ip.is_empty() || q.host_ip == p.host_ip)
}

fn port_taken(leases: &[Lease], p: &PortMapping) -> bool {
    leases.iter().flat_map(|l| &l.ports).any(|q| clash(q, p))
}

/// Whether the host already has something on that port: bind it for a moment.
fn host_port_free(p: &PortMapping) -> Result<u16, std::io::Error> {
    let ip = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &p.host_ip
    };
    let addr: std::net::SocketAddr = if ip.contains(':') {
        format!("[{ip}]:{}", p.host_port)
    } else {
        format!("{ip}:{}", p.host_port)
    }
    .parse()
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    match p.protocol.as_str() {
        "udp" => std::net::UdpSocket::bind(addr)
            .and_then(|s| s.local_addr())
            .map(|a| a.port()),
        // sctp has no std socket; tcp's answer is the best cheap probe for it.
        _ => std::net::TcpListener::bind(addr)
            .and_then(|s| s.local_addr())
            .map(|a| a.port()),
    }
}

/// Host ports for the container: fixed ones checked, random ones (0, and `-P`) chosen.
pub fn resolve(net: &NetConfig, leases: &[Lease]) -> Result<Vec<PortMapping>, String> {
    let wanted = net.wanted_ports();
    let mut out: Vec<PortMapping> = Vec::new();
    for mut p in wanted {
        let shown = |p: &PortMapping| format!("{}:{}", p.host_ip_or_any(), p.host_port);
        if p.host_port == 0 {
            // The kernel's pick of a free port, retried if another container holds it.
            let mut tries = 0;
            loop {
                let port = host_port_free(&p)
                    .map_err(|e| format!("choosing a host port for {}: {e}", p.key()))?;
                let candidate = PortMapping {
                    host_port: port,
                    ..p.clone()
                };
                if !port_taken(leases, &candidate) && !out.iter().any(|q| clash(q, &candidate)) {
                    p = candidate;
                    break;
                }
                tries += 1;
                if tries > 20 {
                    return Err(format!("no free host port for {}", p.key()));
                }
            }
        } else {
            if port_taken(leases, &p) || out.iter().any(|q| clash(q, &p)) {
                return Err(format!(
                    "Bind for {} failed: port is already allocated",
                    shown(&p)
                ));
            }
            if let Err(e) = host_port_free(&p) {
                let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                    "port is already allocated".to_string()
                } else if e.kind() == std::io::ErrorKind::PermissionDenied {
                    "permission denied".to_string()
                } else {
                    e.to_string()
                };
                return Err(format!("Bind for {} failed: {why}", shown(&p)));
            }
        }
        out.push(p);
    }
    Ok(out)
}
