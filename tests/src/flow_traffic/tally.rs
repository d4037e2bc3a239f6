//! The client's bookkeeping (pure): what a line looks like, when an echo counts, and the
//! summary line the lab scenarios parse (`key=value` words, stable names).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::ErrorKind;

/// Why an established connection counts as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Loss {
    /// A line did not come back within the line timeout.
    Timeout,
    /// The connection was reset (RST: e.g. a director that does not know the flow).
    Reset,
    /// The peer closed the connection (EOF) before the run ended.
    Closed,
    /// Another I/O error (unreachable, broken pipe, ...).
    Error,
    /// Something other than the line sent came back.
    Mismatch,
}

impl Loss {
    /// The word in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Loss::Timeout => "timeout",
            Loss::Reset => "reset",
            Loss::Closed => "closed",
            Loss::Error => "error",
            Loss::Mismatch => "mismatch",
        }
    }

    /// The loss an I/O error means.
    pub fn of_error(kind: ErrorKind) -> Loss {
        match kind {
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => Loss::Reset,
            ErrorKind::UnexpectedEof => Loss::Closed,
            ErrorKind::TimedOut => Loss::Timeout,
            _ => Loss::Error,
        }
    }
}

/// The line connection `conn` sends as its `seq`th (without the newline).
pub fn line(conn: u32, seq: u64) -> String {
    format!("c{conn} {seq}")
}

/// Whether `got` (one line read back, newline included or not) echoes `sent`.
pub fn check_echo(sent: &str, got: &str) -> Result<(), Loss> {
    if got.is_empty() {
        return Err(Loss::Closed);
    }
    if got.trim_end_matches(['\r', '\n']) == sent {
        Ok(())
    } else {
        Err(Loss::Mismatch)
    }
}

/// The real server's name from its greeting line; `None` for an empty line (EOF).
pub fn greeting(line: &str) -> Option<&str> {
    let name = line.trim();
    (!name.is_empty()).then_some(name)
}

/// Counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Long-lived connections that connected and got a greeting.
    pub established: u32,
    /// Long-lived connections that never got that far.
    pub failed_to_establish: u32,
    /// Established connections lost, by reason.
    pub lost: BTreeMap<Loss, u32>,
    /// Established connections that lasted until the end of the run.
    pub survived: u32,
    /// Short new connections that connected, were greeted and echoed one line.
    pub new_ok: u32,
    /// Short new connections that failed at any of those steps.
    pub new_failed: u32,
    /// Established long-lived connections per real server (greeting).
    pub spread: BTreeMap<String, u32>,
    /// Lines echoed on long-lived connections.
    pub lines: u64,
    /// The slowest echo seen, in milliseconds (a failover shows as a stall here).
    pub max_echo_ms: u64,
}

impl Tally {
    /// A long-lived connection reached `server`.
    pub fn established(&mut self, server: &str) {
        self.established += 1;
        *self.spread.entry(server.to_owned()).or_default() += 1;
    }

    /// An established connection was lost.
    pub fn lose(&mut self, why: Loss) {
        *self.lost.entry(why).or_default() += 1;
    }

    /// One echo came back after `ms` milliseconds.
    pub fn echoed(&mut self, ms: u64) {
        self.lines += 1;
        self.max_echo_ms = self.max_echo_ms.max(ms);
    }

    /// All established connections lost, whatever the reason.
    pub fn lost_total(&self) -> u32 {
        self.lost.values().sum()
    }

    /// The summary line: `flow-traffic summary: established=N lost=N ...`; fixed key order.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "flow-traffic summary: established={} lost={} new_ok={} new_failed={} \
             failed_to_establish={} survived={} lines={} max_echo_ms={}",
            self.established,
            self.lost_total(),
            self.new_ok,
            self.new_failed,
            self.failed_to_establish,
            self.survived,
            self.lines,
            self.max_echo_ms
        );
        s.push_str(" lost_by=");
        push_list(&mut s, self.lost.iter().map(|(k, v)| (k.as_str(), *v)));
        s.push_str(" spread=");
        push_list(&mut s, self.spread.iter().map(|(k, v)| (k.as_str(), *v)));
        s
    }
}

/// `a:1,b:2`, or `-` for an empty list (so every key has a one-word value).
fn push_list<'a>(s: &mut String, items: impl Iterator<Item = (&'a str, u32)>) {
    let mut first = true;
    for (key, value) in items {
        if !first {
            s.push(',');
        }
        first = false;
        let _ = write!(s, "{key}:{value}");
    }
    if first {
        s.push('-');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_must_match_the_line_sent() {
        let sent = line(7, 42);
        assert_eq!(sent, "c7 42");
        assert_eq!(check_echo(&sent, "c7 42\n"), Ok(()));
        assert_eq!(check_echo(&sent, "c7 42\r\n"), Ok(()));
        assert_eq!(check_echo(&sent, "c7 41\n"), Err(Loss::Mismatch));
        assert_eq!(check_echo(&sent, "c7 4"), Err(Loss::Mismatch));
        assert_eq!(check_echo(&sent, ""), Err(Loss::Closed));
    }

    #[test]
    fn greeting_is_one_trimmed_word_or_nothing() {
        assert_eq!(greeting("rs2\n"), Some("rs2"));
        assert_eq!(greeting(""), None);
        assert_eq!(greeting("\n"), None);
    }

    #[test]
    fn io_errors_map_to_losses() {
        assert_eq!(Loss::of_error(ErrorKind::ConnectionReset), Loss::Reset);
        assert_eq!(Loss::of_error(ErrorKind::UnexpectedEof), Loss::Closed);
        assert_eq!(Loss::of_error(ErrorKind::TimedOut), Loss::Timeout);
        assert_eq!(Loss::of_error(ErrorKind::BrokenPipe), Loss::Error);
    }

    #[test]
    fn summary_has_every_key_with_one_word_values() {
        let empty = Tally::default().summary();
        assert_eq!(
            empty,
            "flow-traffic summary: established=0 lost=0 new_ok=0 new_failed=0 \
             failed_to_establish=0 survived=0 lines=0 max_echo_ms=0 lost_by=- spread=-"
        );
        let mut t = Tally::default();
        t.established("rs2");
        t.established("rs1");
        t.established("rs2");
        t.lose(Loss::Reset);
        t.lose(Loss::Timeout);
        t.lose(Loss::Reset);
        t.echoed(120);
        t.echoed(30);
        t.new_ok = 5;
        t.new_failed = 1;
        t.survived = 0;
        assert_eq!(t.lost_total(), 3);
        assert_eq!(
            t.summary(),
            "flow-traffic summary: established=3 lost=3 new_ok=5 new_failed=1 \
             failed_to_establish=0 survived=0 lines=2 max_echo_ms=120 \
             lost_by=timeout:1,reset:2 spread=rs1:1,rs2:2"
        );
    }
}
