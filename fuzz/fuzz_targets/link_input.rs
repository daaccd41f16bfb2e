//! One input file (object or archive, told apart by its magic) linked as a static executable:
//! parsing, symbol resolution, relocation scanning, layout and output. The first byte picks
//! options, so that `-r`, `--gc-sections`, page digests and PIE output are reached too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("spacer-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&opts, input)) = data.split_first() else {
        return;
    };
    let path = dir().join("input");
    let out = dir().join("out");
    std::fs::write(&path, input).unwrap();
    let mut argv: Vec<String> = vec!["--no-fork".into(), "-e".into(), "0".into()];
    if opts & 1 != 0 {
        argv.push("--gc-sections".into());
    }
    if opts & 2 != 0 {
        argv.push("--page-digests".into());
    }
    if opts & 4 != 0 {
        argv.push("-r".into());
    } else if opts & 8 != 0 {
        argv.push("-pie".into());
    }
    argv.extend([path.display().to_string(), "-o".into(), out.display().to_string()]);
    let args = spacer::linker::args::parse(argv.into_iter()).unwrap();
    let _ = spacer::linker::link(args);
});
