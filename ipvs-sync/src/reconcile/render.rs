//! A plan as ipvsadm-like lines (for `lbctl diff`) and as JSON. Pure.
//!
//! One line per operation, in apply order, using ipvsadm's options so operators can read (and
//! if need be replay) it: `-A -t 10.0.0.100:80 -s rr`, `-a -t 10.0.0.100:80 -r 10.0.1.11:80 -m
//! -w 1`, `-e ... -w 0   # drain until 2024-01-01T00:00:00Z`, `-d ...`, `-D ...`. Refused
//! wanted services follow as `#` comments.

use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

use lb_config::SocketText;

use super::plan::Plan;
use crate::model::{
    DestinationSpec, Family, IP_VS_SVC_F_ONEPACKET, IP_VS_SVC_F_PERSISTENT, IP_VS_SVC_F_SCHED1,
    IP_VS_SVC_F_SCHED2, IP_VS_SVC_F_SCHED3, KernelForward, Operation, ServiceId, ServiceSpec,
};

impl Plan {
    /// The plan as ipvsadm-like lines, one per operation, each ending in a newline.
    pub fn render_ipvsadm(&self) -> String {
        let mut out = String::new();
        for op in &self.operations {
            out.push_str(&render_operation(op, self.quiesce_deadline(op)));
            out.push('\n');
        }
        for refusal in &self.refused {
            let _ = writeln!(out, "# {refusal}");
        }
        out
    }

    /// The plan as JSON (operations, drain book, drain status, refusals, guard counts).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_ipvsadm())
    }
}

/// One operation as an ipvsadm-like line; `drain_deadline` marks a drain quiesce.
pub fn render_operation(op: &Operation, drain_deadline: Option<u64>) -> String {
    let mut line = match op {
        Operation::AddService { service } => format!("-A {}", service_line(service)),
        Operation::EditService { service } => format!("-E {}", service_line(service)),
        Operation::DeleteService { service } => format!("-D {}", service_address(service)),
        Operation::AddDestination {
            service,
            destination,
        } => format!("-a {}", destination_line(service, destination)),
        Operation::EditDestination {
            service,
            destination,
        } => format!("-e {}", destination_line(service, destination)),
        Operation::DeleteDestination {
            service,
            destination,
        } => format!(
            "-d {} -r {}",
            service_address(service),
            SocketText(destination.addr, destination.port)
        ),
    };
    if let Some(deadline) = drain_deadline {
        let _ = write!(line, "   # drain until {}", utc_timestamp(deadline));
    }
    line
}

fn service_address(id: &ServiceId) -> String {
    match id {
        ServiceId::Inet(key) => format!(
            "{} {}",
            key.protocol.ipvsadm_flag(),
            SocketText(key.vip, key.port)
        ),
        ServiceId::Fwmark {
            family: Family::Inet,
            mark,
        } => format!("-f {mark}"),
        ServiceId::Fwmark {
            family: Family::Inet6,
            mark,
        } => format!("-f {mark} -6"),
    }
}

fn service_line(spec: &ServiceSpec) -> String {
    let mut line = format!("{} -s {}", service_address(&spec.id), spec.scheduler);
    if spec.flags & IP_VS_SVC_F_PERSISTENT != 0 {
        let _ = write!(line, " -p {}", spec.timeout);
    }
    let v4 = match spec.id {
        ServiceId::Inet(key) => key.vip.is_ipv4(),
        ServiceId::Fwmark { family, .. } => family == Family::Inet,
    };
    let full = if v4 { 32 } else { 128 };
    if spec.netmask_prefix != full {
        if v4 {
            let bits = u32::MAX
                .checked_shl(32 - u32::from(spec.netmask_prefix.min(32)))
                .unwrap_or(0);
            let _ = write!(line, " -M {}", Ipv4Addr::from(bits));
        } else {
            let _ = write!(line, " -M {}", spec.netmask_prefix);
        }
    }
    if spec.flags & IP_VS_SVC_F_ONEPACKET != 0 {
        line.push_str(" -o");
    }
    let hashing = matches!(&*spec.scheduler, "sh" | "mh");
    let mut sched_flags = Vec::new();
    for (bit, hashed_name, generic) in [
        (IP_VS_SVC_F_SCHED1, "fallback", "flag-1"),
        (IP_VS_SVC_F_SCHED2, "port", "flag-2"),
        (IP_VS_SVC_F_SCHED3, "", "flag-3"),
    ] {
        if spec.flags & bit != 0 {
            if hashing && !hashed_name.is_empty() {
                sched_flags.push(format!("{}-{hashed_name}", spec.scheduler));
            } else {
                sched_flags.push(generic.to_owned());
            }
        }
    }
    if !sched_flags.is_empty() {
        let _ = write!(line, " -b {}", sched_flags.join(","));
    }
    if let Some(pe) = spec.pe_name.as_deref().filter(|pe| !pe.is_empty()) {
        let _ = write!(line, " --pe {pe}");
    }
    line
}

fn destination_line(service: &ServiceId, dest: &DestinationSpec) -> String {
    let mut line = format!(
        "{} -r {}",
        service_address(service),
        SocketText(dest.key.addr, dest.key.port)
    );
    match dest.forward {
        KernelForward::Masq => line.push_str(" -m"),
        KernelForward::Route => line.push_str(" -g"),
        KernelForward::Tunnel => line.push_str(" -i"),
        KernelForward::Local | KernelForward::Bypass | KernelForward::Other(_) => {}
    }
    let _ = write!(line, " -w {}", dest.weight);
    if dest.upper_threshold != 0 {
        let _ = write!(line, " -x {}", dest.upper_threshold);
    }
    if dest.lower_threshold != 0 {
        let _ = write!(line, " -y {}", dest.lower_threshold);
    }
    // Like `ipvsadm -S`, every tunnel destination names its type, IPIP included.
    if dest.forward == KernelForward::Tunnel {
        let tunnel = dest.tunnel.unwrap_or(crate::wanted::TUNNEL_IPIP);
        match tunnel.tun_type {
            0 => line.push_str(" --tun-type ipip"),
            1 => {
                let _ = write!(line, " --tun-type gue --tun-port {}", tunnel.port);
            }
            2 => line.push_str(" --tun-type gre"),
            other => {
                let _ = write!(line, " --tun-type {other}");
            }
        }
        if tunnel.flags & 1 != 0 {
            line.push_str(" --tun-csum");
        }
        if tunnel.flags & 2 != 0 {
            line.push_str(" --tun-remcsum");
        }
    }
    if !matches!(
        dest.forward,
        KernelForward::Masq | KernelForward::Route | KernelForward::Tunnel
    ) {
        let _ = write!(
            line,
            "   # forwarding method {} ({}) has no ipvsadm option",
            dest.forward.ipvsadm_name(),
            dest.forward.to_raw()
        );
    }
    line
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC): for
/// messages operators read (drain deadlines, kept ConfigMap versions), without a date crate.
pub fn utc_timestamp(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day), by 400-year eras of 146,097 days.
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of each year.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use lb_config::{Protocol, RealServerKey, ServiceKey};

    use super::*;
    use crate::model::TunnelSpec;

    fn v6_udp() -> ServiceId {
        ServiceId::Inet(ServiceKey {
            vip: "2001:db8::1".parse().unwrap(),
            protocol: Protocol::Udp,
            port: 53,
        })
    }

    #[test]
    fn services_render_with_ipvsadm_options() {
        let spec = ServiceSpec {
            id: v6_udp(),
            scheduler: "mh".into(),
            flags: IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_SCHED1 | IP_VS_SVC_F_SCHED2,
            timeout: 60,
            netmask_prefix: 64,
            pe_name: None,
        };
        assert_eq!(
            render_operation(&Operation::AddService { service: spec }, None),
            "-A -u [2001:db8::1]:53 -s mh -p 60 -M 64 -b mh-fallback,mh-port"
        );
        let mark = ServiceSpec {
            id: ServiceId::Fwmark {
                family: Family::Inet6,
                mark: 7,
            },
            scheduler: "wlc".into(),
            flags: IP_VS_SVC_F_ONEPACKET | IP_VS_SVC_F_SCHED1,
            timeout: 0,
            netmask_prefix: 128,
            pe_name: Some("sip".into()),
        };
        assert_eq!(
            render_operation(&Operation::EditService { service: mark }, None),
            "-E -f 7 -6 -s wlc -o -b flag-1 --pe sip"
        );
        let v4 = ServiceId::Inet(ServiceKey {
            vip: "10.0.0.1".parse().unwrap(),
            protocol: Protocol::Sctp,
            port: 9,
        });
        assert_eq!(
            render_operation(&Operation::DeleteService { service: v4 }, None),
            "-D --sctp-service 10.0.0.1:9"
        );
    }

    #[test]
    fn destinations_render_with_method_thresholds_and_tunnel() {
        let key = RealServerKey {
            addr: "10.0.1.1".parse().unwrap(),
            port: 53,
        };
        let dest = DestinationSpec {
            key,
            forward: KernelForward::Tunnel,
            weight: 0,
            upper_threshold: 10,
            lower_threshold: 2,
            tunnel: Some(TunnelSpec {
                tun_type: 1,
                port: 6080,
                flags: 1,
            }),
        };
        let op = Operation::EditDestination {
            service: v6_udp(),
            destination: dest.clone(),
        };
        assert_eq!(
            render_operation(&op, Some(0)),
            "-e -u [2001:db8::1]:53 -r 10.0.1.1:53 -i -w 0 -x 10 -y 2 --tun-type gue \
             --tun-port 6080 --tun-csum   # drain until 1970-01-01T00:00:00Z"
        );
        let local = DestinationSpec {
            forward: KernelForward::Local,
            tunnel: None,
            ..dest
        };
        let op = Operation::AddDestination {
            service: v6_udp(),
            destination: local,
        };
        assert!(render_operation(&op, None).ends_with("has no ipvsadm option"));
        let op = Operation::DeleteDestination {
            service: v6_udp(),
            destination: key,
        };
        assert_eq!(
            render_operation(&op, None),
            "-d -u [2001:db8::1]:53 -r 10.0.1.1:53"
        );
    }

    #[test]
    fn timestamps_cross_leap_years_and_centuries() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_timestamp(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(utc_timestamp(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
