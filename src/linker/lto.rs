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
//! found the way other members are, through the archive's index (which `ar` builds with
//! GCC's plugin from the intermediate code): each one the link needs is handed to
//! lto-wrapper with the rest, and the link loads its inputs again, until no new one is needed.

use crate::linker::args::{Args, InputKind};
use crate::linker::object_file;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Why a link stops when an LTO archive member it compiled is needed again.
pub const MEMBER_NEEDED_AGAIN: &str = "an LTO archive member is needed again after lto-wrapper compiled it (the archive's index lists symbols its code does not define); rebuild the archive with gcc-ar, or its objects with -ffat-lto-objects";

/// Whether loading failed on a slim LTO object (the one thing the LTO stage mends).
pub fn needs_lto(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|c| c.is::<object_file::SlimLto>() || c.is::<object_file::SlimLtoMember>())
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

/// A slim LTO archive member the link needs, as loading reported it.
pub fn member_of(e: &anyhow::Error) -> Option<&object_file::SlimLtoMember> {
    e.chain()
        .find_map(|c| c.downcast_ref::<object_file::SlimLtoMember>())
}

/// Compiles the LTO objects among `args.inputs`, with the slim archive members `members` the
/// link was found to need, with `lto-wrapper`. The objects it makes take the place of the
/// first LTO object of the command line (the others are dropped), or, when only archive
/// members hold intermediate code, go before the first library, so that the members' symbols
/// are defined before their archives are searched again.
pub fn compile(args: &mut Args, members: &[&object_file::SlimLtoMember]) -> Result<Compiled> {
    let named: Vec<usize> = args
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(&i.kind, InputKind::File(p) if has_ir(p)))
        .map(|(k, _)| k)
        .collect();
    if named.is_empty() && members.is_empty() {
        bail!("no LTO object to compile was found on the command line or in the archives");
    }
    let wrapper = args
        .lto_wrapper
        .clone()
        .or_else(|| std::env::var_os("COLLECT_LTO_WRAPPER").map(PathBuf::from));
    let (Some(wrapper), Some(_)) = (wrapper, std::env::var_os("COLLECT_GCC")) else {
        bail!("LTO objects (compiled with -flto) need GCC's lto-wrapper: link through gcc, which passes it and its settings to the linker");
    };
    let keep = std::env::var("COLLECT_GCC_OPTIONS").is_ok_and(|o| o.contains("-save-temps"));
    let mut compiled = Compiled {
        files: Vec::new(),
        keep,
    };
    let mut paths: Vec<PathBuf> = named
        .iter()
        .map(|&k| match &args.inputs[k].kind {
            InputKind::File(p) => p.clone(),
            _ => unreachable!(),
        })
        .collect();
    // Archive members go to lto-wrapper as files of their own.
    for (k, m) in members.iter().enumerate() {
        let path = std::env::temp_dir().join(format!("spacer-lto-{}-{k}.o", std::process::id()));
        std::fs::write(&path, m.data)
            .with_context(|| format!("cannot write {} for lto-wrapper", path.display()))?;
        compiled.files.push(path.clone());
        paths.push(path);
    }
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
    let made: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    if made.is_empty() {
        bail!("{} made no object from the LTO objects", wrapper.display());
    }
    compiled.files.extend(made.iter().cloned());
    let at = named.first().copied().unwrap_or_else(|| {
        args.inputs
            .iter()
            .position(|i| match &i.kind {
                InputKind::Lib(_) => true,
                InputKind::File(p) => p.extension().is_some_and(|e| e == "a"),
                InputKind::Script(_) => false,
            })
            .unwrap_or(args.inputs.len())
    });
    let template = crate::linker::args::InputArg {
        group: None,
        whole_archive: false,
        ..args
            .inputs
            .get(at)
            .cloned()
            .unwrap_or_else(|| args.inputs[0].clone())
    };
    let made_inputs = made.iter().map(|f| crate::linker::args::InputArg {
        kind: InputKind::File(f.clone()),
        ..template.clone()
    });
    let mut inputs = Vec::with_capacity(args.inputs.len() + made.len());
    let old = std::mem::take(&mut args.inputs);
    let n = old.len();
    for (k, input) in old.into_iter().enumerate() {
        if k == at {
            inputs.extend(made_inputs.clone());
        }
        if !named.contains(&k) {
            inputs.push(input);
        }
    }
    if at >= n {
        inputs.extend(made_inputs);
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
