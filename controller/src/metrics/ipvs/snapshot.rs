//! One dump made ready for any number of scrapes: our services with their label text, their
//! counters already made monotonic.
//!
//! Pure: no I/O; time is a parameter. Built once per dump under the collector's lock, then
//! shared read-only (`Arc`) by every scrape that uses that dump, so the monotonic-counter state
//! is advanced once per dump and concurrent scrapes never interleave its passes. Only services
//! with labels (ours) are kept; every destination of such a service is, including draining
//! ones, so their traffic stays visible until they are gone.

use std::time::Instant;

use lb_ipvs_sync::{IpvsTable, ObservedService, ServiceId};

use super::exposition::service_label_text;
use super::families::{SeriesId, counter_values, set_counter_values};
use super::labels::LabelBook;
use super::monotonic::MonotonicCounters;

/// A dump ready to be written: O(table) memory, the table itself moved in (not copied).
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// When the dump was asked for: the age of its numbers.
    pub(crate) taken: Instant,
    /// When it was ready; a scrape that arrived before this waited for it and may use it.
    pub(crate) ready: Instant,
    /// Whether the dump succeeded; a failed one has no services (no stale numbers).
    pub(crate) up: bool,
    /// Our services in table order, with their label text and exported counters.
    pub(crate) services: Vec<ExportedService>,
}

/// One service of the snapshot.
#[derive(Debug)]
pub(crate) struct ExportedService {
    /// `namespace="…",…,protocol="…"`, escaped.
    pub(crate) labels: String,
    /// The kernel's service and destinations; their five counters are the exported ones
    /// (offset + kernel value), the rest is as dumped.
    pub(crate) service: ObservedService,
}

impl Snapshot {
    /// A failed dump: nothing to export.
    pub(crate) fn failed(taken: Instant, ready: Instant) -> Self {
        Snapshot {
            taken,
            ready,
            up: false,
            services: Vec::new(),
        }
    }

    /// Keeps the services of `table` that `labels` knows, and replaces their counters by the
    /// monotonic ones of `counters` (one pass at `taken`). Without `endpoint_level` the
    /// destinations are dropped (neither exported nor tracked), as before the option existed.
    pub(crate) fn prepare(
        table: IpvsTable,
        labels: &LabelBook,
        counters: &mut MonotonicCounters<SeriesId>,
        endpoint_level: bool,
        taken: Instant,
    ) -> Self {
        let mut services = Vec::new();
        counters.begin_pass();
        for (id, service) in table.services {
            let ServiceId::Inet(key) = id else { continue };
            // A fresh dump's services are not shared: this takes them without a copy.
            let mut service = std::sync::Arc::unwrap_or_clone(service);
            let Some(service_labels) = labels.get(&key) else {
                continue;
            };
            let series = SeriesId {
                service: key,
                endpoint: None,
            };
            let totals = counters.observe(&series, counter_values(&service.stats), taken);
            set_counter_values(&mut service.stats, totals);
            if !endpoint_level {
                service.destinations.clear();
            }
            for (rs, dest) in &mut service.destinations {
                let series = SeriesId {
                    service: key,
                    endpoint: Some(*rs),
                };
                let totals = counters.observe(&series, counter_values(&dest.stats), taken);
                set_counter_values(&mut dest.stats, totals);
            }
            services.push(ExportedService {
                labels: service_label_text(service_labels),
                service,
            });
        }
        counters.end_pass(taken);
        Snapshot {
            taken,
            ready: taken,
            up: true,
            services,
        }
    }

    /// The services as [`write_lvs_families`](super::exposition::write_lvs_families) walks them.
    pub(crate) fn series_source(
        &self,
    ) -> impl Iterator<Item = (&str, &ObservedService)> + Clone + '_ {
        self.services
            .iter()
            .map(|exported| (exported.labels.as_str(), &exported.service))
    }
}
