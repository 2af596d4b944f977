//! Strict query-string parsing: unknown parameters are rejected, every value is checked, and
//! every error names the parameter.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crate::config::HumanDuration;
use crate::store::time::unix_micros;
use crate::store::{TimeRange, Window};

use super::error::ApiError;

pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    /// Parses `query`, allowing only the parameter names in `allowed`, each at most once.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut values = HashMap::new();
        for pair in query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
        {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name)
                .ok_or_else(|| ApiError::bad_parameter(name, "not valid percent-encoding"))?;
            let value = decode(value)
                .ok_or_else(|| ApiError::bad_parameter(&name, "not valid percent-encoding"))?;
            if !allowed.contains(&name.as_str()) {
                return Err(ApiError::bad_parameter(
                    &name,
                    format!("unknown; expected one of {}", allowed.join(", ")),
                ));
            }
            if values.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad_parameter(&name, "given more than once"));
            }
        }
        Ok(Self { values })
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A non-empty text value.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.text(name) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(ApiError::bad_parameter(name, "is required")),
        }
    }

    pub fn number(
        &self,
        name: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ApiError> {
        let Some(text) = self.text(name) else {
            return Ok(default);
        };
        match text.parse::<u32>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(ApiError::bad_parameter(
                name,
                format!(
                    "expected a whole number from {} to {}, got {text:?}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// An RFC 3339 time (`2026-11-23T10:00:00Z`) or Unix seconds.
    pub fn time(&self, name: &str) -> Result<Option<SystemTime>, ApiError> {
        let Some(text) = self.text(name) else {
            return Ok(None);
        };
        if let Ok(seconds) = text.parse::<u64>() {
            return Ok(Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)));
        }
        humantime::parse_rfc3339_weak(text).map(Some).map_err(|_| {
            ApiError::bad_parameter(
                name,
                format!("expected an RFC 3339 time or Unix seconds, got {text:?}"),
            )
        })
    }

    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ApiError> {
        self.text(name)
            .map(|text| {
                text.parse::<HumanDuration>()
                    .map(|d| d.0)
                    .map_err(|err| ApiError::bad_parameter(name, err))
            })
            .transpose()
    }

    /// `from`/`to`, defaulting to the last 24 hours; `from` must come before `to`.
    pub fn range(&self) -> Result<TimeRange, ApiError> {
        let now = SystemTime::now();
        let to = self.time("to")?.unwrap_or(now);
        let from = self
            .time("from")?
            .unwrap_or_else(|| to - Duration::from_secs(86_400));
        if from >= to {
            return Err(ApiError::bad_parameter("from", "must be earlier than `to`"));
        }
        Ok(TimeRange {
            from_us: unix_micros(from),
            to_us: unix_micros(to),
        })
    }
}

impl Params {
    /// [`Params::range`] and the `instance` filter (an instance name, exactly).
    pub fn window(&self) -> Result<Window, ApiError> {
        Ok(Window {
            range: self.range()?,
            instance: self.instance()?,
        })
    }

    /// The `instance` filter.
    pub fn instance(&self) -> Result<Option<String>, ApiError> {
        match self.text("instance") {
            Some(name) if name.is_empty() || name.len() > 64 => Err(ApiError::bad_parameter(
                "instance",
                "expected an instance name (1 to 64 characters)",
            )),
            name => Ok(name.map(str::to_owned)),
        }
    }
}

/// Percent-decoding of one query-string component (`+` is a space).
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_strict_and_names_the_parameter() {
        let params = Params::parse(
            Some("limit=5&domain=a%25b+c&from=1700000000"),
            &["limit", "domain", "from"],
        )
        .unwrap();
        assert_eq!(params.number("limit", 100, 1..=1000).unwrap(), 5);
        assert_eq!(params.text("domain"), Some("a%b c"));
        assert!(params.time("from").unwrap().is_some());
        let errors = [
            (Some("bogus=1"), "parameter `bogus`: unknown"),
            (
                Some("limit=1&limit=2"),
                "parameter `limit`: given more than once",
            ),
            (
                Some("limit=%zz"),
                "parameter `limit`: not valid percent-encoding",
            ),
        ];
        for (query, expected) in errors {
            let err = Params::parse(query, &["limit"]).err().unwrap();
            assert!(err_message(err).starts_with(expected), "{query:?}");
        }
        let params = Params::parse(Some("limit=0&from=yesterday"), &["limit", "from"]).unwrap();
        assert!(
            err_message(params.number("limit", 100, 1..=1000).err().unwrap())
                .starts_with("parameter `limit`")
        );
        assert!(err_message(params.time("from").err().unwrap()).starts_with("parameter `from`"));
    }

    fn err_message(err: ApiError) -> String {
        err.message().to_owned()
    }
}
