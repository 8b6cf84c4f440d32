//! Shared build script of the crates that link libtorch (`build = "../../build-support/rpath.rs"`).
//!
//! tch's own build script adds an rpath only to tch's targets; our binaries, test and bench
//! executables get none, and would need `LD_LIBRARY_PATH`. torch-sys (a direct dependency for this
//! reason) exports the libtorch lib directory as `DEP_TCH_LIBTORCH_LIB`; we add it as RUNPATH.
//! With the `cuda` feature, `libtorch.so` (and through it `libtorch_cuda.so`) must be linked even
//! though no symbol is used directly, or CUDA is silently unavailable (tch-rs #907, #980).
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.to_string_lossy());
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}
