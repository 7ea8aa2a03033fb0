//! `--userns=keep-id` (rootless): the container gets a user namespace of its own, nested in the
//! user's namespace, where the user's host uid is the same number inside. Pure: the mapping and
//! the id shift that the image's layers need under it.
//!
//! In the user's namespace, id 0 is the user and 1..N its subordinate ids. Under keep-id with
//! host uid U, container ids map into it as: 0..U-1 -> 1..U, U -> 0, U+1.. -> U+1.. . A file
//! that the image gives to container id c must then be stored with owner `shift(c)`.

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
}
