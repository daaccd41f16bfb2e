//! Two released versions each of zlib, zstd, lz4 and Lua, for the version-stable layout tests
//! (`tests/stable_layout.rs`) and the sharing benchmark (`bench/sharing.sh`).
//!
//! The C sources come from crates.io packages that bundle them; each package version is brought
//! in with `cargo vendor` by its own throwaway cargo project in
//! `target/spacer-corpus/stable/sources/<crate>-<version>/` (two versions of one `links` crate
//! cannot share a project).  Each library version is compiled with
//! `gcc -O2 -ffunction-sections -fdata-sections` into
//! `target/spacer-corpus/stable/<name>-<version>/lib<lib>.a`, and with plain `gcc -O2` (one
//! `.text` per object, as most distributions and Unikraft build) into
//! `target/spacer-corpus/stable/plain/<name>-<version>/`.  A stamp file beside the archive
//! records what it was built from, so a build is done once and reused; a file lock keeps
//! concurrent test processes from building the same thing twice.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use super::corpus::{
    build_archive, cargo_vendor, corpus_dir, files_with_extension, sources_key, DirLock,
};
use super::Driver;

/// How a library version is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// `-O2 -ffunction-sections -fdata-sections`: one section per function and object.
    Sections,
    /// Plain `-O2`: one `.text`, `.data`, `.rodata` per object.
    Plain,
}

impl Flavour {
    pub const ALL: [Flavour; 2] = [Flavour::Sections, Flavour::Plain];

    /// The flags every library version of this flavour is compiled with.
    pub fn cflags(self) -> &'static [&'static str] {
        match self {
            Flavour::Sections => &["-O2", "-ffunction-sections", "-fdata-sections"],
            Flavour::Plain => &["-O2"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flavour::Sections => "function sections",
            Flavour::Plain => "plain -O2",
        }
    }

    /// Where this flavour's builds go, under [`stable_dir`].
    fn dir(self) -> PathBuf {
        match self {
            Flavour::Sections => stable_dir(),
            Flavour::Plain => stable_dir().join("plain"),
        }
    }
}

/// One released version of a library and the crates.io package that bundles its sources.
#[derive(Debug)]
pub struct LibVersion {
    /// The library's name: "zlib", "zstd", "lz4".
    pub name: &'static str,
    /// What `-l` takes: the archive is `lib<lib>.a`.
    pub lib: &'static str,
    /// The upstream version.
    pub version: &'static str,
    pub krate: &'static str,
    pub crate_version: &'static str,
    /// Where the library's sources are inside the package.
    pub src: &'static str,
    /// Source directories (relative to `src`) whose `.c`/`.S` files make up the library.
    pub dirs: &'static [&'static str],
    /// Files to leave out (file names).
    pub exclude: &'static [&'static str],
    /// Extra compiler flags (beyond [`Flavour::cflags`] and `-I<src>`).
    pub cflags: &'static [&'static str],
}

const ZLIB_FLAGS: &[&str] = &[
    "-DHAVE_UNISTD_H",
    "-DHAVE_STDARG_H",
    "-D_LARGEFILE64_SOURCE=1",
];
const ZSTD_FLAGS: &[&str] = &["-DZSTD_LIB_DEPRECATED=0", "-DXXH_NAMESPACE=ZSTD_"];
const LZ4_FLAGS: &[&str] = &[];

pub const ZLIB_OLD: LibVersion = LibVersion {
    name: "zlib",
    lib: "z",
    version: "1.2.13",
    krate: "libz-sys",
    crate_version: "1.1.9",
    src: "src/zlib",
    dirs: &["."],
    exclude: &[],
    cflags: ZLIB_FLAGS,
};

pub const ZLIB_NEW: LibVersion = LibVersion {
    name: "zlib",
    lib: "z",
    version: "1.3.1",
    krate: "libz-sys",
    crate_version: "1.1.20",
    src: "src/zlib",
    dirs: &["."],
    exclude: &[],
    cflags: ZLIB_FLAGS,
};

pub const ZSTD_OLD: LibVersion = LibVersion {
    name: "zstd",
    lib: "zstd",
    version: "1.5.5",
    krate: "zstd-sys",
    crate_version: "2.0.8+zstd.1.5.5",
    src: "zstd/lib",
    dirs: &["common", "compress", "decompress", "dictBuilder"],
    exclude: &[],
    cflags: ZSTD_FLAGS,
};

pub const ZSTD_NEW: LibVersion = LibVersion {
    name: "zstd",
    lib: "zstd",
    version: "1.5.6",
    krate: "zstd-sys",
    crate_version: "2.0.10+zstd.1.5.6",
    src: "zstd/lib",
    dirs: &["common", "compress", "decompress", "dictBuilder"],
    exclude: &[],
    cflags: ZSTD_FLAGS,
};

/// lz4 1.9.3 is not bundled by any `lz4-sys` release (1.9.2 and 1.9.3 ship lz4 1.9.2); the
/// `lzzzz` crate's 0.8.0 release ships it.
pub const LZ4_OLD: LibVersion = LibVersion {
    name: "lz4",
    lib: "lz4",
    version: "1.9.3",
    krate: "lzzzz",
    crate_version: "0.8.0",
    src: "vendor/liblz4",
    dirs: &["."],
    exclude: &[],
    cflags: LZ4_FLAGS,
};

pub const LZ4_NEW: LibVersion = LibVersion {
    name: "lz4",
    lib: "lz4",
    version: "1.9.4",
    krate: "lz4-sys",
    crate_version: "1.9.4",
    src: "liblz4/lib",
    dirs: &["."],
    exclude: &[],
    cflags: LZ4_FLAGS,
};

/// Lua without the stand-alone interpreter and compiler, POSIX but no dynamic loading.
const LUA_FLAGS: &[&str] = &["-std=gnu99", "-DLUA_USE_POSIX"];

pub const LUA_OLD: LibVersion = LibVersion {
    name: "lua",
    lib: "lua",
    version: "5.4.6",
    krate: "lua-src",
    crate_version: "546.0.2",
    src: "lua-5.4.6",
    dirs: &["."],
    exclude: &["lua.c", "luac.c"],
    cflags: LUA_FLAGS,
};

pub const LUA_NEW: LibVersion = LibVersion {
    name: "lua",
    lib: "lua",
    version: "5.4.7",
    krate: "lua-src",
    crate_version: "547.0.0",
    src: "lua-5.4.7",
    dirs: &["."],
    exclude: &["lua.c", "luac.c"],
    cflags: LUA_FLAGS,
};

/// SQLite's amalgamation: one object, one big `.text` when built without function sections.
const SQLITE_FLAGS: &[&str] = &["-DSQLITE_THREADSAFE=0", "-DSQLITE_OMIT_LOAD_EXTENSION"];

pub const SQLITE_OLD: LibVersion = LibVersion {
    name: "sqlite",
    lib: "sqlite3",
    version: "3.45.1",
    krate: "libsqlite3-sys",
    crate_version: "0.28.0",
    src: "sqlite3",
    dirs: &["."],
    exclude: &["wasm32-wasi-vfs.c"],
    cflags: SQLITE_FLAGS,
};

pub const SQLITE_NEW: LibVersion = LibVersion {
    name: "sqlite",
    lib: "sqlite3",
    version: "3.46.0",
    krate: "libsqlite3-sys",
    crate_version: "0.29.0",
    src: "sqlite3",
    dirs: &["."],
    exclude: &["wasm32-wasi-vfs.c"],
    cflags: SQLITE_FLAGS,
};

/// Every library version, old then new for each library.
pub const ALL: &[&LibVersion] = &[
    &ZLIB_OLD,
    &ZLIB_NEW,
    &ZSTD_OLD,
    &ZSTD_NEW,
    &LZ4_OLD,
    &LZ4_NEW,
    &LUA_OLD,
    &LUA_NEW,
    &SQLITE_OLD,
    &SQLITE_NEW,
];

/// The old and new version of each library, in link order (`-lz -lzstd -llz4 -llua`).
pub const BUMPS: &[(&LibVersion, &LibVersion)] = &[
    (&ZLIB_OLD, &ZLIB_NEW),
    (&ZSTD_OLD, &ZSTD_NEW),
    (&LZ4_OLD, &LZ4_NEW),
    (&LUA_OLD, &LUA_NEW),
];

/// A built library version.
#[derive(Debug, Clone)]
pub struct Built {
    /// The directory holding `lib<lib>.a` (what `-L` takes).
    pub lib_dir: PathBuf,
    pub archive: PathBuf,
    /// The directory holding the public headers.
    pub include: PathBuf,
}

impl LibVersion {
    /// `zlib-1.2.13`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }

    /// Builds the library with function sections (once per checkout and compiler) and returns
    /// where it is.
    pub fn build(&self) -> Built {
        self.build_as(Flavour::Sections)
    }

    /// Builds the library as `flavour` says (once per checkout and compiler).
    pub fn build_as(&self, flavour: Flavour) -> Built {
        static DONE: OnceLock<Mutex<HashMap<(String, Flavour), Built>>> = OnceLock::new();
        let done = DONE.get_or_init(Default::default);
        let key = (self.id(), flavour);
        if let Some(b) = done.lock().unwrap().get(&key) {
            return b.clone();
        }
        let built = {
            let _lock = DirLock::acquire(&stable_dir());
            build_version(self, flavour)
        };
        done.lock().unwrap().insert(key, built.clone());
        built
    }
}

pub fn stable_dir() -> PathBuf {
    corpus_dir().join("stable")
}

/// `cargo vendor` of one package version, in its own project; returns the package's directory.
/// Must be called with the lock held.
fn vendored_package(v: &LibVersion) -> PathBuf {
    let project = stable_dir()
        .join("sources")
        .join(format!("{}-{}", v.krate, v.crate_version));
    let vendor = project.join("vendor");
    let package = vendor.join(format!("{}-{}", v.krate, v.crate_version));
    let manifest = format!(
        r#"# Generated by spacer's test suite: brings in the C sources of {} {}.
[package]
name = "spacer-stable-sources"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
{} = {{ version = "={}", default-features = false }}

[workspace]
"#,
        v.name, v.version, v.krate, v.crate_version
    );
    let what = format!("{} {} ({} {})", v.name, v.version, v.krate, v.crate_version);
    cargo_vendor(&project, &manifest, &package, &what);
    package
}

fn build_version(v: &LibVersion, flavour: Flavour) -> Built {
    let package = vendored_package(v);
    let root = package.join(v.src);
    let mut sources = Vec::new();
    for d in v.dirs {
        sources.extend(
            files_with_extension(&root.join(d), &["c", "S"])
                .into_iter()
                .filter(|p| {
                    !v.exclude
                        .contains(&p.file_name().unwrap().to_str().unwrap_or(""))
                }),
        );
    }
    assert!(
        !sources.is_empty(),
        "no sources for {} in {}",
        v.id(),
        root.display()
    );
    let flags: Vec<String> = flavour
        .cflags()
        .iter()
        .chain(v.cflags)
        .map(|s| s.to_string())
        .chain([format!("-I{}", root.display())])
        .collect();

    let key = sources_key(&Driver::Gcc.version(), &flags, &sources);
    let stamp_text = format!("{} {}\n", v.id(), key.hex());
    let dir = flavour.dir().join(v.id());
    let archive = dir.join(format!("lib{}.a", v.lib));
    let stamp = dir.join("build.stamp");
    let built = Built {
        lib_dir: dir.clone(),
        archive: archive.clone(),
        include: root.clone(),
    };
    if archive.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(stamp_text.as_str()) {
        return built;
    }

    fs::create_dir_all(flavour.dir()).unwrap();
    let tmp = flavour
        .dir()
        .join(format!("{}.tmp.{}", v.id(), std::process::id()));
    build_archive(
        &tmp,
        &dir,
        &root,
        &sources,
        &flags,
        &format!("lib{}.a", v.lib),
        &[("build.stamp", &stamp_text)],
    );
    built
}

/// Builds every library version in both flavours and writes
/// `target/spacer-corpus/stable/corpus.tsv` (function sections) and `corpus-plain.tsv` (plain
/// -O2), one line per version: name, lib, version, archive directory, include directory (for
/// shell scripts). Returns the first.
pub fn build_all() -> PathBuf {
    let mut first = None;
    for flavour in Flavour::ALL {
        let mut tsv = String::from("# name\tlib\tversion\tlib_dir\tinclude\n");
        for v in ALL {
            let b = v.build_as(flavour);
            tsv.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\n",
                v.name,
                v.lib,
                v.version,
                b.lib_dir.display(),
                b.include.display()
            ));
        }
        let name = match flavour {
            Flavour::Sections => "corpus.tsv",
            Flavour::Plain => "corpus-plain.tsv",
        };
        let path = stable_dir().join(name);
        super::write_atomic(&path, tsv.as_bytes());
        first.get_or_insert(path);
    }
    first.unwrap()
}
