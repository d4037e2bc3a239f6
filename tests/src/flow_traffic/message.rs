//! The text of `udp-*` and `sctp-*` messages (pure).
//!
//! The client sends `seq N` (N counts from 1 per run); the server answers `NAME seq N`, NAME
//! being the real server's name. The answer repeats the request so that the client can tell
//! the answer to *this* message from a late answer to an earlier one (UDP may deliver an
//! answer after its wait timed out, or twice).

/// The request of message `seq`.
pub fn request(seq: u32) -> String {
    format!("seq {seq}")
}

/// The server's answer to `request` (a request's trailing line end is not repeated).
pub fn answer(name: &str, request: &str) -> String {
    format!("{name} {}", request.trim_end())
}

/// The name in `answer` if it answers `sent`; `None` for anything else (a late answer to an
/// earlier message, garbage).
pub fn answered_by<'a>(sent: &str, answer: &'a str) -> Option<&'a str> {
    let (name, rest) = answer.trim_end().split_once(' ')?;
    (!name.is_empty() && rest == sent).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_names_its_server_and_repeats_the_request() {
        let sent = request(3);
        assert_eq!(sent, "seq 3");
        let reply = answer("rs1", &format!("{sent}\n"));
        assert_eq!(reply, "rs1 seq 3");
        assert_eq!(answered_by(&sent, &reply), Some("rs1"));
        assert_eq!(answered_by(&sent, "rs2 seq 3\n"), Some("rs2"));
    }

    #[test]
    fn late_or_foreign_answers_are_not_taken() {
        assert_eq!(answered_by("seq 3", "rs1 seq 2"), None);
        assert_eq!(answered_by("seq 3", "rs1 seq 33"), None);
        assert_eq!(answered_by("seq 3", "rs1"), None);
        assert_eq!(answered_by("seq 3", " seq 3"), None);
        assert_eq!(answered_by("seq 3", ""), None);
    }
}
