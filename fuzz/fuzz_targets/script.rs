//! The linker-script parser on arbitrary text: an error or a script, never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = spacer::linker::script::parse_script(text, "fuzz.lds");
    }
});
