//! The imported table: what the old set-up programs, in our model's words, with where each
//! part was written; and the notes on what does not carry over.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::source::SourcePos;
use crate::configmap::MAX_WEIGHT;
use crate::entry::CheckSpec;
use crate::model::{
    ForwardMethod, Persistence, RealServerKey, Scheduler, SchedulerFlags, ServiceKey, TunnelType,
};

/// The virtual services an import found, by identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedTable {
    /// Services by VIP, protocol and port.
    pub services: BTreeMap<ServiceKey, ImportedService>,
}

/// One virtual service as the old set-up programs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedService {
    /// VIP, protocol, port.
    pub key: ServiceKey,
    /// Where the service was defined.
    pub pos: SourcePos,
    /// IPVS scheduler.
    pub scheduler: Scheduler,
    /// Flags of the hashing schedulers.
    pub scheduler_flags: SchedulerFlags,
    /// Client persistence.
    pub persistence: Option<Persistence>,
    /// Forwarding method of every real server.
    pub forward: ForwardMethod,
    /// Encapsulation of a tunnel (`None` = IPIP).
    pub tunnel: Option<TunnelType>,
    /// The health check the real servers get (keepalived checkers that map to ours).
    pub check: Option<CheckSpec>,
    /// Real servers by address and port.
    pub real_servers: BTreeMap<RealServerKey, ImportedRealServer>,
}

/// One real server as the old set-up programs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedRealServer {
    /// Address and port.
    pub key: RealServerKey,
    /// Where it was defined.
    pub pos: SourcePos,
    /// IPVS weight.
    pub weight: u32,
    /// Connection upper threshold (0 = none).
    pub upper_threshold: u32,
    /// Connection lower threshold (0 = none).
    pub lower_threshold: u32,
}

/// Whether a note means the generated ConfigMap programs a different table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// Left out, and the table differs because of it (a firewall-mark service, a sorry
    /// server, a flag lbctl does not program): the import is partial.
    TableChange,
    /// Left out, the table is the same (notification scripts, VRRP, checker details).
    NotCarried,
}

/// Something of the input the ConfigMap does not carry over, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Note {
    /// Where.
    pub pos: SourcePos,
    /// Whether the table changes.
    pub kind: NoteKind,
    /// What and why.
    pub message: String,
}

impl Note {
    /// A note that the table differs.
    pub fn table_change(pos: &SourcePos, message: impl Into<String>) -> Self {
        Note {
            pos: pos.clone(),
            kind: NoteKind::TableChange,
            message: message.into(),
        }
    }

    /// A note on something left out that does not change the table.
    pub fn not_carried(pos: &SourcePos, message: impl Into<String>) -> Self {
        Note {
            pos: pos.clone(),
            kind: NoteKind::NotCarried,
            message: message.into(),
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            NoteKind::TableChange => "not imported (the table differs)",
            NoteKind::NotCarried => "not carried over",
        };
        write!(f, "{}: {kind}: {}", self.pos, self.message)
    }
}

/// Input that cannot be read as what it claims to be: nothing is imported.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImportError {
    /// A line that does not parse.
    #[error("{pos}: {message}")]
    Syntax {
        /// Where.
        pos: SourcePos,
        /// What is wrong.
        message: String,
    },
    /// A file (the main one or an `include`d one) that cannot be read.
    #[error("{}{path}: cannot read: {reason}", .from.as_ref().map(|p| format!("{p}: include ")).unwrap_or_default())]
    Unreadable {
        /// The file.
        path: String,
        /// The `include` that named it, if any.
        from: Option<SourcePos>,
        /// The reader's reason.
        reason: String,
    },
    /// An `include` that includes itself, directly or through others.
    #[error("{pos}: include loop: {chain}")]
    IncludeLoop {
        /// The `include` that closes the loop.
        pos: SourcePos,
        /// The files of the loop, `a -> b -> a`.
        chain: String,
    },
}

impl ImportError {
    /// A syntax error at `pos`.
    pub fn syntax(pos: &SourcePos, message: impl Into<String>) -> Self {
        ImportError::Syntax {
            pos: pos.clone(),
            message: message.into(),
        }
    }
}

impl ImportedTable {
    /// Adds a service; a second definition of the same service is an error naming both.
    pub fn add_service(&mut self, service: ImportedService) -> Result<(), ImportError> {
        if let Some(first) = self.services.get(&service.key) {
            return Err(ImportError::syntax(
                &service.pos,
                format!(
                    "virtual service {} is already defined at {}",
                    service.key, first.pos
                ),
            ));
        }
        self.services.insert(service.key, service);
        Ok(())
    }
}

impl ImportedService {
    /// Adds a real server; a second definition of the same one is an error naming both.
    pub fn add_real_server(&mut self, rs: ImportedRealServer) -> Result<(), ImportError> {
        if rs.weight > MAX_WEIGHT {
            return Err(ImportError::syntax(
                &rs.pos,
                format!(
                    "real server {}: weight {} is above {MAX_WEIGHT}, the most a ConfigMap \
                     entry takes",
                    rs.key, rs.weight
                ),
            ));
        }
        if let Some(first) = self.real_servers.get(&rs.key) {
            return Err(ImportError::syntax(
                &rs.pos,
                format!(
                    "real server {} of {} is already defined at {}",
                    rs.key, self.key, first.pos
                ),
            ));
        }
        self.real_servers.insert(rs.key, rs);
        Ok(())
    }
}
