//! `lbctl import`: an existing IPVS set-up (an `ipvsadm -Sn` dump or a keepalived
//! configuration) read into the table it programs, and that table written as ConfigMap entries
//! and settings that reproduce it (docs/migration.md).
//!
//! Pure: the parsers take text (keepalived's `include` goes through a [`FileReader`]), the
//! output is values. Nothing is dropped silently: whatever the ConfigMap cannot carry is a
//! [`Note`] with its `file:line`, and a note that changes the table ([`NoteKind::TableChange`])
//! makes the import partial. The glob matcher of keepalived's `include` is written here by hand
//! (`glob.rs`): the one crate for it reads the disk itself.

mod glob;
mod ipvsadm;
mod keepalived;
mod output;
mod source;
mod table;

#[cfg(test)]
mod tests;

pub use self::ipvsadm::parse_ipvsadm_save;
pub use self::keepalived::parse_keepalived;
pub use self::output::{
    ImportOutput, render_configmap_yaml, render_settings_fragment, table_entries,
};
pub use self::source::{FileReader, MemoryFiles, SourcePos};
pub use self::table::{
    ImportError, ImportedRealServer, ImportedService, ImportedTable, Note, NoteKind,
};
