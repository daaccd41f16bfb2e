//! Marks a build on a machine without a usable /dev/kvm (`cfg(spacer_no_kvm)`), so that the
//! tests that boot VMs under KVM are reported as ignored, with the reason, instead of passing
//! without having run. In CI they always run: a CI machine without KVM fails them.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(spacer_no_kvm)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-changed=build.rs");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    let kvm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    if !kvm && !ci {
        println!("cargo::rustc-cfg=spacer_no_kvm");
    }
}
