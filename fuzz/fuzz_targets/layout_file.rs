//! The layout-file reader on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(f) = spacer::layout_file::LayoutFile::parse(text, Path::new("fuzz.layout")) {
            // What was read renders and reads back the same.
            let again = f.render();
            let g = spacer::layout_file::LayoutFile::parse(&again, Path::new("again.layout"))
                .expect("a rendered layout file reads back");
            assert_eq!(g.render(), again);
        }
    }
});
