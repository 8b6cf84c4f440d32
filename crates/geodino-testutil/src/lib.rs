//! Helpers shared by geodino's tests. Only ever a `[dev-dependencies]` entry.
//!
//! * [`workspace_root`], [`golden_dir`]: fixture locations inside the repository;
//! * [`shared_data`]: third-party files in `../shared/data` (never copied into the repository);
//!   tests skip, printing the reason, when that folder is absent;
//! * [`oracle`]: external programs used as references (GDAL's command-line tools, zarr-python);
//!   `GEODINO_REQUIRE_ORACLES=1` (set by `scripts/test`) turns a missing oracle into a failure so
//!   that CI can never pass by skipping;
//! * [`golden`]: safetensors files of reference outputs, and [`assert_close`].

use std::path::{Path, PathBuf};

pub mod golden;
pub mod oracle;

pub use golden::{Golden, assert_close};

/// The repository root (the directory holding the workspace `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).expect("crates/<name> lies two levels below the root").to_path_buf()
}

/// `tests/golden/dinov3`: outputs of the official DINOv3 code (see its README).
pub fn golden_dir() -> PathBuf {
    workspace_root().join("tests").join("golden").join("dinov3")
}

/// The shared third-party data folder: `$GEODINO_SHARED_DATA`, else `../shared/data` beside the
/// repository. `None` when absent.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("GEODINO_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("..").join("shared").join("data"),
    };
    dir.is_dir().then_some(dir)
}

/// The shared data file `rel` (e.g. `"geotiff/cog.tif"`), or `None` after printing why the test
/// is skipped. Use as `let Some(p) = shared_data("geotiff/cog.tif") else { return };`.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    match shared_data_dir() {
        Some(d) if d.join(rel).exists() => Some(d.join(rel)),
        Some(d) => {
            skip(&format!("shared data file {} is absent", d.join(rel).display()));
            None
        }
        None => {
            skip("the shared data folder ../shared/data is absent (set GEODINO_SHARED_DATA)");
            None
        }
    }
}

/// Print a skip notice in a form that stands out in test output.
pub fn skip(reason: &str) {
    eprintln!("SKIPPED: {reason}");
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("geodino-test-")
        .tempdir()
        .expect("create a temporary directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_layout_is_found() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(golden_dir().join("README.md").is_file());
    }
}
