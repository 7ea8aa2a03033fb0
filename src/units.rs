//! Sizes and CPU counts as docker's command line reads them (go-units `RAMInBytes`, `--cpus`),
//! and memory sizes printed as docker prints them (`BytesSize`; decimal sizes are
//! `cli::format::human_size`).

/// `512`, `32m`, `1g`, `1.5G`, `64mb`, `2KiB`: binary multiples (k = 1024), docker's rule for
/// memory and shm sizes.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    let bytes = value * mult as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// `--cpus 1.5` -> 1_500_000_000 nano-CPUs (docker's NanoCPUs). None for a malformed number.
pub fn parse_cpus(s: &str) -> Option<i64> {
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then(|| (v * 1e9).round() as i64)
}

/// docker's `BytesSize`: binary units, 4 significant digits: `1.5MiB`, `31.25GiB`.
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    // %.4g, then trailing zeros dropped, as go-units prints it.
    let digits = if v >= 1000.0 {
        0
    } else if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[i])
}

/// Go's duration syntax (`30s`, `1m30s`, `500ms`, `1.5h`) in nanoseconds, as docker reads
/// `--health-interval` and HEALTHCHECK's flags; a sign is refused.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {s:?}: expected e.g. 30s, 1m30s, 500ms");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    if total >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("32m"), Some(32 << 20));
        assert_eq!(parse_size("32M"), Some(32 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1.5g"), Some(3 << 29));
        assert_eq!(parse_size("64mb"), Some(64 << 20));
        assert_eq!(parse_size("2KiB"), Some(2048));
        assert_eq!(parse_size("10 k"), Some(10240));
        for bad in ["", "1x", "m", "-1", "1.g", ".5m", "1mm", "1..2"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5"), Some(500_000_000));
        assert_eq!(parse_cpus("2"), Some(2_000_000_000));
        assert_eq!(parse_cpus("-1"), Some(-1_000_000_000));
        assert_eq!(parse_cpus("half"), None);
    }

    #[test]
    fn printing() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1536 * 1024), "1.5MiB");
        assert_eq!(bytes_size(32 << 20), "32MiB");
        assert_eq!(bytes_size(500), "500B");
    }
}
