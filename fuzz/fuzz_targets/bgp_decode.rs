//! Fuzz target: arbitrary bytes as a BGP stream. The codec must return a message or a
//! `DecodeError` (which always maps to a NOTIFICATION), never panic; a decoded message must
//! encode again; and a session fed the same bytes must never panic either.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use lb_bgp_announcer::codec::{self, Notification};
use lb_bgp_announcer::{PeerConfig, Session, SessionConfig, SpeakerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&flags, stream)) = bytes.split_first() else {
        return;
    };
    let four_octet_as = flags & 1 == 1;
    if let Ok(Some(len)) = codec::frame_length(stream)
        && let Some(frame) = stream.get(..len)
    {
        match codec::decode(frame, four_octet_as) {
            Ok(message) => {
                let _ = codec::encode(&message, four_octet_as);
            }
            Err(err) => {
                let n = Notification::from(&err);
                assert!((1..=7).contains(&n.code));
            }
        }
    }
    // The same bytes through a session that has just sent its OPEN.
    let speaker = SpeakerConfig::new(65001, Ipv4Addr::new(192, 0, 2, 1));
    let peer = PeerConfig::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 65002);
    let mut session = Session::new(SessionConfig::new(&speaker, &peer));
    let now = Instant::now();
    session.start(now);
    session.handle_connected(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), now);
    session.handle_bytes(stream, now);
    while session.poll_output().is_some() {}
});
