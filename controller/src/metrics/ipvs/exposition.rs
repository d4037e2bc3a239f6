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

/// Writes every family `options` selects for `services` (a snapshot's, with their label text
/// and the numbers to export), walking them once per family. The per-endpoint rate families
/// need the services' `destination_rates`; a destination without them has no such line.
pub(crate) fn write_lvs_families<W: Write + ?Sized>(
    out: &mut W,
    services: &[ExportedService],
    options: ExpositionOptions,
) -> io::Result<()> {
    let any_service = !services.is_empty();
    let any_endpoint = services.iter().any(|s| !s.destinations.is_empty());
    for spec in FAMILIES.iter().filter(|spec| options.writes(spec)) {
        let present = match spec.level {
            Level::Service => any_service,
            Level::Endpoint => any_endpoint,
        };
        if !present {
            continue;
        }
        write!(
            out,
            "# HELP {} {}\n# TYPE {} {}\n",
            spec.name,
            spec.help,
            spec.name,
            spec.type_name()
        )?;
        for service in services {
            write_family_of_service(out, spec, service)?;
        }
    }
    Ok(())
}

/// The series of one family for one service: itself or each of its destinations.
fn write_family_of_service<W: Write + ?Sized>(
    out: &mut W,
    spec: &FamilySpec,
    service: &ExportedService,
) -> io::Result<()> {
    let labels = service.labels.as_str();
    match spec.level {
        Level::Service => {
            if let Some(value) = spec.read(&service.counters, Some(&service.rates), None) {
                writeln!(out, "{}{{{labels}}} {value}", spec.name)?;
            }
        }
        Level::Endpoint => {
            for (i, dest) in service.destinations.iter().enumerate() {
                let rates = service.destination_rates.get(i);
                let Some(value) = spec.read(&dest.counters, rates, Some(dest)) else {
                    continue;
                };
                write!(out, "{}{{{labels},endpoint=\"", spec.name)?;
                write_escaped(out, format_args!("{}", dest.key))?;
                writeln!(out, "\"}} {value}")?;
            }
        }
    }
    Ok(())
}

/// Writes `args` with the label-value escapes, without an intermediate String.
fn write_escaped<W: Write + ?Sized>(out: &mut W, args: fmt::Arguments<'_>) -> io::Result<()> {
    let mut adapter = IoEscaped { out, error: None };
    match Escaped(&mut adapter).write_fmt(args) {
        Ok(()) => Ok(()),
        Err(fmt::Error) => Err(adapter
            .error
            .unwrap_or_else(|| io::Error::other("formatting a label value failed"))),
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

/// A `fmt::Write` onto an `io::Write` that keeps the I/O error (fmt has none of its own).
struct IoEscaped<'a, W: Write + ?Sized> {
    out: &'a mut W,
    error: Option<io::Error>,
}

impl<W: Write + ?Sized> fmt::Write for IoEscaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
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

    #[test]
    fn an_io_error_inside_an_escaped_value_is_returned() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_escaped(&mut Full, format_args!("x")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
