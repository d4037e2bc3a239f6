//! `lbctl plan`: the IPVS table the director should have, offline.

use anyhow::Result;
use lb_config::{DesiredState, HealthCheckKind, SocketText};
use lb_ipvs_sync::reconcile::render_operation;
use lb_ipvs_sync::wanted::{WantedService, wanted_table};
use lb_ipvs_sync::{Operation, ServiceId};
use serde::Serialize;

use crate::cli::{FileArgs, Output};
use crate::usage::CliUsage;
use lb_controller::files::load;

use crate::commands::report_problems;

#[derive(Serialize)]
struct Report<'a> {
    desired: &'a DesiredState,
    problems: &'a [lb_config::Problem],
}

/// Prints the desired table; returns the exit code (0; problems are reported on stderr).
pub(crate) fn run(files: &FileArgs, output: Output) -> Result<i32> {
    let loaded = load(&files.operator_files())?;
    let desired = &loaded.outcome.state;
    match output {
        Output::Json => {
            let report = Report {
                desired,
                problems: &loaded.problems,
            };
            let text = serde_json::to_string_pretty(&report).map_err(CliUsage::from_error)?;
            println!("{text}");
        }
        Output::Text => {
            report_problems(&loaded.problems);
            print!("{}", render_desired(desired));
        }
    }
    Ok(0)
}

/// The desired state as ipvsadm-like lines grouped by virtual service, with the entry each
/// service came from as a comment, then the VIPs and the netfilter intents.
pub(crate) fn render_desired(desired: &DesiredState) -> String {
    let mut out = String::new();
    let wanted = wanted_table(desired);
    for (id, service) in &wanted {
        if let Some(vs) = id.inet().and_then(|key| desired.services.get(key)) {
            let mut origin = format!("# {}", vs.origin.config_key);
            if let Some(svc) = &vs.origin.service {
                origin.push_str(&format!(
                    " ({}/{} port {})",
                    svc.namespace, svc.name, svc.port
                ));
            }
            if let Some(check) = &vs.health_check {
                origin.push_str(&format!(" check {}", describe_check(&check.kind)));
            }
            out.push_str(&origin);
            out.push('\n');
        }
        render_service(&mut out, id, service);
    }
    if wanted.is_empty() {
        out.push_str("# no virtual services\n");
    }
    let vips: Vec<String> = desired.vips.iter().map(ToString::to_string).collect();
    out.push_str(&format!(
        "# VIPs: {}\n",
        if vips.is_empty() {
            "-".into()
        } else {
            vips.join(" ")
        }
    ));
    for key in &desired.netfilter.notrack {
        out.push_str(&format!("# notrack {}\n", key));
    }
    for (key, pool) in &desired.netfilter.snat {
        let pool: Vec<String> = pool.iter().map(ToString::to_string).collect();
        out.push_str(&format!(
            "# snat {} -> {}\n",
            SocketText(key.vip, key.port),
            pool.join(",")
        ));
    }
    out
}

fn render_service(out: &mut String, id: &ServiceId, service: &WantedService) {
    let add = Operation::AddService {
        service: service.spec.clone(),
    };
    out.push_str(&render_operation(&add, None));
    out.push('\n');
    for dest in service.destinations.values() {
        let op = Operation::AddDestination {
            service: *id,
            destination: dest.clone(),
        };
        out.push_str(&render_operation(&op, None));
        out.push('\n');
    }
}

/// A health check in a few words, e.g. `http GET /healthz -> 200`.
fn describe_check(kind: &HealthCheckKind) -> String {
    let port = |p: &Option<u16>| p.map(|p| format!(" port {p}")).unwrap_or_default();
    match kind {
        HealthCheckKind::Tcp { port: p } => format!("tcp connect{}", port(p)),
        HealthCheckKind::Http {
            tls,
            path,
            expect_status,
            port: p,
            expect_body,
        } => format!(
            "{} GET {path} -> {expect_status}{}{}",
            if *tls { "https" } else { "http" },
            port(p),
            expect_body
                .as_ref()
                .map(|b| format!(" body contains {b:?}"))
                .unwrap_or_default()
        ),
        HealthCheckKind::Exec { command } => format!("exec {}", command.join(" ")),
    }
}
