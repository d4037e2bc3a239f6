//! Conntrack table pressure at scrape time, from `/proc/net/stat/nf_conntrack`: the signals of
//! SNAT port exhaustion for FullNAT services (`insert_failed`, `drop`) and of a full table
//! (`early_drop`).
//!
//! The kernel keeps these counters per CPU since boot (or since nf_conntrack was loaded); we
//! export their sum as counters. A decrease (module reloaded) continues from the new value, so
//! the exported series never go backwards.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use lb_director::netfilter::{ConntrackStats, read_conntrack_stats};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, Opts};

/// Exports `lbctl_conntrack_{insert_failed,drop,early_drop,search_restart}_total`.
pub(crate) struct ConntrackCollector {
    path: PathBuf,
    counters: [IntCounter; 4],
    last: Mutex<Option<[u64; 4]>>,
}

impl ConntrackCollector {
    /// Reads `path` (normally `/proc/net/stat/nf_conntrack`) at every scrape.
    pub(crate) fn new(path: impl Into<PathBuf>) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str| IntCounter::with_opts(Opts::new(name, help));
        Ok(ConntrackCollector {
            path: path.into(),
            counters: [
                counter(
                    "lbctl_conntrack_insert_failed_total",
                    "Conntrack entries that could not be inserted (e.g. no free SNAT port).",
                )?,
                counter(
                    "lbctl_conntrack_drop_total",
                    "Packets dropped because no conntrack entry could be created.",
                )?,
                counter(
                    "lbctl_conntrack_early_drop_total",
                    "Conntrack entries evicted early because the table was full.",
                )?,
                counter(
                    "lbctl_conntrack_search_restart_total",
                    "Conntrack lookups restarted because of concurrent changes.",
                )?,
            ],
            last: Mutex::new(None),
        })
    }

    fn update(&self, stats: &ConntrackStats) {
        let now = [
            stats.insert_failed,
            stats.drop,
            stats.early_drop,
            stats.search_restart,
        ];
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        for (i, counter) in self.counters.iter().enumerate() {
            let delta = match *last {
                // A smaller value means the kernel's counter restarted: continue from it.
                Some(prev) if now[i] >= prev[i] => now[i] - prev[i],
                Some(_) => now[i],
                None => now[i],
            };
            counter.inc_by(delta);
        }
        *last = Some(now);
    }
}

impl Collector for ConntrackCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.counters.iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        match read_conntrack_stats(&self.path) {
            Ok(stats) => self.update(&stats),
            // No conntrack module (nothing tracked, so nothing to exhaust): no series.
            Err(_) => return Vec::new(),
        }
        self.counters.iter().flat_map(|c| c.collect()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &std::path::Path, insert_failed: u64, drop: u64) {
        // The kernel's format: a header, then one line of hex counters per CPU.
        let text = format!(
            "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop error search_restart\n\
             00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 {insert_failed:08x} {drop:08x} 00000001 00000000 00000002\n\
             00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000\n"
        );
        std::fs::write(path, text).unwrap();
    }

    fn value(families: &[MetricFamily], name: &str) -> f64 {
        families
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.get_metric()[0].get_counter().get_value())
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn exports_the_sum_over_cpus_and_never_goes_backwards() {
        let dir = std::env::temp_dir().join(format!("lbctl-ct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nf_conntrack");
        let collector = ConntrackCollector::new(&path).unwrap();

        write(&path, 4, 2);
        let f = collector.collect();
        assert_eq!(value(&f, "lbctl_conntrack_insert_failed_total"), 5.0);
        assert_eq!(value(&f, "lbctl_conntrack_drop_total"), 2.0);
        assert_eq!(value(&f, "lbctl_conntrack_early_drop_total"), 1.0);
        assert_eq!(value(&f, "lbctl_conntrack_search_restart_total"), 2.0);

        write(&path, 9, 2);
        let f = collector.collect();
        assert_eq!(value(&f, "lbctl_conntrack_insert_failed_total"), 10.0);

        // nf_conntrack reloaded: the kernel starts from 0 again; the export continues.
        write(&path, 0, 0);
        let f = collector.collect();
        assert_eq!(value(&f, "lbctl_conntrack_insert_failed_total"), 11.0);
        assert_eq!(value(&f, "lbctl_conntrack_drop_total"), 2.0);

        std::fs::remove_file(&path).unwrap();
        assert!(collector.collect().is_empty(), "no file, no series");
    }
}
