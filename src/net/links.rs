//! `--link NAME[:ALIAS]`, docker's legacy links on the default network: the linked
//! container's address in /etc/hosts under the alias, and the environment variables docker
//! derives from it (`DB_PORT_5432_TCP_ADDR=...`).

use std::net::Ipv4Addr;

/// What a link needs to know of the linked container.
pub struct Linked<'a> {
    pub alias: &'a str,
    pub name: &'a str,
    pub short_id: &'a str,
    pub ip: Ipv4Addr,
    /// Its exposed ports, (port, protocol).
    pub ports: &'a [(u16, String)],
    pub env: &'a [String],
}

/// docker's env vars for one link, as seen by container `me`.
pub fn env_vars(me: &str, l: &Linked) -> Vec<String> {
    let prefix: String = l
        .alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut out = vec![format!("{prefix}_NAME=/{me}/{}", l.alias)];
    let mut ports = l.ports.to_vec();
    ports.sort();
    if let Some((port, proto)) = ports.first() {
        out.push(format!("{prefix}_PORT={proto}://{}:{port}", l.ip));
    }
    for (port, proto) in &ports {
        let key = format!("{prefix}_PORT_{port}_{}", proto.to_ascii_uppercase());
        out.push(format!("{key}={proto}://{}:{port}", l.ip));
        out.push(format!("{key}_ADDR={}", l.ip));
        out.push(format!("{key}_PORT={port}"));
        out.push(format!("{key}_PROTO={proto}"));
    }
    for kv in l.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        if !matches!(key, "HOME" | "HOSTNAME" | "PATH") {
            out.push(format!("{prefix}_ENV_{kv}"));
        }
    }
    out
}

/// The hosts line: the alias first, then the name and short id.
pub fn hosts_line(l: &Linked) -> String {
    let mut names = vec![l.alias.to_string()];
    if l.name != l.alias {
        names.push(l.name.to_string());
    }
    names.push(l.short_id.to_string());
    format!("{}\t{}\n", l.ip, names.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_link_variables() {
        let ports = vec![(5432, "tcp".to_string())];
        let env = vec!["POSTGRES_DB=app".to_string(), "PATH=/bin".to_string()];
        let l = Linked {
            alias: "db",
            name: "pg",
            short_id: "0123456789ab",
            ip: Ipv4Addr::new(10, 90, 0, 5),
            ports: &ports,
            env: &env,
        };
        assert_eq!(
            env_vars("web", &l),
            vec![
                "DB_NAME=/web/db",
                "DB_PORT=tcp://10.90.0.5:5432",
                "DB_PORT_5432_TCP=tcp://10.90.0.5:5432",
                "DB_PORT_5432_TCP_ADDR=10.90.0.5",
                "DB_PORT_5432_TCP_PORT=5432",
                "DB_PORT_5432_TCP_PROTO=tcp",
                "DB_ENV_POSTGRES_DB=app",
            ]
        );
        assert_eq!(hosts_line(&l), "10.90.0.5\tdb pg 0123456789ab\n");
    }
}
