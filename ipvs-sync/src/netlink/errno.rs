//! Kernel errno -> [`IpvsError::Kernel`] (pure: no I/O).

use crate::IpvsError;

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
pub(crate) fn kernel_error(operation: &'static str, object: &str, code: i32) -> IpvsError {
    let errno = code.checked_abs().unwrap_or(i32::MAX);
    IpvsError::Kernel {
        operation,
        object: object.to_owned(),
        errno,
        message: errno_message(errno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positive_errno_and_text() {
        let e = kernel_error("NEW_SERVICE", "TCP  10.0.0.1:80", -17);
        assert_eq!(e.errno(), Some(17));
        let text = e.to_string();
        assert!(text.contains("NEW_SERVICE"), "{text}");
        assert!(text.contains("File exists"), "{text}");
        assert!(!text.contains("os error"), "{text}");
    }
}
