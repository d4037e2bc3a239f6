//! The drain-deadline state file: read at start, written atomically after each sync.

use std::path::Path;

use anyhow::{Context, Result};
use lb_ipvs_sync::reconcile::DrainBook;

use lb_director::atomic_file::write_atomically;

/// Reads the drain book; a missing file is an empty book (first run, or state lost: drains then
/// get fresh deadlines, never shorter ones).
pub fn read(path: &Path) -> Result<DrainBook> {
    match std::fs::read_to_string(path) {
        Ok(text) => DrainBook::from_json(&text)
            .with_context(|| format!("invalid state file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DrainBook::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read state file {}", path.display())),
    }
}

/// Writes the drain book atomically and durably (see [`lb_director::atomic_file`]), so a crash never
/// leaves half a file.
pub fn write(path: &Path, book: &DrainBook) -> Result<()> {
    let text = book.to_json().context("cannot serialize the drain state")?;
    write_atomically(path, text.as_bytes(), 0o600)
        .with_context(|| format!("cannot write the state file {}", path.display()))
}
