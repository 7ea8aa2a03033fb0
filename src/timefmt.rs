//! Timestamps (RFC 3339 with nanoseconds, as docker writes them) and docker's human durations.

use jiff::Timestamp;

pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Docker's `0001-01-01T00:00:00Z` for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn rfc3339(ts: Timestamp) -> String {
    ts.to_string()
}

pub fn parse(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

/// Go's `units.HumanDuration`, which docker uses for "Up 3 seconds" and "5 minutes ago".
pub fn human_duration(seconds: i64) -> String {
    let secs = seconds.max(0);
    let minutes = secs / 60;
    // Go rounds hours to the nearest integer here.
    let hours = (secs as f64 / 3600.0).round() as i64;
    if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".to_string()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", secs / 3600 / 24 / 365)
    }
}

/// Seconds elapsed since an RFC 3339 timestamp (0 when it does not parse).
pub fn seconds_since(s: &str) -> i64 {
    parse(s)
        .map(|t| now().as_second() - t.as_second())
        .unwrap_or(0)
}

/// `--since`/`--until` values: RFC 3339, a unix timestamp, or a relative duration like `10m`.
pub fn parse_since(s: &str) -> Option<Timestamp> {
    if let Some(t) = parse(s) {
        return Some(t);
    }
    if let Ok(secs) = s.parse::<f64>() {
        let whole = secs.trunc() as i64;
        let nanos = ((secs - secs.trunc()) * 1e9) as i32;
        return Timestamp::new(whole, nanos).ok();
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "ms" => n / 1000.0,
        _ => return None,
    };
    let ago = jiff::SignedDuration::from_secs_f64(secs);
    now().checked_sub(ago).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(3), "3 seconds");
        assert_eq!(human_duration(61), "About a minute");
        assert_eq!(human_duration(150), "2 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(90 * 86400), "3 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn since_forms() {
        assert!(parse_since("2024-01-01T00:00:00Z").is_some());
        assert!(parse_since("1700000000").is_some());
        let ten_min = parse_since("10m").map(|t| now().as_second() - t.as_second());
        assert_eq!(ten_min, Some(600));
        assert!(parse_since("yesterday").is_none());
    }
}
