//! One admission review, pure: the API server's `admission.k8s.io/v1` AdmissionReview in, the
//! HTTP status and body to answer with out. No socket, no clock, no file.
//!
//! What is decided, in order:
//! - a body that is not JSON, or not an `admission.k8s.io/v1` `AdmissionReview` with a
//!   `request`, is answered 400 with the reason (the API server then applies the webhook's
//!   failure policy); a request that has a readable `uid` but is otherwise unusable gets a
//!   review response that denies with the reason, so the operator sees it in kubectl;
//! - an object other than the guarded ConfigMap (another kind, name or namespace, a
//!   subresource) is allowed untouched: the webhook configuration should not send it at all;
//! - DELETE and CONNECT are allowed (validation is about content; what the directors do when
//!   the ConfigMap goes away is the daemon's `--on-configmap-delete`);
//! - CREATE and UPDATE run [`ConfigMapChecks`], the checks of `lbctl validate`: any error
//!   denies with status 422 and one line per problem (`key: position: message`); warnings go
//!   to `warnings`, which kubectl prints. On UPDATE, an error on a key whose value is the same
//!   in `oldObject` is reported as a warning instead: it was already there (written before the
//!   webhook, or made invalid by a settings change), the directors keep rejecting it, and it
//!   must not block an unrelated urgent edit.

use std::collections::BTreeSet;

use lb_config::{DOCUMENT_KEY, Problem, parse_configmap};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::configmap_check::ConfigMapChecks;

/// The only review version this webhook speaks (the configuration asks for `["v1"]`).
pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";
/// The kind of a review document.
pub const ADMISSION_KIND: &str = "AdmissionReview";
/// Problems listed in a denial's message; the rest are counted (`lbctl validate` lists all).
const MAX_LISTED_PROBLEMS: usize = 30;
/// Warnings returned per review: the API server truncates long and many warnings.
const MAX_WARNINGS: usize = 20;
/// Longest warning, in characters (the API server truncates above 256).
const MAX_WARNING_CHARS: usize = 240;
/// HTTP status of a denial for invalid content (Unprocessable Entity).
const DENIED_INVALID: u16 = 422;
/// HTTP status of a denial for an unusable request.
const DENIED_BAD_REQUEST: u16 = 400;

/// The ConfigMap the webhook guards; every other object is allowed untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardedConfigMap {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// Why a body is not a review at all (answered with HTTP 400 and this text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReviewError {
    /// Not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an AdmissionReview of the version we speak.
    #[error(
        "expected apiVersion {ADMISSION_API_VERSION:?} and kind {ADMISSION_KIND:?}, found apiVersion {api_version:?} and kind {kind:?}"
    )]
    WrongType {
        /// The `apiVersion` found (empty when missing).
        api_version: String,
        /// The `kind` found (empty when missing).
        kind: String,
    },
    /// A review without a usable `request.uid`.
    #[error("the AdmissionReview has no request with a uid: {0}")]
    NoRequest(String),
}

/// The answer to one review: the HTTP status, the body and what to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAnswer {
    /// HTTP status: 200 for every review response, 400 for a body that is not one.
    pub http_status: u16,
    /// The JSON review response, or the reason as text for a 400.
    pub body: Vec<u8>,
    /// What happened, for the one log line per review.
    pub summary: ReviewSummary,
}

/// The fields of the one log line per review.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewSummary {
    /// `request.uid` (empty when unreadable).
    pub uid: String,
    /// `request.namespace`.
    pub namespace: String,
    /// `request.name` (or the object's `metadata.name`).
    pub name: String,
    /// `request.operation`.
    pub operation: String,
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Whether the object is the guarded ConfigMap (others are allowed unchecked).
    pub guarded: bool,
    /// Distinct keys with an error that denies the request.
    pub bad_keys: usize,
    /// Keys with errors that were already there before this UPDATE (reported as warnings).
    pub kept_bad_keys: usize,
    /// Why the body was refused or the request denied without checking (empty otherwise).
    pub refusal: String,
}

/// The fields of `request` this webhook reads (others, like `userInfo`, are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmissionRequest {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    operation: String,
    #[serde(default)]
    object: Option<Value>,
    #[serde(default)]
    old_object: Option<Value>,
}

/// `request.kind`.
#[derive(Debug, Deserialize)]
struct GroupVersionKind {
    #[serde(default)]
    group: String,
    kind: String,
}

/// The review response document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewResponseDoc<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseBody<'a>,
}

#[derive(Debug, Serialize)]
struct ResponseBody<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<ResponseStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// `response.status`: a meta/v1 Status (code and message are what kubectl shows).
#[derive(Debug, Serialize)]
struct ResponseStatus {
    code: u16,
    message: String,
}

/// Answers one review body (see the module doc).
pub fn answer_review(
    body: &[u8],
    guarded: &GuardedConfigMap,
    checks: &ConfigMapChecks,
) -> ReviewAnswer {
    match read_review(body) {
        Ok(Ok(request)) => decide(&request, guarded, checks),
        Ok(Err((uid, why))) => {
            let summary = ReviewSummary {
                uid: uid.clone(),
                refusal: why.clone(),
                ..ReviewSummary::default()
            };
            respond(
                &uid,
                false,
                Some((DENIED_BAD_REQUEST, why)),
                Vec::new(),
                summary,
            )
        }
        Err(error) => ReviewAnswer {
            http_status: 400,
            body: format!("{error}\n").into_bytes(),
            summary: ReviewSummary {
                refusal: error.to_string(),
                ..ReviewSummary::default()
            },
        },
    }
}

/// The request of a review; `Ok(Err((uid, why)))` when the uid is readable but the rest is not.
fn read_review(body: &[u8]) -> Result<Result<AdmissionRequest, (String, String)>, ReviewError> {
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| ReviewError::NotJson(e.to_string()))?;
    let text = |field: &str| {
        doc.get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if api_version != ADMISSION_API_VERSION || kind != ADMISSION_KIND {
        return Err(ReviewError::WrongType { api_version, kind });
    }
    let Some(request) = doc.get("request") else {
        return Err(ReviewError::NoRequest("request is missing".to_owned()));
    };
    let uid = match request.get("uid").and_then(Value::as_str) {
        Some(uid) if !uid.is_empty() => uid.to_owned(),
        _ => {
            return Err(ReviewError::NoRequest(
                "request.uid is missing or empty".to_owned(),
            ));
        }
    };
    Ok(AdmissionRequest::deserialize(request)
        .map_err(|e| (uid, format!("malformed AdmissionReview request: {e}"))))
}

/// The decision for a well-formed request.
fn decide(
    request: &AdmissionRequest,
    guarded: &GuardedConfigMap,
    checks: &ConfigMapChecks,
) -> ReviewAnswer {
    let name = request
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| object_name(request.object.as_ref()))
        .unwrap_or_default();
    let mut summary = ReviewSummary {
        uid: request.uid.clone(),
        namespace: request.namespace.clone().unwrap_or_default(),
        name,
        operation: request.operation.clone(),
        allowed: true,
        ..ReviewSummary::default()
    };
    let is_guarded = request.kind.group.is_empty()
        && request.kind.kind == "ConfigMap"
        && request
            .sub_resource
            .as_deref()
            .unwrap_or_default()
            .is_empty()
        && summary.namespace == guarded.namespace
        && summary.name == guarded.name;
    summary.guarded = is_guarded;
    if !is_guarded || !matches!(request.operation.as_str(), "CREATE" | "UPDATE") {
        return respond(&request.uid, true, None, Vec::new(), summary);
    }
    let Some(object) = request.object.as_ref().filter(|o| !o.is_null()) else {
        let why = format!(
            "{} of the ConfigMap without request.object",
            request.operation
        );
        summary.refusal = why.clone();
        return respond(
            &request.uid,
            false,
            Some((DENIED_BAD_REQUEST, why)),
            Vec::new(),
            summary,
        );
    };
    let parsed = parse_configmap(&manifest_text(object));
    let mut problems = checks.check(&parsed);
    let old = match request.operation.as_str() {
        "UPDATE" => request.old_object.as_ref(),
        _ => None,
    };
    let kept = keep_old_errors(&mut problems, object, old);
    let bad: BTreeSet<&str> = problems
        .iter()
        .filter(|p| p.is_error())
        .map(|p| p.key.as_str())
        .collect();
    summary.bad_keys = bad.len();
    summary.kept_bad_keys = kept
        .iter()
        .map(|p| p.key.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    summary.allowed = bad.is_empty();
    let warnings = warnings(&problems, |p| {
        parsed.problems.contains(p) || kept.contains(p)
    });
    let status = (!summary.allowed).then(|| (DENIED_INVALID, denial_message(&problems, guarded)));
    respond(&request.uid, summary.allowed, status, warnings, summary)
}

/// The object as the JSON manifest `lbctl validate` reads (`kubectl get cm -o json`), without
/// the metadata: `managedFields` repeats every key and would double the text to parse.
fn manifest_text(object: &Value) -> String {
    let mut manifest = serde_json::Map::new();
    for field in ["apiVersion", "kind", "data"] {
        if let Some(value) = object.get(field) {
            manifest.insert(field.to_owned(), value.clone());
        }
    }
    Value::Object(manifest).to_string()
}

/// `metadata.name` of an object (CREATE with `generateName` has no `request.name`).
fn object_name(object: Option<&Value>) -> Option<String> {
    object?
        .get("metadata")?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// The value of `key` in an object's `data`.
fn data_value<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get("data")?.get(key)
}

/// Turns errors on keys whose value `old` already had into warnings; returns them.
fn keep_old_errors(problems: &mut [Problem], object: &Value, old: Option<&Value>) -> Vec<Problem> {
    let Some(old) = old else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    for problem in problems.iter_mut().filter(|p| p.is_error()) {
        if problem.key == DOCUMENT_KEY {
            continue;
        }
        let now = data_value(object, &problem.key);
        if now.is_some() && now == data_value(old, &problem.key) {
            problem.severity = lb_config::Severity::Warning;
            problem.message = format!(
                "{} (unchanged by this update, so not refused; the directors still reject this key)",
                problem.message
            );
            kept.push(problem.clone());
        }
    }
    kept
}

/// The warnings kubectl shows: those `shown` picks (the grammar's warnings and the kept
/// errors). The desired state's warnings about Service references are left out: the webhook
/// has no endpoints, so every Service key would warn on every apply.
fn warnings(problems: &[Problem], shown: impl Fn(&Problem) -> bool) -> Vec<String> {
    let shown: Vec<&Problem> = problems
        .iter()
        .filter(|p| !p.is_error() && shown(p))
        .collect();
    let mut out: Vec<String> = shown
        .iter()
        .take(MAX_WARNINGS)
        .map(|p| shorten(&p.to_string(), MAX_WARNING_CHARS))
        .collect();
    if shown.len() > MAX_WARNINGS {
        out.push(format!(
            "... and {} more warnings (lbctl validate lists them all)",
            shown.len() - MAX_WARNINGS
        ));
    }
    out
}

/// The denial message: one line per error, `key: position: message`.
fn denial_message(problems: &[Problem], guarded: &GuardedConfigMap) -> String {
    let errors: Vec<&Problem> = problems.iter().filter(|p| p.is_error()).collect();
    let keys: BTreeSet<&str> = errors.iter().map(|p| p.key.as_str()).collect();
    let mut message = format!(
        "ConfigMap {}/{} has {} invalid key(s); the directors would reject them:",
        guarded.namespace,
        guarded.name,
        keys.len()
    );
    for problem in errors.iter().take(MAX_LISTED_PROBLEMS) {
        message.push('\n');
        message.push_str(&problem.to_string());
    }
    if errors.len() > MAX_LISTED_PROBLEMS {
        message.push_str(&format!(
            "\n... and {} more problems (lbctl validate lists them all)",
            errors.len() - MAX_LISTED_PROBLEMS
        ));
    }
    message
}

/// `text` cut to `max` characters, marked with "..." when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

/// A 200 review response.
fn respond(
    uid: &str,
    allowed: bool,
    status: Option<(u16, String)>,
    warnings: Vec<String>,
    summary: ReviewSummary,
) -> ReviewAnswer {
    let doc = ReviewResponseDoc {
        api_version: ADMISSION_API_VERSION,
        kind: ADMISSION_KIND,
        response: ResponseBody {
            uid,
            allowed,
            status: status.map(|(code, message)| ResponseStatus { code, message }),
            warnings,
        },
    };
    // Serializing strings, bools and numbers cannot fail; the fallback keeps the answer JSON.
    let body = serde_json::to_vec(&doc).unwrap_or_else(|_| {
        format!(r#"{{"apiVersion":"{ADMISSION_API_VERSION}","kind":"{ADMISSION_KIND}","response":{{"uid":{},"allowed":false}}}}"#,
            Value::from(uid))
        .into_bytes()
    });
    ReviewAnswer {
        http_status: 200,
        body,
        summary,
    }
}
