//! Writes the `lvs_*` families in the Prometheus text format 0.0.4 straight into a writer.
//!
//! Pure: no I/O of its own; the writer decides where the bytes go (a chunked HTTP body, gzip,
//! a byte counter in tests). Why not the `prometheus` crate's families: they hold every series
//! as an object with owned label strings, 1.6 GB at 110,000 endpoints. Here each line is
//! written from the snapshot as it is walked: per family the services (or their destinations)
//! are visited once, so the series of a family are contiguous and `# HELP` / `# TYPE` appear
//! once, before them. Nothing per series is allocated; the service's label text is escaped
//! once per dump ([`service_label_text`]).

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::net::IpAddr;

use lb_config::RealServerKey;

use super::families::{FAMILIES, FamilySpec, Level};
use super::labels::{SERVICE_LABEL_NAMES, ServiceLabels};
use super::snapshot::ExportedService;

/// Which families are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExpositionOptions {
    /// The per-endpoint families at all.
    pub(crate) endpoint_level: bool,
    /// The kernel's per-endpoint rate estimates (`lvs_endpoint_rate_*`).
    pub(crate) endpoint_rates: bool,
}

impl ExpositionOptions {
    /// Whether `spec` is written under these options.
    fn writes(self, spec: &FamilySpec) -> bool {
        match spec.level {
            Level::Service => true,
            Level::Endpoint => self.endpoint_level && (self.endpoint_rates || !spec.is_rate()),
        }
    }
}

/// The labels of a service as exposition text, `namespace="…",…,protocol="…"`, values escaped.
pub(crate) fn service_label_text(labels: &ServiceLabels) -> String {
    let mut text = String::new();
    for (i, (name, value)) in SERVICE_LABEL_NAMES.iter().zip(labels.values()).enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(name);
        text.push_str("=\"");
        // Writing into a String cannot fail.
        let _ = Escaped(&mut text).write_str(value);
        text.push('"');
    }
    text
}

/// Bytes gathered before one write to the output. The writer behind is often a `dyn Write`
/// (a chunked body, gzip) whose per-call cost would otherwise be paid for each piece of each of
/// a million lines; 64 KiB is what the chunked body sends at once.
const BATCH_BYTES: usize = 64 * 1024;

/// Lines gathered into one buffer and written to `out` a batch at a time.
struct Batch<'a, W: Write + ?Sized> {
    out: &'a mut W,
    buf: Vec<u8>,
}

impl<'a, W: Write + ?Sized> Batch<'a, W> {
    fn new(out: &'a mut W) -> Self {
        Batch {
            out,
            buf: Vec::with_capacity(BATCH_BYTES + 1024),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Ends a line, handing on exactly one batch once there is one (a chunk of the body, so
    /// no write is larger than a chunk); the rest of the line starts the next.
    fn end_line(&mut self) -> io::Result<()> {
        self.buf.push(b'\n');
        if self.buf.len() >= BATCH_BYTES {
            self.out.write_all(&self.buf[..BATCH_BYTES])?;
            self.buf.drain(..BATCH_BYTES);
        }
        Ok(())
    }

    /// Hands on what is left.
    fn finish(self) -> io::Result<()> {
        self.out.write_all(&self.buf)
    }
}

/// Writes every family `options` selects for `services` (a snapshot's, with their label text
/// and the numbers to export), walking them once per family. The per-endpoint rate families
/// need the services' `destination_rates`; a destination without them has no such line.
///
/// Why by hand and not `write!`: a scrape of 110,000 endpoints is a million lines, and the
/// formatting machinery (padding checks, one dynamic call per piece, the escape scan of a
/// label that cannot need it) was most of the encoder's time. Numbers go through `itoa`.
pub(crate) fn write_lvs_families<W: Write + ?Sized>(
    out: &mut W,
    services: &[ExportedService],
    options: ExpositionOptions,
) -> io::Result<()> {
    let any_service = !services.is_empty();
    let any_endpoint = services.iter().any(|s| !s.destinations.is_empty());
    let mut batch = Batch::new(out);
    for spec in FAMILIES.iter().filter(|spec| options.writes(spec)) {
        let present = match spec.level {
            Level::Service => any_service,
            Level::Endpoint => any_endpoint,
        };
        if !present {
            continue;
        }
        for (kind, text) in [("HELP", spec.help), ("TYPE", spec.type_name())] {
            batch.push(b"# ");
            batch.push(kind.as_bytes());
            batch.push(b" ");
            batch.push(spec.name.as_bytes());
            batch.push(b" ");
            batch.push(text.as_bytes());
            batch.end_line()?;
        }
        for service in services {
            write_family_of_service(&mut batch, spec, service)?;
        }
    }
    batch.finish()
}

/// The series of one family for one service: itself or each of its destinations.
fn write_family_of_service<W: Write + ?Sized>(
    batch: &mut Batch<'_, W>,
    spec: &FamilySpec,
    service: &ExportedService,
) -> io::Result<()> {
    let labels = service.labels.as_bytes();
    let mut digits = itoa::Buffer::new();
    match spec.level {
        Level::Service => {
            if let Some(value) = spec.read(&service.counters, Some(&service.rates), None) {
                batch.push(spec.name.as_bytes());
                batch.push(b"{");
                batch.push(labels);
                batch.push(b"} ");
                batch.push(digits.format(value).as_bytes());
                batch.end_line()?;
            }
        }
        Level::Endpoint => {
            for (i, dest) in service.destinations.iter().enumerate() {
                let rates = service.destination_rates.get(i);
                let Some(value) = spec.read(&dest.counters, rates, Some(dest)) else {
                    continue;
                };
                batch.push(spec.name.as_bytes());
                batch.push(b"{");
                batch.push(labels);
                batch.push(b",endpoint=\"");
                push_endpoint(&mut batch.buf, &dest.key, &mut digits);
                batch.push(b"\"} ");
                batch.push(digits.format(value).as_bytes());
                batch.end_line()?;
            }
        }
    }
    Ok(())
}

/// Appends the `endpoint` label value, as [`RealServerKey`]'s `Display` writes it
/// (`a.b.c.d:port`, `[v6]:port`). Unescaped: an address and a port hold none of the three
/// characters the text format escapes.
fn push_endpoint(buf: &mut Vec<u8>, key: &RealServerKey, digits: &mut itoa::Buffer) {
    match key.addr {
        IpAddr::V4(addr) => {
            for (i, octet) in addr.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                buf.extend_from_slice(digits.format(octet).as_bytes());
            }
            buf.push(b':');
            buf.extend_from_slice(digits.format(key.port).as_bytes());
        }
        // Rarer, and the compressed form is subtle: the standard formatter writes it. Writing
        // into a Vec cannot fail.
        IpAddr::V6(_) => {
            let _ = write!(buf, "{key}");
        }
    }
}

/// A `fmt::Write` that escapes label values as the text format requires: `\` as `\\`, `"` as
/// `\"` and a newline as `\n`.
struct Escaped<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(at) = rest.find(['\\', '"', '\n']) {
            self.0.write_str(&rest[..at])?;
            self.0.write_str(match rest.as_bytes()[at] {
                b'\\' => "\\\\",
                b'"' => "\\\"",
                _ => "\\n",
            })?;
            rest = &rest[at + 1..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        Escaped(&mut out).write_str(value).unwrap();
        out
    }

    /// Fails if any of the three escapes is dropped or another character is escaped.
    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        assert_eq!(escaped("plain-ok_1.2:80"), "plain-ok_1.2:80");
        assert_eq!(escaped(r"a\b"), r"a\\b");
        assert_eq!(escaped("say \"hi\""), r#"say \"hi\""#);
        assert_eq!(escaped("two\nlines"), r"two\nlines");
        assert_eq!(escaped("\\\"\n"), r#"\\\"\n"#);
        assert_eq!(escaped("ünï tab\t"), "ünï tab\t");
    }

    #[test]
    fn the_service_label_text_escapes_every_value_in_order() {
        let labels = ServiceLabels {
            namespace: "ns\"x".to_owned(),
            service: "a\\b".to_owned(),
            port: "p\nq".to_owned(),
            vport: "80".to_owned(),
            vip: "203.0.113.1".to_owned(),
            protocol: "tcp",
        };
        assert_eq!(
            service_label_text(&labels),
            r#"namespace="ns\"x",service="a\\b",port="p\nq",vport="80",vip="203.0.113.1",protocol="tcp""#
        );
    }

    /// Fails if the hand-written endpoint text differs from `Display` anywhere: octet and
    /// port bounds, IPv6 compression, a v4-mapped v6 address.
    #[test]
    fn the_endpoint_text_is_the_display_text() {
        let addrs = [
            "0.0.0.0",
            "10.1.2.3",
            "255.255.255.255",
            "192.0.2.100",
            "::",
            "2001:db8::1",
            "fe80::1:0:0:2",
            "::ffff:10.0.0.1",
        ];
        let mut digits = itoa::Buffer::new();
        for addr in addrs {
            for port in [0, 9, 80, 8080, 65535] {
                let key = RealServerKey {
                    addr: addr.parse().unwrap(),
                    port,
                };
                let mut buf = b"x".to_vec();
                push_endpoint(&mut buf, &key, &mut digits);
                assert_eq!(String::from_utf8(buf).unwrap(), format!("x{key}"));
            }
        }
    }

    /// Fails if a byte is lost or reordered, or a write is not exactly one batch (64 KiB) but the
    /// last.
    #[test]
    fn lines_reach_the_output_in_full_batches_and_the_rest_at_the_end() {
        struct Writes(Vec<usize>, Vec<u8>);
        impl Write for Writes {
            fn write(&mut self, data: &[u8]) -> io::Result<usize> {
                self.0.push(data.len());
                self.1.extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Writes(Vec::new(), Vec::new());
        let mut batch = Batch::new(&mut out);
        for _ in 0..10_000 {
            batch.push(b"lvs_x{a=\"b\"} 1");
            batch.end_line().unwrap();
        }
        batch.finish().unwrap();
        assert_eq!(out.1.len(), 10_000 * 15);
        assert!(
            out.1
                .split(|b| *b == b'\n')
                .take(10_000)
                .all(|l| l == b"lvs_x{a=\"b\"} 1")
        );
        let (last, full) = out.0.split_last().unwrap();
        assert!(full.len() >= 2);
        assert!(
            full.iter()
                .all(|n| (BATCH_BYTES..BATCH_BYTES + 16).contains(n))
        );
        assert!(*last < BATCH_BYTES);
    }
}
