//! One dump made ready for any number of scrapes: our services with their label text and only
//! the numbers the exposition writes, their counters already made monotonic.
//!
//! Pure: no I/O; time is a parameter. Built once per dump under the collector's lock, then
//! shared read-only (`Arc`) by every scrape that uses that dump, so the monotonic-counter state
//! is advanced once per dump and concurrent scrapes never interleave its passes. Only services
//! with labels (ours) are kept; every destination of such a service is, including draining
//! ones, so their traffic stays visible until they are gone.
//!
//! Compact (issue 13): a destination is one [`ExportedDestination`] of 80 bytes inline in its
//! service's `Vec` (its rate estimates 40 bytes more, and only when they are exported), not an
//! `ObservedDestination` in a map node with every attribute the kernel reports. At 110,000
//! entries that is 11 MiB held instead of 19 MiB (`controller/tests/metrics_memory.rs`).

use std::time::Instant;

use lb_config::{DesiredState, RealServerKey, ServiceKey};
use lb_ipvs_sync::{ObservedDestination, ServiceId, Stats};

use super::exposition::service_label_text;
use super::families::{RATES, SeriesId, counter_values, rate_values};
use super::labels::LabelBook;
use super::monotonic::{COUNTERS, MonotonicCounters};
use super::source::TableVisitor;

/// A dump ready to be written: O(table) memory, only the written numbers.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// When the dump was asked for: the age of its numbers.
    pub(crate) taken: Instant,
    /// When it was ready; a scrape that arrived before this waited for it and may use it.
    pub(crate) ready: Instant,
    /// Whether the dump succeeded; a failed one has no services (no stale numbers).
    pub(crate) up: bool,
    /// Whether the destinations' rate estimates were kept (`endpoint_rates` was on when the
    /// dump was taken); without them the `lvs_endpoint_rate_*` families cannot be written.
    pub(crate) endpoint_rates: bool,
    /// Our services in table order (by service key), with their label text and exported
    /// numbers.
    pub(crate) services: Vec<ExportedService>,
}

/// One service of the snapshot.
#[derive(Debug)]
pub(crate) struct ExportedService {
    /// `namespace="…",…,protocol="…"`, escaped.
    pub(crate) labels: String,
    /// The kernel identity: the table order and the monotonic counters' series.
    pub(crate) key: ServiceKey,
    /// conns, inpkts, outpkts, inbytes, outbytes: the exported (monotonic) values once
    /// [`Snapshot::make_monotonic`] ran, the kernel's before.
    pub(crate) counters: [u64; COUNTERS],
    /// The kernel's rate estimates (cps, inpps, outpps, inbps, outbps).
    pub(crate) rates: [u64; RATES],
    /// The destinations by address and port (empty without the endpoint level).
    pub(crate) destinations: Vec<ExportedDestination>,
    /// The destinations' rate estimates, index for index; empty unless
    /// [`Snapshot::endpoint_rates`].
    pub(crate) destination_rates: Vec<[u64; RATES]>,
}

/// One destination of the snapshot: what the `lvs_endpoint_*` families write, inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportedDestination {
    /// Address and port: the `endpoint` label and the counters' series.
    pub(crate) key: RealServerKey,
    /// As [`ExportedService::counters`].
    pub(crate) counters: [u64; COUNTERS],
    /// IPVS weight.
    pub(crate) weight: u32,
    /// Active (established) connections.
    pub(crate) active_conns: u32,
    /// Inactive connections.
    pub(crate) inactive_conns: u32,
    /// Persistence templates.
    pub(crate) persist_conns: u32,
}

impl ExportedDestination {
    /// The written numbers of a dumped destination (its kernel counters as they are).
    fn of(dest: &ObservedDestination) -> Self {
        ExportedDestination {
            key: dest.spec.key,
            counters: counter_values(&dest.stats),
            weight: dest.spec.weight,
            active_conns: dest.active_conns,
            inactive_conns: dest.inactive_conns,
            persist_conns: dest.persist_conns,
        }
    }
}

/// Turns a streamed dump into the services of a [`Snapshot`]: keeps the services that are
/// ours (labelled now or by the desired state) and converts their destinations as they come,
/// so only one service's raw destinations are alive at a time.
#[derive(Debug)]
pub(crate) struct SnapshotBuilder<'a> {
    labels: &'a LabelBook,
    desired: &'a DesiredState,
    endpoint_level: bool,
    endpoint_rates: bool,
    /// Every inet service of the dump, ours or not: the label book forgets the others.
    in_kernel: Vec<ServiceKey>,
    /// Ours so far, label text still empty.
    services: Vec<ExportedService>,
}

/// A finished dump, before the labels are refreshed: see [`SnapshotBuilder::finish`].
#[derive(Debug)]
pub(crate) struct DumpedServices {
    in_kernel: Vec<ServiceKey>,
    endpoint_rates: bool,
    services: Vec<ExportedService>,
}

impl<'a> SnapshotBuilder<'a> {
    /// A builder keeping the services `desired` or `labels` know. Without `endpoint_level` no
    /// destination is asked for (neither exported nor tracked); without `endpoint_rates`
    /// their rate estimates are not kept.
    pub(crate) fn new(
        labels: &'a LabelBook,
        desired: &'a DesiredState,
        endpoint_level: bool,
        endpoint_rates: bool,
    ) -> Self {
        SnapshotBuilder {
            labels,
            desired,
            endpoint_level,
            endpoint_rates: endpoint_level && endpoint_rates,
            in_kernel: Vec::new(),
            services: Vec::new(),
        }
    }

    /// Ends the dump: services in table order, spare capacity returned.
    pub(crate) fn finish(self) -> DumpedServices {
        let SnapshotBuilder {
            mut in_kernel,
            mut services,
            endpoint_rates,
            ..
        } = self;
        in_kernel.sort_unstable();
        services.sort_by_key(|service| service.key);
        services.shrink_to_fit();
        DumpedServices {
            in_kernel,
            endpoint_rates,
            services,
        }
    }
}

impl TableVisitor for SnapshotBuilder<'_> {
    fn expect_services(&mut self, count: usize) {
        self.in_kernel.reserve_exact(count);
        self.services.reserve_exact(count);
    }

    fn service(&mut self, id: &ServiceId, stats: &Stats) -> bool {
        let ServiceId::Inet(key) = id else {
            return false;
        };
        self.in_kernel.push(*key);
        if self.labels.get(key).is_none() && !self.desired.services.contains_key(key) {
            return false;
        }
        self.services.push(ExportedService {
            labels: String::new(),
            key: *key,
            counters: counter_values(stats),
            rates: rate_values(stats),
            destinations: Vec::new(),
            destination_rates: Vec::new(),
        });
        self.endpoint_level
    }

    fn destinations(
        &mut self,
        destinations: &mut dyn ExactSizeIterator<Item = &ObservedDestination>,
    ) {
        let Some(service) = self.services.last_mut() else {
            return;
        };
        // The kernel reports them in hash order; the exposition writes them by key.
        let mut sorted: Vec<&ObservedDestination> = destinations.collect();
        sorted.sort_unstable_by_key(|dest| dest.spec.key);
        service.destinations = Vec::with_capacity(sorted.len());
        service
            .destinations
            .extend(sorted.iter().map(|dest| ExportedDestination::of(dest)));
        if self.endpoint_rates {
            service.destination_rates = Vec::with_capacity(sorted.len());
            service
                .destination_rates
                .extend(sorted.iter().map(|dest| rate_values(&dest.stats)));
        }
    }
}

impl DumpedServices {
    /// Whether the kernel has this inet service (for [`LabelBook::refresh`]).
    pub(crate) fn in_kernel(&self, key: &ServiceKey) -> bool {
        self.in_kernel.binary_search(key).is_ok()
    }
}

impl Snapshot {
    /// A failed dump: nothing to export.
    pub(crate) fn failed(taken: Instant, ready: Instant) -> Self {
        Snapshot {
            taken,
            ready,
            up: false,
            endpoint_rates: false,
            services: Vec::new(),
        }
    }

    /// The snapshot of a finished dump, labelled from `labels` (refreshed with this dump):
    /// its counters are still the kernel's.
    pub(crate) fn prepare(dumped: DumpedServices, labels: &LabelBook, taken: Instant) -> Self {
        let DumpedServices {
            mut services,
            endpoint_rates,
            ..
        } = dumped;
        services.retain_mut(|service| match labels.get(&service.key) {
            Some(service_labels) => {
                service.labels = service_label_text(service_labels);
                true
            }
            // Not reached: a kept service is desired or remembered, and in the kernel.
            None => false,
        });
        Snapshot {
            taken,
            ready: taken,
            up: true,
            endpoint_rates,
            services,
        }
    }

    /// Replaces every counter by the monotonic one of `counters` (one pass at the snapshot's
    /// `taken`): each service, and each destination kept.
    pub(crate) fn make_monotonic(&mut self, counters: &mut MonotonicCounters<SeriesId>) {
        let taken = self.taken;
        let series = self.services.iter().map(|s| 1 + s.destinations.len()).sum();
        counters.begin_pass(series);
        for service in &mut self.services {
            let series = SeriesId {
                service: service.key,
                endpoint: None,
            };
            service.counters = counters.observe(&series, service.counters, taken);
            for dest in &mut service.destinations {
                let series = SeriesId {
                    service: service.key,
                    endpoint: Some(dest.key),
                };
                dest.counters = counters.observe(&series, dest.counters, taken);
            }
        }
        counters.end_pass(taken);
    }
}
