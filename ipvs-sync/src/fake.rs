//! An in-memory IPVS table behind [`IpvsKernel`], for unit tests of pure logic only.
//!
//! It answers like the kernel does for the cases the reconciler cares about: EEXIST on NEW of
//! an existing service or destination, ESRCH when the service is missing, ENOENT when a
//! destination is missing, ERANGE for a weight above `i32::MAX` or a lower threshold above the
//! upper one. It records every accepted operation, can fail the Nth `apply` call or the next
//! dumps with a chosen errno, and lets tests set connection counts (the kernel only zeroes them
//! when traffic ends). It does not model schedulers, address checks or feature gaps of old
//! kernels: behaviour that needs the real kernel is tested in the lab VM.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use lb_config::RealServerKey;

use crate::error::IpvsError;
use crate::kernel::IpvsKernel;
use crate::model::{IpvsTable, ObservedDestination, ObservedService, Operation, ServiceId, Stats};
use crate::reconcile::errno::{EEXIST, ENOENT, ESRCH};
use crate::sync_daemon::{DaemonOp, SyncDaemon};
use crate::wanted::TUNNEL_IPIP;

/// Out of range (`asm-generic/errno-base.h`): a weight above `i32::MAX`, thresholds reversed.
const ERANGE: i32 = 34;

/// The fake kernel: a table, a log, and scripted failures.
#[derive(Debug, Default, Clone)]
pub struct FakeKernel {
    table: IpvsTable,
    applied: Vec<Operation>,
    apply_calls: usize,
    scripted: BTreeMap<usize, i32>,
    timeouts: BTreeSet<usize>,
    dump_errno: Option<i32>,
    reports_tunnel_always: bool,
    full_dumps: usize,
    service_reads: usize,
    daemons: Vec<SyncDaemon>,
}

impl FakeKernel {
    /// A kernel whose table starts as `table` (e.g. foreign services, or a pre-restart state).
    pub fn new(table: IpvsTable) -> Self {
        FakeKernel {
            table,
            ..FakeKernel::default()
        }
    }

    /// Mimic Linux >= 5.2, which reports tunnel attributes (IPIP, zeros) for every destination
    /// that was written without them.
    pub fn with_tunnel_attrs_always(mut self) -> Self {
        self.reports_tunnel_always = true;
        self
    }

    /// The current table.
    pub fn table(&self) -> &IpvsTable {
        &self.table
    }

    /// The table, for tests that simulate someone running ipvsadm by hand.
    pub fn table_mut(&mut self) -> &mut IpvsTable {
        &mut self.table
    }

    /// Every operation the fake accepted, in order.
    pub fn applied(&self) -> &[Operation] {
        &self.applied
    }

    /// Forgets the log of accepted operations (the table stays).
    pub fn clear_applied(&mut self) {
        self.applied.clear();
    }

    /// How many times `apply` was called, failures included.
    pub fn apply_calls(&self) -> usize {
        self.apply_calls
    }

    /// Makes the `apply` call with this 0-based index (counted over the fake's life) fail with
    /// `errno`, leaving the table unchanged.
    pub fn fail_apply_call(&mut self, index: usize, errno: i32) {
        self.scripted.insert(index, errno);
    }

    /// Makes the `apply` call with this 0-based index time out ([`IpvsError::Timeout`]),
    /// leaving the table unchanged: a kernel that stopped answering.
    pub fn time_out_apply_call(&mut self, index: usize) {
        self.timeouts.insert(index);
    }

    /// How many full dumps were taken.
    pub fn full_dumps(&self) -> usize {
        self.full_dumps
    }

    /// How many services were read one by one ([`IpvsKernel::read_services`]).
    pub fn service_reads(&self) -> usize {
        self.service_reads
    }

    /// Makes every dump fail with `errno` (`None` heals it).
    pub fn fail_dumps(&mut self, errno: Option<i32>) {
        self.dump_errno = errno;
    }

    /// Sets a destination's connection counts; `false` if it does not exist.
    pub fn set_connections(
        &mut self,
        service: &ServiceId,
        destination: &RealServerKey,
        active: u32,
        inactive: u32,
    ) -> bool {
        let Some(dest) = self
            .table
            .services
            .get_mut(service)
            .and_then(|s| Arc::make_mut(s).destinations.get_mut(destination))
        else {
            return false;
        };
        dest.active_conns = active;
        dest.inactive_conns = inactive;
        true
    }

    /// Ends all traffic: every destination's connection counts drop to zero.
    pub fn clear_connections(&mut self) {
        for service in self.table.services.values_mut() {
            for dest in Arc::make_mut(service).destinations.values_mut() {
                dest.active_conns = 0;
                dest.inactive_conns = 0;
            }
        }
    }

    fn perform(&mut self, op: &Operation) -> Result<(), i32> {
        let services = &mut self.table.services;
        match op {
            Operation::AddService { service } => {
                if services.contains_key(&service.id) {
                    return Err(EEXIST);
                }
                let observed = ObservedService {
                    spec: service.clone(),
                    stats: Stats::default(),
                    destinations: BTreeMap::new(),
                };
                services.insert(service.id, Arc::new(observed));
            }
            Operation::EditService { service } => {
                let observed = services
                    .get_mut(&service.id)
                    .map(Arc::make_mut)
                    .ok_or(ESRCH)?;
                observed.spec = service.clone();
            }
            Operation::DeleteService { service } => {
                services.remove(service).ok_or(ESRCH)?;
            }
            Operation::AddDestination {
                service,
                destination,
            } => {
                let observed = services.get_mut(service).map(Arc::make_mut).ok_or(ESRCH)?;
                check_range(destination)?;
                if observed.destinations.contains_key(&destination.key) {
                    return Err(EEXIST);
                }
                let mut spec = destination.clone();
                if self.reports_tunnel_always && spec.tunnel.is_none() {
                    spec.tunnel = Some(TUNNEL_IPIP);
                }
                let dest = ObservedDestination {
                    spec,
                    active_conns: 0,
                    inactive_conns: 0,
                    persist_conns: 0,
                    stats: Stats::default(),
                };
                observed.destinations.insert(destination.key, dest);
            }
            Operation::EditDestination {
                service,
                destination,
            } => {
                let observed = services.get_mut(service).map(Arc::make_mut).ok_or(ESRCH)?;
                check_range(destination)?;
                let dest = observed
                    .destinations
                    .get_mut(&destination.key)
                    .ok_or(ENOENT)?;
                let mut spec = destination.clone();
                if self.reports_tunnel_always && spec.tunnel.is_none() {
                    spec.tunnel = Some(TUNNEL_IPIP);
                }
                dest.spec = spec;
            }
            Operation::DeleteDestination {
                service,
                destination,
            } => {
                let observed = services.get_mut(service).map(Arc::make_mut).ok_or(ESRCH)?;
                observed.destinations.remove(destination).ok_or(ENOENT)?;
            }
        }
        Ok(())
    }
}

fn check_range(dest: &crate::model::DestinationSpec) -> Result<(), i32> {
    let weight_ok = i32::try_from(dest.weight).is_ok();
    if !weight_ok || dest.lower_threshold > dest.upper_threshold {
        return Err(ERANGE);
    }
    Ok(())
}

impl FakeKernel {
    /// The sync daemons the fake runs.
    pub fn daemons(&self) -> &[SyncDaemon] {
        &self.daemons
    }

    /// Starts a daemon as someone else would (an operator's `ipvsadm --start-daemon`).
    pub fn run_daemon(&mut self, daemon: SyncDaemon) {
        self.daemons.retain(|d| d.role != daemon.role);
        self.daemons.push(daemon);
    }
}

impl IpvsKernel for FakeKernel {
    fn sync_daemons(&mut self) -> Result<Vec<SyncDaemon>, IpvsError> {
        Ok(self.daemons.clone())
    }

    /// EEXIST for a role that runs, ESRCH to stop one that does not (as the kernel).
    fn apply_daemon(&mut self, op: &DaemonOp) -> Result<(), IpvsError> {
        match op {
            DaemonOp::Start { daemon } => {
                if self.daemons.iter().any(|d| d.role == daemon.role) {
                    return Err(kernel_error("NEW_DAEMON", daemon.to_string(), EEXIST));
                }
                self.daemons.push(daemon.clone());
            }
            DaemonOp::Stop { role } => {
                let before = self.daemons.len();
                self.daemons.retain(|d| d.role != *role);
                if self.daemons.len() == before {
                    return Err(kernel_error(
                        "DEL_DAEMON",
                        format!("{role} sync daemon"),
                        ESRCH,
                    ));
                }
            }
        }
        Ok(())
    }

    fn dump(&mut self) -> Result<IpvsTable, IpvsError> {
        self.full_dumps += 1;
        match self.dump_errno {
            Some(errno) => Err(kernel_error("GET_SERVICE", "dump".to_owned(), errno)),
            None => Ok(self.table.clone()),
        }
    }

    fn read_services(&mut self, ids: &BTreeSet<ServiceId>) -> Result<IpvsTable, IpvsError> {
        self.service_reads += ids.len();
        if let Some(errno) = self.dump_errno {
            return Err(kernel_error("GET_SERVICE", "read".to_owned(), errno));
        }
        let services = ids
            .iter()
            .filter_map(|id| self.table.services.get_key_value(id))
            .map(|(id, service)| (*id, Arc::clone(service)))
            .collect();
        Ok(IpvsTable { services })
    }

    fn apply(&mut self, op: &Operation) -> Result<(), IpvsError> {
        let call = self.apply_calls;
        self.apply_calls += 1;
        if self.timeouts.remove(&call) {
            return Err(IpvsError::Timeout {
                request: command(op),
                object: object(op),
                after: std::time::Duration::from_secs(10),
            });
        }
        let result = match self.scripted.remove(&call) {
            Some(errno) => Err(errno),
            None => self.perform(op),
        };
        match result {
            Ok(()) => {
                self.applied.push(op.clone());
                Ok(())
            }
            Err(errno) => Err(kernel_error(command(op), object(op), errno)),
        }
    }
}

fn command(op: &Operation) -> &'static str {
    match op {
        Operation::AddService { .. } => "NEW_SERVICE",
        Operation::EditService { .. } => "SET_SERVICE",
        Operation::DeleteService { .. } => "DEL_SERVICE",
        Operation::AddDestination { .. } => "NEW_DEST",
        Operation::EditDestination { .. } => "SET_DEST",
        Operation::DeleteDestination { .. } => "DEL_DEST",
    }
}

fn object(op: &Operation) -> String {
    match op {
        Operation::AddDestination {
            service,
            destination,
        }
        | Operation::EditDestination {
            service,
            destination,
        } => format!("{service} -> {}", destination.key),
        Operation::DeleteDestination {
            service,
            destination,
        } => format!("{service} -> {destination}"),
        _ => op.service().to_string(),
    }
}

fn kernel_error(operation: &'static str, object: String, errno: i32) -> IpvsError {
    let message = match errno {
        ENOENT => "No such file or directory",
        ESRCH => "No such process",
        EEXIST => "File exists",
        ERANGE => "Numerical result out of range",
        _ => "scripted failure",
    };
    IpvsError::Kernel {
        operation,
        object,
        errno,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use lb_config::Protocol;

    use super::*;
    use crate::model::DestinationSpec;
    use crate::test_util::{self, rs, spec, svc};

    fn id() -> ServiceId {
        svc("10.0.0.1", Protocol::Tcp, 80)
    }

    fn add_service() -> Operation {
        Operation::AddService {
            service: spec(id(), "rr"),
        }
    }

    fn dest(weight: u32) -> DestinationSpec {
        test_util::dest(rs("10.0.1.1", 80), weight)
    }

    fn errno(result: Result<(), IpvsError>) -> Option<i32> {
        result.err().and_then(|e| e.errno())
    }

    #[test]
    fn answers_with_the_kernels_errnos() {
        let mut k = FakeKernel::default();
        let add_dest = Operation::AddDestination {
            service: id(),
            destination: dest(1),
        };
        let del_dest = Operation::DeleteDestination {
            service: id(),
            destination: dest(1).key,
        };
        assert_eq!(errno(k.apply(&add_dest)), Some(ESRCH));
        assert_eq!(
            errno(k.apply(&Operation::DeleteService { service: id() })),
            Some(ESRCH)
        );
        k.apply(&add_service()).unwrap();
        assert_eq!(errno(k.apply(&add_service())), Some(EEXIST));
        assert_eq!(errno(k.apply(&del_dest)), Some(ENOENT));
        let edit = Operation::EditDestination {
            service: id(),
            destination: dest(2),
        };
        assert_eq!(errno(k.apply(&edit)), Some(ENOENT));
        k.apply(&add_dest).unwrap();
        assert_eq!(errno(k.apply(&add_dest)), Some(EEXIST));
        let too_heavy = Operation::EditDestination {
            service: id(),
            destination: dest(u32::MAX),
        };
        assert_eq!(errno(k.apply(&too_heavy)), Some(ERANGE));
        let mut reversed = dest(1);
        reversed.lower_threshold = 5;
        let reversed = Operation::EditDestination {
            service: id(),
            destination: reversed,
        };
        assert_eq!(errno(k.apply(&reversed)), Some(ERANGE));
        k.apply(&edit).unwrap();
        assert_eq!(
            k.table().services[&id()].destinations[&dest(1).key]
                .spec
                .weight,
            2
        );
        k.apply(&del_dest).unwrap();
        assert!(k.table().services[&id()].destinations.is_empty());
        assert_eq!(k.applied().len(), 4, "only accepted operations are logged");
        assert_eq!(k.apply_calls(), 12);
    }

    #[test]
    fn scripted_failures_connections_and_tunnel_reports() {
        let mut k = FakeKernel::default().with_tunnel_attrs_always();
        k.fail_apply_call(0, 1);
        assert_eq!(errno(k.apply(&add_service())), Some(1));
        assert!(
            k.table().services.is_empty(),
            "a scripted failure changes nothing"
        );
        k.apply(&add_service()).unwrap();
        k.apply(&Operation::AddDestination {
            service: id(),
            destination: dest(1),
        })
        .unwrap();
        let key = dest(1).key;
        assert!(k.set_connections(&id(), &key, 3, 4));
        assert!(!k.set_connections(&id(), &RealServerKey { port: 1, ..key }, 3, 4));
        let seen = &k.dump().unwrap().services[&id()].destinations[&key];
        assert_eq!((seen.active_conns, seen.inactive_conns), (3, 4));
        assert_eq!(seen.spec.tunnel, Some(TUNNEL_IPIP));
        k.clear_connections();
        assert_eq!(k.table().services[&id()].destinations[&key].active_conns, 0);
        k.fail_dumps(Some(ESRCH));
        assert_eq!(k.dump().err().and_then(|e| e.errno()), Some(ESRCH));
    }
}
