//! The Kubernetes client: from a kubeconfig file (directors are usually outside the cluster),
//! else the usual inference (`KUBECONFIG`, `~/.kube/config`, in-cluster service account).

use std::path::Path;

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Builds a client; plain `http://` servers work too (the test API server, `kubectl proxy`).
pub(crate) async fn client(kubeconfig: Option<&Path>) -> Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("invalid kubeconfig {}", path.display()))?
        }
        None => Config::infer()
            .await
            .context("no Kubernetes configuration found (use --kubeconfig)")?,
    };
    Client::try_from(without_tls_roots_for_plain_http(config))
        .context("cannot build the Kubernetes client")
}

/// kube builds its TLS setup even for an `http://` server, and without a CA in the
/// kubeconfig that setup loads the system trust store, failing on hosts that have none (the
/// lab VM, minimal director images). A plain-HTTP server never uses it: give it an empty
/// trust list instead, so nothing is loaded and any TLS attempt would fail closed.
fn without_tls_roots_for_plain_http(mut config: Config) -> Config {
    let plain_http = config.cluster_url.scheme_str() == Some("http");
    if plain_http && config.root_cert.is_none() && config.root_cert_file.is_none() {
        config.root_cert = Some(Vec::new());
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: &str) -> Config {
        Config::new(server.parse().unwrap())
    }

    #[test]
    fn plain_http_gets_an_empty_trust_list_and_https_keeps_the_system_roots() {
        let http = without_tls_roots_for_plain_http(config("http://127.0.0.1:6443"));
        assert_eq!(http.root_cert, Some(Vec::new()));
        let https = without_tls_roots_for_plain_http(config("https://10.0.0.1:6443"));
        assert_eq!(
            https.root_cert, None,
            "https must keep using the trust store"
        );
    }

    #[test]
    fn a_configured_ca_is_kept() {
        let mut with_ca = config("http://127.0.0.1:6443");
        with_ca.root_cert = Some(vec![vec![1, 2, 3]]);
        let kept = without_tls_roots_for_plain_http(with_ca);
        assert_eq!(kept.root_cert, Some(vec![vec![1, 2, 3]]));
    }
}
