//! Where imported text comes from: positions (`file:line`) and the file reader the keepalived
//! parser resolves `include` through, so the parsers stay pure and tests need no disk.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A line of an input file, 1-based, as operators see it in an editor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourcePos {
    /// The file as named on the command line or by the `include` that read it.
    pub file: String,
    /// 1-based line number.
    pub line: u32,
}

impl SourcePos {
    /// A position in `file` at `line`.
    pub fn new(file: &str, line: u32) -> Self {
        SourcePos {
            file: file.to_owned(),
            line,
        }
    }
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// What the keepalived parser needs from a file system: the text of a file, and the names in a
/// directory (to expand the globs of `include`). The binary implements it on the disk; tests
/// on a map.
pub trait FileReader {
    /// The text of the file at `path`, or why it cannot be read.
    fn read(&self, path: &str) -> Result<String, String>;
    /// The names (not paths) of the entries of directory `dir`, or why it cannot be listed.
    fn list_dir(&self, dir: &str) -> Result<Vec<String>, String>;
}

/// Files held in memory, by path: for tests, and for input that came on stdin.
#[derive(Debug, Clone, Default)]
pub struct MemoryFiles {
    files: BTreeMap<String, String>,
}

impl MemoryFiles {
    /// No files.
    pub fn new() -> Self {
        MemoryFiles::default()
    }

    /// Adds (or replaces) the file at `path`.
    pub fn with(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.to_owned(), text.to_owned());
        self
    }
}

impl FileReader for MemoryFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| "No such file or directory".to_owned())
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, String> {
        let prefix = if dir.ends_with('/') {
            dir.to_owned()
        } else {
            format!("{dir}/")
        };
        let mut names: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err("No such file or directory".to_owned());
        }
        Ok(names)
    }
}
