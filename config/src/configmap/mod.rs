//! The ConfigMap contract: parse operators' keys and values into [`Entry`] values and back.
//!
//! Pure: no I/O, no clock. Every key is parsed independently; a bad key yields problems and
//! no entry, and never affects the other keys. The grammar is documented for operators in
//! `docs/configmap.md`.

mod ctx;
mod document;
mod key;
mod options;
mod render;
mod simple_yaml;
mod target;
mod text;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use self::ctx::ValueCtx;
use self::target::{WrittenTarget, parse_target};
use self::text::Piece;
use crate::entry::{Entry, StaticRealServer, Target};
use crate::model::Protocol;
use crate::problem::Problem;

pub use self::render::render_entry;
pub(crate) use self::target::MAX_WEIGHT;

/// The usable entries of a ConfigMap and every problem found in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedConfigMap {
    /// Entries without errors, sorted by key.
    pub entries: Vec<Entry>,
    /// Every problem of every key (errors reject their key; warnings do not), sorted.
    pub problems: Vec<Problem>,
}

/// Parses ConfigMap text: a manifest (`kubectl get cm -o yaml` or `-o json`) or the bare data map.
pub fn parse_configmap(text: &str) -> ParsedConfigMap {
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    if let Some(data) = document::read_data(text, &mut problems) {
        for (key, value) in &data {
            let (entry, mut found) = parse_entry(key, value.as_deref().unwrap_or(""));
            problems.append(&mut found);
            entries.extend(entry);
        }
    }
    problems.sort();
    ParsedConfigMap { entries, problems }
}

/// The `data` map of ConfigMap text as written (a null value reads as empty), with the
/// document's problems; `None` when the text is not a ConfigMap at all.
///
/// For callers that keep the raw value of each key (the daemon persists the last good value
/// of every key, so a restart can serve it again) and parse each key with [`parse_entry`].
pub fn read_configmap_data(text: &str) -> (Option<BTreeMap<String, String>>, Vec<Problem>) {
    let mut problems = Vec::new();
    let data = document::read_data(text, &mut problems).map(|data| {
        data.into_iter()
            .map(|(key, value)| (key.into_owned(), value.unwrap_or_default().into_owned()))
            .collect()
    });
    (data, problems)
}

/// Parses one key and its value (for callers that already hold the `data` map, e.g. the daemon).
///
/// Returns the entry when there is no error, and all problems found in key and value.
pub fn parse_entry(key: &str, value: &str) -> (Option<Entry>, Vec<Problem>) {
    let mut problems = Vec::new();
    let key_parts = key::parse_key(key, &mut problems);
    let mut ctx = ValueCtx::new(key, value, key_parts.map(|k| k.vip));
    let pieces = Piece::whole(value).split(';');
    let target = parse_target(&mut ctx, pieces[0]);
    let options = options::parse_options(&mut ctx, &pieces[1..]);
    let value_ok = !ctx.has_errors();
    problems.append(&mut ctx.problems);
    let (Some(parts), Some(target)) = (key_parts, target) else {
        return (None, problems);
    };
    let target = match (target, parts.port) {
        (WrittenTarget::Static(servers), Some(port)) => Target::Static {
            port,
            protocol: parts.protocol.unwrap_or(Protocol::Tcp),
            real_servers: servers
                .into_iter()
                .map(|rs| StaticRealServer {
                    addr: rs.addr,
                    port: rs.port.unwrap_or(port),
                    weight: rs.weight,
                    upper_threshold: rs.upper_threshold,
                    lower_threshold: rs.lower_threshold,
                })
                .collect(),
        },
        (WrittenTarget::Static(_), None) => {
            problems.push(Problem::error(
                key,
                None,
                "real servers need a port in the key: write VIP-PORT (e.g. 203.0.113.10-80); \
                 a key without a port takes a Service reference (NAMESPACE/SERVICE:s)",
            ));
            return (None, problems);
        }
        (WrittenTarget::Service(service), None) => Target::Service {
            service,
            protocol: parts.protocol,
        },
        (WrittenTarget::Service(_), Some(_)) => {
            problems.push(Problem::error(
                key,
                None,
                "a Service reference takes its ports from the Service: write the key without \
                 a port (VIP, or VIP-udp to keep only UDP ports)",
            ));
            return (None, problems);
        }
    };
    if !value_ok || problems.iter().any(Problem::is_error) {
        return (None, problems);
    }
    let entry = Entry {
        key: key.to_owned(),
        vip: parts.vip,
        target,
        options,
    };
    (Some(entry), problems)
}
