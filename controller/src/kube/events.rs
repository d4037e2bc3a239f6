//! ConfigMap problems as Kubernetes Events (events.k8s.io/v1) on the ConfigMap, so that
//! `kubectl describe configmap` shows why a key is ignored or kept at its last good version.
//!
//! The daemon reports each problem once when it appears (see `daemon::problems`), and each key
//! it starts serving from its last good version once (reason `KeptLastGood`); the
//! recorder of kube-runtime additionally folds repeats into an event series.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use lb_config::{KubernetesSettings, Problem};
use tracing::warn;

use crate::daemon::{KeptKey, ProblemSink, kept_note, log_kept};

/// Publishes problems as Events on the watched ConfigMap.
pub struct EventSink {
    recorder: Recorder,
    reference: ObjectReference,
}

impl EventSink {
    /// A sink for the ConfigMap named in the settings; `instance` names this director.
    pub fn new(client: Client, k8s: &KubernetesSettings, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: "lbctl".to_owned(),
            instance,
        };
        EventSink {
            recorder: Recorder::new(client, reporter),
            reference: ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("ConfigMap".to_owned()),
                namespace: Some(k8s.namespace.clone()),
                name: Some(k8s.configmap.clone()),
                ..ObjectReference::default()
            },
        }
    }
}

impl ProblemSink for EventSink {
    fn report(&self, problems: Vec<Problem>) {
        for p in &problems {
            warn!(key = %p.key, severity = %p.severity, problem = %p, "ConfigMap problem");
        }
        let recorder = self.recorder.clone();
        let reference = self.reference.clone();
        tokio::spawn(async move {
            for p in problems {
                let event = Event {
                    type_: EventType::Warning,
                    reason: if p.is_error() {
                        "InvalidKey".to_owned()
                    } else {
                        "KeyWarning".to_owned()
                    },
                    note: Some(truncate(&p.to_string(), 1000)),
                    action: "Validate".to_owned(),
                    secondary: None,
                };
                if let Err(e) = recorder.publish(&event, &reference).await {
                    warn!(error = %e, "cannot publish a Kubernetes Event");
                }
            }
        });
    }

    fn kept(&self, keys: Vec<KeptKey>) {
        for k in &keys {
            log_kept(k);
        }
        self.publish_kept(keys);
    }
}

impl EventSink {
    /// Publishes one Warning Event per kept key, reason `KeptLastGood`.
    fn publish_kept(&self, keys: Vec<KeptKey>) {
        let recorder = self.recorder.clone();
        let reference = self.reference.clone();
        tokio::spawn(async move {
            for k in keys {
                let event = Event {
                    type_: EventType::Warning,
                    reason: "KeptLastGood".to_owned(),
                    note: Some(truncate(&kept_note(&k), 1000)),
                    action: "Keep".to_owned(),
                    secondary: None,
                };
                if let Err(e) = recorder.publish(&event, &reference).await {
                    warn!(error = %e, "cannot publish a Kubernetes Event");
                }
            }
        });
    }
}

/// Events notes are limited to 1 kB by the API server: cut to at most `max` bytes, at a
/// character boundary, with `...` marking the cut.
fn truncate(text: &str, max: usize) -> String {
    const MARK: &str = "...";
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::truncate;

    /// Mutation: the former cut (a boundary found for `max`, then 3 bytes taken off) panics on
    /// the two-byte `é` at an odd offset.
    #[test]
    fn cuts_at_a_character_boundary_within_the_limit() {
        let text = format!("method=x {}", "é".repeat(600));
        for max in [1000, 999, 998, 10, 3, 0] {
            let cut = truncate(&text, max);
            assert!(cut.len() <= max.max(3), "{max}: {} bytes", cut.len());
            assert!(cut.ends_with("..."));
        }
        assert_eq!(truncate("short", 1000), "short");
        let emoji = "\u{1F600}".repeat(400);
        assert!(truncate(&emoji, 1000).len() <= 1000);
    }
}
