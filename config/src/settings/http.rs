//! `[http]`: the limits of the daemon's HTTP listener and where its control socket lives.
//!
//! Read endpoints (`/status`, `/metrics`, ...) are served on `listen_address` over TCP; operator
//! actions (drain) only on the Unix control socket, whose file mode is the access check.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::SettingsError;

/// Limits of the HTTP listener and the control socket's path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// TCP connections served at once; more are closed at once (and counted), so a flood
    /// cannot take the file descriptors that health probes and BGP need.
    pub max_connections: usize,
    /// Seconds a client has to send a complete request head (also the keep-alive wait for the
    /// next request): a client that sends half a header is cut off after this.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may move no byte in either direction (e.g. a client that stops
    /// reading a response) before it is closed.
    pub idle_timeout_secs: u64,
    /// The Unix socket for operator actions (`lbctl drain`), created with mode 0600.
    pub control_socket: PathBuf,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_connections: 256,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            control_socket: PathBuf::from("/run/lbctl/control.sock"),
        }
    }
}

impl HttpSettings {
    /// Checks that the limits are usable (0 would refuse or cut off everything).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |field: &'static str, message: &str| {
            Err(SettingsError::Invalid {
                field,
                message: message.to_owned(),
            })
        };
        if self.max_connections == 0 {
            return invalid("http.max_connections", "expected at least 1");
        }
        if self.header_read_timeout_secs == 0 {
            return invalid("http.header_read_timeout_secs", "expected at least 1");
        }
        if self.idle_timeout_secs == 0 {
            return invalid("http.idle_timeout_secs", "expected at least 1");
        }
        if !self.control_socket.is_absolute() {
            return invalid("http.control_socket", "expected an absolute path");
        }
        // sun_path holds 108 bytes with the NUL; the daemon binds `PATH.new` first.
        if self.control_socket.as_os_str().len() > 100 {
            return invalid(
                "http.control_socket",
                "expected a path of at most 100 bytes (Unix socket paths are short)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Settings;

    #[test]
    fn defaults_and_every_key() {
        let s = Settings::from_toml_str("").unwrap();
        assert_eq!(s.http.max_connections, 256);
        assert_eq!(s.http.header_read_timeout_secs, 10);
        assert_eq!(s.http.idle_timeout_secs, 60);
        assert_eq!(
            s.http.control_socket.to_str(),
            Some("/run/lbctl/control.sock")
        );
        let s = Settings::from_toml_str(
            "[http]\nmax_connections = 8\nheader_read_timeout_secs = 2\n\
             idle_timeout_secs = 5\ncontrol_socket = \"/tmp/c.sock\"",
        )
        .unwrap();
        assert_eq!(s.http.max_connections, 8);
        assert_eq!(s.http.header_read_timeout_secs, 2);
        assert_eq!(s.http.idle_timeout_secs, 5);
        assert_eq!(s.http.control_socket.to_str(), Some("/tmp/c.sock"));
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = |text: &str| Settings::from_toml_str(text).unwrap_err().to_string();
        assert_eq!(
            err("[http]\nmax_connections = 0"),
            "invalid settings: http.max_connections: expected at least 1"
        );
        assert!(err("[http]\nheader_read_timeout_secs = 0").contains("header_read_timeout"));
        assert!(err("[http]\nidle_timeout_secs = 0").contains("idle_timeout_secs"));
        assert!(err("[http]\ncontrol_socket = \"c.sock\"").contains("absolute"));
        let long = format!("[http]\ncontrol_socket = \"/{}\"", "a".repeat(120));
        assert!(err(&long).contains("100 bytes"));
        assert!(err("[http]\nmax_conections = 1").contains("max_conections"));
    }
}
