//! `--userns=keep-id` (rootless): the container gets a user namespace of its own, nested in the
//! user's namespace, where the user's host uid is the same number inside. Pure: the mapping and
//! the id shift that the image's layers need under it.
//!
//! In the user's namespace, id 0 is the user and 1..N its subordinate ids. Under keep-id with
//! host uid U, container ids map into it as: 0..U-1 -> 1..U, U -> 0, U+1.. -> U+1.. . A file
//! that the image gives to container id c must then be stored with owner `shift(c)`.
//!
//! `--userns=auto` (root): each container gets a range of host ids of its own, taken from the
//! subordinate ids of the user `containers` (podman's convention) and not used by any other
//! container; container id c is host id `uid_base + c`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepId {
    pub uid: u32,
    pub gid: u32,
}

/// Container id -> id in the user's namespace, for host id `keep`.
pub fn shift(id: u32, keep: u32) -> u32 {
    match id.cmp(&keep) {
        std::cmp::Ordering::Less => id + 1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => id,
    }
}

/// The uid_map/gid_map text for the nested namespace, given how many ids the user's
/// namespace has (`size`: 1 + the subordinate ids). None when `keep` does not fit.
pub fn map_text(keep: u32, size: u32) -> Option<String> {
    if size < 2 || keep >= size {
        return None;
    }
    let mut out = String::new();
    if keep > 0 {
        out.push_str(&format!("0 1 {keep}\n"));
    }
    out.push_str(&format!("{keep} 0 1\n"));
    if size > keep + 1 {
        out.push_str(&format!("{} {} {}\n", keep + 1, keep + 1, size - keep - 1));
    }
    Some(out)
}

/// How many ids a namespace maps, from its /proc/self/uid_map (or gid_map).
pub fn mapped_count(map: &str) -> u32 {
    map.lines()
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u32>().ok())
        .fold(0u32, u32::saturating_add)
}

/// The user whose /etc/subuid and /etc/subgid ranges `--userns=auto` hands out.
pub const AUTO_USER: &str = "containers";

/// docker's userns-remap size, and podman's largest automatic one.
pub const AUTO_DEFAULT_SIZE: u32 = 65536;

/// `--userns=auto`: the host ids a container's ids 0..size map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRange {
    pub uid_base: u32,
    pub gid_base: u32,
    pub size: u32,
}

impl AutoRange {
    pub fn map_text(base: u32, size: u32) -> String {
        format!("0 {base} {size}\n")
    }

    /// The container's ids of a file owned by host ids `uid`:`gid` (ids outside the range,
    /// which the container sees as nobody, are kept as they are).
    pub fn in_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        let back = |id: u32, base: u32| {
            if id >= base && id - base < self.size {
                id - base
            } else {
                id
            }
        };
        (back(uid, self.uid_base), back(gid, self.gid_base))
    }
}

/// The size `--userns` asks for: None when it is not `auto`, else `auto` or `auto:size=N`.
pub fn parse_auto(mode: &str) -> Option<Result<u32, String>> {
    let rest = mode.strip_prefix("auto")?;
    if rest.is_empty() {
        return Some(Ok(AUTO_DEFAULT_SIZE));
    }
    let bad = || {
        format!("invalid --userns {mode:?}: expected auto or auto:size=N (N from 1 to 4294967294)")
    };
    let Some(opts) = rest.strip_prefix(':') else {
        return Some(Err(format!(
            "invalid --userns {mode:?}: expected host, keep-id, auto or auto:size=N"
        )));
    };
    let mut size = AUTO_DEFAULT_SIZE;
    for opt in opts.split(',') {
        match opt.split_once('=') {
            Some(("size", n)) => match n.parse::<u32>() {
                Ok(n) if n > 0 && n < u32::MAX => size = n,
                _ => return Some(Err(bad())),
            },
            _ => {
                return Some(Err(format!(
                    "invalid --userns option {opt:?}: only size=N is known with auto"
                )));
            }
        }
    }
    Some(Ok(size))
}

/// The first `size` ids inside `ranges` (start, count) that overlap none of `used`
/// (start, count). Candidates are the start of each range and the end of each used block.
pub fn pick_free(ranges: &[(u32, u32)], used: &[(u32, u32)], size: u32) -> Option<u32> {
    let end = |(s, c): (u32, u32)| u64::from(s) + u64::from(c);
    let overlaps = |start: u64| {
        used.iter()
            .any(|&u| start < end(u) && u64::from(u.0) < start + u64::from(size))
    };
    let mut candidates: Vec<u64> = ranges.iter().map(|r| u64::from(r.0)).collect();
    candidates.extend(used.iter().map(|&u| end(u)));
    candidates.sort_unstable();
    candidates.into_iter().find_map(|start| {
        let fits = ranges
            .iter()
            .any(|&r| start >= u64::from(r.0) && start + u64::from(size) <= end(r));
        (fits && !overlaps(start)).then(|| u32::try_from(start).ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_id_mapping() {
        assert_eq!(
            map_text(1000, 65537).as_deref(),
            Some("0 1 1000\n1000 0 1\n1001 1001 64536\n")
        );
        assert_eq!(map_text(0, 10).as_deref(), Some("0 0 1\n1 1 9\n"));
        assert_eq!(map_text(1000, 1), None, "no subordinate ids");
        assert_eq!(map_text(70000, 65537), None, "uid outside the range");
        assert_eq!(shift(0, 1000), 1);
        assert_eq!(shift(999, 1000), 1000);
        assert_eq!(shift(1000, 1000), 0);
        assert_eq!(shift(1001, 1000), 1001);
        assert_eq!(
            mapped_count("         0       1000          1\n         1     300000      65536\n"),
            65537
        );
    }

    #[test]
    fn auto_owners_back_to_the_container() {
        let a = AutoRange {
            uid_base: 100_000,
            gid_base: 200_000,
            size: 1000,
        };
        assert_eq!(a.in_container(100_000, 200_005), (0, 5));
        assert_eq!(a.in_container(101_000, 0), (101_000, 0));
    }

    #[test]
    fn auto_sizes() {
        assert_eq!(parse_auto("host"), None);
        assert_eq!(parse_auto("auto"), Some(Ok(65536)));
        assert_eq!(parse_auto("auto:size=1024"), Some(Ok(1024)));
        assert!(matches!(parse_auto("auto:size=0"), Some(Err(_))));
        assert!(matches!(parse_auto("auto:size=x"), Some(Err(_))));
        assert!(matches!(parse_auto("auto:uidmapping=0:1:2"), Some(Err(_))));
        assert!(matches!(parse_auto("automatic"), Some(Err(_))));
    }

    #[test]
    fn free_ranges() {
        let ranges = [(100_000, 200_000)];
        assert_eq!(pick_free(&ranges, &[], 65536), Some(100_000));
        assert_eq!(
            pick_free(&ranges, &[(100_000, 65536)], 65536),
            Some(165_536)
        );
        // A hole left by a removed container is used again.
        assert_eq!(
            pick_free(&ranges, &[(165_536, 65536)], 65536),
            Some(100_000)
        );
        assert_eq!(
            pick_free(&ranges, &[(100_000, 65536), (165_536, 65536)], 65536),
            Some(231_072)
        );
        // 300000 is the end: 236072 + 65536 > 300000.
        assert_eq!(
            pick_free(
                &ranges,
                &[(100_000, 65536), (165_536, 65536), (231_072, 5000)],
                65536
            ),
            None
        );
        // Several ranges: the second is used when the first is full.
        assert_eq!(
            pick_free(&[(10, 5), (1000, 100)], &[(10, 5)], 50),
            Some(1000)
        );
        assert_eq!(pick_free(&[], &[], 1), None);
    }
}
