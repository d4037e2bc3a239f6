//! The Kubernetes client: from a kubeconfig file (directors are usually outside the cluster),
//! else the usual inference (`KUBECONFIG`, `~/.kube/config`, in-cluster service account).

use std::path::Path;

use kube::config::{InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::files::UsageError;

/// Why no Kubernetes client could be built.
#[derive(Debug, thiserror::Error)]
pub enum KubeClientError {
    /// The `--kubeconfig` file cannot be read.
    #[error("cannot read kubeconfig {}", .path.display())]
    ReadKubeconfig {
        /// The kubeconfig file.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        cause: KubeconfigError,
    },
    /// The kubeconfig file is read but unusable.
    #[error("invalid kubeconfig {}", .path.display())]
    InvalidKubeconfig {
        /// The kubeconfig file.
        path: std::path::PathBuf,
        /// What is wrong.
        #[source]
        cause: KubeconfigError,
    },
    /// No kubeconfig given and none found.
    #[error("no Kubernetes configuration found (use --kubeconfig)")]
    Infer(#[source] InferConfigError),
    /// The server is plain HTTP and the settings do not allow it.
    #[error(transparent)]
    PlainHttp(#[from] UsageError),
    /// kube refused the configuration.
    #[error("cannot build the Kubernetes client")]
    Build(#[source] kube::Error),
}

impl KubeClientError {
    /// Whether the input is at fault (exit code 64).
    pub fn is_usage(&self) -> bool {
        matches!(self, KubeClientError::PlainHttp(_))
    }
}

/// Builds a client; a plain `http://` server (the test API server, `kubectl proxy`) only with
/// `allow_insecure_http` (`[kubernetes]` in the settings), else a usage error.
pub(crate) async fn client(
    kubeconfig: Option<&Path>,
    allow_insecure_http: bool,
) -> Result<Client, KubeClientError> {
    let config = match kubeconfig {
        Some(path) => {
            let file =
                Kubeconfig::read_from(path).map_err(|cause| KubeClientError::ReadKubeconfig {
                    path: path.to_owned(),
                    cause,
                })?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|cause| KubeClientError::InvalidKubeconfig {
                    path: path.to_owned(),
                    cause,
                })?
        }
        None => Config::infer().await.map_err(KubeClientError::Infer)?,
    };
    refuse_plain_http(&config, allow_insecure_http)?;
    Client::try_from(without_tls_roots_for_plain_http(config)).map_err(KubeClientError::Build)
}

/// Refuses an `http://` cluster URL unless the settings allow it: the ConfigMap decides what
/// the director forwards, and plain HTTP lets anyone on the path change it.
fn refuse_plain_http(config: &Config, allow_insecure_http: bool) -> Result<(), UsageError> {
    if config.cluster_url.scheme_str() == Some("https") || allow_insecure_http {
        return Ok(());
    }
    Err(UsageError::PlainHttp {
        server: config.cluster_url.to_string(),
    })
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

    /// Mutation: without the check, the http:// server is used without a word.
    #[test]
    fn plain_http_needs_the_setting() {
        let error = refuse_plain_http(&config("http://10.0.0.1:8080"), false).unwrap_err();
        assert!(matches!(error, UsageError::PlainHttp { .. }), "{error}");
        let text = format!("{:#}", anyhow::Error::new(error));
        assert!(
            text.contains("http://10.0.0.1:8080/ is not https")
                && text.contains("allow_insecure_http = true"),
            "{text}"
        );
        assert!(refuse_plain_http(&config("http://127.0.0.1:6443"), true).is_ok());
        assert!(refuse_plain_http(&config("https://10.0.0.1:6443"), false).is_ok());
    }

    #[test]
    fn a_configured_ca_is_kept() {
        let mut with_ca = config("http://127.0.0.1:6443");
        with_ca.root_cert = Some(vec![vec![1, 2, 3]]);
        let kept = without_tls_roots_for_plain_http(with_ca);
        assert_eq!(kept.root_cert, Some(vec![vec![1, 2, 3]]));
    }
}
