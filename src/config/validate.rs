//! What the types alone cannot check: ranges and combinations of values. Every failure names
//! the file and the dotted key.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::{Config, ConfigError, HumanDuration, LocalValue};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest duration any key accepts; it only keeps arithmetic on durations finite.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A value's problem, before the file and key are attached.
type Problem = Result<(), String>;

/// `value` must lie in `range`.
fn within<T: PartialOrd + Display>(value: T, range: RangeInclusive<T>) -> Problem {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{value} is outside {}..{}",
            range.start(),
            range.end()
        ))
    }
}

/// A duration key must lie in `low..=high`.
fn duration_within(value: HumanDuration, low: Duration, high: Duration) -> Problem {
    within(value, HumanDuration(low)..=HumanDuration(high))
}

impl Config {
    /// Checks what the types alone cannot: ranges and combinations of values.
    pub(super) fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let dns = &self.dns;
        let checks: [(&str, Problem); 27] = [
            (
                "querylog.database",
                super::database::check_location(&self.querylog.database),
            ),
            (
                "querylog.instance",
                self.querylog
                    .instance
                    .as_deref()
                    .map_or(Ok(()), super::database::check_instance),
            ),
            ("dns.listen", non_empty(dns.listen.len(), "address")),
            ("dns.listen", no_repeats(&dns.listen)),
            ("dns.upstreams", non_empty(dns.upstreams.len(), "upstream")),
            (
                "dns.upstream_timeout",
                duration_within(dns.upstream_timeout, SECOND / 20, 30 * SECOND),
            ),
            ("dns.cache_size", within(dns.cache_size, 0..=10_000_000)),
            (
                "dns.tcp_idle_timeout",
                duration_within(dns.tcp_idle_timeout, SECOND / 10, 5 * MINUTE),
            ),
            (
                "dns.max_tcp_connections",
                within(dns.max_tcp_connections, 1..=65_535),
            ),
            (
                "dns.serve_stale",
                duration_within(dns.serve_stale, Duration::ZERO, WEEK),
            ),
            ("dns.max_inflight", within(dns.max_inflight, 1..=100_000)),
            (
                "blocking.ttl",
                duration_within(self.blocking.ttl, Duration::ZERO, WEEK),
            ),
            (
                "blocking.refresh",
                duration_within(self.blocking.refresh, MINUTE, FOREVER),
            ),
            (
                "querylog.retention",
                duration_within(self.querylog.retention, HOUR, FOREVER),
            ),
            (
                "querylog.queue",
                within(self.querylog.queue, 1_024..=1_048_576),
            ),
            (
                "querylog.cache_mb",
                within(self.querylog.cache_mb, 1..=4_096),
            ),
            ("api.password", argon2id_hash(&self.api.password)),
            (
                "api.session_timeout",
                duration_within(self.api.session_timeout, SECOND, 365 * 24 * HOUR),
            ),
            ("api.token", self.remote_api_has_a_secret()),
            ("pihole.listen", self.pihole_listen()),
            ("dns.tls_listen", no_repeats(&dns.tls_listen)),
            ("dns.https_listen", no_repeats(&dns.https_listen)),
            ("tls.names", server_names(&self.tls.names)),
            ("dns.forward", self.forward_zones()),
            ("local.records", self.local_records()),
            (
                "local.ttl",
                duration_within(self.local.ttl, Duration::ZERO, WEEK),
            ),
            ("dns.https_listen", self.listeners_apart()),
        ];
        for (key, problem) in checks {
            if let Err(message) = problem {
                return Err(invalid(file, key, message));
            }
        }
        self.tls_pair_loads(file)?;
        super::groups::validate_groups(&self.groups, &self.clients)
            .map_err(|(key, message)| invalid(file, &key, message))?;
        if !self.dns.upstream_ca.as_os_str().is_empty() {
            crate::tls::upstream_client_config(&self.dns.upstream_ca)
                .map_err(|err| invalid(file, "dns.upstream_ca", err.to_string()))?;
        }
        if !self.dns.trust_anchors.as_os_str().is_empty() {
            if !self.dns.dnssec {
                return Err(invalid(
                    file,
                    "dns.trust_anchors",
                    "trust anchors are used only with dns.dnssec = true".into(),
                ));
            }
            super::anchors::load_trust_anchors(&self.dns.trust_anchors)
                .map_err(|message| invalid(file, "dns.trust_anchors", message))?;
        }
        Ok(())
    }

    /// `tls.cert` and `tls.key` go together, and a pair must load and match.
    fn tls_pair_loads(&self, file: &str) -> Result<(), ConfigError> {
        let tls = &self.tls;
        let (cert_set, key_set) = (
            !tls.cert.as_os_str().is_empty(),
            !tls.key.as_os_str().is_empty(),
        );
        match (cert_set, key_set) {
            (true, false) => Err(invalid(
                file,
                "tls.key",
                "tls.cert is set, so tls.key is needed too".into(),
            )),
            (false, true) => Err(invalid(
                file,
                "tls.cert",
                "tls.key is set, so tls.cert is needed too".into(),
            )),
            _ => match tls.files() {
                Some((cert, key)) => crate::tls::load_pair(cert, key)
                    .map(drop)
                    .map_err(|err| invalid(file, err.config_key(cert), err.to_string())),
                None => Ok(()),
            },
        }
    }

    /// `pihole.listen` is empty or an address; off loopback it needs a secret, like the API.
    fn pihole_listen(&self) -> Problem {
        let text = self.pihole.listen.trim();
        if text.is_empty() {
            return Ok(());
        }
        let Some(addr) = self.pihole.address() else {
            return Err(format!(
                "{text:?} is not an address with a port, e.g. \"127.0.0.1:8081\""
            ));
        };
        let api = &self.api;
        if api.token.is_empty() && api.password.is_empty() && !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is reachable from other machines, so api.token or api.password is required"
            ));
        }
        Ok(())
    }

    /// Every forward entry names valid zones and at least one upstream; no zone twice.
    fn forward_zones(&self) -> Problem {
        let mut seen: Vec<&str> = Vec::new();
        for (i, forward) in self.dns.forward.iter().enumerate() {
            if forward.zones.is_empty() || forward.upstreams.is_empty() {
                return Err(format!("entry {}: needs zones and upstreams", i + 1));
            }
            server_names(&forward.zones).map_err(|why| format!("entry {}: {why}", i + 1))?;
            for zone in &forward.zones {
                if seen.contains(&zone.as_str()) {
                    return Err(format!("zone {zone:?} is listed twice"));
                }
                seen.push(zone);
            }
        }
        Ok(())
    }

    /// Local names are DNS names; an alias points at a DNS name that is not itself.
    fn local_records(&self) -> Problem {
        for (name, value) in &self.local.records {
            server_names(std::slice::from_ref(name))?;
            if let LocalValue::Alias(target) = value {
                server_names(std::slice::from_ref(target))
                    .map_err(|_| format!("{name}: {target:?} is neither an address nor a name"))?;
                if target.eq_ignore_ascii_case(name) {
                    return Err(format!("{name} is an alias of itself"));
                }
            }
        }
        Ok(())
    }

    /// No address serves two of plain DNS, DNS over TLS and DNS over HTTPS (port 0 asks for
    /// any free port, so it never clashes).
    fn listeners_apart(&self) -> Problem {
        let dns = &self.dns;
        for addr in dns.https_listen.iter().filter(|addr| addr.port() != 0) {
            if dns.tls_listen.contains(addr) || dns.listen.contains(addr) {
                return Err(format!("{addr} is also in dns.listen or dns.tls_listen"));
            }
        }
        for addr in dns.tls_listen.iter().filter(|addr| addr.port() != 0) {
            if dns.listen.contains(addr) {
                return Err(format!("{addr} is also in dns.listen"));
            }
        }
        Ok(())
    }

    fn remote_api_has_a_secret(&self) -> Problem {
        let api = &self.api;
        if api.token.is_empty() && api.password.is_empty() && !api.listen.ip().is_loopback() {
            return Err(format!(
                "api.listen {} is reachable from other machines, so a token (or api.password) is required",
                api.listen
            ));
        }
        Ok(())
    }
}

/// `api.password` must be empty or an argon2id hash in PHC form: a password written there in
/// plain text is refused rather than silently compared.
fn argon2id_hash(text: &str) -> Problem {
    if text.is_empty() {
        return Ok(());
    }
    match argon2::PasswordHash::new(text) {
        Ok(hash) if hash.algorithm.as_str() == "argon2id" && hash.hash.is_some() => Ok(()),
        _ => Err(
            "expected an argon2id hash such as \"$argon2id$v=19$m=19456,t=2,p=1$...\" (make one with `hush hash-password`), not the password itself"
                .to_owned(),
        ),
    }
}

fn invalid(file: &str, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_owned(),
        key: key.to_owned(),
        message,
    }
}

/// Server names: DNS names of letters, digits, `-` and `.`, without a trailing dot.
fn server_names(names: &[String]) -> Problem {
    for name in names {
        let labels_ok = name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        });
        if !labels_ok || name.len() > 253 {
            return Err(format!(
                "{name:?} is not a DNS name such as \"dns.example.org\""
            ));
        }
    }
    no_repeats(names)
}

fn non_empty(count: usize, what: &str) -> Problem {
    if count == 0 {
        return Err(format!("at least one {what} is needed"));
    }
    Ok(())
}

fn no_repeats<T: PartialEq + Display>(items: &[T]) -> Problem {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(format!("{item} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_both_ends_in_the_keys_own_unit() {
        assert_eq!(within(5, 1..=3), Err("5 is outside 1..3".to_owned()));
        assert_eq!(within(2, 1..=3), Ok(()));
        let message = duration_within(HumanDuration(Duration::ZERO), SECOND / 20, 30 * SECOND);
        assert_eq!(message, Err("0ms is outside 50ms..30s".to_owned()));
        assert_eq!(no_repeats(&[1, 2, 1]), Err("1 is listed twice".to_owned()));
        assert_eq!(
            non_empty(0, "upstream"),
            Err("at least one upstream is needed".to_owned())
        );
    }
}
