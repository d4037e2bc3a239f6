//! Business labels (namespace, service, port) for kernel services, from the desired state.
//!
//! Pure: no I/O. A service keeps the labels of the last desired state that contained it for
//! as long as it stays in the kernel, so a service that left the ConfigMap but is still
//! draining keeps being exported under its old names. A kernel service that no desired state
//! has contained since the process started (a foreign one, or ours from before a restart that
//! the ConfigMap no longer has) has no labels and is not exported.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use lb_config::{DesiredState, ServiceKey, VirtualService};

/// The labels every IPVS series of one virtual service carries, in exposition order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceLabels {
    /// Kubernetes namespace; empty for static ConfigMap entries.
    pub(crate) namespace: String,
    /// Kubernetes Service name, or the ConfigMap key for static entries.
    pub(crate) service: String,
    /// The Service port's name (or number); the virtual port for static entries.
    pub(crate) port: String,
    /// The virtual port.
    pub(crate) vport: String,
    /// The VIP.
    pub(crate) vip: String,
    /// `tcp`, `udp` or `sctp`.
    pub(crate) protocol: &'static str,
}

/// Label names of the service level, in the order of [`ServiceLabels::values`].
pub(crate) const SERVICE_LABEL_NAMES: [&str; 6] =
    ["namespace", "service", "port", "vport", "vip", "protocol"];

impl ServiceLabels {
    /// The labels of a desired virtual service.
    pub(crate) fn of(service: &VirtualService) -> Self {
        let key = service.key;
        let (namespace, name, port) = match &service.origin.service {
            Some(origin) => (
                origin.namespace.clone(),
                origin.name.clone(),
                origin.port.clone(),
            ),
            None => (
                String::new(),
                service.origin.config_key.clone(),
                key.port.to_string(),
            ),
        };
        ServiceLabels {
            namespace,
            service: name,
            port,
            vport: key.port.to_string(),
            vip: key.vip.to_string(),
            protocol: key.protocol.as_str(),
        }
    }

    /// Values in the order of [`SERVICE_LABEL_NAMES`].
    pub(crate) fn values(&self) -> [&str; 6] {
        [
            &self.namespace,
            &self.service,
            &self.port,
            &self.vport,
            &self.vip,
            self.protocol,
        ]
    }
}

/// Labels per kernel service: those of the current desired state plus those remembered for
/// services that left it but are still in the kernel.
#[derive(Debug, Default)]
pub(crate) struct LabelBook {
    by_service: HashMap<ServiceKey, ServiceLabels>,
}

impl LabelBook {
    /// Takes the labels of `desired` and forgets remembered services that are neither desired
    /// nor in the kernel any more (`in_kernel` says which inet services the last dump had).
    pub(crate) fn refresh(
        &mut self,
        desired: &DesiredState,
        in_kernel: impl Fn(&ServiceKey) -> bool,
    ) {
        for (key, service) in &desired.services {
            let labels = ServiceLabels::of(service);
            match self.by_service.entry(*key) {
                Entry::Occupied(mut slot) => {
                    if *slot.get() != labels {
                        slot.insert(labels);
                    }
                }
                Entry::Vacant(slot) => {
                    slot.insert(labels);
                }
            }
        }
        self.by_service
            .retain(|key, _| desired.services.contains_key(key) || in_kernel(key));
    }

    /// The labels of a kernel service, if it is (or was) ours.
    pub(crate) fn get(&self, key: &ServiceKey) -> Option<&ServiceLabels> {
        self.by_service.get(key)
    }
}
