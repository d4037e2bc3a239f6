//! The kernel-bound baseline of programming IPVS: one generic-netlink socket, the IPVS family
//! resolved once, then one acknowledged `IPVS_CMD_NEW_SERVICE` / `IPVS_CMD_NEW_DEST` at a time
//! for the benchmark table. Every request is encoded before the clock starts (with
//! lb-ipvs-sync's public request builders), so the timed loop is only send, wait for the ACK,
//! check it: no parsing, no planning, no dump. `tests/lab/scenarios/bench-apply.sh` runs it
//! next to `ipvsadm -R` and `lbctl apply` (bench/README.md).
//!
//! Usage: `ipvs-raw-apply [--vips N] [--ports N] [--dests N]` (default 16 x 63 x 10, the lab
//! bench's table). Prints `raw_write_ms=<ms> ops=<n>` and exits non-zero on the first refusal.
//! Needs IPVS in the kernel and CAP_NET_ADMIN (run it in a fresh network namespace).

// An I/O room as a whole (see clippy.toml): it reads the clock and talks to the kernel.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use anyhow::{Context, Result, bail};
use lb_bench::generate::{self, TableSize};
use lb_ipvs_sync::netlink::{
    FLAGS_ACKED, IpvsMessage, NetlinkTransport, SocketTransport, encode_request, resolve_family,
};

/// `NLMSG_ERROR`: the message type of an ACK (error code 0) or a refusal.
const NLMSG_ERROR: u16 = 2;
/// Bytes of a `nlmsghdr`.
const NLMSG_HEADER: usize = 16;

fn main() -> Result<()> {
    let size = parse_args(std::env::args().skip(1))?;
    let wanted = generate::wanted(size);
    let mut transport = SocketTransport::open().context("opening a generic netlink socket")?;
    let family = resolve_family(&mut transport, 1).context("resolving the IPVS family")?;
    let mut requests = Vec::with_capacity(size.entries());
    let mut sequence = 1u32;
    for (id, service) in &wanted {
        sequence += 1;
        let message = IpvsMessage::new_service(&service.spec).context("encoding a service")?;
        requests.push((
            sequence,
            encode_request(&message, family, sequence, FLAGS_ACKED),
        ));
        for dest in service.destinations.values() {
            sequence += 1;
            let message = IpvsMessage::new_dest(id, dest).context("encoding a destination")?;
            requests.push((
                sequence,
                encode_request(&message, family, sequence, FLAGS_ACKED),
            ));
        }
    }
    let mut datagram = Vec::new();
    let started = Instant::now();
    for (sequence, request) in &requests {
        transport.send(request).context("sending a request")?;
        loop {
            transport.recv(&mut datagram).context("receiving an ACK")?;
            if let Some(code) = ack_code(&datagram, *sequence)? {
                if code != 0 {
                    bail!("request {sequence} refused with errno {}", -code);
                }
                break;
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "raw_write_ms={} ops={}",
        elapsed.as_millis(),
        requests.len()
    );
    Ok(())
}

/// The error code of the ACK for `sequence` in `datagram` (0 = done), or `None` when the
/// datagram answers something else. Reads the first message only: an ACK is a datagram of its
/// own.
fn ack_code(datagram: &[u8], sequence: u32) -> Result<Option<i32>> {
    let field = |at: usize, len: usize| {
        datagram
            .get(at..at + len)
            .context("a netlink reply shorter than its header")
    };
    let kind = u16::from_ne_bytes(field(4, 2)?.try_into()?);
    let seq = u32::from_ne_bytes(field(8, 4)?.try_into()?);
    if kind != NLMSG_ERROR || seq != sequence {
        return Ok(None);
    }
    Ok(Some(i32::from_ne_bytes(
        field(NLMSG_HEADER, 4)?.try_into()?,
    )))
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<TableSize> {
    let mut size = TableSize::SERVICES_1K;
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u16> {
            value
                .parse()
                .with_context(|| format!("{what}: expected a number, found {value:?}"))
        };
        match flag.as_str() {
            "--vips" => size.vips = number("--vips")?,
            "--ports" => size.ports = number("--ports")?,
            "--dests" => {
                size.dests = u8::try_from(number("--dests")?).context("--dests: at most 255")?
            }
            other => bail!("unknown option {other:?} (expected --vips, --ports or --dests)"),
        }
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(kind: u16, sequence: u32, code: i32) -> Vec<u8> {
        let mut bytes = 36u32.to_ne_bytes().to_vec();
        bytes.extend(kind.to_ne_bytes());
        bytes.extend(0u16.to_ne_bytes());
        bytes.extend(sequence.to_ne_bytes());
        bytes.extend(0u32.to_ne_bytes());
        bytes.extend(code.to_ne_bytes());
        bytes.extend([0; 16]);
        bytes
    }

    /// An ACK ends the wait, a refusal carries its errno, anything else is skipped. Mutation:
    /// ignoring the sequence number (accepting a stale ACK) fails the third assertion.
    #[test]
    fn acks_refusals_and_other_replies_are_told_apart() {
        assert_eq!(ack_code(&reply(NLMSG_ERROR, 7, 0), 7).unwrap(), Some(0));
        assert_eq!(ack_code(&reply(NLMSG_ERROR, 7, -17), 7).unwrap(), Some(-17));
        assert_eq!(ack_code(&reply(NLMSG_ERROR, 6, 0), 7).unwrap(), None);
        assert_eq!(ack_code(&reply(3, 7, 0), 7).unwrap(), None);
        assert!(ack_code(&[0; 8], 7).is_err());
    }

    #[test]
    fn sizes_come_from_the_options() {
        let args = ["--vips", "40", "--ports", "250"].map(String::from);
        assert_eq!(
            parse_args(args.into_iter()).unwrap(),
            TableSize::SERVICES_10K
        );
        assert!(parse_args(["--dests".to_owned()].into_iter()).is_err());
        assert!(parse_args(["--dests", "300"].map(String::from).into_iter()).is_err());
    }
}
