//! The raster and data crates never pull libtorch: `cargo tree` of each torch-free crate (normal
//! dependencies, every feature on) mentions neither `tch` nor `torch-sys`. docs/architecture.md
//! explains the rule.

use std::process::Command;

const TORCH_FREE: &[&str] = &[
    "geodino-core",
    "geodino-tiff",
    "geodino-zarr",
    "geodino-raster",
    "geodino-data",
    "geodino-weights",
    "geodino-viz",
];

#[test]
fn torch_free_crates_do_not_depend_on_tch() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for krate in TORCH_FREE {
        let out = Command::new(&cargo)
            .current_dir(geodino_testutil::workspace_root())
            .args([
                "tree",
                "--locked",
                "-p",
                krate,
                "-e",
                "normal",
                "--all-features",
                "--prefix",
                "none",
            ])
            .output()
            .expect("run cargo tree");
        assert!(
            out.status.success(),
            "cargo tree -p {krate}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(
            tree.lines().count() >= 1 && tree.contains(krate),
            "unexpected cargo tree output: {tree}"
        );
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            assert!(name != "tch" && name != "torch-sys", "{krate} depends on {name}:\n{tree}");
        }
    }
    // and the check can fail: the CLI does link libtorch
    let out = Command::new(&cargo)
        .current_dir(geodino_testutil::workspace_root())
        .args(["tree", "--locked", "-p", "geodino-cli", "-e", "normal", "--prefix", "none"])
        .output()
        .expect("run cargo tree");
    assert!(String::from_utf8_lossy(&out.stdout).lines().any(|l| l.starts_with("tch ")));
}
