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
            destinations: Arc::new(BTreeMap::from([(rs, dest)])),
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
        keys: Default::default(),
        on_disk: None,
        netfilter: None,
        sync_daemons: None,
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
    assert_eq!(outcome.dumps, 0);
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
            .starts_with("cannot read the IPVS table back after the sync: "),
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

/// A kernel older than 5.2: it accepts tunnel destinations and silently drops their GUE/GRE
/// settings (it reports none: plain IPIP).
struct PreGueKernel(FakeKernel);

impl IpvsKernel for PreGueKernel {
    fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
        self.0.dump()
    }
    fn read_services(&mut self, ids: &BTreeSet<ServiceId>) -> Result<IpvsTable, IpvsError> {
        self.0.read_services(ids)
    }
    fn apply(&mut self, op: &Operation) -> Result<(), IpvsError> {
        let mut op = op.clone();
        if let Operation::AddDestination { destination, .. }
        | Operation::EditDestination { destination, .. } = &mut op
        {
            destination.tunnel = None;
        }
        self.0.apply(&op)
    }
}

fn id(port: u16) -> ServiceId {
    ServiceId::Inet(ServiceKey {
        vip: "10.0.0.100".parse().unwrap(),
        protocol: Protocol::Tcp,
        port,
    })
}

fn real_server(n: u32) -> RealServerKey {
    RealServerKey {
        addr: std::net::Ipv4Addr::from(0x0a00_0100 + n).into(),
        port: 8080,
    }
}

/// `services` services (ports 1..) of `servers` masquerading real servers each, weight 1.
fn many(services: u16, servers: u32) -> BTreeMap<ServiceId, WantedService> {
    (1..=services)
        .map(|port| {
            let spec = lb_ipvs_sync::ServiceSpec {
                id: id(port),
                scheduler: "rr".into(),
                flags: 0,
                timeout: 0,
                netmask_prefix: 32,
                pe_name: None,
            };
            let destinations = (1..=servers)
                .map(|n| {
                    let key = real_server(n);
                    let dest = lb_ipvs_sync::DestinationSpec {
                        key,
                        forward: KernelForward::Masq,
                        weight: 1,
                        upper_threshold: 0,
                        lower_threshold: 0,
                        tunnel: None,
                    };
                    (key, dest)
                })
                .collect::<BTreeMap<_, _>>();
            let destinations = std::sync::Arc::new(destinations);
            (id(port), WantedService { spec, destinations })
        })
        .collect()
}

fn set_weight(
    wanted: &mut BTreeMap<ServiceId, WantedService>,
    port: u16,
    server: u32,
    weight: u32,
) {
    let service = wanted.get_mut(&id(port)).unwrap();
    service
        .destinations_mut()
        .get_mut(&real_server(server))
        .unwrap()
        .weight = weight;
}

/// A full pass dumps once (at its start) and reads back only the services it wrote; a no-op
/// pass reads nothing more. Fails if the pass dumps again after its writes (the old read-back).
#[test]
fn a_full_pass_dumps_once_and_reads_back_only_what_it_wrote() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let mut want = many(20, 3);
    let first = run(&mut kernel, &input(Arc::new(want.clone())));
    assert!(first.is_clean(), "{:?}", first.step_errors);
    assert_eq!(first.after.as_ref(), Some(kernel.table()));

    let (dumps, reads) = (kernel.full_dumps(), kernel.service_reads());
    let noop = run(&mut kernel, &input(Arc::new(want.clone())));
    assert!(noop.is_clean() && noop.report.applied.is_empty());
    assert_eq!(
        kernel.full_dumps() - dumps,
        1,
        "a no-op full pass dumps once"
    );
    assert_eq!(noop.dumps, 1, "the outcome counts the dumps it took");
    assert_eq!(kernel.service_reads() - reads, 0);
    assert_eq!(noop.services_read, 20);
    assert_eq!(noop.after.as_ref(), Some(kernel.table()));

    set_weight(&mut want, 7, 2, 5);
    want.remove(&id(9));
    let (dumps, reads) = (kernel.full_dumps(), kernel.service_reads());
    let edit = run(&mut kernel, &input(Arc::new(want)));
    assert!(edit.is_clean(), "{:?}", edit.step_errors);
    assert_eq!(edit.report.applied.len(), 2, "{:?}", edit.report.applied);
    assert_eq!(kernel.full_dumps() - dumps, 1);
    assert_eq!(edit.dumps, 1);
    assert_eq!(
        kernel.service_reads() - reads,
        2,
        "the two services written"
    );
    assert_eq!(edit.after.as_ref(), Some(kernel.table()));
}

/// An apply from empty writes every service: one dump reads them back in fewer round trips
/// than a read of each.
#[test]
fn writing_most_of_the_table_reads_it_back_in_one_dump() {
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let outcome = run(&mut kernel, &input(Arc::new(many(10, 2))));
    assert!(outcome.is_clean(), "{:?}", outcome.step_errors);
    assert_eq!(kernel.full_dumps(), 2);
    assert_eq!(outcome.dumps, 2);
    assert_eq!(kernel.service_reads(), 0);
    assert_eq!(outcome.after.as_ref(), Some(kernel.table()));
}

/// The read-back still catches tunnel settings an old kernel dropped, on a full and on a
/// focused pass. Fails if the read-back trusts the model (compares it with itself) instead of
/// the kernel.
#[test]
fn read_back_catches_tunnel_settings_an_old_kernel_dropped() {
    let mut kernel = PreGueKernel(FakeKernel::new(IpvsTable::default()));
    let mut want = many(3, 1);
    let first = run(&mut kernel, &input(Arc::new(want.clone())));
    assert!(first.is_clean(), "{:?}", first.step_errors);
    let table = Arc::new(first.after.unwrap());
    let previous = want.clone();
    let dest = want
        .get_mut(&id(2))
        .unwrap()
        .destinations_mut()
        .get_mut(&real_server(1))
        .unwrap();
    dest.forward = KernelForward::Tunnel;
    dest.tunnel = Some(lb_ipvs_sync::TunnelSpec {
        tun_type: 1,
        port: 6080,
        flags: 0,
    });
    let pass = input(Arc::new(want.clone()));
    let focus = lb_ipvs_sync::reconcile::Focus::between(
        &previous,
        &want,
        &table,
        &DrainBook::default(),
        &pass.scope,
    );
    assert_eq!(focus.services, BTreeSet::from([id(2)]));
    let read = ReadMode::Focus(FocusRead {
        focus,
        table,
        vips: None,
    });
    for mode in [read, ReadMode::Whole] {
        let outcome = sync_director(&mut kernel, &pass, &mode).unwrap();
        assert_eq!(steps(&outcome), [Step::ReadBack], "{}", mode.label());
        let text = outcome.step_errors[0].text();
        assert!(
            text.contains(
                "-e -t 10.0.0.100:2 -r 10.0.1.1:8080 -i -w 1 --tun-type gue --tun-port 6080"
            ),
            "{text}"
        );
        assert!(!outcome.is_clean());
    }
}

/// One real-server change among 10,000 services x 10 real servers: the focused pass costs O(1)
/// netlink operations (one write, one read before planning, one read back, no dump), plans
/// one service, and its table shares every untouched service with the last one. Fails if the
/// focused pass dumps, reads or plans more than the change, or copies the table's services.
#[test]
fn one_real_server_change_at_scale_costs_work_in_proportion_to_it() {
    const SERVICES: u16 = 10_000;
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let before = many(SERVICES, 10);
    let first = run(&mut kernel, &input(Arc::new(before.clone())));
    assert!(first.is_clean(), "{:?}", first.step_errors);
    let table = Arc::new(first.after.unwrap());
    assert_eq!(table.services.len(), usize::from(SERVICES));

    let mut after = before.clone();
    set_weight(&mut after, 5_000, 3, 7);
    let pass = input(Arc::new(after.clone()));
    let focus = lb_ipvs_sync::reconcile::Focus::between(
        &before,
        &after,
        &table,
        &DrainBook::default(),
        &pass.scope,
    );
    assert_eq!(focus.services, BTreeSet::from([id(5_000)]));
    assert_eq!(focus.managed_destinations, 100_000);
    let read = ReadMode::Focus(FocusRead {
        focus,
        table: Arc::clone(&table),
        vips: None,
    });
    let (dumps, reads, calls) = (
        kernel.full_dumps(),
        kernel.service_reads(),
        kernel.apply_calls(),
    );
    let outcome = sync_director(&mut kernel, &pass, &read).unwrap();
    assert!(outcome.is_clean(), "{:?}", outcome.step_errors);
    assert_eq!(kernel.full_dumps() - dumps, 0);
    assert_eq!(kernel.service_reads() - reads, 2, "one read, one read-back");
    assert_eq!(kernel.apply_calls() - calls, 1);
    assert_eq!(outcome.services_read, 1);
    assert_eq!(outcome.report.plan.operations.len(), 1);
    let new = outcome.after.unwrap();
    let shared = table
        .services
        .iter()
        .filter(|(id, old)| Arc::ptr_eq(old, &new.services[*id]))
        .count();
    assert_eq!(shared, usize::from(SERVICES) - 1);
    assert_eq!(
        new.services[&id(5_000)].destinations[&real_server(3)]
            .spec
            .weight,
        7
    );
    assert_eq!(&new, kernel.table());
}

/// Sync daemons are brought in line on full passes only, and a kernel that cannot run them is
/// a step error while the IPVS pass stands. Fails if a focused pass starts daemons (it must
/// stay O(its focus)) or if the daemon error stops the pass.
#[test]
fn sync_daemons_follow_full_passes_only() {
    let settings = Settings::from_toml_str(
        "[failover.connection_sync]\nroles = [\"backup\"]\ninterface = \"eth1\"\n",
    )
    .unwrap();
    let mut pass = input(wanted(1));
    pass.sync_daemons = crate::sync::wanted_sync_daemons(&settings);
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let first = run(&mut kernel, &pass);
    assert!(first.is_clean(), "{:?}", first.step_errors);
    assert_eq!(kernel.daemons().len(), 1);
    assert_eq!(first.daemons.as_ref().unwrap().applied.len(), 1);

    // Someone stops it; a focused pass does not look, the next full pass restarts it.
    let mut stopped = FakeKernel::new(kernel.table().clone());
    let focus = ReadMode::Focus(FocusRead {
        focus: lb_ipvs_sync::reconcile::Focus::default(),
        table: Arc::new(first.after.unwrap()),
        vips: None,
    });
    let focused = sync_director(&mut stopped, &pass, &focus).unwrap();
    assert!(focused.daemons.is_none());
    assert!(stopped.daemons().is_empty());
    let full = run(&mut stopped, &pass);
    assert_eq!(stopped.daemons().len(), 1);
    assert!(full.daemons.unwrap().in_line());

    // A kernel boundary without daemons: a step error, the IPVS writes still made.
    let mut plain = ForgetfulKernel(FakeKernel::new(IpvsTable::default()));
    let outcome = run(&mut plain, &pass);
    assert_eq!(steps(&outcome), [Step::SyncDaemons]);
    assert_eq!(outcome.report.applied.len(), 2);
    // Not clean, but the table stands for the next focus (mutation: counting the daemon
    // step in `table_is_clean` makes every change a full pass while the daemon fails).
    assert!(!outcome.is_clean() && outcome.table_is_clean());
    assert!(
        outcome.step_errors[0]
            .text()
            .starts_with("cannot bring the IPVS connection sync daemons in line: "),
        "{}",
        outcome.step_errors[0].text()
    );
}

/// The state file is written when a kept key version changes even though IPVS does not, and
/// left alone when nothing changed. Fails if the pass ignores `keys` (the new version is not
/// persisted) or rewrites an unchanged file (the marker written by hand survives only then).
#[test]
// The test reads and edits the state file itself (an I/O test in a mixed crate).
#[allow(clippy::disallowed_methods)]
fn the_state_file_follows_the_kept_keys_and_is_not_rewritten_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut kernel = FakeKernel::new(IpvsTable::default());
    let mut pass = input(wanted(1));
    pass.state_file = Some(path.clone());
    pass.keys = Arc::new(BTreeMap::from([(
        "10.0.0.100-80".to_owned(),
        persisted::KeptVersion {
            value: "10.0.1.11:80".into(),
            since: 5,
        },
    )]));
    let first = run(&mut kernel, &pass);
    assert!(first.is_clean(), "{:?}", first.step_errors);
    let on_disk = state_file::read(&path).unwrap();
    assert_eq!(on_disk.keys, pass.keys);
    assert_eq!(first.persisted.as_ref(), Some(&on_disk));

    // Same content: not rewritten (a byte appended by hand stays).
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push('\n');
    std::fs::write(&path, &text).unwrap();
    pass.on_disk = first.persisted;
    let same = run(&mut kernel, &pass);
    assert!(same.is_clean());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // A new kept version, no IPVS change: written.
    let mut keys = (*pass.keys).clone();
    keys.insert(
        "10.0.0.100-80".to_owned(),
        persisted::KeptVersion {
            value: "10.0.1.11:80 weight=1".into(),
            since: 6,
        },
    );
    pass.keys = Arc::new(keys);
    pass.on_disk = same.persisted;
    let changed = run(&mut kernel, &pass);
    assert!(changed.report.applied.is_empty());
    assert_eq!(state_file::read(&path).unwrap().keys, pass.keys);
}

/// A kernel whose reads and writes take a known least time.
struct SlowKernel(FakeKernel);

impl IpvsKernel for SlowKernel {
    fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
        std::thread::sleep(Duration::from_millis(30));
        self.0.dump()
    }
    fn apply(&mut self, op: &Operation) -> Result<(), IpvsError> {
        std::thread::sleep(Duration::from_millis(10));
        self.0.apply(op)
    }
}

/// The pass's times put the read and the writes where they happened (lower bounds only: a
/// busy host may only make them longer). Mutation: swapping read and write in `times` fails.
#[test]
fn pass_times_split_read_plan_and_writes() {
    let mut kernel = SlowKernel(FakeKernel::new(IpvsTable::default()));
    let first = run(&mut kernel, &input(wanted(1)));
    let writes = u32::try_from(first.report.applied.len()).unwrap();
    assert!(writes >= 2, "{:?}", first.report.applied);
    let ipvs = first.times.ipvs;
    assert!(ipvs.read >= Duration::from_millis(30), "{ipvs:?}");
    assert!(ipvs.write >= Duration::from_millis(10) * writes, "{ipvs:?}");
    assert!(ipvs.plan < ipvs.write, "{ipvs:?}");
    // The read-back is one dump when everything was written.
    assert!(
        first.times.read_back >= Duration::from_millis(30),
        "{:?}",
        first.times
    );
    let again = run(&mut kernel, &input(wanted(1)));
    assert!(again.report.applied.is_empty());
    assert_eq!(again.times.ipvs.write, Duration::ZERO, "{:?}", again.times);
    assert_eq!(again.dumps, 1, "nothing written, nothing read back");
}
