//! Fuzz target: arbitrary bytes as an IPVS netlink reply. Every decoder must return a value or
//! an `IpvsError::Decode`, never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = lb_ipvs_sync::netlink::decode_reply_for_fuzzing(bytes);
});
