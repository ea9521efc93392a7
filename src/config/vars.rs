//! Reading the environment once: a variable is trimmed, empty counts as unset, and a value that
//! does not parse is an error that names its variable.
use std::{fmt, net::IpAddr, str::FromStr, time::Duration};

use ipnet::IpNet;

#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct SettingsError {
    pub name: &'static str,
    pub problem: String,
}

impl SettingsError {
    pub fn new(name: &'static str, problem: impl Into<String>) -> Self {
        SettingsError {
            name,
            problem: problem.into(),
        }
    }
}

/// A lookup of variables (the process environment, or a map in tests).
pub struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Vars<'a> {
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Vars { get }
    }

    /// The trimmed value, `None` when unset or empty.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value as text, or `default`.
    pub fn text(&self, name: &str, default: &str) -> String {
        self.var(name).unwrap_or_else(|| default.to_owned())
    }

    /// The value parsed as `T`, or `None` when unset.
    pub fn parsed_opt<T>(&self, name: &'static str) -> Result<Option<T>, SettingsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.var(name)
            .map(|raw| {
                raw.parse()
                    .map_err(|e| SettingsError::new(name, format!("{raw:?} is not valid ({e})")))
            })
            .transpose()
    }

    /// The value parsed as `T`, or `default` when unset.
    pub fn parsed<T>(&self, name: &'static str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.parsed_opt(name)?.unwrap_or(default))
    }

    /// A `…_SECS` variable: whole seconds, above 0 (no lifetime or window may be empty).
    pub fn secs(&self, name: &'static str, default: u64) -> Result<Duration, SettingsError> {
        match self.parsed(name, default)? {
            0 => Err(SettingsError::new(name, "must be above 0")),
            n => Ok(Duration::from_secs(n)),
        }
    }

    /// A `…_MS` variable: milliseconds, 0 allowed.
    pub fn millis(&self, name: &'static str, default: u64) -> Result<Duration, SettingsError> {
        Ok(Duration::from_millis(self.parsed(name, default)?))
    }

    /// A `…_MS` variable that must be above 0.
    pub fn millis_above_zero(&self, name: &'static str, default: u64) -> Result<Duration, SettingsError> {
        match self.millis(name, default)? {
            zero if zero.is_zero() => Err(SettingsError::new(name, "must be above 0")),
            d => Ok(d),
        }
    }

    /// A comma-separated list (empty items dropped).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.var(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A comma-separated list of networks (`10.0.0.0/8`) or single addresses (`10.0.0.7`),
    /// or `default` when unset.
    pub fn networks(&self, name: &'static str, default: &[&str]) -> Result<Vec<IpNet>, SettingsError> {
        let listed = self.list(name);
        let items: Vec<&str> = if self.var(name).is_some() {
            listed.iter().map(String::as_str).collect()
        } else {
            default.to_vec()
        };
        items
            .into_iter()
            .map(|raw| {
                raw.parse::<IpNet>()
                    .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        SettingsError::new(name, format!("{raw:?} is neither an address nor a network"))
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with<T>(pairs: &[(&str, &str)], read: impl FnOnce(&Vars) -> T) -> T {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let get = |k: &str| map.get(k).cloned();
        read(&Vars::new(&get))
    }

    #[test]
    fn empty_counts_as_unset_and_values_are_trimmed() {
        with(&[("A", "  "), ("B", " 7 ")], |v| {
            assert_eq!(v.parsed("A", 3u32).unwrap(), 3);
            assert_eq!(v.parsed("B", 3u32).unwrap(), 7);
        });
    }

    #[test]
    fn zero_is_refused_where_a_duration_must_be_above_zero() {
        with(&[("S", "0"), ("M", "0")], |v| {
            assert_eq!(v.secs("S", 5).unwrap_err().name, "S");
            assert_eq!(v.millis_above_zero("M", 5).unwrap_err().name, "M");
            assert!(v.millis("M", 5).unwrap().is_zero());
        });
    }

    #[test]
    fn networks_take_addresses_and_ranges_or_the_default() {
        with(&[("N", "10.0.0.0/8, 10.1.2.3"), ("BAD", "10.0.0.0/99")], |v| {
            assert_eq!(v.networks("N", &[]).unwrap().len(), 2);
            assert_eq!(v.networks("UNSET", &["::1"]).unwrap().len(), 1);
            assert_eq!(v.networks("BAD", &[]).unwrap_err().name, "BAD");
        });
    }
}
