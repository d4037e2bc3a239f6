//! keepalived.conf syntax: lines of words, `{ ... }` blocks, comments from a word starting with
//! `#` or `!`, double-quoted words, and `include PATH` (globs, relative to the including file)
//! resolved through the [`FileReader`] into one stream of statements with their `file:line`.

use crate::import::glob;
use crate::import::source::{FileReader, SourcePos};
use crate::import::table::{ImportError, Note};

/// How deep `include`s may nest (keepalived's own limit is of this order).
const MAX_INCLUDE_DEPTH: usize = 32;
/// How deep blocks may nest (keepalived's deepest is four: virtual_server, real_server,
/// HTTP_GET, url); a limit keeps hostile input from exhausting the stack.
const MAX_BLOCK_DEPTH: usize = 16;

/// One statement: a keyword, its arguments on the same line, and its block if it opens one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stmt {
    pub(super) keyword: String,
    pub(super) args: Vec<String>,
    pub(super) pos: SourcePos,
    pub(super) block: Option<Vec<Stmt>>,
}

impl Stmt {
    /// The first argument, or an error naming the keyword.
    pub(super) fn arg(&self, what: &str) -> Result<&str, ImportError> {
        self.args
            .first()
            .map(String::as_str)
            .ok_or_else(|| ImportError::syntax(&self.pos, format!("{} needs {what}", self.keyword)))
    }

    /// The block's statements (empty when the statement opens none).
    pub(super) fn children(&self) -> &[Stmt] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// A word and where it stands; `line` tells statements apart.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    pos: SourcePos,
    line: u64,
}

/// Reads `path` and everything it includes into statements.
pub(super) fn read_config(
    path: &str,
    files: &dyn FileReader,
    notes: &mut Vec<Note>,
) -> Result<Vec<Stmt>, ImportError> {
    let mut reader = Reader {
        files,
        words: Vec::new(),
        stack: Vec::new(),
        line: 0,
        notes,
    };
    reader.read_file(&normalize(path), None)?;
    let words = reader.words;
    let mut at = 0;
    parse_block(&words, &mut at, None, 0)
}

struct Reader<'a> {
    files: &'a dyn FileReader,
    words: Vec<Word>,
    stack: Vec<String>,
    line: u64,
    notes: &'a mut Vec<Note>,
}

impl Reader<'_> {
    fn read_file(&mut self, path: &str, from: Option<&SourcePos>) -> Result<(), ImportError> {
        if self.stack.iter().any(|p| p == path) {
            let mut chain = self.stack.clone();
            chain.push(path.to_owned());
            return Err(ImportError::IncludeLoop {
                pos: from.cloned().unwrap_or_else(|| SourcePos::new(path, 0)),
                chain: chain.join(" -> "),
            });
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(ImportError::syntax(
                from.unwrap_or(&SourcePos::new(path, 0)),
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"),
            ));
        }
        let text = self
            .files
            .read(path)
            .map_err(|reason| ImportError::Unreadable {
                path: path.to_owned(),
                from: from.cloned(),
                reason,
            })?;
        self.stack.push(path.to_owned());
        for (index, line) in text.lines().enumerate() {
            self.line += 1;
            let pos = SourcePos::new(path, u32::try_from(index + 1).unwrap_or(u32::MAX));
            let words = split_words(&pos, line)?;
            if words.first().map(String::as_str) == Some("include") {
                let Some(pattern) = words.get(1) else {
                    return Err(ImportError::syntax(&pos, "include needs a file name"));
                };
                self.include(path, pattern, &pos)?;
                continue;
            }
            let line_id = self.line;
            self.words.extend(words.into_iter().map(|text| Word {
                text,
                pos: pos.clone(),
                line: line_id,
            }));
        }
        self.stack.pop();
        Ok(())
    }

    fn include(
        &mut self,
        current: &str,
        pattern: &str,
        pos: &SourcePos,
    ) -> Result<(), ImportError> {
        // A relative path is relative to the directory of the file that includes it.
        let resolved = if pattern.starts_with('/') {
            pattern.to_owned()
        } else {
            match current.rsplit_once('/') {
                Some((dir, _)) => format!("{dir}/{pattern}"),
                None => pattern.to_owned(),
            }
        };
        let paths = glob::expand(&normalize(&resolved), self.files);
        if paths.is_empty() {
            self.notes.push(Note::not_carried(
                pos,
                format!("include {pattern}: no file matches (nothing read)"),
            ));
        }
        for path in paths {
            self.read_file(&path, Some(pos))?;
        }
        Ok(())
    }
}

/// `a/./b/../c` -> `a/c`, lexically, so a loop through `..` is seen as one (and messages
/// name files as an editor would).
fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// The words of one line: whitespace-separated, `{` and `}` always words of their own,
/// `"..."` one word, and a word starting with `#` or `!` ends the line.
fn split_words(pos: &SourcePos, line: &str) -> Result<Vec<String>, ImportError> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' || c == '!' {
            break;
        } else if c == '{' || c == '}' {
            words.push(c.to_string());
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(ch) => word.push(ch),
                    None => return Err(ImportError::syntax(pos, "unterminated \"")),
                }
            }
            words.push(word);
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '{' || ch == '}' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
            words.push(word);
        }
    }
    Ok(words)
}

/// Statements until the end (top level, `opened` = `None`) or the `}` closing the block
/// opened at `opened`.
fn parse_block(
    words: &[Word],
    at: &mut usize,
    opened: Option<&SourcePos>,
    depth: usize,
) -> Result<Vec<Stmt>, ImportError> {
    if let (Some(pos), true) = (opened, depth > MAX_BLOCK_DEPTH) {
        return Err(ImportError::syntax(
            pos,
            format!("blocks nest deeper than {MAX_BLOCK_DEPTH} levels"),
        ));
    }
    let mut stmts = Vec::new();
    loop {
        let Some(word) = words.get(*at) else {
            return match opened {
                None => Ok(stmts),
                Some(pos) => Err(ImportError::syntax(pos, "this block has no closing `}`")),
            };
        };
        match word.text.as_str() {
            "}" => {
                *at += 1;
                return match opened {
                    Some(_) => Ok(stmts),
                    None => Err(ImportError::syntax(&word.pos, "`}` without an open block")),
                };
            }
            "{" => {
                return Err(ImportError::syntax(
                    &word.pos,
                    "`{` without a keyword before it",
                ));
            }
            _ => {}
        }
        *at += 1;
        let mut args = Vec::new();
        while let Some(next) = words.get(*at) {
            if next.line != word.line || next.text == "{" || next.text == "}" {
                break;
            }
            args.push(next.text.clone());
            *at += 1;
        }
        let block = if words.get(*at).is_some_and(|w| w.text == "{") {
            *at += 1;
            Some(parse_block(words, at, Some(&word.pos), depth + 1)?)
        } else {
            None
        };
        stmts.push(Stmt {
            keyword: word.text.clone(),
            args,
            pos: word.pos.clone(),
            block,
        });
    }
}
