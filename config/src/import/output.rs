//! The imported table as what lbctl reads: ConfigMap entries (rendered by the ConfigMap
//! grammar's own renderer, so they parse back to the same entries) and the settings fragment
//! whose managed ranges cover exactly the imported VIPs.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::table::{ImportedService, ImportedTable, Note, NoteKind};
use crate::configmap::render_entry;
use crate::entry::{Entry, EntryOptions, StaticRealServer, Target};
use crate::model::TunnelType;

/// An import's result: the table, what did not carry over, and the entries that program it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutput {
    /// The services the entries program.
    pub table: ImportedTable,
    /// What the ConfigMap does not carry, by file (in reading order) and line.
    pub notes: Vec<Note>,
    /// One entry per service, sorted by key.
    pub entries: Vec<Entry>,
}

impl ImportOutput {
    /// Finishes an import: a service without real servers cannot be a ConfigMap entry (it
    /// becomes a note); the rest become entries.
    pub fn new(mut table: ImportedTable, mut notes: Vec<Note>) -> Self {
        table.services.retain(|key, service| {
            let keep = !service.real_servers.is_empty();
            if !keep {
                notes.push(Note::table_change(
                    &service.pos,
                    format!("{key} has no real servers; a ConfigMap entry needs at least one"),
                ));
            }
            keep
        });
        // By file in the order the files were read, then by line.
        let mut files: Vec<String> = Vec::new();
        for note in &notes {
            if !files.contains(&note.pos.file) {
                files.push(note.pos.file.clone());
            }
        }
        notes.sort_by_key(|n| {
            let file = files.iter().position(|f| *f == n.pos.file);
            (file, n.pos.line)
        });
        // A group's members share their real servers' lines: one note per line and message.
        notes.dedup();
        let entries = table_entries(&table);
        ImportOutput {
            table,
            notes,
            entries,
        }
    }

    /// Whether something that changes the table was left out.
    pub fn is_partial(&self) -> bool {
        self.notes.iter().any(|n| n.kind == NoteKind::TableChange)
    }

    /// The VIPs of the entries.
    pub fn vips(&self) -> BTreeSet<IpAddr> {
        self.table.services.keys().map(|k| k.vip).collect()
    }
}

/// One ConfigMap entry per service. Every option is written out (scheduler, method, weights,
/// check timings), so the entries mean the same on a director whatever its defaults.
pub fn table_entries(table: &ImportedTable) -> Vec<Entry> {
    let mut entries: Vec<Entry> = table.services.values().map(service_entry).collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}

fn service_entry(service: &ImportedService) -> Entry {
    let real_servers = service
        .real_servers
        .values()
        .map(|rs| StaticRealServer {
            addr: rs.key.addr,
            port: rs.key.port,
            weight: Some(rs.weight),
            upper_threshold: (rs.upper_threshold != 0).then_some(rs.upper_threshold),
            lower_threshold: (rs.lower_threshold != 0).then_some(rs.lower_threshold),
        })
        .collect();
    let mut entry = Entry {
        key: String::new(),
        vip: service.key.vip,
        target: Target::Static {
            port: service.key.port,
            protocol: service.key.protocol,
            real_servers,
        },
        options: EntryOptions {
            scheduler: Some(service.scheduler),
            scheduler_flags: service.scheduler_flags,
            forward: Some(service.forward),
            // `method=tunnel` is IPIP: written only when it is another encapsulation.
            tunnel: service.tunnel.filter(|t| *t != TunnelType::Ipip),
            snat_pool: Vec::new(),
            persistence: service.persistence,
            weight: None,
            health_check: service.check.clone(),
        },
    };
    entry.key = render_entry(&entry).0;
    entry
}

/// The ConfigMap manifest (`kubectl apply -f`), named as the settings' `[kubernetes]` says.
pub fn render_configmap_yaml(
    entries: &[Entry],
    namespace: &str,
    name: &str,
    source: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Written by `lbctl import` from {source}.");
    out.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n");
    let _ = writeln!(out, "  name: {}", quote(name));
    let _ = writeln!(out, "  namespace: {}", quote(namespace));
    if entries.is_empty() {
        out.push_str("data: {}\n");
        return out;
    }
    out.push_str("data:\n");
    for entry in entries {
        let (key, value) = render_entry(entry);
        let _ = writeln!(out, "  {}: {}", quote(&key), quote(&value));
    }
    out
}

/// The settings fragment: `managed_vip_ranges` of exactly the imported VIPs (one /32 or /128
/// each), to merge into the director's settings file.
pub fn render_settings_fragment(vips: &BTreeSet<IpAddr>, source: &str) -> String {
    let ranges: Vec<String> = vips
        .iter()
        .map(|vip| {
            let len = if vip.is_ipv4() { 32 } else { 128 };
            quote(&format!("{vip}/{len}"))
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by `lbctl import` from {source}: the managed VIP ranges of exactly the\n\
         # imported VIPs. Merge into the director's settings (docs/settings.md)."
    );
    let _ = writeln!(out, "managed_vip_ranges = [{}]", ranges.join(", "));
    out
}

/// A double-quoted string, valid in YAML and in TOML (JSON string escaping).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}
