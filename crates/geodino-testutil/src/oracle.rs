//! External reference programs: GDAL's command-line tools and Python bindings (Debian's
//! `/usr/bin/python3` sees `python3-gdal`), and zarr-python in the repository's `.venv`.

use std::path::PathBuf;
use std::process::Command;

/// True when `GEODINO_REQUIRE_ORACLES` is set: missing oracles fail instead of skipping.
pub fn required() -> bool {
    std::env::var_os("GEODINO_REQUIRE_ORACLES").is_some_and(|v| v != "0")
}

fn missing(what: &str) -> bool {
    if required() {
        panic!(
            "{what} is required (GEODINO_REQUIRE_ORACLES=1) but not available; run scripts/setup"
        );
    }
    crate::skip(&format!("{what} not available; run scripts/setup"));
    false
}

/// True when GDAL's command-line tools run; otherwise skips (or fails, see [`required`]).
pub fn gdal() -> bool {
    let ok = Command::new("gdalinfo").arg("--version").output().is_ok_and(|o| o.status.success());
    ok || missing("GDAL (gdalinfo)")
}

/// The Python interpreter that imports `osgeo` (Debian's), if any; otherwise skips or fails.
pub fn gdal_python() -> Option<PathBuf> {
    let py = PathBuf::from("/usr/bin/python3");
    let ok = Command::new(&py)
        .args(["-c", "import osgeo.gdal"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(py)
    } else {
        missing("Python GDAL bindings (/usr/bin/python3 with python3-gdal)");
        None
    }
}

/// The interpreter of `.venv` (zarr-python, numpy), if present; otherwise skips or fails.
pub fn zarr_python() -> Option<PathBuf> {
    let py = crate::workspace_root().join(".venv").join("bin").join("python");
    let ok = Command::new(&py)
        .args(["-c", "import zarr, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(py)
    } else {
        missing("zarr-python (.venv)");
        None
    }
}

/// Run a command and return its stdout; panics with stderr on failure.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gdalinfo -json [-stats] path`, parsed.
pub fn gdalinfo_json(path: &std::path::Path, stats: bool) -> serde_json::Value {
    let mut c = Command::new("gdalinfo");
    c.arg("-json");
    if stats {
        c.arg("-stats").arg("--config").arg("GDAL_PAM_ENABLED").arg("NO");
    }
    c.arg(path);
    serde_json::from_str(&run(&mut c)).expect("gdalinfo -json prints JSON")
}
