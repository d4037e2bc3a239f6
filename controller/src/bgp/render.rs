//! The BGP part of `lbctl status` as text. Pure.

use std::fmt::Write as _;

use super::control::BgpStatus;

/// `bgp (speaker): announcing 2 prefixes ...` and one line per session.
pub fn render_status(status: &BgpStatus) -> String {
    let mut out = String::new();
    if status.withdrawn_all {
        let _ = writeln!(
            out,
            "bgp ({}): WITHDRAWN (lbctl withdraw): nothing announced, {} prefix(es) held back",
            status.mode,
            status.announced.len()
        );
    } else {
        let _ = writeln!(
            out,
            "bgp ({}): announcing {} prefix(es): {}",
            status.mode,
            status.announced.len(),
            if status.announced.is_empty() {
                "-".to_owned()
            } else {
                status.announced.join(" ")
            }
        );
    }
    if !status.withdrawn_vips.is_empty() {
        let vips: Vec<String> = status
            .withdrawn_vips
            .iter()
            .map(ToString::to_string)
            .collect();
        let _ = writeln!(
            out,
            "  withdrawn VIPs (lbctl withdraw --vip): {}",
            vips.join(" ")
        );
    }
    if let Some(e) = &status.last_error {
        let _ = writeln!(out, "  last error: {e}");
    }
    for p in &status.peers {
        let _ = writeln!(
            out,
            "  peer {} AS{}  {}  {} prefix(es)  {} update(s) sent  up {} time(s){}",
            p.address,
            p.remote_as,
            p.state,
            p.announced_prefixes,
            p.updates_sent,
            p.established_count,
            p.last_error
                .as_ref()
                .map(|e| format!("  last error: {e}"))
                .unwrap_or_default()
        );
        for held in &p.held_back {
            let _ = writeln!(
                out,
                "    NOT announced to this peer: {} ({})",
                held.prefix, held.reason
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::control::BgpPeerStatus;

    fn status(withdrawn_all: bool) -> BgpStatus {
        BgpStatus {
            mode: "speaker".into(),
            withdrawn_all,
            withdrawn_vips: Vec::new(),
            announced: vec!["10.0.0.100/32".into()],
            peers: vec![BgpPeerStatus {
                address: "10.0.9.2".parse().unwrap(),
                remote_as: 64513,
                state: "established".into(),
                announced_prefixes: usize::from(!withdrawn_all),
                updates_sent: 3,
                established_count: 1,
                updates_ignored: 0,
                attributes_discarded: 0,
                last_error: None,
                held_back: Vec::new(),
            }],
            last_error: None,
        }
    }

    #[test]
    fn shows_prefixes_sessions_and_the_withdrawal() {
        let text = render_status(&status(false));
        assert!(
            text.contains("bgp (speaker): announcing 1 prefix(es): 10.0.0.100/32"),
            "{text}"
        );
        assert!(
            text.contains("peer 10.0.9.2 AS64513  established  1 prefix(es)"),
            "{text}"
        );
        let withdrawn = render_status(&status(true));
        assert!(withdrawn.contains("WITHDRAWN"), "{withdrawn}");
        assert!(withdrawn.contains("0 prefix(es)"), "{withdrawn}");
        let mut one = status(false);
        one.withdrawn_vips = vec!["10.0.0.101".parse().unwrap()];
        let text = render_status(&one);
        assert!(
            text.contains("withdrawn VIPs (lbctl withdraw --vip): 10.0.0.101"),
            "{text}"
        );
    }

    // Fails if a prefix a peer cannot carry is left out of `lbctl status` (the peer line
    // alone says "0 prefix(es)", not why).
    #[test]
    fn names_each_prefix_a_peer_cannot_carry() {
        let mut one = status(false);
        one.peers[0].held_back = vec![lb_bgp_announcer::HeldBack {
            prefix: "2001:db8:100::10/128".into(),
            reason: "needs next_hop_v6".into(),
        }];
        let text = render_status(&one);
        assert!(
            text.contains(
                "    NOT announced to this peer: 2001:db8:100::10/128 (needs next_hop_v6)"
            ),
            "{text}"
        );
        assert!(!render_status(&status(false)).contains("NOT announced"));
    }
}
