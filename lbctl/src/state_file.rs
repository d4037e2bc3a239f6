//! The drain-deadline state file: read at start, written atomically after each sync.

use std::path::Path;

use anyhow::{Context, Result};
use lb_ipvs_sync::reconcile::DrainBook;

/// Reads the drain book; a missing file is an empty book (first run, or state lost: drains then
/// get fresh deadlines, never shorter ones).
pub(crate) fn read(path: &Path) -> Result<DrainBook> {
    match std::fs::read_to_string(path) {
        Ok(text) => DrainBook::from_json(&text)
            .with_context(|| format!("invalid state file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DrainBook::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read state file {}", path.display())),
    }
}

/// Writes the drain book via a temporary file and rename, so a crash never leaves half a file.
pub(crate) fn write(path: &Path, book: &DrainBook) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create state directory {}", dir.display()))?;
    }
    let text = book.to_json().context("cannot serialize the drain state")?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}
