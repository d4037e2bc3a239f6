//! Scalar encodings of IPVS attribute payloads (pure: no I/O).
//!
//! Native-endian integers except where the kernel says `__be16` (ports); NUL-terminated strings.
//! Every reader checks the exact length first, so malformed input is an error, never a panic.

use netlink_packet_core::DecodeError;

/// Reads a payload that must be exactly `N` bytes.
fn exact<const N: usize>(what: &str, payload: &[u8]) -> Result<[u8; N], DecodeError> {
    <[u8; N]>::try_from(payload).map_err(|_| {
        DecodeError::from(format!("{what}: expected {N} bytes, got {}", payload.len()))
    })
}

/// `u8` attribute.
pub(crate) fn read_u8(what: &str, payload: &[u8]) -> Result<u8, DecodeError> {
    Ok(exact::<1>(what, payload)?[0])
}

/// Native-endian `u16` attribute.
pub(crate) fn read_u16(what: &str, payload: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(exact(what, payload)?))
}

/// Network-order `u16` attribute (ports).
pub(crate) fn read_be16(what: &str, payload: &[u8]) -> Result<u16, DecodeError> {
    Ok(u16::from_be_bytes(exact(what, payload)?))
}

/// Native-endian `u32` attribute.
pub(crate) fn read_u32(what: &str, payload: &[u8]) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(exact(what, payload)?))
}

/// Native-endian `u64` attribute.
pub(crate) fn read_u64(what: &str, payload: &[u8]) -> Result<u64, DecodeError> {
    Ok(u64::from_ne_bytes(exact(what, payload)?))
}

/// NUL-terminated string attribute (the kernel's `nla_put_string`). Text after the first NUL is
/// ignored; a missing NUL is tolerated (requests from other tools may omit it).
pub(crate) fn read_cstring(what: &str, payload: &[u8]) -> Result<String, DecodeError> {
    let end = payload
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(payload.len());
    String::from_utf8(payload[..end].to_vec())
        .map_err(|e| DecodeError::from(format!("{what}: not UTF-8: {e}")))
}

/// Copies `bytes` into the start of `buffer`. The netlink emitter sizes `buffer` from
/// `value_len`, so a length mismatch is a bug in this module, caught by the debug assertion.
pub(crate) fn write_bytes(buffer: &mut [u8], bytes: &[u8]) {
    debug_assert_eq!(buffer.len(), bytes.len(), "attribute length mismatch");
    let n = buffer.len().min(bytes.len());
    buffer[..n].copy_from_slice(&bytes[..n]);
}

/// Writes a string followed by its NUL (value length = `s.len() + 1`).
pub(crate) fn write_cstring(buffer: &mut [u8], s: &str) {
    let n = s.len().min(buffer.len());
    buffer[..n].copy_from_slice(&s.as_bytes()[..n]);
    if let Some(last) = buffer.get_mut(n) {
        *last = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_demand_exact_lengths() {
        assert_eq!(read_u16("x", &7u16.to_ne_bytes()).ok(), Some(7));
        assert!(read_u16("x", &[1, 2, 3]).is_err());
        assert!(read_u32("x", &[]).is_err());
        assert_eq!(read_be16("port", &[0x00, 0x50]).ok(), Some(80));
        assert_eq!(read_u64("x", &9u64.to_ne_bytes()).ok(), Some(9));
        assert!(read_u8("x", &[1, 2]).is_err());
    }

    #[test]
    fn strings_stop_at_nul() {
        assert_eq!(read_cstring("s", b"rr\0junk").ok().as_deref(), Some("rr"));
        assert_eq!(read_cstring("s", b"wlc").ok().as_deref(), Some("wlc"));
        assert!(read_cstring("s", &[0xff, 0xfe, 0]).is_err());
        let mut buf = [0xaa; 3];
        write_cstring(&mut buf, "rr");
        assert_eq!(buf, *b"rr\0");
    }
}
