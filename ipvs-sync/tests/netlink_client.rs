//! The client's request/reply state machine against a scripted kernel: family resolution,
//! ACKs and errnos, multipart dumps across datagrams, stale sequence numbers, op counting,
//! read-back verification and the `IpvsKernel` implementation. No IPVS needed.
// Helpers outside #[test] fns unwrap too: in a test, a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(target_endian = "little")]

#[path = "fixtures/netlink/wire.rs"]
mod wire;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;

use lb_config::Protocol;
use lb_ipvs_sync::netlink::{IpvsClient, NetlinkTransport, OpCounts, Timeouts};
use lb_ipvs_sync::test_util::{self, rs, spec, svc};
use lb_ipvs_sync::{DestinationSpec, IpvsError, IpvsKernel, KernelForward, Operation, ServiceId};
use wire::*;

type Responder = Box<dyn FnMut(&[u8]) -> Vec<Vec<u8>>>;
/// Every request the client sent, in order.
type SentLog = Rc<RefCell<Vec<Vec<u8>>>>;

/// A transport whose "kernel" is a closure from request bytes to reply datagrams.
struct Scripted {
    responder: Responder,
    pending: VecDeque<Vec<u8>>,
    sent: SentLog,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scripted({} pending)", self.pending.len())
    }
}

impl NetlinkTransport for Scripted {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        // Like the kernel (EBUSY for a dump while one runs), demand the previous reply be drained.
        assert!(
            self.pending.is_empty(),
            "request sent before the previous reply was drained"
        );
        self.sent.borrow_mut().push(request.to_vec());
        let replies = (self.responder)(request);
        self.pending.extend(replies);
        Ok(())
    }

    fn recv(&mut self, datagram: &mut Vec<u8>) -> io::Result<()> {
        match self.pending.pop_front() {
            Some(d) => {
                *datagram = d;
                Ok(())
            }
            None => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "script exhausted",
            )),
        }
    }
}

/// A client whose kernel answers nlctrl with family 0x1c and IPVS requests with `ipvs`.
fn client(
    mut ipvs_kernel: impl FnMut(u8, u32, &[u8]) -> Vec<Vec<u8>> + 'static,
) -> (IpvsClient<Scripted>, SentLog) {
    let sent = Rc::new(RefCell::new(Vec::new()));
    let responder: Responder = Box::new(move |request: &[u8]| {
        let seq = seq_of(request);
        let msg_type = u16::from_le_bytes([request[4], request[5]]);
        if msg_type == 0x10 {
            return vec![[ctrl_family_reply(seq, FAMILY), nlmsg_error(seq, 0)].concat()];
        }
        assert_eq!(msg_type, FAMILY, "IPVS requests use the resolved family id");
        ipvs_kernel(request[16], seq, request)
    });
    let transport = Scripted {
        responder,
        pending: VecDeque::new(),
        sent: Rc::clone(&sent),
    };
    (IpvsClient::with_transport(transport).unwrap(), sent)
}

fn ack(seq: u32) -> Vec<Vec<u8>> {
    vec![nlmsg_error(seq, 0)]
}

/// TCP service `vip:port`.
fn tcp(vip: &str, port: u16) -> ServiceId {
    svc(vip, Protocol::Tcp, port)
}

/// A masquerading destination `addr:80`.
fn dest(addr: &str, weight: u32) -> DestinationSpec {
    test_util::dest(rs(addr, 80), weight)
}

/// A kernel-style NEW_SERVICE reply message for TCP `vip`:80 with scheduler `sched`.
fn service_msg(seq: u32, octets: [u8; 4], sched: &str) -> Vec<u8> {
    let mut flags = 0x2u32.to_le_bytes().to_vec();
    flags.extend_from_slice(&[0xff; 4]);
    let mut name = sched.as_bytes().to_vec();
    name.push(0);
    ipvs(
        MULTI,
        seq,
        1,
        &[nest(
            1,
            &[
                u16_attr(1, 2),
                u16_attr(2, 6),
                nla(3, &v4_addr16(octets)),
                be16_attr(4, 80),
                nla(6, &name),
                nla(7, &flags),
                u32_attr(8, 0),
                nla(9, &[0xff; 4]),
            ],
        )],
    )
}

/// A kernel-style NEW_DEST reply message (masq, port 80, no ADDR_FAMILY).
fn dest_msg(seq: u32, octets: [u8; 4], weight: u32) -> Vec<u8> {
    ipvs(
        MULTI,
        seq,
        5,
        &[nest(
            2,
            &[
                nla(1, &v4_addr16(octets)),
                be16_attr(2, 80),
                u32_attr(3, 0),
                u32_attr(4, weight),
                u32_attr(5, 0),
                u32_attr(6, 0),
                u32_attr(7, 3),
            ],
        )],
    )
}

#[test]
fn connect_resolves_the_family_and_counts_nothing() {
    let (client, sent) = client(|_, _, _| unreachable!("no IPVS request expected"));
    assert_eq!(client.family_id(), FAMILY);
    assert_eq!(client.op_count(), OpCounts::default());
    // The resolution request is CTRL_CMD_GETFAMILY (3) naming "IPVS".
    let request = &sent.borrow()[0];
    assert_eq!(request[16], 3);
    assert!(request.windows(5).any(|w| w == b"IPVS\0"));
}

#[test]
fn a_missing_family_is_family_not_found() {
    let responder: Responder = Box::new(|request: &[u8]| vec![nlmsg_error(seq_of(request), -2)]);
    let transport = Scripted {
        responder,
        pending: VecDeque::new(),
        sent: Rc::default(),
    };
    match IpvsClient::with_transport(transport) {
        Err(IpvsError::FamilyNotFound) => {}
        Err(other) => panic!("expected FamilyNotFound, got {other:?}"),
        Ok(_) => panic!("expected FamilyNotFound, got a client"),
    }
}

#[test]
fn writes_are_acked_and_counted() {
    let (mut client, sent) = client(|cmd, seq, _| {
        assert_eq!(cmd, 1, "NEW_SERVICE");
        ack(seq)
    });
    client
        .add_service(&spec(tcp("10.0.0.1", 80), "rr"))
        .unwrap();
    assert_eq!(
        client.op_count(),
        OpCounts {
            writes: 1,
            dumps: 0,
            gets: 0
        }
    );
    // Flags REQUEST|ACK, sequence numbers increase after the resolution request.
    let sent = sent.borrow();
    assert_eq!(u16::from_le_bytes([sent[1][6], sent[1][7]]), REQ_ACK);
    assert!(seq_of(&sent[1]) > seq_of(&sent[0]));
}

#[test]
fn refusals_keep_errno_operation_and_object() {
    let (mut client, _) = client(|_, seq, _| vec![nlmsg_error(seq, -17)]);
    match client.add_service(&spec(tcp("10.0.0.1", 80), "rr")) {
        Err(IpvsError::Kernel {
            operation,
            object,
            errno,
            message,
        }) => {
            assert_eq!(operation, "NEW_SERVICE");
            assert!(
                object.contains("TCP") && object.contains("10.0.0.1:80"),
                "{object}"
            );
            assert_eq!(errno, 17);
            assert!(!message.is_empty());
        }
        other => panic!("expected EEXIST, got {other:?}"),
    }
    match client.add_destination(&tcp("10.0.0.1", 80), &dest("10.0.1.11", 1)) {
        Err(e @ IpvsError::Kernel { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("NEW_DEST") && text.contains("-> 10.0.1.11:80"),
                "{text}"
            );
        }
        other => panic!("expected EEXIST, got {other:?}"),
    }
}

#[test]
fn dumps_span_datagrams_skip_stale_messages_and_end_at_done() {
    let (mut client, _) = client(|cmd, seq, _| {
        assert_eq!(cmd, 4, "GET_SERVICE");
        vec![
            // A leftover from an abandoned earlier exchange, then the first part.
            [
                service_msg(seq - 1, [9, 9, 9, 9], "rr"),
                service_msg(seq, [10, 0, 0, 1], "rr"),
            ]
            .concat(),
            [service_msg(seq, [10, 0, 0, 2], "wlc"), nlmsg_done(seq, 0)].concat(),
        ]
    });
    let services = client.dump_services().unwrap();
    let ids: Vec<_> = services.iter().map(|(s, _)| s.id).collect();
    assert_eq!(ids, vec![tcp("10.0.0.1", 80), tcp("10.0.0.2", 80)]);
    assert_eq!(services[1].0.scheduler, "wlc");
    assert_eq!(client.op_count().dumps, 1);
    assert_eq!(client.op_count().writes, 0);
}

#[test]
fn a_negative_done_code_is_a_refusal() {
    let (mut client, _) = client(|_, seq, _| vec![nlmsg_done(seq, -1)]);
    assert_eq!(client.dump_services().unwrap_err().errno(), Some(1));
}

#[test]
fn get_service_maps_esrch_to_none() {
    let (mut client, _) = client(|_, seq, request| {
        // 10.0.0.1 exists, everything else is ESRCH.
        if request.windows(4).any(|w| w == [10, 0, 0, 1]) {
            vec![[service_msg(seq, [10, 0, 0, 1], "rr"), nlmsg_error(seq, 0)].concat()]
        } else {
            vec![nlmsg_error(seq, -3)]
        }
    });
    assert!(client.get_service(&tcp("10.0.0.1", 80)).unwrap().is_some());
    assert!(client.get_service(&tcp("10.0.0.2", 80)).unwrap().is_none());
    assert_eq!(client.op_count().gets, 2);
}

#[test]
fn verify_service_reports_what_the_kernel_did_not_keep() {
    let (mut client, _) = client(|_, seq, _| {
        vec![[service_msg(seq, [10, 0, 0, 1], "wlc"), nlmsg_error(seq, 0)].concat()]
    });
    client
        .verify_service(&spec(tcp("10.0.0.1", 80), "wlc"))
        .unwrap();
    match client.verify_service(&spec(tcp("10.0.0.1", 80), "rr")) {
        Err(IpvsError::NotKept {
            what, wrote, read, ..
        }) => {
            assert_eq!(what, "scheduler");
            assert!(wrote.contains("rr") && read.contains("wlc"));
        }
        other => panic!("expected NotKept, got {other:?}"),
    }
}

#[test]
fn verify_destination_compares_the_weight() {
    let (mut client, _) =
        client(|_, seq, _| vec![[dest_msg(seq, [10, 0, 1, 11], 5), nlmsg_done(seq, 0)].concat()]);
    let svc = tcp("10.0.0.1", 80);
    client
        .verify_destination(&svc, &dest("10.0.1.11", 5))
        .unwrap();
    assert!(matches!(
        client.verify_destination(&svc, &dest("10.0.1.11", 1)),
        Err(IpvsError::NotKept { what: "weight", .. })
    ));
    assert!(matches!(
        client.verify_destination(&svc, &dest("10.0.1.99", 5)),
        Err(IpvsError::NotKept {
            what: "destination",
            ..
        })
    ));
}

#[test]
fn kernel_trait_dumps_services_with_their_destinations() {
    let (mut client, _) = client(|cmd, seq, request| match cmd {
        4 => vec![
            [
                service_msg(seq, [10, 0, 0, 1], "rr"),
                service_msg(seq, [10, 0, 0, 2], "rr"),
                nlmsg_done(seq, 0),
            ]
            .concat(),
        ],
        8 if request.windows(4).any(|w| w == [10, 0, 0, 1]) => vec![
            [
                dest_msg(seq, [10, 0, 1, 11], 1),
                dest_msg(seq, [10, 0, 1, 12], 2),
                nlmsg_done(seq, 0),
            ]
            .concat(),
        ],
        8 => vec![nlmsg_done(seq, 0)], // unknown or empty service: empty dump
        other => panic!("unexpected command {other}"),
    });
    let table = client.dump().unwrap();
    assert_eq!(table.services.len(), 2);
    let first = &table.services[&tcp("10.0.0.1", 80)];
    let weights: Vec<_> = first.destinations.values().map(|d| d.spec.weight).collect();
    assert_eq!(weights, vec![1, 2]);
    assert_eq!(first.destinations.values().next().unwrap().active_conns, 3);
    assert!(table.services[&tcp("10.0.0.2", 80)].destinations.is_empty());
    assert_eq!(
        client.op_count(),
        OpCounts {
            writes: 0,
            dumps: 3,
            gets: 0
        }
    );
}

#[test]
fn kernel_trait_applies_each_operation_with_its_command() {
    let (mut client, sent) = client(|_, seq, _| ack(seq));
    let svc = tcp("10.0.0.1", 80);
    let ops = [
        Operation::AddService {
            service: spec(svc, "rr"),
        },
        Operation::EditService {
            service: spec(svc, "wlc"),
        },
        Operation::AddDestination {
            service: svc,
            destination: dest("10.0.1.11", 1),
        },
        Operation::EditDestination {
            service: svc,
            destination: dest("10.0.1.11", 5),
        },
        Operation::DeleteDestination {
            service: svc,
            destination: dest("10.0.1.11", 5).key,
        },
        Operation::DeleteService { service: svc },
    ];
    for op in &ops {
        client.apply(op).unwrap();
    }
    let commands: Vec<u8> = sent.borrow()[1..].iter().map(|r| r[16]).collect();
    assert_eq!(commands, vec![1, 2, 5, 6, 7, 3]);
    assert_eq!(client.op_count().writes, 6);
}

#[test]
fn info_and_timeouts() {
    let (mut client, _) = client(|cmd, seq, _| match cmd {
        15 => vec![
            [
                ipvs(0, seq, 14, &[u32_attr(1, 0x010201), u32_attr(2, 4096)]),
                nlmsg_error(seq, 0),
            ]
            .concat(),
        ],
        13 => vec![
            [
                ipvs(
                    0,
                    seq,
                    12,
                    &[u32_attr(4, 900), u32_attr(5, 120), u32_attr(6, 300)],
                ),
                nlmsg_error(seq, 0),
            ]
            .concat(),
        ],
        12 => ack(seq),
        other => panic!("unexpected command {other}"),
    });
    assert_eq!(client.info().unwrap().version_text(), "1.2.1");
    let t = client.get_timeouts().unwrap();
    assert_eq!(
        t,
        Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }
    );
    client
        .set_timeouts(&Timeouts {
            tcp: 0,
            tcp_fin: 0,
            udp: 60,
        })
        .unwrap();
    assert_eq!(
        client.op_count(),
        OpCounts {
            writes: 1,
            dumps: 0,
            gets: 2
        }
    );
}

#[test]
fn a_malformed_dump_part_fails_the_dump_after_draining_it() {
    let calls = Rc::new(RefCell::new(0));
    let counter = Rc::clone(&calls);
    let (mut client, _) = client(move |cmd, seq, _| {
        *counter.borrow_mut() += 1;
        match cmd {
            4 => vec![
                // A part whose SERVICE nest holds a u16 AF of 3 bytes, then a good part.
                [
                    ipvs(MULTI, seq, 1, &[nest(1, &[nla(1, &[2, 0, 0])])]),
                    service_msg(seq, [10, 0, 0, 1], "rr"),
                ]
                .concat(),
                nlmsg_done(seq, 0),
            ],
            15 => vec![
                [
                    ipvs(0, seq, 14, &[u32_attr(1, 0x010201), u32_attr(2, 4096)]),
                    nlmsg_error(seq, 0),
                ]
                .concat(),
            ],
            other => panic!("unexpected command {other}"),
        }
    });
    assert!(matches!(
        client.dump_services(),
        Err(IpvsError::Decode { .. })
    ));
    // The DONE was consumed with the failed dump: the next exchange reads its own reply.
    assert_eq!(client.info().unwrap().conn_table_size, 4096);
    assert_eq!(*calls.borrow(), 2);
}

#[test]
fn tunnel_types_an_old_kernel_would_ignore_are_refused_before_sending() {
    use lb_ipvs_sync::TunnelSpec;
    use lb_ipvs_sync::netlink::features::KernelVersion;
    let (mut c, sent) = client(|_, seq, _| ack(seq));
    let before = sent.borrow().len();
    let mut gue = dest("10.0.1.1", 1);
    gue.forward = KernelForward::Tunnel;
    gue.tunnel = Some(TunnelSpec {
        tun_type: 1,
        port: 6080,
        flags: 0,
    });
    c.set_kernel_version(Some(KernelVersion {
        major: 4,
        minor: 18,
    }));
    let err = c.add_destination(&tcp("10.0.0.1", 80), &gue).unwrap_err();
    assert!(matches!(err, IpvsError::Unsupported { .. }), "{err:?}");
    assert!(
        err.to_string().contains("GUE tunnels need Linux 5.2"),
        "{err}"
    );
    let err = c.edit_destination(&tcp("10.0.0.1", 80), &gue).unwrap_err();
    assert!(err.to_string().contains("4.18"), "{err}");
    assert_eq!(sent.borrow().len(), before, "nothing reached the kernel");

    // A kernel that has it gets the request.
    c.set_kernel_version(Some(KernelVersion { major: 6, minor: 1 }));
    c.add_destination(&tcp("10.0.0.1", 80), &gue).unwrap();
    assert_eq!(sent.borrow().len(), before + 1);
}

/// A socket whose kernel stops answering a service dump half-way, as far as the kernel goes:
/// the rest of the dump arrives late on the same socket, and until it has been read out a new
/// dump on that socket is refused with EBUSY. Reopening gives a fresh socket.
struct Hanging {
    queue: VecDeque<Vec<u8>>,
    /// The part of the dump that arrives only after the client gave up.
    late: Vec<Vec<u8>>,
    dump_busy: bool,
    hang_next_dump: bool,
    reopens: Rc<RefCell<usize>>,
}

impl std::fmt::Debug for Hanging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hanging({} queued)", self.queue.len())
    }
}

impl NetlinkTransport for Hanging {
    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        let seq = seq_of(request);
        if u16::from_le_bytes([request[4], request[5]]) == 0x10 {
            self.queue
                .push_back([ctrl_family_reply(seq, FAMILY), nlmsg_error(seq, 0)].concat());
            return Ok(());
        }
        assert_eq!(request[16], 4, "GET_SERVICE dump");
        if self.dump_busy {
            self.queue.push_back(nlmsg_error(seq, -16));
        } else if std::mem::take(&mut self.hang_next_dump) {
            self.dump_busy = true;
            self.queue.push_back(service_msg(seq, [10, 0, 0, 1], "rr"));
            self.late = vec![[service_msg(seq, [10, 0, 0, 2], "rr"), nlmsg_done(seq, 0)].concat()];
        } else {
            self.queue.push_back(service_msg(seq, [10, 0, 0, 3], "rr"));
            self.queue.push_back(nlmsg_done(seq, 0));
        }
        Ok(())
    }

    fn recv(&mut self, datagram: &mut Vec<u8>) -> io::Result<()> {
        match self.queue.pop_front() {
            Some(d) => {
                *datagram = d;
                Ok(())
            }
            None => {
                // Too late for this receive, but it will be there for the next one.
                self.queue.extend(self.late.drain(..));
                Err(io::Error::new(io::ErrorKind::TimedOut, "nothing in time"))
            }
        }
    }

    fn reply_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(7)
    }

    fn reopen(&mut self) -> io::Result<()> {
        *self.reopens.borrow_mut() += 1;
        self.queue.clear();
        self.late.clear();
        self.dump_busy = false;
        Ok(())
    }
}

/// A receive that times out is `IpvsError::Timeout` naming the request, its object and the
/// timeout, and the client works again afterwards: it reopens the socket, so neither the late
/// rest of the abandoned dump nor its busy dump slot reaches the next request. Fails without
/// the reopen (the next dump gets EBUSY) or if the timeout is reported as a plain I/O error.
#[test]
fn a_timed_out_dump_is_named_and_the_next_request_gets_a_fresh_socket() {
    let reopens = Rc::new(RefCell::new(0));
    let transport = Hanging {
        queue: VecDeque::new(),
        late: Vec::new(),
        dump_busy: false,
        hang_next_dump: true,
        reopens: Rc::clone(&reopens),
    };
    let mut client = IpvsClient::with_transport(transport).unwrap();
    let error = client.dump_services().unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    match &error {
        IpvsError::Timeout {
            request,
            object,
            after,
        } => {
            assert_eq!(*request, "GET_SERVICE");
            assert_eq!(object, "services");
            assert_eq!(*after, std::time::Duration::from_secs(7));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("GET_SERVICE") && text.contains("7s"),
        "{text}"
    );
    assert_eq!(
        *reopens.borrow(),
        0,
        "reopened lazily, before the next request"
    );

    let services = client.dump_services().unwrap();
    let ids: Vec<_> = services.iter().map(|(s, _)| s.id).collect();
    assert_eq!(ids, vec![tcp("10.0.0.3", 80)], "only the new dump's answer");
    assert_eq!(*reopens.borrow(), 1);
    client.dump_services().unwrap();
    assert_eq!(*reopens.borrow(), 1, "no reopen without a timeout");
}
