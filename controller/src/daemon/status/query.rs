//! What a `/status` request asks for: filters (`vip`, `service`, `key`), the summary instead
//! of the per-real-server rows, and indentation for people reading it with curl. Parsed
//! strictly: an unknown or repeated parameter, or a bad value, is refused with a message that
//! names it, so a typo never silently returns the whole table.

use std::fmt;
use std::net::IpAddr;

use lb_config::{ServiceKey, VirtualService};

/// The parameters `/status` takes, for error messages.
const ACCEPTED: &str = "vip=ADDR, service=NAMESPACE/NAME[:PORT], key=KEY, summary, pretty";

/// A `/status` request: which services, and in which form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusQuery {
    /// Only the services of this VIP.
    pub vip: Option<IpAddr>,
    /// Only the services that mirror this Kubernetes Service (or one of its ports).
    pub service: Option<ServiceFilter>,
    /// Only the services defined by this ConfigMap key.
    pub key: Option<String>,
    /// Counts per state and per VIP instead of every real server.
    pub summary: bool,
    /// Indented JSON (for a person reading it); compact otherwise.
    pub pretty: bool,
}

/// `NAMESPACE/NAME` or `NAMESPACE/NAME:PORT` (the port's name, or its number as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFilter {
    /// Namespace of the Service.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// One port of it (name or number as the status shows it); `None`: every port.
    pub port: Option<String>,
}

/// Why a `/status` query was refused; the message names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter `/status` does not take.
    #[error("unknown query parameter `{0}`: /status takes {ACCEPTED}")]
    Unknown(String),
    /// The same parameter twice.
    #[error("query parameter `{0}` given twice")]
    Repeated(&'static str),
    /// A value that does not parse.
    #[error("{name}={value}: {why}")]
    BadValue {
        /// The parameter.
        name: &'static str,
        /// Its value as received (decoded).
        value: String,
        /// What was expected.
        why: &'static str,
    },
}

impl StatusQuery {
    /// Parses the query string of a request (without `?`; empty: everything, compact).
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        let mut out = StatusQuery::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name);
            let value = decode(raw_value);
            let known: &'static str = match name.as_str() {
                "vip" => "vip",
                "service" => "service",
                "key" => "key",
                "summary" => "summary",
                "pretty" => "pretty",
                _ => return Err(QueryError::Unknown(name)),
            };
            if seen.contains(&known) {
                return Err(QueryError::Repeated(known));
            }
            seen.push(known);
            match known {
                "vip" => {
                    out.vip = Some(value.parse().map_err(|_| QueryError::BadValue {
                        name: "vip",
                        value: value.clone(),
                        why: "not an IP address",
                    })?);
                }
                "service" => out.service = Some(ServiceFilter::parse(&value)?),
                "key" => {
                    if value.is_empty() {
                        return Err(QueryError::BadValue {
                            name: "key",
                            value,
                            why: "expected a ConfigMap key, got nothing",
                        });
                    }
                    out.key = Some(value);
                }
                "summary" => out.summary = switch("summary", value)?,
                _ => out.pretty = switch("pretty", value)?,
            }
        }
        Ok(out)
    }

    /// The query string that asks for this (without `?`; empty when nothing is asked).
    pub fn to_query_string(&self) -> String {
        let mut parts = Vec::new();
        if let Some(vip) = self.vip {
            parts.push(format!("vip={}", encode(&vip.to_string())));
        }
        if let Some(service) = &self.service {
            parts.push(format!("service={}", encode(&service.to_string())));
        }
        if let Some(key) = &self.key {
            parts.push(format!("key={}", encode(key)));
        }
        if self.summary {
            parts.push("summary".to_owned());
        }
        if self.pretty {
            parts.push("pretty".to_owned());
        }
        parts.join("&")
    }

    /// `/status` with this query.
    pub fn path(&self) -> String {
        let query = self.to_query_string();
        if query.is_empty() {
            "/status".to_owned()
        } else {
            format!("/status?{query}")
        }
    }

    /// Whether any filter narrows the services.
    pub fn is_filtered(&self) -> bool {
        self.vip.is_some() || self.service.is_some() || self.key.is_some()
    }

    /// Whether a desired service passes the `service` and `key` filters (the VIP is chosen by
    /// range before this). A service only the kernel still has passes neither.
    pub(crate) fn matches_origin(&self, want: Option<&VirtualService>) -> bool {
        if self.service.is_none() && self.key.is_none() {
            return true;
        }
        let Some(want) = want else {
            return false;
        };
        let key_ok = self
            .key
            .as_ref()
            .is_none_or(|key| *key == want.origin.config_key);
        let service_ok = self.service.as_ref().is_none_or(|filter| {
            want.origin.service.as_ref().is_some_and(|s| {
                s.namespace == filter.namespace
                    && s.name == filter.name
                    && filter.port.as_ref().is_none_or(|port| *port == s.port)
            })
        });
        key_ok && service_ok
    }

    /// Whether a service key passes the `vip` filter.
    pub(crate) fn matches_vip(&self, key: &ServiceKey) -> bool {
        self.vip.is_none_or(|vip| key.vip == vip)
    }
}

impl ServiceFilter {
    /// `NAMESPACE/NAME[:PORT]`, each part non-empty.
    pub fn parse(value: &str) -> Result<Self, QueryError> {
        let bad = |why| QueryError::BadValue {
            name: "service",
            value: value.to_owned(),
            why,
        };
        let (namespace, rest) = value
            .split_once('/')
            .ok_or_else(|| bad("expected NAMESPACE/NAME or NAMESPACE/NAME:PORT"))?;
        let (name, port) = match rest.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (rest, None),
        };
        let part_ok = |s: &str| !s.is_empty() && !s.contains(['/', ':']);
        if !part_ok(namespace) || !part_ok(name) || port.is_some_and(|p| !part_ok(p)) {
            return Err(bad(
                "expected NAMESPACE/NAME or NAMESPACE/NAME:PORT, each part non-empty",
            ));
        }
        Ok(ServiceFilter {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            port: port.map(str::to_owned),
        })
    }
}

impl fmt::Display for ServiceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if let Some(port) = &self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A flag parameter: present alone, or `=1`/`=true`, or `=0`/`=false`.
fn switch(name: &'static str, value: String) -> Result<bool, QueryError> {
    match value.as_str() {
        "" | "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(QueryError::BadValue {
            name,
            value,
            why: "expected nothing, 1, true, 0 or false",
        }),
    }
}

/// Percent-decoding (`%3A` → `:`, `+` → space), as clients may encode the colons of IPv6
/// addresses and ports; an invalid escape is kept as written (the value then fails its check).
fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match raw
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes what is not plain in a query value (ConfigMap keys, names and IPv4 need
/// nothing; an IPv6 address keeps its colons, which are allowed in a query).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters_and_switches() {
        let q = StatusQuery::parse("vip=10.0.0.1&service=shop/web:http&key=10.0.0.1-80&summary")
            .unwrap();
        assert_eq!(q.vip, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            q.service,
            Some(ServiceFilter {
                namespace: "shop".into(),
                name: "web".into(),
                port: Some("http".into())
            })
        );
        assert_eq!(q.key.as_deref(), Some("10.0.0.1-80"));
        assert!(q.summary && !q.pretty);
        assert_eq!(StatusQuery::parse("").unwrap(), StatusQuery::default());
        assert!(StatusQuery::parse("pretty=true").unwrap().pretty);
        assert!(!StatusQuery::parse("summary=0").unwrap().summary);
        // Encoded IPv6 colons decode.
        let q = StatusQuery::parse("vip=2001%3Adb8%3A%3A1").unwrap();
        assert_eq!(q.vip, Some("2001:db8::1".parse().unwrap()));
    }

    /// Mutation: ignore unknown names (`_ => continue`) and the typo returns everything.
    #[test]
    fn refuses_unknown_repeated_and_bad_values_naming_the_parameter() {
        let err = |q: &str| StatusQuery::parse(q).unwrap_err().to_string();
        let e = err("vips=10.0.0.1");
        assert!(
            e.contains("unknown query parameter `vips`") && e.contains("vip=ADDR"),
            "{e}"
        );
        assert_eq!(
            err("vip=1.2.3.4&vip=1.2.3.5"),
            "query parameter `vip` given twice"
        );
        assert_eq!(err("vip=10.0.0.300"), "vip=10.0.0.300: not an IP address");
        for bad in ["web", "/web", "shop/", "shop/web:", "a/b/c"] {
            let e = err(&format!("service={bad}"));
            assert!(
                e.starts_with(&format!("service={bad}: expected NAMESPACE/NAME")),
                "{e}"
            );
        }
        assert!(err("key=").starts_with("key=: expected a ConfigMap key"));
        assert!(err("summary=yes").starts_with("summary=yes: expected nothing, 1, true"));
    }

    #[test]
    fn the_query_string_round_trips() {
        let q = StatusQuery {
            vip: Some("2001:db8::1".parse().unwrap()),
            service: Some(ServiceFilter::parse("shop/web").unwrap()),
            key: Some("a b&c".into()),
            summary: true,
            pretty: true,
        };
        assert_eq!(StatusQuery::parse(&q.to_query_string()).unwrap(), q);
        assert_eq!(StatusQuery::default().path(), "/status");
        assert_eq!(
            StatusQuery {
                summary: true,
                ..Default::default()
            }
            .path(),
            "/status?summary"
        );
    }
}
