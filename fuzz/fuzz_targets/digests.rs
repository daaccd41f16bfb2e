//! `spacer verify`, the digest-section reader (as `spacer share` uses it) and the kernel
//! checks of `spacer vm` on arbitrary images.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spacer::pages::verify::verify_image(data, "fuzz.elf");
    let _ = spacer::pages::digest::read_or_compute(data);
    let _ = spacer::vm::check_image(data, "fuzz.elf");
});
