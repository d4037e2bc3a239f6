//! The manifests in deploy/webhook/ agree with each other and with the server: they parse as
//! YAML, the webhook configuration is v1-only with a failure policy and a timeout, is limited
//! to the one ConfigMap the settings name, dials the Service and path the server answers, and
//! trusts the CA of the Certificate whose Secret the pods mount.
//!
//! Mutation: rename the ConfigMap in the settings, or drop failurePolicy, and a test fails.

// A test may read files, spawn tools, open sockets and read the clock: clippy.toml's
// disallowed-methods guard the pure rooms' code, not their tests.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use lb_config::Settings;
use lb_controller::webhook::{HEALTH_PATH, VALIDATE_PATH};
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/webhook")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn find(docs: &[Value], kind: &str, name: &str) -> Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .clone()
}

/// The settings the Deployment mounts (they name the guarded ConfigMap).
fn settings(app: &[Value]) -> Settings {
    let cm = find(app, "ConfigMap", "lbctl-webhook-settings");
    Settings::from_toml_str(cm["data"]["settings.toml"].as_str().unwrap()).unwrap()
}

#[test]
fn the_webhook_configuration_guards_only_the_vip_configmap() {
    let app = documents("webhook.yaml");
    let settings = settings(&app);
    let config = documents("webhook-configuration.yaml");
    let config = find(
        &config,
        "ValidatingWebhookConfiguration",
        "lbctl-vip-configmap",
    );
    let hooks = config["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(hook["admissionReviewVersions"], serde_json::json!(["v1"]));
    assert_eq!(hook["sideEffects"], "None");
    assert!(matches!(
        hook["failurePolicy"].as_str(),
        Some("Fail" | "Ignore")
    ));
    let timeout = hook["timeoutSeconds"].as_u64().unwrap();
    assert!((1..=10).contains(&timeout), "{timeout}");
    // Only writes of ConfigMaps, in the settings' namespace, of the settings' name.
    let rule = &hook["rules"][0];
    assert_eq!(rule["resources"], serde_json::json!(["configmaps"]));
    assert_eq!(rule["operations"], serde_json::json!(["CREATE", "UPDATE"]));
    assert_eq!(
        hook["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        settings.kubernetes.namespace.as_str()
    );
    let conditions = hook["matchConditions"].as_array().unwrap();
    assert_eq!(
        conditions[0]["expression"],
        format!(
            "object.metadata.name == '{}'",
            settings.kubernetes.configmap
        )
        .as_str()
    );
    // Dials the Service on the path the server answers.
    let service = &hook["clientConfig"]["service"];
    assert_eq!(service["path"], VALIDATE_PATH);
    let svc = find(&app, "Service", service["name"].as_str().unwrap());
    assert_eq!(svc["metadata"]["namespace"], service["namespace"]);
    assert_eq!(svc["spec"]["ports"][0]["port"], service["port"]);
}

#[test]
fn the_certificate_matches_the_service_the_pods_and_the_ca_injection() {
    let app = documents("webhook.yaml");
    let certs = documents("certificate.yaml");
    let config = documents("webhook-configuration.yaml");
    let config = find(
        &config,
        "ValidatingWebhookConfiguration",
        "lbctl-vip-configmap",
    );
    let inject = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        .as_str()
        .unwrap();
    let (namespace, name) = inject.split_once('/').unwrap();
    let cert = find(&certs, "Certificate", name);
    assert_eq!(cert["metadata"]["namespace"], namespace);
    let service = &config["webhooks"][0]["clientConfig"]["service"];
    let dns = format!(
        "{}.{}.svc",
        service["name"].as_str().unwrap(),
        service["namespace"].as_str().unwrap()
    );
    assert!(
        cert["spec"]["dnsNames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| *n == dns.as_str())
    );
    // The pods mount that Secret and give its files to lbctl webhook.
    let deployment = find(&app, "Deployment", "lbctl-webhook");
    let pod = &deployment["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"]["secretName"] == cert["spec"]["secretName"])
        .expect("the certificate's Secret is mounted");
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume["name"])
        .unwrap();
    let dir = mount["mountPath"].as_str().unwrap();
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "webhook");
    assert!(
        args.contains(&format!("--tls-cert={dir}/tls.crt").as_str()),
        "{args:?}"
    );
    assert!(
        args.contains(&format!("--tls-key={dir}/tls.key").as_str()),
        "{args:?}"
    );
    // Probes over HTTPS on the health path; the Service targets the container port.
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], HEALTH_PATH);
    assert_eq!(container["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
    let svc = find(&app, "Service", service["name"].as_str().unwrap());
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"],
        container["ports"][0]["containerPort"]
    );
}
