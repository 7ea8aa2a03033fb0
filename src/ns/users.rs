//! Resolve `-u name|uid[:group|gid]` against the container's /etc/passwd and /etc/group, the way
//! docker does (numeric ids need no entry). Pure: takes file contents.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    passwd.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 || l.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// (name, gid, members) of each /etc/group line.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 || l.starts_with('#') {
            return None;
        }
        let members = f
            .get(3)
            .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<ExecUser, UserError> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd_entries(passwd).find(|e| e.name == user).or_else(|| {
        user.parse::<u32>()
            .ok()
            .and_then(|uid| passwd_entries(passwd).find(|e| e.uid == uid))
    });
    let (uid, mut gid, name, home) = match (&entry, user.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name), e.home.to_string()),
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => return Err(UserError::NoUser(user.to_string())),
    };
    if let Some(g) = grp {
        gid = match group_entries(group).find(|(n, _, _)| *n == g) {
            Some((_, id, _)) => id,
            None => g.parse().map_err(|_| UserError::NoGroup(g.to_string()))?,
        };
    }
    // Supplementary groups: those listing the user, unless a group was forced with user:group.
    let mut groups = vec![gid];
    if grp.is_none()
        && let Some(n) = name
    {
        for (_, id, members) in group_entries(group) {
            if members.contains(&n) && !groups.contains(&id) {
                groups.push(id);
            }
        }
    }
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\nwww:x:33:33::/var/www:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nadm:x:4:www\nnogroup:x:65534:\nwww:x:33:\n";

    #[test]
    fn by_name_uid_and_groups() {
        let r = resolve("", PASSWD, GROUP).expect("root");
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let w = resolve("www", PASSWD, GROUP).expect("www");
        assert_eq!((w.uid, w.gid), (33, 33));
        assert_eq!(w.groups, vec![33, 4]);
        let n = resolve("65534", PASSWD, GROUP).expect("uid");
        assert_eq!(n.home, "/home");
        let raw = resolve("1234:5678", PASSWD, GROUP).expect("numeric");
        assert_eq!(
            (raw.uid, raw.gid, raw.groups.clone()),
            (1234, 5678, vec![5678])
        );
        let g = resolve("www:adm", PASSWD, GROUP).expect("named group");
        assert_eq!((g.gid, g.groups.clone()), (4, vec![4]));
    }

    #[test]
    fn unknown_names() {
        assert_eq!(
            resolve("ghost", PASSWD, GROUP),
            Err(UserError::NoUser("ghost".into()))
        );
        assert_eq!(
            resolve("root:ghosts", PASSWD, GROUP),
            Err(UserError::NoGroup("ghosts".into()))
        );
    }
}
