//! The pass's steps and failure policy on the in-memory kernel and scripted tools.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use lb_config::{Protocol, RealServerKey, ServiceKey, Settings};
use lb_ipvs_sync::fake::FakeKernel;
use lb_ipvs_sync::reconcile::{DrainBook, PlanOptions, Scope};
use lb_ipvs_sync::vip::VipError;
use lb_ipvs_sync::wanted::WantedService;
use lb_ipvs_sync::{IpvsError, IpvsKernel, IpvsTable, KernelForward, Operation, ServiceId};

use super::*;
use crate::netfilter::{NetfilterError, ToolRunner, director_rules};

/// A kernel that accepts weight edits but keeps the old weight, like an old kernel that
/// silently ignores an attribute.
struct ForgetfulKernel(FakeKernel);

impl IpvsKernel for ForgetfulKernel {
    fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
        self.0.dump()
    }
    fn apply(&mut self, op: &Operation) -> Result<(), IpvsError> {
        match op {
            Operation::EditDestination { .. } => Ok(()),
            other => self.0.apply(other),
        }
    }
}

fn wanted(weight: u32) -> Wanted {
    let key = ServiceKey {
        vip: "10.0.0.100".parse().unwrap(),
        protocol: Protocol::Tcp,
        port: 80,
    };
    let rs = RealServerKey {
        addr: "10.0.1.11".parse().unwrap(),
        port: 80,
    };
    let spec = lb_ipvs_sync::ServiceSpec {
        id: ServiceId::Inet(key),
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask_prefix: 32,
        pe_name: None,
    };
    let dest = lb_ipvs_sync::DestinationSpec {
        key: rs,
        forward: KernelForward::Masq,
        weight,
        upper_threshold: 0,
        lower_threshold: 0,
        tunnel: None,
    };
    Arc::new(BTreeMap::from([(
        ServiceId::Inet(key),
        WantedService {
            spec,
            destinations: BTreeMap::from([(rs, dest)]),
        },
    )]))
}

fn input(wanted: Wanted) -> PassInput {
    PassInput {
        wanted,
        desired_vips: BTreeSet::new(),
        scope: Scope::new(vec!["10.0.0.96/28".parse().unwrap()]),
        options: PlanOptions::default(),
        drain: DrainBook::default(),
        now: 1_000,
        state_file: None,
        netfilter: None,
    }
}

/// The desired state of a ConfigMap text.
fn desired(config: &str, settings: &Settings) -> lb_config::DesiredState {
    let entries = lb_config::parse_configmap(config).entries;
    lb_config::build_desired_state(
        &entries,
        settings,
        &lb_config::EndpointSnapshot::default(),
        &lb_config::HealthResults::default(),
    )
    .state
}

fn run<K: IpvsKernel>(kernel: &mut K, input: &PassInput) -> PassOutcome {
    sync_director(kernel, input, &ReadMode::Whole).unwrap()
}

fn steps(outcome: &PassOutcome) -> Vec<Step> {
    outcome.step_errors.iter().map(|e| e.step).collect()
}

#[test]
fn read_back_is_clean_when_the_kernel_keeps_everything() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let first = run(&mut kernel, &input(wanted(1)));
    assert!(first.step_errors.is_empty(), "{:?}", first.step_errors);
    let edit = run(&mut kernel, &input(wanted(5)));
    assert!(edit.step_errors.is_empty(), "{:?}", edit.step_errors);
    assert_eq!(edit.report.applied.len(), 1);
    assert!(edit.is_clean());
}

#[test]
fn read_back_reports_an_attribute_the_kernel_did_not_keep() {
    let mut kernel = ForgetfulKernel(FakeKernel::new(IpvsTable::default()));
    let first = run(&mut kernel, &input(wanted(1)));
    assert!(first.step_errors.is_empty(), "{:?}", first.step_errors);
    let edit = run(&mut kernel, &input(wanted(5)));
    assert_eq!(steps(&edit), [Step::ReadBack]);
    let text = edit.step_errors[0].text();
    assert!(
        text.contains("-e -t 10.0.0.100:80 -r 10.0.1.11:80 -m -w 5"),
        "{text}"
    );
    assert!(!edit.is_clean());
}

/// A focused pass reads only its focus and keeps the rest of the last clean table.
#[test]
fn a_focus_reads_only_its_services() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let first = run(&mut kernel, &input(wanted(1)));
    let table = Arc::new(first.after.unwrap());
    let focus = lb_ipvs_sync::reconcile::Focus::default();
    let read = ReadMode::Focus(FocusRead {
        focus,
        table: Arc::clone(&table),
        vips: None,
    });
    let dumps = kernel.full_dumps();
    let outcome = sync_director(&mut kernel, &input(wanted(1)), &read).unwrap();
    assert_eq!(kernel.full_dumps(), dumps);
    assert_eq!(outcome.services_read, 0);
    assert_eq!(outcome.after.as_ref(), Some(&*table));
    assert!(outcome.is_clean(), "{:?}", outcome.step_errors);
}

/// A netfilter tool that fails leaves a netfilter step error, and the IPVS pass still runs
/// (apply and the daemon share this policy). Fails if the pass stops at the netfilter error
/// (as `lbctl apply` once did) or drops the error.
#[test]
fn a_failed_netfilter_step_is_recorded_and_the_ipvs_pass_still_runs() {
    let sys = tempfile::tempdir().unwrap();
    let settings = Settings::from_toml_str(
        "managed_vip_ranges = [\"10.0.0.96/28\"]\nnetfilter_backend = \"iptables\"\n",
    )
    .unwrap();
    let mut pass = input(wanted(1));
    pass.netfilter = Some(NetfilterJob {
        settings: Arc::new(settings.clone()),
        rules: director_rules(&desired("10.0.0.100-80: 10.0.1.11:80\n", &settings)),
        host: NetfilterHost {
            // Every tool "runs" as a script that exits 4.
            runner: ToolRunner::with_prefix(["sh", "-c", "exit 4", "scripted"]),
            proc_sys: sys.path().to_path_buf(),
            conntrack_stat: sys.path().join("nf_conntrack"),
        },
    });
    assert!(!pass.netfilter.as_ref().unwrap().rules.rules.is_empty());
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let outcome = run(&mut kernel, &pass);
    assert_eq!(steps(&outcome), [Step::Netfilter]);
    assert!(outcome.netfilter_failed());
    assert!(outcome.netfilter.is_none());
    let text = outcome.step_errors[0].text();
    assert!(
        text.starts_with("cannot sync the netfilter rules with iptables: "),
        "{text}"
    );
    assert_eq!(outcome.report.applied.len(), 2, "{:?}", outcome.report);
    assert_eq!(kernel.table().services.len(), 1);
    assert!(!outcome.is_clean());
}

/// A tool that hung is a timeout through the step's context; other failures are not. Fails
/// if `is_timeout` looks only at the outer error.
#[test]
fn a_step_error_knows_a_timeout_under_its_context() {
    let hung = StepError::new(
        Step::Netfilter,
        NetfilterStepError::Rules {
            backend: "iptables",
            source: NetfilterError::Timeout {
                program: "iptables-restore".into(),
                args: "--noflush".into(),
                after: Duration::from_secs(30),
            },
        }
        .into(),
    );
    assert!(hung.is_timeout());
    let refused = StepError::new(
        Step::Netfilter,
        NetfilterStepError::Rules {
            backend: "iptables",
            source: NetfilterError::Render { detail: "x".into() },
        }
        .into(),
    );
    assert!(!refused.is_timeout());
    let dump = StepError::new(
        Step::Dump,
        StepFailure::Dump(IpvsError::Timeout {
            request: "GET_SERVICE",
            object: "services".into(),
            after: Duration::from_secs(10),
        }),
    );
    assert!(dump.is_timeout());
    assert!(
        dump.text()
            .starts_with("cannot dump the IPVS table after the sync: "),
        "{}",
        dump.text()
    );
    let vips = StepError::new(
        Step::Vips,
        StepFailure::Vips {
            interface: "lbvip0".into(),
            source: VipError::Timeout(Duration::from_secs(10)),
        },
    );
    assert!(vips.is_timeout());
}

/// The step names are what logs and scripts match on.
#[test]
fn step_names_keep_their_texts() {
    let names: Vec<&str> = [
        Step::Netfilter,
        Step::StateFile,
        Step::Dump,
        Step::ReadBack,
        Step::Vips,
    ]
    .into_iter()
    .map(Step::name)
    .collect();
    assert_eq!(
        names,
        ["netfilter", "state_file", "dump", "read_back", "vips"]
    );
    assert_eq!(ReadMode::Whole.label(), "full");
}

/// `diff` plans what `apply` would write, against the same input.
#[test]
fn a_preview_plans_what_the_pass_writes() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let pass = input(wanted(1));
    let preview = preview(&mut kernel, &pass).unwrap();
    assert!(preview.refusal.is_none());
    let outcome = run(&mut kernel, &pass);
    assert_eq!(preview.plan.operations.len(), outcome.report.applied.len());
    assert!(kernel.applied().len() == 2);
}
