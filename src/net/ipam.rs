//! Address management, pure: which subnet a new network gets, which address a container
//! gets, and the checks on `--subnet`, `--gateway`, `--ip-range` and `--ip`.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// skiff's address pool, carved into /24s as docker's `default-address-pools` does. It
/// avoids podman's 10.88.0.0/16 and docker's 172.17.0.0/16 by construction, and every
/// candidate is still checked against the host's routes and addresses.
pub const POOL: &str = "10.90.0.0/15";
pub const POOL_PREFIX: u8 = 24;

pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first /24 of the pool that overlaps nothing in `used`. Rootless networks are taken
/// from the top of the pool down: they are private to their user, root's are the host's, and
/// neither side can see the other's, so they meet only once the pool is nearly full (a
/// rootless subnet equal to a root bridge's would hide that bridge from the user's pasta).
pub fn first_free(used: &[Ipv4Net], from_top: bool) -> Option<Ipv4Net> {
    let pool: Ipv4Net = POOL.parse().ok()?;
    let mut candidates: Vec<Ipv4Net> = pool.subnets(POOL_PREFIX).ok()?.collect();
    if from_top {
        candidates.reverse();
    }
    candidates
        .into_iter()
        .find(|candidate| !used.iter().any(|u| overlaps(candidate, u)))
}

/// The gateway docker picks: the subnet's first host address.
pub fn default_gateway(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// Check a user's subnet, gateway and range together.
pub fn validate(
    subnet: &Ipv4Net,
    gateway: Option<Ipv4Addr>,
    ip_range: Option<&Ipv4Net>,
) -> Result<Ipv4Addr, String> {
    if subnet.prefix_len() > 30 {
        return Err(format!(
            "invalid subnet {subnet}: it must hold at least two addresses (a prefix of /30 or shorter)"
        ));
    }
    if subnet.network() != subnet.addr() {
        return Err(format!(
            "invalid subnet {subnet}: it is not a network address (did you mean {}?)",
            subnet.trunc()
        ));
    }
    let gw = gateway.unwrap_or_else(|| default_gateway(subnet));
    if !usable(subnet, gw) {
        return Err(format!(
            "invalid gateway {gw}: it is not a host address of the subnet {subnet}"
        ));
    }
    if let Some(r) = ip_range
        && !(subnet.contains(&r.network()) && subnet.prefix_len() <= r.prefix_len())
    {
        return Err(format!(
            "invalid --ip-range {r}: it is not inside the subnet {subnet}"
        ));
    }
    Ok(gw)
}

/// A host address of `subnet`: neither its network nor its broadcast address.
pub fn usable(subnet: &Ipv4Net, ip: Ipv4Addr) -> bool {
    subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast()
}

/// The lowest free address of `range` (or the subnet), skipping the gateway and `taken`.
pub fn pick(
    subnet: &Ipv4Net,
    range: Option<&Ipv4Net>,
    gateway: Ipv4Addr,
    taken: &[Ipv4Addr],
) -> Option<Ipv4Addr> {
    let range = range.unwrap_or(subnet);
    range
        .hosts()
        .find(|ip| usable(subnet, *ip) && *ip != gateway && !taken.contains(ip))
}

/// A locally administered MAC from the address, as docker makes them (02:42:a.b.c.d).
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2))
        .collect::<Option<_>>()?;
    let mac: [u8; 6] = parts.try_into().ok()?;
    // Unicast only: the multicast bit must be clear.
    (mac[0] & 1 == 0).then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("net")
    }

    #[test]
    fn subnets_avoid_what_is_used() {
        assert_eq!(first_free(&[], false), Some(net("10.90.0.0/24")));
        assert_eq!(
            first_free(&[net("10.90.0.0/24"), net("10.90.1.0/25")], false),
            Some(net("10.90.2.0/24"))
        );
        // A host route covering the whole first half pushes it past.
        assert_eq!(
            first_free(&[net("10.90.0.0/16")], false),
            Some(net("10.91.0.0/24"))
        );
        // Rootless from the top down.
        assert_eq!(first_free(&[], true), Some(net("10.91.255.0/24")));
        assert_eq!(
            first_free(&[net("10.91.255.0/24")], true),
            Some(net("10.91.254.0/24"))
        );
        assert_eq!(first_free(&[net("10.0.0.0/8")], true), None);
        assert_eq!(first_free(&[net("10.0.0.0/8")], false), None);
    }

    #[test]
    fn addresses_skip_gateway_and_taken() {
        let s = net("10.90.3.0/24");
        let gw = default_gateway(&s);
        assert_eq!(gw, Ipv4Addr::new(10, 90, 3, 1));
        assert_eq!(pick(&s, None, gw, &[]), Some(Ipv4Addr::new(10, 90, 3, 2)));
        assert_eq!(
            pick(&s, None, gw, &[Ipv4Addr::new(10, 90, 3, 2)]),
            Some(Ipv4Addr::new(10, 90, 3, 3))
        );
        let r = net("10.90.3.128/25");
        assert_eq!(
            pick(&s, Some(&r), gw, &[]),
            Some(Ipv4Addr::new(10, 90, 3, 129))
        );
        let tiny = net("10.90.4.0/30");
        let gw = default_gateway(&tiny);
        assert_eq!(pick(&tiny, None, gw, &[Ipv4Addr::new(10, 90, 4, 2)]), None);
    }

    #[test]
    fn validation() {
        assert!(validate(&net("10.1.0.0/16"), None, None).is_ok());
        assert!(
            validate(&net("10.1.0.0/16"), Some(Ipv4Addr::new(10, 2, 0, 1)), None)
                .expect_err("outside")
                .contains("not a host address of the subnet")
        );
        assert!(
            validate(&net("10.1.0.5/16"), None, None)
                .expect_err("host bits")
                .contains("10.1.0.0/16")
        );
        assert!(validate(&net("10.1.0.0/16"), None, Some(&net("10.2.0.0/24"))).is_err());
        assert_eq!(
            mac_text(mac_for(Ipv4Addr::new(10, 90, 0, 2))),
            "02:42:0a:5a:00:02"
        );
        assert_eq!(
            parse_mac("02:42:0a:5a:00:02"),
            Some(mac_for(Ipv4Addr::new(10, 90, 0, 2)))
        );
        assert_eq!(parse_mac("01:00:00:00:00:00"), None);
        assert_eq!(parse_mac("zz"), None);
    }
}
