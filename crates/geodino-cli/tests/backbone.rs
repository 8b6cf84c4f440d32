//! `geodino backbone-run` and `geodino convert-weights` against the official DINOv3 goldens.
#![cfg(feature = "torch")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use geodino_testutil::{Golden, assert_close, golden_dir, workspace_root};

fn geodino(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_geodino")).args(args).output().expect("run geodino")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "geodino failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Every tensor of `expected` is in `actual` with the same shape, within `atol`.
fn assert_all_close(what: &str, actual: &Path, expected: &Golden, atol: f32) {
    let got = Golden::load(actual);
    for (name, e) in &expected.tensors {
        let a = got.tensors.get(name).unwrap_or_else(|| panic!("{what}: {name} not written"));
        assert_eq!(a.shape, e.shape, "{what}: {name}");
        assert_close(&format!("{what}: {name}"), &a.data, &e.data, atol, 0.0);
    }
}

#[test]
fn backbone_run_reproduces_every_golden_output() {
    let dir = geodino_testutil::tempdir();
    let extra = workspace_root().join("crates/geodino-dinov3/tests/data");
    let cases: [(PathBuf, PathBuf, PathBuf, &str); 4] = [
        (
            golden_dir().join("vit_mlp.pth"),
            golden_dir().join("vit_mlp.inputs.safetensors"),
            golden_dir().join("vit_mlp.expected.safetensors"),
            "0,1,2",
        ),
        (
            golden_dir().join("vit_swiglu_sat.pth"),
            golden_dir().join("vit_swiglu_sat.inputs.safetensors"),
            golden_dir().join("vit_swiglu_sat.expected.safetensors"),
            "0,1",
        ),
        (
            golden_dir().join("vit_swiglu_sat.pth"),
            extra.join("swiglu_odd.inputs.safetensors"),
            extra.join("swiglu_odd.expected.safetensors"),
            "0,1",
        ),
        (
            golden_dir().join("chmv2_dpt.backbone.pth"),
            extra.join("chmv2_backbone.inputs.safetensors"),
            extra.join("chmv2_backbone.expected.safetensors"),
            "0,1,2,3",
        ),
    ];
    for (weights, input, expected, layers) in &cases {
        let out = dir.path().join("out.safetensors");
        // --batch-size 1 exercises the batching (outputs concatenated).
        ok(&geodino(&[
            "backbone-run",
            "--weights",
            s(weights),
            "--input",
            s(input),
            "--out",
            s(&out),
            "--layers",
            layers,
            "--batch-size",
            "1",
        ]));
        assert_all_close(s(weights), &out, &Golden::load(expected), 1e-4);
    }
}

#[test]
fn converted_weights_run_identically_and_bf16_halves_the_file() {
    let dir = geodino_testutil::tempdir();
    let f32_path = dir.path().join("vit_mlp.safetensors");
    let bf16_path = dir.path().join("vit_mlp.bf16.safetensors");
    let pth = golden_dir().join("vit_mlp.pth");
    ok(&geodino(&["convert-weights", s(&pth), s(&f32_path)]));
    ok(&geodino(&["convert-weights", s(&pth), s(&bf16_path), "--dtype", "bf16"]));
    let (f, b) = (f32_path.metadata().unwrap().len(), bf16_path.metadata().unwrap().len());
    assert!(b < f * 6 / 10, "bf16 {b} bytes vs f32 {f}");

    let out = dir.path().join("out.safetensors");
    let input = golden_dir().join("vit_mlp.inputs.safetensors");
    let expected = Golden::load(&golden_dir().join("vit_mlp.expected.safetensors"));
    let run = |w: &Path, extra: &[&str]| {
        let mut a = vec!["backbone-run", "--weights", s(w), "--input", s(&input), "--out", s(&out)];
        a.extend_from_slice(&["--layers", "0,1,2"]);
        a.extend_from_slice(extra);
        ok(&geodino(&a));
    };
    run(&f32_path, &[]);
    assert_all_close("converted f32", &out, &expected, 1e-4);
    run(&pth, &["--precision", "bf16"]);
    assert_all_close("bf16 compute", &out, &expected, 0.1);
    run(&bf16_path, &["--precision", "bf16"]);
    assert_all_close("bf16 storage + compute", &out, &expected, 0.1);

    // Refuses to overwrite; refuses a wrong architecture, naming the keys.
    let again = geodino(&["convert-weights", s(&pth), s(&f32_path)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let wrong = geodino(&[
        "convert-weights",
        s(&pth),
        s(&dir.path().join("w.safetensors")),
        "--config",
        "vits16",
    ]);
    assert!(!wrong.status.success());
    let e = String::from_utf8_lossy(&wrong.stderr);
    assert!(e.contains("cls_token") && e.contains("[1, 1, 384]"), "{e}");
    assert!(!dir.path().join("w.safetensors").exists());
}

#[test]
fn bad_arguments_fail_cleanly_without_output() {
    let dir = geodino_testutil::tempdir();
    let out = dir.path().join("out.safetensors");
    let input = golden_dir().join("vit_mlp.inputs.safetensors");
    let pth = golden_dir().join("vit_mlp.pth");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--weights", "/nonexistent/w.pth", "--input", s(&input)], "/nonexistent/w.pth"),
        (
            vec!["--weights", s(&pth), "--input", "/nonexistent/in.safetensors"],
            "/nonexistent/in.safetensors",
        ),
        (vec!["--weights", s(&pth), "--input", s(&input), "--layers", "7"], "--layers 7"),
        (vec!["--weights", s(&pth), "--input", s(&input), "--device", "cuda:3"], "cuda:3"),
        (vec!["--weights", s(&pth), "--input", s(&input), "--precision", "int4"], "int4"),
        (
            vec!["--weights", s(&pth), "--input", s(&input), "--in-chans", "4"],
            "the backbone takes 4",
        ),
    ];
    for (args, needle) in cases {
        let mut a = vec!["backbone-run", "--out", s(&out)];
        a.extend(args);
        let o = geodino(&a);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{a:?} succeeded");
        assert!(e.contains(needle), "{a:?}: {e}");
        assert!(!e.contains("panicked"), "{a:?}: {e}");
        assert!(!out.exists(), "{a:?} left an output");
    }
}
