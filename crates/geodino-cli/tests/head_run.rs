//! `geodino head-run` against the official CHMv2-style DPT outputs (tests/golden/dinov3/
//! chmv2_dpt*): backbone and head from the `.pth` files, logits and heights within 1e-4; bad
//! input fails cleanly, naming the file, and leaves no output behind.
#![cfg(feature = "torch")]

use std::process::Command;

use geodino_testutil::{Golden, assert_close, golden_dir};

fn head_run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_geodino")).arg("head-run").args(args).output().unwrap()
}

#[test]
fn head_run_matches_the_reference_chmv2_dpt() {
    let g = golden_dir();
    let dir = geodino_testutil::tempdir();
    let out = dir.path().join("out.safetensors");
    let p = |n: &str| g.join(n).display().to_string();
    let o = head_run(&[
        "--backbone",
        &p("chmv2_dpt.backbone.pth"),
        "--head",
        &p("chmv2_dpt.head.pth"),
        "--input",
        &p("chmv2_dpt.inputs.safetensors"),
        "--out",
        &out.display().to_string(),
        "--layers",
        "0,1,2,3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = Golden::load(&out);
    let want = Golden::load(&g.join("chmv2_dpt.expected.safetensors"));
    for (k, name) in [("input.logits", "logits"), ("input.height", "height")] {
        let (a, e) = (got.get(k), want.get(name));
        assert_eq!(a.shape, e.shape, "{k}");
        assert_close(k, &a.data, &e.data, 1e-4, 0.0);
    }
    assert_eq!(got.tensors.len(), 2);
    // The head description travels with the outputs.
    let (_, meta) = read_meta(&out);
    assert!(meta.contains("geodino.head") && meta.contains("canopy_height"), "{meta}");

    // Cropped to the input: 60×90.
    let o = head_run(&[
        "--backbone",
        &p("chmv2_dpt.backbone.pth"),
        "--head",
        &p("chmv2_dpt.head.pth"),
        "--input",
        &p("chmv2_dpt.inputs.safetensors"),
        "--out",
        &out.display().to_string(),
        "--layers",
        "0,1,2,-1",
        "--output",
        "crop",
        "--batch-size",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(Golden::load(&out).get("input.height").shape, vec![1, 1, 60, 90]);
}

/// A safetensors file holding one f32 tensor of zeros.
fn write_zeros(path: &std::path::Path, name: &str, shape: &[usize]) {
    let n: usize = shape.iter().product::<usize>() * 4;
    let mut h = format!(
        "{{\"{name}\":{{\"dtype\":\"F32\",\"shape\":{shape:?},\"data_offsets\":[0,{n}]}}}}"
    );
    while (h.len() + 8) % 8 != 0 {
        h.push(' ');
    }
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(h.as_bytes());
    b.resize(b.len() + n, 0);
    std::fs::write(path, b).unwrap();
}

fn read_meta(path: &std::path::Path) -> (u64, String) {
    let b = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap());
    (n, String::from_utf8_lossy(&b[8..8 + n as usize]).into_owned())
}

#[test]
fn head_run_fails_cleanly_on_bad_input() {
    let g = golden_dir();
    let dir = geodino_testutil::tempdir();
    let out = dir.path().join("out.safetensors");
    let p = |n: &str| g.join(n).display().to_string();
    // The default CHMv2 layers (5, 11, 17, 23) do not exist in a 4-block backbone.
    let o = head_run(&[
        "--backbone",
        &p("chmv2_dpt.backbone.pth"),
        "--head",
        &p("chmv2_dpt.head.pth"),
        "--input",
        &p("chmv2_dpt.inputs.safetensors"),
        "--out",
        &out.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("--layers") && err.contains("4 blocks"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // A backbone given as the head.
    let o = head_run(&[
        "--backbone",
        &p("chmv2_dpt.backbone.pth"),
        "--head",
        &p("chmv2_dpt.backbone.pth"),
        "--input",
        &p("chmv2_dpt.inputs.safetensors"),
        "--out",
        &out.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("not a head checkpoint"), "{err}");
    assert!(err.contains("chmv2_dpt.backbone.pth"), "{err}");
    // No images at all, then images with the wrong band count.
    let bands4 = dir.path().join("bands4.safetensors");
    write_zeros(&bands4, "x", &[1, 4, 32, 32]);
    for (input, msg) in [
        (p("ssl_losses.inputs.safetensors"), "no rank-4 tensor"),
        (bands4.display().to_string(), "(b, 3, h, w)"),
    ] {
        let o = head_run(&[
            "--backbone",
            &p("chmv2_dpt.backbone.pth"),
            "--head",
            &p("chmv2_dpt.head.pth"),
            "--input",
            &input,
            "--out",
            &out.display().to_string(),
            "--layers",
            "0,1,2,3",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && !err.contains("panicked"), "{err}");
        assert!(err.contains(msg) && err.contains(&input), "{err}");
    }
    std::fs::remove_file(&bands4).unwrap();
    assert!(!out.exists(), "no output written on failure");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary files left");
}
