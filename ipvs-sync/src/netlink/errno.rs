//! Kernel errno -> [`IpvsError::Kernel`] (pure: no I/O).

use crate::IpvsError;
use crate::model::{DestinationSpec, ServiceSpec};

const ENOENT: i32 = 2;
const ERANGE: i32 = 34;

/// The C library's text for an errno, without Rust's " (os error N)" suffix.
pub(crate) fn errno_message(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// A kernel refusal. `code` is the raw NLMSG_ERROR / NLMSG_DONE code (negative errno); the
/// error keeps the positive errno so callers can match `libc::EEXIST` and friends.
pub(crate) fn kernel_error(
    operation: &'static str,
    object: &dyn std::fmt::Display,
    code: i32,
) -> IpvsError {
    let errno = code.checked_abs().unwrap_or(i32::MAX);
    IpvsError::Kernel {
        operation,
        object: object.to_string(),
        errno,
        message: errno_message(errno),
    }
}

/// Says what a refused service write means where the errno alone tells it: NEW_SERVICE and
/// SET_SERVICE fail with ENOENT only when the kernel has no scheduler (or persistence engine)
/// of that name, and "No such file or directory" names neither.
pub(crate) fn explain_service_refusal(error: IpvsError, spec: &ServiceSpec) -> IpvsError {
    explain(error, ENOENT, || {
        let scheduler = &spec.scheduler;
        let since = match &**scheduler {
            "twos" => "; twos needs Linux 6.2",
            "mh" => "; mh needs Linux 4.18",
            _ => "",
        };
        let engine = spec
            .pe_name
            .as_ref()
            .map(|pe| format!(", or no persistence engine {pe} (module ip_vs_pe_{pe})"))
            .unwrap_or_default();
        format!(
            "this kernel has no scheduler {scheduler} (module ip_vs_{scheduler} missing{since}){engine}"
        )
    })
}

/// The same for destination writes: ERANGE there means thresholds the kernel refuses (a lower
/// threshold above the upper one).
pub(crate) fn explain_destination_refusal(error: IpvsError, dest: &DestinationSpec) -> IpvsError {
    explain(error, ERANGE, || {
        format!(
            "the kernel refuses lower threshold {} above upper threshold {}",
            dest.lower_threshold, dest.upper_threshold
        )
    })
}

/// Appends `meaning()` to the message of a kernel refusal with `errno`; anything else passes.
fn explain(error: IpvsError, errno: i32, meaning: impl FnOnce() -> String) -> IpvsError {
    match error {
        IpvsError::Kernel {
            operation,
            object,
            errno: got,
            message,
        } if got == errno => IpvsError::Kernel {
            operation,
            object,
            errno: got,
            message: format!("{message}: {}", meaning()),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util;

    #[test]
    fn keeps_positive_errno_and_text() {
        let e = kernel_error("NEW_SERVICE", &"TCP  10.0.0.1:80", -17);
        assert_eq!(e.errno(), Some(17));
        let text = e.to_string();
        assert!(text.contains("NEW_SERVICE"), "{text}");
        assert!(text.contains("File exists"), "{text}");
        assert!(!text.contains("os error"), "{text}");
    }

    #[test]
    fn a_missing_scheduler_is_named() {
        let spec = test_util::spec(test_util::tcp(1), "twos");
        let refused = kernel_error("NEW_SERVICE", &"TCP  10.0.0.1:80", -ENOENT);
        let text = explain_service_refusal(refused, &spec).to_string();
        assert!(text.contains("No such file or directory: this kernel has no scheduler twos (module ip_vs_twos missing; twos needs Linux 6.2)"), "{text}");
        assert!(text.contains("(errno 2)"), "{text}");
        // Another errno is left alone (EEXIST is a race the reconciler must still recognise).
        let exists = kernel_error("NEW_SERVICE", &"TCP  10.0.0.1:80", -17);
        let text = explain_service_refusal(exists, &spec).to_string();
        assert!(!text.contains("scheduler"), "{text}");
    }

    #[test]
    fn refused_thresholds_are_named() {
        let mut dest = test_util::dest(test_util::rs("10.0.1.1", 80), 1);
        dest.upper_threshold = 1;
        dest.lower_threshold = 5;
        let refused = kernel_error("NEW_DEST", &"TCP  10.0.0.1:80 -> 10.0.1.1:80", -ERANGE);
        let error = explain_destination_refusal(refused, &dest);
        assert_eq!(error.errno(), Some(ERANGE));
        let text = error.to_string();
        assert!(
            text.contains("lower threshold 5 above upper threshold 1"),
            "{text}"
        );
        let missing = kernel_error("SET_DEST", &"TCP  10.0.0.1:80 -> 10.0.1.1:80", -ENOENT);
        let text = explain_destination_refusal(missing, &dest).to_string();
        assert!(!text.contains("threshold"), "{text}");
    }
}
