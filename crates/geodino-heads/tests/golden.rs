//! Golden parity with the official CHMv2-style DPT head (tests/golden/dinov3/chmv2_dpt*, README
//! there): logits and heights within 1e-4 in f32, backbone and head loaded from the `.pth`
//! files; head configuration inferred from the tensors; strict loading errors name the key;
//! bf16 within its documented tolerance.

use std::path::PathBuf;

use geodino_dinov3::{CheckpointOptions, Dinov3Backbone};
use geodino_heads::{
    DecoderConfig, DenseHead, DptConfig, Head, HeadOptions, OutputSize, Readout, Task,
};
use geodino_nn::Precision;
use geodino_testutil::{Golden, assert_close, golden_dir};
use tch::{Kind, Tensor};

const ATOL: f32 = 1e-4;

fn path(name: &str) -> PathBuf {
    golden_dir().join(name)
}

fn tensor(g: &Golden, name: &str) -> Tensor {
    let t = g.get(name);
    let shape: Vec<i64> = t.shape.iter().map(|&s| s as i64).collect();
    Tensor::from_slice(&t.data).reshape(&shape)
}

/// Compare with a golden tensor (exact shape, values within `atol`); the max |error|.
fn check(what: &str, actual: &Tensor, g: &Golden, name: &str, atol: f32) -> f32 {
    let e = g.get(name);
    let shape: Vec<i64> = e.shape.iter().map(|&s| s as i64).collect();
    assert_eq!(actual.size(), shape, "{what}: shape");
    let v = Vec::<f32>::try_from(actual.to_kind(Kind::Float).contiguous().flatten(0, -1)).unwrap();
    assert_close(what, &v, &e.data, atol, 0.0);
    v.iter().zip(&e.data).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn backbone(precision: Precision) -> Dinov3Backbone {
    let opts = CheckpointOptions { precision, ..Default::default() };
    Dinov3Backbone::from_checkpoint(&path("chmv2_dpt.backbone.pth"), &opts).unwrap()
}

fn head(file: &str, precision: Precision) -> DenseHead {
    let opts = HeadOptions { layers: Some(vec![0, 1, 2, 3]), precision, ..Default::default() };
    DenseHead::from_file(&path(file), &opts).unwrap()
}

/// Run the golden case; returns the worst (logits, height) errors.
fn run(head_file: &str, precision: Precision, atol: f32) -> (f32, f32) {
    run_in(head_file, precision, atol, false)
}

/// [`run`] with the head's convolutions in channels-last layout when `channels_last`.
fn run_in(head_file: &str, precision: Precision, atol: f32, channels_last: bool) -> (f32, f32) {
    let bb = backbone(precision);
    let mut h = head(head_file, precision);
    if channels_last {
        h.set_channels_last(true);
        // Every convolution weight is now stored with the channels innermost.
        let mut n = 0;
        for (name, v) in h.var_store().variables() {
            if v.dim() == 4 && v.size()[1] > 1 {
                assert_eq!(v.stride()[1], 1, "{name} is not channels-last: {:?}", v.stride());
                n += 1;
            }
        }
        assert!(n > 10, "only {n} convolution weights");
    }
    let inputs = Golden::load(&path("chmv2_dpt.inputs.safetensors"));
    let expected = Golden::load(&path("chmv2_dpt.expected.safetensors"));
    let x = tensor(&inputs, "input");
    let out = h.run(&bb, &x, OutputSize::Padded).unwrap();
    let what =
        format!("{head_file} {precision}{}", if channels_last { " channels-last" } else { "" });
    let el = check(&format!("{what} logits"), &out.logits, &expected, "logits", atol);
    let eh =
        check(&format!("{what} height"), out.height.as_ref().unwrap(), &expected, "height", atol);
    eprintln!("{what}: max |error| logits {el:.3e}, height {eh:.3e}");
    (el, eh)
}

#[test]
fn chmv2_dpt_matches_the_reference_from_pth_files() {
    run("chmv2_dpt.head.pth", Precision::F32, ATOL);
}

#[test]
fn chmv2_dpt_matches_the_reference_from_safetensors() {
    run("chmv2_dpt.head.weights.safetensors", Precision::F32, ATOL);
}

#[test]
fn head_config_is_inferred_from_the_tensors() {
    let h = head("chmv2_dpt.head.pth", Precision::F32);
    let spec = h.spec();
    assert_eq!(spec.task, Task::CanopyHeight);
    let DecoderConfig::Dpt(c) = &spec.decoder else { panic!("a DPT head") };
    let want = DptConfig {
        in_channels: vec![64; 4],
        channels: 32,
        post_process_channels: vec![8, 16, 32, 64],
        readout: Readout::Project,
        use_batchnorm: false,
        use_bias: true,
        projection_after_fusion: false,
        n_hidden_channels: 8,
        n_output_channels: 16,
    };
    assert_eq!(c, &want);
    assert_eq!(spec.backbone.layers, vec![0, 1, 2, 3]);
    assert!(spec.backbone.use_norm);
    assert_eq!(spec.normalization.mean, vec![0.420, 0.411, 0.296]);
    let d = spec.depth.unwrap();
    assert_eq!((d.min_depth, d.max_depth), (0.001, 96.0));
    // Every tensor of the file was loaded, none left at a default.
    assert_eq!(h.load_report().loaded, 68);
    assert!(h.load_report().kept.is_empty());
}

#[test]
fn output_sizes_crop_and_resize_the_padded_prediction() {
    let bb = backbone(Precision::F32);
    let h = head("chmv2_dpt.head.pth", Precision::F32);
    let inputs = Golden::load(&path("chmv2_dpt.inputs.safetensors"));
    let expected = Golden::load(&path("chmv2_dpt.expected.safetensors"));
    let x = tensor(&inputs, "input");
    // Crop: the 60×90 input sits at rows 2..62, columns 3..93 of the 64×96 padded input.
    let crop = h.predict(&bb, &x).unwrap();
    assert_eq!(crop.size(), [1, 1, 60, 90]);
    let want = tensor(&expected, "height").narrow(2, 2, 60).narrow(3, 3, 90);
    let err = (&crop - &want).abs().max().double_value(&[]);
    assert!(err <= ATOL as f64, "cropped heights off by {err}");
    let resized = h.run(&bb, &x, OutputSize::Resize).unwrap();
    assert_eq!(resized.height.unwrap().size(), [1, 1, 60, 90]);
    // A batch of two (the input and its mirror) gives the mirrored prediction for the mirror.
    let x2 = Tensor::cat(&[&x, &x.flip([3])], 0);
    let both = h.run(&bb, &x2, OutputSize::Padded).unwrap().height.unwrap();
    let first = both.get(0).unsqueeze(0);
    assert!((&first - tensor(&expected, "height")).abs().max().double_value(&[]) <= ATOL as f64);
}

#[test]
fn strict_loading_names_the_offending_key() {
    let dir = geodino_testutil::tempdir();
    let mut sd = geodino_weights::load(&path("chmv2_dpt.head.pth"), &Default::default()).unwrap();
    // A missing fusion conv bias.
    let mut missing = sd.clone();
    missing.remove("fusion_blocks.2.res_conv_unit1.conv2.conv.bias");
    let p = dir.path().join("missing.safetensors");
    geodino_weights::write_safetensors(&p, &missing).unwrap();
    let e = DenseHead::from_file(&p, &HeadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("fusion_blocks.2.res_conv_unit1.conv2.conv.bias"), "{e}");
    assert!(e.contains("missing"), "{e}");
    // An unexpected key.
    let extra = sd.get("convs.0.conv.weight").unwrap().clone();
    sd.insert("convs.0.conv.bias_typo", extra);
    let p = dir.path().join("extra.safetensors");
    geodino_weights::write_safetensors(&p, &sd).unwrap();
    let e = DenseHead::from_file(&p, &HeadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("convs.0.conv.bias_typo") && e.contains("unexpected"), "{e}");
    assert!(e.contains("extra.safetensors"), "names the file: {e}");
    // A wrong shape.
    sd.remove("convs.0.conv.bias_typo");
    let w = sd.get("fusion_blocks.1.project.conv.weight").unwrap().clone();
    sd.insert(
        "fusion_blocks.1.project.conv.weight",
        w.reshape(vec![32, 32, 1, 1]).unwrap().clone(),
    );
    let b = geodino_weights::TensorData::zeros(geodino_weights::Dtype::F32, vec![31]);
    sd.insert("fusion_blocks.1.project.conv.bias", b);
    let p = dir.path().join("shape.safetensors");
    geodino_weights::write_safetensors(&p, &sd).unwrap();
    let e = DenseHead::from_file(&p, &HeadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("fusion_blocks.1.project.conv.bias") && e.contains("[31]"), "{e}");
    // A key the inference needs.
    let mut sd = geodino_weights::load(&path("chmv2_dpt.head.pth"), &Default::default()).unwrap();
    sd.remove("conv_depth.head.4.weight");
    let p = dir.path().join("nohead.safetensors");
    geodino_weights::write_safetensors(&p, &sd).unwrap();
    let e = DenseHead::from_file(&p, &HeadOptions::default()).unwrap_err().to_string();
    assert!(e.contains("conv_depth.head.4.weight") && e.contains("nohead.safetensors"), "{e}");
    // A backbone is not a head.
    let e = DenseHead::from_file(&path("chmv2_dpt.backbone.pth"), &HeadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a head checkpoint"), "{e}");
}

#[test]
fn decoder_prefixed_depther_checkpoints_load() {
    let dir = geodino_testutil::tempdir();
    let sd = geodino_weights::load(&path("chmv2_dpt.head.pth"), &Default::default()).unwrap();
    let bb = geodino_weights::load(&path("chmv2_dpt.backbone.pth"), &Default::default()).unwrap();
    let mut whole = geodino_weights::StateDict::new();
    for (k, t) in sd.iter() {
        whole.insert(format!("decoder.{k}"), t.clone());
    }
    for (k, t) in bb.iter() {
        whole.insert(format!("encoder.backbone.{k}"), t.clone());
    }
    let p = dir.path().join("depther.safetensors");
    geodino_weights::write_safetensors(&p, &whole).unwrap();
    let opts = HeadOptions { layers: Some(vec![0, 1, 2, 3]), ..Default::default() };
    let h = DenseHead::from_file(&p, &opts).unwrap();
    assert_eq!(h.load_report().loaded, sd.len());
    // Foreign keys beside `decoder.` are refused, by name.
    whole.insert("optimizer.step", geodino_weights::TensorData::from_f32(vec![1], &[0.0]));
    geodino_weights::write_safetensors(&p, &whole).unwrap();
    let e = DenseHead::from_file(&p, &opts).unwrap_err().to_string();
    assert!(e.contains("optimizer.step"), "{e}");
}

/// bf16 backbone and head (BatchNorm, bins and their normalisation in f32). Measured on this
/// case (docs/heads.md): logits max 0.021 (mean 0.003; logits of mean magnitude 0.23), heights
/// max 0.90 m, mean 0.12 m (heights 0–47 m). The bounds are about twice the measurement.
#[test]
fn bf16_stays_within_its_documented_tolerance() {
    let bb = backbone(Precision::Bf16);
    let h = head("chmv2_dpt.head.pth", Precision::Bf16);
    let inputs = Golden::load(&path("chmv2_dpt.inputs.safetensors"));
    let expected = Golden::load(&path("chmv2_dpt.expected.safetensors"));
    let out = h.run(&bb, &tensor(&inputs, "input"), OutputSize::Padded).unwrap();
    let el = (&out.logits - tensor(&expected, "logits")).abs();
    let eh = (out.height.unwrap() - tensor(&expected, "height")).abs();
    let stat = |t: &Tensor| (t.max().double_value(&[]), t.mean(Kind::Float).double_value(&[]));
    let ((lmax, lmean), (hmax, hmean)) = (stat(&el), stat(&eh));
    eprintln!(
        "bf16: logits max {lmax:.4} mean {lmean:.5}; heights max {hmax:.3} m mean {hmean:.4} m"
    );
    assert!(lmax > 0.0 && hmax > 0.0, "bf16 identical to f32 means it did not run in bf16");
    assert!(lmax < 0.05 && lmean < 0.006, "logits: max {lmax}, mean {lmean}");
    assert!(hmax < 2.0 && hmean < 0.25, "heights: max {hmax} m, mean {hmean} m");
}

#[test]
fn chmv2_dpt_in_channels_last_layout_matches_the_reference() {
    // The layout `HeadModel::load` picks for CPU f32 inference: same values to rounding.
    run_in("chmv2_dpt.head.pth", Precision::F32, ATOL, true);
}
