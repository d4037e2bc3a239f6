//! What to probe: the desired state turned into checks, one per (virtual service,
//! real server) that has a health check.
//!
//! Pure: no I/O, no clock. Probes always go to the real server's own address (the pod IP),
//! never to the VIP: through the VIP, IPVS would pick some real server and the verdict would
//! describe the wrong one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use lb_config::{
    DesiredState, HealthCheck, HealthCheckDefaults, HealthCheckKind, RealServerKey, ServiceKey,
};

/// Identity of a check. A real server shared by two services has two checks (their
/// checks may differ), and a verdict per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CheckKey {
    /// The virtual service whose check this is.
    pub(crate) service: ServiceKey,
    /// The real server probed.
    pub(crate) real_server: RealServerKey,
}

/// How one probe is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeSpec {
    /// TCP connect.
    Tcp {
        /// Address probed.
        addr: SocketAddr,
    },
    /// HTTP(S) GET.
    Http {
        /// Address probed.
        addr: SocketAddr,
        /// HTTPS (certificate not verified: the check tests liveness, not identity).
        tls: bool,
        /// Request path.
        path: String,
        /// Expected status code.
        expect_status: u16,
        /// Substring the body must contain, if any.
        expect_body: Option<String>,
    },
    /// A program whose exit code decides (0 = healthy).
    Exec {
        /// Program and arguments.
        command: Vec<String>,
    },
}

/// When and how often a check is probed, and how many results flip its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// Time between probes.
    pub(crate) interval: Duration,
    /// Time before a probe counts as failed.
    pub(crate) timeout: Duration,
    /// Consecutive successes to become healthy.
    pub(crate) rise: u32,
    /// Consecutive failures to become unhealthy.
    pub(crate) fall: u32,
}

/// One check: which real server of which service, how it is probed, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// Service and real server.
    pub(crate) key: CheckKey,
    /// The probe.
    pub(crate) probe: ProbeSpec,
    /// Its timing.
    pub(crate) timing: Timing,
}

/// Every check of the desired state. Timings of 0 (never produced by the config layer, but
/// possible in a hand-built state) fall back to `defaults`.
pub(crate) fn checks_of(
    desired: &DesiredState,
    defaults: &HealthCheckDefaults,
) -> BTreeMap<CheckKey, Check> {
    let mut checks = BTreeMap::new();
    for service in desired.services.values() {
        let Some(check) = &service.health_check else {
            continue;
        };
        let timing = timing(check, defaults);
        for rs in service.real_servers.keys() {
            let key = CheckKey {
                service: service.key,
                real_server: *rs,
            };
            let probe = probe_spec(&check.kind, rs);
            checks.insert(key, Check { key, probe, timing });
        }
    }
    checks
}

fn timing(check: &HealthCheck, defaults: &HealthCheckDefaults) -> Timing {
    let or = |value: u32, default: u32| if value == 0 { default.max(1) } else { value };
    Timing {
        interval: Duration::from_secs(or(check.interval_secs, defaults.interval_secs).into()),
        timeout: Duration::from_secs(or(check.timeout_secs, defaults.timeout_secs).into()),
        rise: or(check.rise, defaults.rise),
        fall: or(check.fall, defaults.fall),
    }
}

fn probe_spec(kind: &HealthCheckKind, rs: &RealServerKey) -> ProbeSpec {
    let addr = |port: Option<u16>| SocketAddr::new(rs.addr, port.unwrap_or(rs.port));
    match kind {
        HealthCheckKind::Tcp { port } => ProbeSpec::Tcp { addr: addr(*port) },
        HealthCheckKind::Http {
            tls,
            path,
            expect_status,
            port,
            expect_body,
        } => ProbeSpec::Http {
            addr: addr(*port),
            tls: *tls,
            path: path.clone(),
            expect_status: *expect_status,
            expect_body: expect_body.clone(),
        },
        HealthCheckKind::Exec { command } => ProbeSpec::Exec {
            command: command.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lb_config::test_util::{
        desired_state, real_server, real_server_key, virtual_service, with_real_servers,
    };
    use lb_config::{ForwardMethod, VirtualService};

    fn service(check: Option<HealthCheck>) -> VirtualService {
        let rs = real_server(real_server_key("10.1.0.7", 8080));
        let dr = virtual_service("203.0.113.1", 80, ForwardMethod::Dr);
        VirtualService {
            health_check: check,
            ..with_real_servers(dr, [rs])
        }
    }

    fn state(check: Option<HealthCheck>) -> DesiredState {
        desired_state([service(check)])
    }

    #[test]
    fn services_without_a_check_have_no_checks() {
        let checks = checks_of(&state(None), &HealthCheckDefaults::default());
        assert!(checks.is_empty());
    }

    #[test]
    fn probes_go_to_the_real_server_not_the_vip() {
        let check = HealthCheck {
            kind: HealthCheckKind::Http {
                tls: false,
                path: "/healthz".to_owned(),
                expect_status: 204,
                port: Some(8081),
                expect_body: Some("ok".to_owned()),
            },
            interval_secs: 3,
            timeout_secs: 1,
            rise: 2,
            fall: 4,
        };
        let checks = checks_of(&state(Some(check)), &HealthCheckDefaults::default());
        let check = checks.values().next().unwrap();
        assert_eq!(
            check.probe,
            ProbeSpec::Http {
                addr: "10.1.0.7:8081".parse().unwrap(),
                tls: false,
                path: "/healthz".to_owned(),
                expect_status: 204,
                expect_body: Some("ok".to_owned()),
            }
        );
        assert_eq!(check.timing.interval, Duration::from_secs(3));
        assert_eq!((check.timing.rise, check.timing.fall), (2, 4));
        let tcp = checks_of(
            &state(Some(HealthCheck {
                kind: HealthCheckKind::Tcp { port: None },
                interval_secs: 0,
                timeout_secs: 0,
                rise: 0,
                fall: 0,
            })),
            &HealthCheckDefaults::default(),
        );
        let check = tcp.values().next().unwrap();
        assert_eq!(
            check.probe,
            ProbeSpec::Tcp {
                addr: "10.1.0.7:8080".parse().unwrap()
            }
        );
        assert_eq!(check.timing.interval, Duration::from_secs(5), "defaults");
        assert_eq!(check.timing.fall, 3);
    }
}
