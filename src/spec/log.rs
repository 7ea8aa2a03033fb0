//! `--log-driver` and `--log-opt` (HostConfig.LogConfig): skiff keeps docker's json-file
//! format for every driver it accepts, rotates it by `max-size`/`max-file`, or keeps nothing
//! (`none`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    pub driver: String,
    #[serde(default)]
    pub opts: BTreeMap<String, String>,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            driver: "json-file".into(),
            opts: BTreeMap::new(),
        }
    }
}

/// Drivers taken: docker's json-file and local (kept as json-file), podman's k8s-file
/// (likewise), and none.
const DRIVERS: &[&str] = &["json-file", "local", "k8s-file", "none"];

impl LogConfig {
    pub fn parse(driver: Option<&str>, opts: &[String]) -> Result<LogConfig, String> {
        let driver = driver.unwrap_or("json-file").to_string();
        if !DRIVERS.contains(&driver.as_str()) {
            return Err(format!(
                "log driver {driver:?} is not supported here: skiff keeps logs itself ({})",
                DRIVERS.join(", ")
            ));
        }
        let mut map = BTreeMap::new();
        for o in opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| format!("invalid --log-opt {o:?}: expected KEY=VALUE"))?;
            match k {
                "max-size" => {
                    crate::units::parse_size(v)
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            format!(
                                "invalid --log-opt max-size={v}: expected a size such as 10k or 20m"
                            )
                        })?;
                }
                "max-file" => {
                    v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("invalid --log-opt max-file={v}: expected a number from 1")
                    })?;
                }
                // Accepted as docker's json-file accepts them; skiff's entries carry no extras.
                "compress" | "labels" | "env" | "tag" | "mode" => {}
                _ => {
                    return Err(format!(
                        "unknown log opt {k:?} for the {driver} log driver (max-size, max-file)"
                    ));
                }
            }
            map.insert(k.to_string(), v.to_string());
        }
        if driver == "none" && !map.is_empty() {
            return Err("the none log driver takes no --log-opt".into());
        }
        if map.contains_key("max-file") && !map.contains_key("max-size") {
            return Err("--log-opt max-file needs max-size".into());
        }
        Ok(LogConfig { driver, opts: map })
    }

    /// (bytes per file, files kept) when the log rotates.
    pub fn rotation(&self) -> Option<(u64, u32)> {
        let size = crate::units::parse_size(self.opts.get("max-size")?)?;
        let files = self
            .opts
            .get("max-file")
            .and_then(|f| f.parse().ok())
            .unwrap_or(1);
        Some((size, files))
    }

    pub fn keeps_nothing(&self) -> bool {
        self.driver == "none"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers_and_options() {
        let c = LogConfig::parse(None, &["max-size=10k".into(), "max-file=3".into()]).expect("ok");
        assert_eq!(c.rotation(), Some((10 * 1024, 3)));
        assert_eq!(
            LogConfig::parse(Some("local"), &[]).map(|c| c.rotation()),
            Ok(None)
        );
        assert!(
            LogConfig::parse(Some("none"), &[])
                .expect("none")
                .keeps_nothing()
        );
        for (d, o) in [
            (Some("syslog"), vec![]),
            (None, vec!["max-size=0".to_string()]),
            (None, vec!["max-file=3".to_string()]),
            (
                None,
                vec!["max-size=1m".to_string(), "max-file=zero".to_string()],
            ),
            (None, vec!["colour=red".to_string()]),
            (Some("none"), vec!["max-size=1m".to_string()]),
        ] {
            assert!(LogConfig::parse(d, &o).is_err(), "{d:?} {o:?}");
        }
    }
}
