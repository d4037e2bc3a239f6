//! `manage_sysctls`: whether lbctl writes the namespace-wide IPVS sysctls.

use serde::{Deserialize, Serialize};

use super::NetfilterBackend;

/// Whether lbctl writes the IPVS sysctls (`net.ipv4.vs.*`). They are shared by every IPVS user
/// of the network namespace (kube-proxy in IPVS mode), so they follow netfilter by default:
/// whoever installs the NOTRACK/SNAT rules also owns the sysctls that go with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManageSysctls {
    /// Manage them when lbctl manages netfilter (`netfilter_backend` is not `none`).
    #[default]
    Auto,
    /// Manage them even with `netfilter_backend = "none"`.
    Always,
    /// Never write them; `apply` and `diff` report what the services would need.
    Never,
}

impl ManageSysctls {
    /// Whether sysctls are written with this netfilter backend.
    pub fn enabled(self, backend: NetfilterBackend) -> bool {
        match self {
            ManageSysctls::Auto => backend != NetfilterBackend::Disabled,
            ManageSysctls::Always => true,
            ManageSysctls::Never => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    #[test]
    fn auto_follows_the_netfilter_backend() {
        // Mutation: `Auto => true` makes lbctl write shared sysctls with backend none again.
        let default = Settings::default();
        assert_eq!(default.manage_sysctls, ManageSysctls::Auto);
        assert!(default.manage_sysctls.enabled(default.netfilter_backend));
        let none = Settings::from_toml_str("netfilter_backend = \"none\"").unwrap();
        assert!(!none.manage_sysctls.enabled(none.netfilter_backend));
        let always =
            Settings::from_toml_str("netfilter_backend = \"none\"\nmanage_sysctls = \"always\"")
                .unwrap();
        assert!(always.manage_sysctls.enabled(always.netfilter_backend));
        let never = Settings::from_toml_str("manage_sysctls = \"never\"").unwrap();
        assert!(!never.manage_sysctls.enabled(never.netfilter_backend));
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let error = Settings::from_toml_str("manage_sysctls = true").unwrap_err();
        assert!(error.to_string().contains("manage_sysctls"), "{error}");
    }
}
