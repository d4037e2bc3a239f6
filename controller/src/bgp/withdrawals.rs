//! The BGP routes `lbctl withdraw` holds back, and its file. Pure: the caller reads and writes
//! the file. ("Withdraw" is BGP route removal; "drain" is reserved for quiescing a real server
//! in IPVS.)
//!
//! The file keeps a withdrawal across restarts and reboots. Format: one entry per line, `all`
//! for the whole director or a VIP address, `#` comments. Any other content, or an empty file,
//! counts as `all`: a withdraw file that cannot be understood must keep the director out of
//! rotation rather than put it back (files from before per-VIP withdrawals hold one free-text
//! line; files written as `lbctl drain` state read the same).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The withdrawals in effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Withdrawals {
    /// Every route is withdrawn.
    pub(crate) all: bool,
    /// These VIPs are withdrawn (also kept while `all` is set, for after its undo).
    pub(crate) vips: BTreeSet<IpAddr>,
}

impl Withdrawals {
    /// Nothing withdrawn: the file is removed.
    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.vips.is_empty()
    }

    /// Reads the content of an existing withdraw file.
    pub(crate) fn parse(text: &str) -> Withdrawals {
        let mut state = Withdrawals::default();
        let mut entries = 0;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            entries += 1;
            match line.parse::<IpAddr>() {
                Ok(vip) => {
                    state.vips.insert(vip);
                }
                Err(_) => state.all = true,
            }
        }
        if entries == 0 {
            state.all = true;
        }
        state
    }

    /// The file content for this state (`is_empty` states have no file).
    pub(crate) fn render(&self) -> String {
        let mut text = String::from(
            "# lbctl withdraw: BGP routes withdrawn (`lbctl withdraw --undo` ends it)\n",
        );
        if self.all {
            text.push_str("all\n");
        }
        for vip in &self.vips {
            text.push_str(&vip.to_string());
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_parse_round_trip() {
        let state = Withdrawals {
            all: true,
            vips: ["10.0.0.1".parse().unwrap(), "2001:db8::1".parse().unwrap()].into(),
        };
        assert_eq!(Withdrawals::parse(&state.render()), state);
        let one = Withdrawals {
            all: false,
            vips: ["10.0.0.1".parse().unwrap()].into(),
        };
        assert_eq!(Withdrawals::parse(&one.render()), one);
    }

    #[test]
    fn unknown_or_empty_content_withdraws_everything() {
        let old = Withdrawals::parse("lbctl drain: BGP routes withdrawn\n");
        assert!(old.all, "a file from before per-VIP withdrawals");
        assert!(Withdrawals::parse("").all, "an empty file");
        assert!(Withdrawals::parse("# only a comment\n").all);
        let mixed = Withdrawals::parse("10.0.0.1\n10.0.0.300\n");
        assert!(
            mixed.all,
            "a line that is not an address must not announce again"
        );
        assert_eq!(mixed.vips.len(), 1);
    }
}
