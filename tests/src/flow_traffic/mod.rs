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
//! [`options`] and [`tally`] are pure (parsing, checks, the summary line); [`run`] moves bytes.

pub mod options;
pub mod run;
pub mod tally;
