//! Shell-style wildcards for keepalived's `include` (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`), as
//! glob(3) expands them: per path component, sorted, a leading `.` only matched by a `.` in
//! the pattern. Written by hand: the `glob` crate reads the disk itself, and this expansion
//! must go through [`FileReader`] to stay pure.

use super::source::FileReader;

/// Whether a path component has a wildcard.
pub(super) fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// The paths `pattern` names: itself when it has no wildcard, else every existing match,
/// sorted (empty when nothing matches).
pub(super) fn expand(pattern: &str, files: &dyn FileReader) -> Vec<String> {
    if !has_wildcard(pattern) {
        return vec![pattern.to_owned()];
    }
    let absolute = pattern.starts_with('/');
    let mut prefixes = vec![if absolute {
        "/".to_owned()
    } else {
        String::new()
    }];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for prefix in &prefixes {
            if has_wildcard(component) {
                let dir = if prefix.is_empty() {
                    "."
                } else {
                    prefix.as_str()
                };
                let Ok(mut names) = files.list_dir(dir) else {
                    continue;
                };
                names.sort();
                for name in names.iter().filter(|n| matches(component, n)) {
                    next.push(join(prefix, name));
                }
            } else {
                next.push(join(prefix, component));
            }
        }
        prefixes = next;
    }
    prefixes
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else if prefix.ends_with('/') {
        format!("{prefix}{name}")
    } else {
        format!("{prefix}/{name}")
    }
}

/// Whether `name` matches the one-component `pattern`.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

/// Glob matching without backtracking blow-up: on a mismatch, only the last `*` retries, one
/// character further (O(pattern x name)).
fn match_from(p: &[char], n: &[char]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if p.get(pi) == Some(&'*') {
            star = Some((pi, ni));
            pi += 1;
            continue;
        }
        if let Some(next) = one_char(p, pi, n[ni]) {
            pi = next;
            ni += 1;
            continue;
        }
        match star {
            Some((sp, sn)) => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            None => return false,
        }
    }
    p[pi.min(p.len())..].iter().all(|c| *c == '*')
}

/// Whether the pattern item at `pi` (`?`, a class, a literal) matches `c`: the index after it.
fn one_char(p: &[char], pi: usize, c: char) -> Option<usize> {
    match p.get(pi)? {
        '?' => Some(pi + 1),
        '[' => match class(&p[pi + 1..]) {
            Some((set, rest)) => set.contains(c).then(|| p.len() - rest.len()),
            // An unclosed `[` is a literal.
            None => (c == '[').then_some(pi + 1),
        },
        literal => (*literal == c).then_some(pi + 1),
    }
}

/// A bracket class after its `[`: the set and the rest of the pattern after `]`.
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != self.negated
    }
}

fn class(p: &[char]) -> Option<(Class, &[char])> {
    let mut i = 0;
    let negated = matches!(p.first(), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == ']' && !first {
            return Some((Class { negated, ranges }, &p[i + 1..]));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            ranges.push((c, p[i + 2]));
            i += 3;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::source::MemoryFiles;

    #[test]
    fn wildcards_match_like_glob() {
        assert!(matches("*.conf", "a.conf"));
        assert!(!matches("*.conf", "a.conf.bak"));
        assert!(!matches("*.conf", ".hidden.conf"));
        assert!(matches("vs-?.conf", "vs-1.conf"));
        assert!(matches("vs-[0-9].conf", "vs-7.conf"));
        assert!(!matches("vs-[!0-9].conf", "vs-7.conf"));
        assert!(matches("[", "["));
        assert!(matches("a*b*c", "aXbYbc"));
        assert!(!matches("a*b*c", "aXbYb"));
        // Many stars against a long name that almost matches: fast, not exponential.
        let name = "a".repeat(200);
        assert!(!matches(&format!("{}b", "*a".repeat(30)), &name));
    }

    #[test]
    fn expansion_is_sorted_and_goes_through_directories() {
        let files = MemoryFiles::new()
            .with("/etc/k/b/x.conf", "")
            .with("/etc/k/a/x.conf", "")
            .with("/etc/k/a/y.txt", "");
        assert_eq!(
            expand("/etc/k/*/*.conf", &files),
            vec!["/etc/k/a/x.conf", "/etc/k/b/x.conf"]
        );
        assert!(expand("/etc/none/*.conf", &files).is_empty());
        assert_eq!(expand("/etc/k/plain", &files), vec!["/etc/k/plain"]);
    }
}
