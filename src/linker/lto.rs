//! GCC link-time optimization. A slim LTO object (`-flto` without `-ffat-lto-objects`) holds
//! only GCC's intermediate code. As collect2 does for a linker without GCC's plugin, spacer
//! hands the slim objects of the command line to GCC's `lto-wrapper` (whose path gcc passes as
//! `-plugin-opt=PATH`, and whose settings it passes in `COLLECT_GCC` and `COLLECT_GCC_OPTIONS`),
//! which compiles them into ordinary objects, and links those in their place. The program is
//! then optimized across its LTO objects, without the resolution file GCC's plugin would add
//! (every symbol stays visible to the optimizer's callers).
//!
//! When gcc runs the link (it names lto-wrapper), fat LTO objects of the command line are
//! compiled anew too, as GCC's plugin has them compiled. Slim objects inside archives are
//! refused with a message: which members a link needs
//! depends on the symbols inside the intermediate code, which only GCC's plugin reads.

use crate::linker::args::{Args, InputKind};
use crate::linker::object_file;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Why a slim LTO object inside an archive cannot be linked.
pub const ARCHIVE_MEMBER_REFUSED: &str = "an archive member is an LTO object without machine code (compiled with -flto): spacer compiles only the LTO objects named on the command line; build the archive's objects with -ffat-lto-objects or without -flto";

/// Whether loading failed on a slim LTO object (the one thing the LTO stage mends).
pub fn needs_lto(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<object_file::SlimLto>())
}

/// The objects `lto-wrapper` made: removed when the link is over (unless `-save-temps` asked
/// GCC to keep its temporary files).
pub struct Compiled {
    files: Vec<PathBuf>,
    keep: bool,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        if !self.keep {
            for f in &self.files {
                let _ = std::fs::remove_file(f);
            }
        }
    }
}

/// Compiles the LTO objects among `args.inputs` with `lto-wrapper` and puts the objects it
/// makes where the first of them was (the others are dropped).
pub fn compile(args: &mut Args) -> Result<Compiled> {
    let slim: Vec<usize> = args
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(&i.kind, InputKind::File(p) if has_ir(p)))
        .map(|(k, _)| k)
        .collect();
    let Some(&first) = slim.first() else {
        bail!(ARCHIVE_MEMBER_REFUSED);
    };
    let wrapper = args
        .lto_wrapper
        .clone()
        .or_else(|| std::env::var_os("COLLECT_LTO_WRAPPER").map(PathBuf::from));
    let (Some(wrapper), Some(_)) = (wrapper, std::env::var_os("COLLECT_GCC")) else {
        bail!("LTO objects (compiled with -flto) need GCC's lto-wrapper: link through gcc, which passes it and its settings to the linker");
    };
    let paths: Vec<PathBuf> = slim
        .iter()
        .map(|&k| match &args.inputs[k].kind {
            InputKind::File(p) => p.clone(),
            _ => unreachable!(),
        })
        .collect();
    let output_kind = if args.pie { "pie" } else { "exec" };
    let out = Command::new(&wrapper)
        .arg(format!("-flinker-output={output_kind}"))
        .args(&paths)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", wrapper.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}) compiling the LTO objects",
            wrapper.display(),
            out.status
        );
    }
    let files: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    let keep = std::env::var("COLLECT_GCC_OPTIONS").is_ok_and(|o| o.contains("-save-temps"));
    let compiled = Compiled { files, keep };
    if compiled.files.is_empty() {
        bail!("{} made no object from the LTO objects", wrapper.display());
    }
    let template = args.inputs[first].clone();
    let made = compiled.files.iter().map(|f| {
        let mut i = template.clone();
        i.kind = InputKind::File(f.clone());
        i
    });
    let mut inputs = Vec::with_capacity(args.inputs.len() + compiled.files.len());
    for (k, input) in std::mem::take(&mut args.inputs).into_iter().enumerate() {
        if k == first {
            inputs.extend(made.clone());
        } else if !slim.contains(&k) {
            inputs.push(input);
        }
    }
    args.inputs = inputs;
    Ok(compiled)
}

fn has_ir(path: &std::path::Path) -> bool {
    std::fs::read(path).is_ok_and(|data| object_file::has_lto_ir(&data))
}

/// Whether a link through gcc (which names lto-wrapper) loaded fat LTO objects from the
/// command line: GCC's plugin would have them compiled anew, so spacer does too.
pub fn wants_fat_compiled(args: &Args, files: &[object_file::ObjectFile]) -> bool {
    if args.lto_wrapper.is_none() || !files.iter().any(|f| f.lto_ir) {
        return false;
    }
    let named: std::collections::HashSet<String> = args
        .inputs
        .iter()
        .filter_map(|i| match &i.kind {
            InputKind::File(p) => Some(p.display().to_string()),
            _ => None,
        })
        .collect();
    files.iter().any(|f| f.lto_ir && named.contains(&f.name))
}
