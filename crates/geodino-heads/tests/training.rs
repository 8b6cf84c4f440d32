//! The canopy-height head is trainable end to end through its bins: a few optimiser steps on a
//! fixed batch reduce an L1 height loss (metres), BatchNorm statistics update in training only,
//! and dropout is active in training only.

use geodino_dinov3::{CheckpointOptions, Dinov3Backbone};
use geodino_heads::{DecoderConfig, DenseHead, HeadSpec, OutputSize};
use geodino_testutil::{Golden, golden_dir};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor};

fn backbone() -> Dinov3Backbone {
    let p = golden_dir().join("chmv2_dpt.backbone.pth");
    Dinov3Backbone::from_checkpoint(&p, &CheckpointOptions::default()).unwrap()
}

fn input() -> Tensor {
    let g = Golden::load(&golden_dir().join("chmv2_dpt.inputs.safetensors"));
    Tensor::from_slice(&g.get("input").data).reshape([1, 3, 60, 90])
}

fn small_canopy_spec(batchnorm: bool) -> HeadSpec {
    let mut spec = HeadSpec::preset("chmv2").unwrap();
    spec.backbone.layers = vec![0, 1, 2, 3];
    if let DecoderConfig::Dpt(c) = &mut spec.decoder {
        c.in_channels = vec![64; 4];
        (c.channels, c.post_process_channels) = (16, vec![8, 8, 16, 16]);
        (c.n_hidden_channels, c.n_output_channels, c.use_batchnorm) = (8, 32, batchnorm);
    }
    spec
}

#[test]
fn canopy_head_overfits_heights_through_its_bins() {
    tch::manual_seed(0);
    let bb = backbone();
    let head = DenseHead::new(small_canopy_spec(true), Device::Cpu).unwrap();
    let x = input().narrow(2, 0, 30).narrow(3, 0, 45);
    let (f, g) = tch::no_grad(|| head.features(&bb, &x)).unwrap();
    // Target: a 0–30 m ramp across the columns.
    let target = (Tensor::arange(45, (Kind::Float, Device::Cpu)) * (30.0 / 44.0))
        .view([1, 1, 1, 45])
        .expand([1, 1, 30, 45], false);
    let loss = |train: bool| {
        let raw = head.forward_t(&f, train).unwrap();
        let h = head.outputs(&raw, &g, OutputSize::Crop).height.unwrap();
        (h - &target).abs().mean(Kind::Float)
    };
    let mut opt = tch::nn::Adam::default().build(head.var_store(), 3e-3).unwrap();
    let first = tch::no_grad(|| loss(false)).double_value(&[]);
    for _ in 0..12 {
        opt.backward_step(&loss(true));
    }
    let last = tch::no_grad(|| loss(false)).double_value(&[]);
    eprintln!("canopy overfit: L1 {first:.3} m → {last:.3} m");
    assert!(last < 0.5 * first, "L1 {first} → {last}");
    // Training updated the BatchNorm statistics; evaluation does not.
    let vars = head.var_store().variables();
    let nbt = &vars["reassemble_blocks.batchnorm_layers.0.num_batches_tracked"];
    assert_eq!(nbt.int64_value(&[]), 12);
    let _ = tch::no_grad(|| loss(false));
    assert_eq!(nbt.int64_value(&[]), 12);
    let rm = &vars["reassemble_blocks.batchnorm_layers.0.running_mean"];
    assert!(rm.abs().sum(Kind::Float).double_value(&[]) > 0.0);
}

#[test]
fn linear_head_dropout_acts_in_training_only() {
    tch::manual_seed(1);
    let bb = backbone();
    let spec = HeadSpec::land_cover_linear(64, vec![-1], geodino_heads::ClassInfo::numbered(4));
    let head = DenseHead::new(spec, Device::Cpu).unwrap();
    let (f, _) = tch::no_grad(|| head.features(&bb, &input())).unwrap();
    tch::no_grad(|| {
        let a = head.forward_t(&f, false).unwrap();
        let b = head.forward_t(&f, false).unwrap();
        assert!(a.equal(&b), "evaluation is deterministic");
        let c = head.forward_t(&f, true).unwrap();
        let d = head.forward_t(&f, true).unwrap();
        assert!(!c.equal(&d), "Dropout2d draws new channel masks in training");
    });
}
