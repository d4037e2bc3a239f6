//! `lbctl import`: an `ipvsadm -Sn` dump or a keepalived configuration -> the ConfigMap and the
//! managed ranges that reproduce its IPVS table (docs/migration.md). Reads files, writes files;
//! the parsing and mapping are `lb_config::import`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use lb_config::import::{
    FileReader, ImportOutput, MemoryFiles, NoteKind, parse_ipvsadm_save, parse_keepalived,
    render_configmap_yaml, render_settings_fragment,
};

use crate::usage::CliUsage;

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ImportFormat {
    /// `ipvsadm -Sn` (`--save --numeric`) output.
    Ipvsadm,
    /// A keepalived configuration (`virtual_server` blocks; `include`s are followed).
    Keepalived,
}

/// Arguments of `lbctl import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// What FILE holds.
    #[arg(long, value_enum)]
    pub(crate) from: ImportFormat,
    /// The input; `-` reads stdin (keepalived's relative includes then resolve from the
    /// current directory).
    #[arg(default_value = "-", value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Write the ConfigMap manifest here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) configmap_out: Option<PathBuf>,
    /// Write the settings fragment (managed_vip_ranges of exactly the imported VIPs) here.
    #[arg(long, value_name = "FILE")]
    pub(crate) settings_out: Option<PathBuf>,
    /// Namespace of the ConfigMap manifest.
    #[arg(long, default_value = "kube-system")]
    pub(crate) namespace: String,
    /// Name of the ConfigMap manifest.
    #[arg(long, default_value = "lvs-vips")]
    pub(crate) name: String,
    /// Write the files even though parts that change the table (firewall-mark services,
    /// sorry servers, ...) cannot be carried over; they are still listed.
    #[arg(long)]
    pub(crate) allow_partial: bool,
}

/// Reads the disk for the keepalived parser (the main file and its includes).
struct DiskFiles;

impl FileReader for DiskFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
        Ok(entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }
}

/// Returns the exit code: 0 imported, 1 refused because the import is partial.
pub(crate) fn run(args: &ImportArgs) -> Result<i32> {
    let stdin = args.file == Path::new("-");
    let name = if stdin {
        "-".to_owned()
    } else {
        args.file.display().to_string()
    };
    let (table, notes) = match (args.from, stdin) {
        (ImportFormat::Ipvsadm, _) => {
            let text = read_input(&args.file, stdin)?;
            parse_ipvsadm_save(&name, &text)
        }
        (ImportFormat::Keepalived, true) => {
            let text = read_input(&args.file, true)?;
            // Includes of stdin's text still come from the disk.
            let files = StdinThenDisk(MemoryFiles::new().with("-", &text));
            parse_keepalived("-", &files)
        }
        (ImportFormat::Keepalived, false) => parse_keepalived(&name, &DiskFiles),
    }
    .map_err(CliUsage::from_error)?;
    let out = ImportOutput::new(table, notes);
    for note in &out.notes {
        eprintln!("{note}");
    }
    let changes = out
        .notes
        .iter()
        .filter(|n| n.kind == NoteKind::TableChange)
        .count();
    if changes > 0 && !args.allow_partial {
        eprintln!(
            "error: {changes} part(s) of the table cannot be carried over (listed above); \
             nothing written. Rerun with --allow-partial to write the rest."
        );
        return Ok(1);
    }
    let source = if stdin { "stdin".to_owned() } else { name };
    let yaml = render_configmap_yaml(&out.entries, &args.namespace, &args.name, &source);
    let fragment = render_settings_fragment(&out.vips(), &source);
    match &args.configmap_out {
        Some(path) => write(path, &yaml)?,
        None => print!("{yaml}"),
    }
    match &args.settings_out {
        Some(path) => write(path, &fragment)?,
        None => {
            for line in fragment.lines().filter(|l| !l.starts_with('#')) {
                eprintln!("settings: {line}");
            }
        }
    }
    let real_servers: usize = out
        .table
        .services
        .values()
        .map(|s| s.real_servers.len())
        .sum();
    eprintln!(
        "imported {} service(s), {real_servers} real server(s), {} VIP(s); {} note(s)",
        out.table.services.len(),
        out.vips().len(),
        out.notes.len()
    );
    Ok(0)
}

/// The text from stdin under the name `-`, every other path from the disk.
struct StdinThenDisk(MemoryFiles);

impl FileReader for StdinThenDisk {
    fn read(&self, path: &str) -> Result<String, String> {
        if path == "-" {
            self.0.read(path)
        } else {
            DiskFiles.read(path)
        }
    }

    fn list_dir(&self, dir: &str) -> Result<Vec<String>, String> {
        DiskFiles.list_dir(dir)
    }
}

fn read_input(path: &Path, stdin: bool) -> Result<String> {
    if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading stdin")?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .map_err(|e| CliUsage(format!("{}: cannot read: {e}", path.display())).into())
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
