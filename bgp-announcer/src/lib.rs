//! Announce-only BGP speaker (issue 6; not built yet).
//!
//! Promise: the session state machine will be sans-IO (time and bytes are inputs); only the
//! driver module will touch sockets and timers. Until then this crate is an empty placeholder so
//! the workspace layout is final.
