//! The pure review decisions (the HTTPS tests in controller/tests/webhook.rs cover the wire).

use lb_config::Settings;
use serde_json::{Value, json};

use super::review::{GuardedConfigMap, answer_review};
use crate::configmap_check::ConfigMapChecks;

fn guarded() -> GuardedConfigMap {
    GuardedConfigMap {
        namespace: "kube-system".into(),
        name: "lvs-vips".into(),
    }
}

fn checks() -> ConfigMapChecks {
    let settings =
        Settings::from_toml_str("managed_vip_ranges = [\"203.0.113.224/28\"]\n").unwrap();
    ConfigMapChecks::new(Some(settings), None).unwrap()
}

fn review(operation: &str, name: &str, data: Value, old: Option<Value>) -> Vec<u8> {
    let object = |data: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": "kube-system"}, "data": data})
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "namespace": "kube-system",
            "name": name,
            "operation": operation,
            "userInfo": {"username": "admin"},
            "object": object(data),
            "oldObject": old.map(object),
            "dryRun": false
        }
    })
    .to_string()
    .into_bytes()
}

/// The `response` of the review `body` of the guarded ConfigMap, answered with `checks()`.
fn reviewed(body: &[u8]) -> Value {
    response(&answer_review(body, &guarded(), &checks()).body)
}

fn response(body: &[u8]) -> Value {
    let doc: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(doc["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(doc["kind"], "AdmissionReview");
    assert_eq!(
        doc["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    doc["response"].clone()
}

#[test]
fn a_bad_key_among_good_ones_is_denied_naming_it() {
    let data =
        json!({"203.0.113.225-80": "198.51.100.1:80", "203.0.113.226-80": "198.51.100.2:8o"});
    let answer = answer_review(
        &review("CREATE", "lvs-vips", data, None),
        &guarded(),
        &checks(),
    );
    assert_eq!(answer.http_status, 200);
    let r = response(&answer.body);
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 422);
    let message = r["status"]["message"].as_str().unwrap();
    assert!(message.contains("203.0.113.226-80: column"), "{message}");
    assert!(!message.contains("203.0.113.225-80"), "{message}");
    assert_eq!(answer.summary.bad_keys, 1);
}

#[test]
fn a_vip_outside_the_managed_ranges_is_denied() {
    let data = json!({"192.0.2.10-80": "198.51.100.1:80"});
    let r = reviewed(&review("CREATE", "lvs-vips", data, None));
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("192.0.2.10-80")
    );
}

#[test]
fn other_configmaps_and_deletes_are_allowed_unchecked() {
    let bad = json!({"x": "y"});
    let r = reviewed(&review("UPDATE", "other", bad.clone(), None));
    assert_eq!(r["allowed"], true);
    let r = reviewed(&review("DELETE", "lvs-vips", bad.clone(), None));
    assert_eq!(r["allowed"], true);
    // Control: the same data on the guarded ConfigMap is denied.
    let r = reviewed(&review("UPDATE", "lvs-vips", bad, None));
    assert_eq!(r["allowed"], false);
}

#[test]
fn an_update_keeps_errors_the_old_object_already_had_as_warnings() {
    let old = json!({"203.0.113.226-80": "198.51.100.2:8o"});
    let new = json!({"203.0.113.226-80": "198.51.100.2:8o", "203.0.113.225-80": "198.51.100.1:80"});
    let answer = answer_review(
        &review("UPDATE", "lvs-vips", new, Some(old)),
        &guarded(),
        &checks(),
    );
    let r = response(&answer.body);
    assert_eq!(r["allowed"], true);
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("203.0.113.226-80:")
    );
    assert_eq!(answer.summary.kept_bad_keys, 1);
    // Control: changing the bad key's value makes it this update's error.
    let old = json!({"203.0.113.226-80": "198.51.100.2:8o"});
    let new = json!({"203.0.113.226-80": "198.51.100.3:8o"});
    let r = reviewed(&review("UPDATE", "lvs-vips", new, Some(old)));
    assert_eq!(r["allowed"], false);
}

#[test]
fn unusable_bodies_are_400_or_a_denial_when_the_uid_is_readable() {
    let a = answer_review(b"{\"apiVersion\": ", &guarded(), &checks());
    assert_eq!(a.http_status, 400);
    assert!(String::from_utf8_lossy(&a.body).starts_with("the body is not JSON"));
    let a = answer_review(
        br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#,
        &guarded(),
        &checks(),
    );
    assert_eq!(a.http_status, 400);
    assert!(String::from_utf8_lossy(&a.body).contains("admission.k8s.io/v1beta1"));
    let a = answer_review(
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","kind":7}}"#,
        &guarded(),
        &checks(),
    );
    assert_eq!(a.http_status, 200);
    let r = response(&a.body);
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed AdmissionReview request")
    );
}

#[test]
fn grammar_warnings_are_returned_and_service_lookups_are_not() {
    // No data: allowed, with the grammar's warning.
    let r = reviewed(&review("UPDATE", "lvs-vips", json!({}), None));
    assert_eq!(r["allowed"], true);
    assert_eq!(
        r["warnings"][0],
        "(configmap): the ConfigMap has no data: no entries"
    );
    // A Service reference: the webhook has no endpoints, so no "not in the snapshot" warning.
    let data = json!({"203.0.113.226": "shop/web:s"});
    let r = reviewed(&review("CREATE", "lvs-vips", data, None));
    assert_eq!(r["allowed"], true);
    assert!(r.get("warnings").is_none(), "{r}");
}
