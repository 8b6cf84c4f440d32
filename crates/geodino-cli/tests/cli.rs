//! The binaries start, print their help and fail cleanly on bad input.

use std::process::Command;

#[test]
fn geodino_help_lists_subcommands_and_bad_input_fails_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_geodino")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("info"), "{help}");

    let out = Command::new(env!("CARGO_BIN_EXE_geodino"))
        .args(["info", "/nonexistent/x.tif"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.tif"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
