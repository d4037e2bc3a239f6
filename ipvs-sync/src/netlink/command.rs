//! The IPVS generic-netlink commands as a typed enum (pure: no I/O).
//!
//! Unknown numbers survive as [`IpvsCmd::Other`] so a reply from a patched kernel (Alibaba LVS
//! adds commands after FLUSH) decodes instead of failing.

use super::constants::*;

/// One `IPVS_CMD_*` value. Why an enum: requests and error messages name the command, and
/// decoding dispatches on it (GET_INFO replies reuse attribute numbers differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpvsCmd {
    /// Add a virtual service (`ipvsadm -A`).
    NewService,
    /// Edit a virtual service (`ipvsadm -E`).
    SetService,
    /// Delete a virtual service (`ipvsadm -D`).
    DelService,
    /// Get one service (doit) or all of them (dump).
    GetService,
    /// Add a destination (`ipvsadm -a`).
    NewDest,
    /// Edit a destination (`ipvsadm -e`).
    SetDest,
    /// Delete a destination (`ipvsadm -d`).
    DelDest,
    /// Dump the destinations of one service.
    GetDest,
    /// Start a sync daemon (out of scope, kept for decoding).
    NewDaemon,
    /// Stop a sync daemon.
    DelDaemon,
    /// Dump sync daemons.
    GetDaemon,
    /// Set the TCP / TCP-FIN / UDP timeouts; also the GET_CONFIG reply.
    SetConfig,
    /// Read the timeouts.
    GetConfig,
    /// Reply to GET_INFO.
    SetInfo,
    /// Read the IPVS version and connection table size.
    GetInfo,
    /// Zero counters.
    Zero,
    /// Delete every service of the namespace. Never sent by this crate.
    Flush,
    /// A number this crate does not know.
    Other(u8),
}

impl IpvsCmd {
    /// The kernel name without the `IPVS_CMD_` prefix, used as `operation` in errors.
    pub fn name(self) -> &'static str {
        match self {
            IpvsCmd::NewService => "NEW_SERVICE",
            IpvsCmd::SetService => "SET_SERVICE",
            IpvsCmd::DelService => "DEL_SERVICE",
            IpvsCmd::GetService => "GET_SERVICE",
            IpvsCmd::NewDest => "NEW_DEST",
            IpvsCmd::SetDest => "SET_DEST",
            IpvsCmd::DelDest => "DEL_DEST",
            IpvsCmd::GetDest => "GET_DEST",
            IpvsCmd::NewDaemon => "NEW_DAEMON",
            IpvsCmd::DelDaemon => "DEL_DAEMON",
            IpvsCmd::GetDaemon => "GET_DAEMON",
            IpvsCmd::SetConfig => "SET_CONFIG",
            IpvsCmd::GetConfig => "GET_CONFIG",
            IpvsCmd::SetInfo => "SET_INFO",
            IpvsCmd::GetInfo => "GET_INFO",
            IpvsCmd::Zero => "ZERO",
            IpvsCmd::Flush => "FLUSH",
            IpvsCmd::Other(_) => "UNKNOWN",
        }
    }
}

impl From<IpvsCmd> for u8 {
    fn from(cmd: IpvsCmd) -> u8 {
        match cmd {
            IpvsCmd::NewService => IPVS_CMD_NEW_SERVICE,
            IpvsCmd::SetService => IPVS_CMD_SET_SERVICE,
            IpvsCmd::DelService => IPVS_CMD_DEL_SERVICE,
            IpvsCmd::GetService => IPVS_CMD_GET_SERVICE,
            IpvsCmd::NewDest => IPVS_CMD_NEW_DEST,
            IpvsCmd::SetDest => IPVS_CMD_SET_DEST,
            IpvsCmd::DelDest => IPVS_CMD_DEL_DEST,
            IpvsCmd::GetDest => IPVS_CMD_GET_DEST,
            IpvsCmd::NewDaemon => IPVS_CMD_NEW_DAEMON,
            IpvsCmd::DelDaemon => IPVS_CMD_DEL_DAEMON,
            IpvsCmd::GetDaemon => IPVS_CMD_GET_DAEMON,
            IpvsCmd::SetConfig => IPVS_CMD_SET_CONFIG,
            IpvsCmd::GetConfig => IPVS_CMD_GET_CONFIG,
            IpvsCmd::SetInfo => IPVS_CMD_SET_INFO,
            IpvsCmd::GetInfo => IPVS_CMD_GET_INFO,
            IpvsCmd::Zero => IPVS_CMD_ZERO,
            IpvsCmd::Flush => IPVS_CMD_FLUSH,
            IpvsCmd::Other(v) => v,
        }
    }
}

impl From<u8> for IpvsCmd {
    fn from(v: u8) -> Self {
        match v {
            IPVS_CMD_NEW_SERVICE => IpvsCmd::NewService,
            IPVS_CMD_SET_SERVICE => IpvsCmd::SetService,
            IPVS_CMD_DEL_SERVICE => IpvsCmd::DelService,
            IPVS_CMD_GET_SERVICE => IpvsCmd::GetService,
            IPVS_CMD_NEW_DEST => IpvsCmd::NewDest,
            IPVS_CMD_SET_DEST => IpvsCmd::SetDest,
            IPVS_CMD_DEL_DEST => IpvsCmd::DelDest,
            IPVS_CMD_GET_DEST => IpvsCmd::GetDest,
            IPVS_CMD_NEW_DAEMON => IpvsCmd::NewDaemon,
            IPVS_CMD_DEL_DAEMON => IpvsCmd::DelDaemon,
            IPVS_CMD_GET_DAEMON => IpvsCmd::GetDaemon,
            IPVS_CMD_SET_CONFIG => IpvsCmd::SetConfig,
            IPVS_CMD_GET_CONFIG => IpvsCmd::GetConfig,
            IPVS_CMD_SET_INFO => IpvsCmd::SetInfo,
            IPVS_CMD_GET_INFO => IpvsCmd::GetInfo,
            IPVS_CMD_ZERO => IpvsCmd::Zero,
            IPVS_CMD_FLUSH => IpvsCmd::Flush,
            other => IpvsCmd::Other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_number_round_trips() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(IpvsCmd::from(v)), v);
        }
        assert_eq!(IpvsCmd::from(1), IpvsCmd::NewService);
        assert_eq!(IpvsCmd::from(17), IpvsCmd::Flush);
        assert_eq!(IpvsCmd::from(18), IpvsCmd::Other(18));
    }
}
