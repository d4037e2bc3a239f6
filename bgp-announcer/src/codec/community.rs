//! BGP communities (RFC 1997) and large communities (RFC 8092) as values with a text form
//! (`65000:100`, `65000:1:2`) so configs can name them. Pure.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A standard community: two 16-bit halves, conventionally `ASN:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Community(pub u32);

impl Community {
    /// GRACEFUL_SHUTDOWN (RFC 8326): tells routers to depreference our routes before we go.
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);

    /// Builds `high:low`.
    pub fn new(high: u16, low: u16) -> Self {
        Community((u32::from(high) << 16) | u32::from(low))
    }
}

/// A large community: three 32-bit parts, `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LargeCommunity {
    /// Global administrator (usually an ASN).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

/// A community string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind} {text:?}: expected {expected}")]
pub struct CommunityParseError {
    kind: &'static str,
    text: String,
    expected: &'static str,
}

impl FromStr for Community {
    type Err = CommunityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CommunityParseError {
            kind: "community",
            text: s.to_owned(),
            expected: "two numbers 0-65535 as HIGH:LOW",
        };
        let (high, low) = s.split_once(':').ok_or_else(err)?;
        let high = high.trim().parse::<u16>().map_err(|_| err())?;
        let low = low.trim().parse::<u16>().map_err(|_| err())?;
        Ok(Community::new(high, low))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xFFFF)
    }
}

impl TryFrom<String> for Community {
    type Error = CommunityParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Community> for String {
    fn from(value: Community) -> Self {
        value.to_string()
    }
}

impl FromStr for LargeCommunity {
    type Err = CommunityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CommunityParseError {
            kind: "large community",
            text: s.to_owned(),
            expected: "three numbers 0-4294967295 as GLOBAL:LOCAL1:LOCAL2",
        };
        let mut parts = s.split(':').map(|p| p.trim().parse::<u32>());
        let (Some(Ok(global)), Some(Ok(local1)), Some(Ok(local2)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        Ok(LargeCommunity {
            global,
            local1,
            local2,
        })
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

impl TryFrom<String> for LargeCommunity {
    type Error = CommunityParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<LargeCommunity> for String {
    fn from(value: LargeCommunity) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let c: Community = "65535:0".parse().unwrap();
        assert_eq!(c, Community::GRACEFUL_SHUTDOWN);
        assert_eq!(c.to_string(), "65535:0");
        let l: LargeCommunity = "4200000000:1:2".parse().unwrap();
        assert_eq!(l.to_string(), "4200000000:1:2");
        assert!("65536:1".parse::<Community>().is_err());
        assert!("1:2:3:4".parse::<LargeCommunity>().is_err());
        assert!("1:2".parse::<LargeCommunity>().is_err());
    }
}
