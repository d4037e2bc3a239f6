//! `flow-traffic`: long-lived TCP flows through a VIP that must survive a director failover.
//!
//! Why: "losing a director drops no established connection" is only proven by connections that
//! keep talking while the director goes away. The client holds N connections, each sending a
//! numbered line every interval and waiting for its echo; a connection is *lost* when it
//! errors, is reset or closed, or a line is not echoed within the line timeout. New
//! connections are attempted all along (connect, greeting, one echo, close) and their failures
//! counted. The server side greets with its name (the real server's), then echoes lines, so
//! the client also reports the spread over real servers.
//!
//! For UDP and SCTP services (lab 78), `udp-serve`/`sctp-serve` answer every message with the
//! real server's name, and `udp-client`/`sctp-client` send numbered messages over one socket
//! (one UDP flow, optionally from a fixed source port; one SCTP association) and print who
//! answered each, one line per answer, failing when an answer does not come in time. busybox
//! `nc` in the lab VM speaks neither protocol.
//!
//! [`options`], [`tally`] and [`message`] are pure (parsing, checks, the summary line, the
//! message text); [`run`] (TCP flows) and [`probe`] (UDP and SCTP) move bytes.

pub mod message;
pub mod options;
pub mod probe;
pub mod run;
pub mod tally;
