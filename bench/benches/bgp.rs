//! BGP UPDATE encoding of 10,000 VIP /32 routes: what the speaker sends a peer when a large
//! director announces every VIP (as many UPDATEs as fit 4,096 octets each).

use std::net::Ipv4Addr;

use divan::{Bencher, black_box};
use ipnetwork::{IpNetwork, Ipv4Network};
use lb_bgp_announcer::codec::{
    AsSegment, Message, Origin, PathAttribute, SegmentKind, Update, encode,
};

fn main() {
    divan::main();
}

/// Routes per UPDATE: 5 octets per /32 keeps 700 of them well under 4,096 octets.
const ROUTES_PER_UPDATE: usize = 700;

fn updates(routes: usize) -> Vec<Message> {
    let prefixes: Vec<IpNetwork> = (0..routes)
        .filter_map(|i| {
            let n = u32::try_from(i).ok()?;
            Ipv4Network::new(Ipv4Addr::from(0x0A00_0000 + n), 32).ok()
        })
        .map(IpNetwork::V4)
        .collect();
    prefixes
        .chunks(ROUTES_PER_UPDATE)
        .map(|chunk| {
            Message::Update(Update {
                attributes: vec![
                    PathAttribute::Origin(Origin::Igp),
                    PathAttribute::AsPath(vec![AsSegment {
                        kind: SegmentKind::Sequence,
                        asns: vec![64_512],
                    }]),
                    PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
                ],
                nlri: chunk.to_vec(),
                ..Update::default()
            })
        })
        .collect()
}

/// Encode the UPDATEs announcing 10,000 routes.
#[divan::bench]
fn encode_10k_routes(bencher: Bencher<'_, '_>) {
    let messages = updates(10_000);
    // A refused message would time the error path: every UPDATE must encode.
    assert!(messages.iter().all(|m| encode(m, true).is_ok()));
    bencher.bench_local(|| {
        messages
            .iter()
            .map(|m| encode(black_box(m), true).map_or(0, |bytes| bytes.len()))
            .sum::<usize>()
    });
}
