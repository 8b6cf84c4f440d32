//! Land-cover heads against hand-built expectations: the linear head is BatchNorm then a 1×1
//! convolution (computed here with plain tensor algebra), multi-layer concatenation resizes to
//! the first layer's grid (checked against a hand-written bilinear interpolation), the DPT
//! class head is the CHMv2 trunk with class outputs (checked on the golden weights), head
//! files keep their classes and colours, and both heads are trainable (a few steps on a fixed
//! batch reduce the loss).

use std::path::PathBuf;

use geodino_dinov3::{CheckpointOptions, Dinov3Backbone};
use geodino_heads::{
    ClassInfo, DecoderConfig, DenseHead, Head, HeadOptions, HeadSpec, LinearHeadConfig, OutputSize,
    Task,
};
use geodino_nn::{Backbone, LayerFeatures};
use geodino_testutil::{Golden, golden_dir};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Reduction, Tensor};

fn path(name: &str) -> PathBuf {
    golden_dir().join(name)
}

fn backbone() -> Dinov3Backbone {
    Dinov3Backbone::from_checkpoint(&path("chmv2_dpt.backbone.pth"), &CheckpointOptions::default())
        .unwrap()
}

fn golden_input() -> Tensor {
    let g = Golden::load(&path("chmv2_dpt.inputs.safetensors"));
    let t = g.get("input");
    Tensor::from_slice(&t.data).reshape([1, 3, 60, 90])
}

fn classes(n: usize) -> Vec<ClassInfo> {
    ClassInfo::numbered(n)
}

fn set(head: &DenseHead, name: &str, value: &Tensor) {
    let v = &head.var_store().variables()[name];
    tch::no_grad(|| v.shallow_clone().copy_(value));
}

fn randn(shape: &[i64]) -> Tensor {
    Tensor::randn(shape, (Kind::Float, Device::Cpu))
}

fn feats(patch: Tensor, cls: Tensor) -> LayerFeatures {
    let b = patch.size()[0];
    LayerFeatures { patch, cls, registers: Tensor::zeros([b, 0, 1], (Kind::Float, Device::Cpu)) }
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn linear_head_is_batchnorm_then_a_1x1_convolution() {
    tch::manual_seed(7);
    let (d, c) = (8i64, 3i64);
    let head =
        DenseHead::new(HeadSpec::land_cover_linear(d, vec![-1], classes(3)), Device::Cpu).unwrap();
    let (mean, var, gamma, beta) = (randn(&[d]), randn(&[d]).abs() + 0.5, randn(&[d]), randn(&[d]));
    let (w, bias) = (randn(&[c, d, 1, 1]), randn(&[c]));
    set(&head, "batchnorm_layer.running_mean", &mean);
    set(&head, "batchnorm_layer.running_var", &var);
    set(&head, "batchnorm_layer.weight", &gamma);
    set(&head, "batchnorm_layer.bias", &beta);
    set(&head, "conv.weight", &w);
    set(&head, "conv.bias", &bias);
    let x = randn(&[2, d, 4, 5]);
    let out = tch::no_grad(|| head.forward_t(&[feats(x.shallow_clone(), randn(&[2, d]))], false))
        .unwrap();
    // By hand: per-channel affine normalisation, then a matrix product over channels.
    let v = |t: &Tensor| t.view([1, d, 1, 1]);
    let xn = (&x - v(&mean)) / (v(&var) + 1e-5).sqrt() * v(&gamma) + v(&beta);
    let want = Tensor::einsum("cd,bdhw->bchw", &[w.view([c, d]), xn], None::<i64>)
        + bias.view([1, c, 1, 1]);
    assert_eq!(out.size(), [2, c, 4, 5]);
    let e = max_diff(&out, &want);
    assert!(e < 1e-5, "linear head off by {e}");
}

/// Bilinear interpolation with align_corners=False, written out: the reference for resizing.
fn bilinear(x: &Tensor, oh: i64, ow: i64) -> Tensor {
    let (b, c, ih, iw) = x.size4().unwrap();
    let src = |o: i64, i: i64, n: i64| -> (i64, i64, f64) {
        let s = ((o as f64 + 0.5) * i as f64 / n as f64 - 0.5).max(0.0);
        let i0 = (s.floor() as i64).min(i - 1);
        (i0, (i0 + 1).min(i - 1), s - i0 as f64)
    };
    let xv = Vec::<f32>::try_from(x.contiguous().flatten(0, -1)).unwrap();
    let at = |bb: i64, cc: i64, yy: i64, xx: i64| {
        xv[(((bb * c + cc) * ih + yy) * iw + xx) as usize] as f64
    };
    let mut out = Vec::with_capacity((b * c * oh * ow) as usize);
    for bb in 0..b {
        for cc in 0..c {
            for y in 0..oh {
                let (y0, y1, fy) = src(y, ih, oh);
                for xx in 0..ow {
                    let (x0, x1, fx) = src(xx, iw, ow);
                    let top = at(bb, cc, y0, x0) * (1.0 - fx) + at(bb, cc, y0, x1) * fx;
                    let bot = at(bb, cc, y1, x0) * (1.0 - fx) + at(bb, cc, y1, x1) * fx;
                    out.push((top * (1.0 - fy) + bot * fy) as f32);
                }
            }
        }
    }
    Tensor::from_slice(&out).view([b, c, oh, ow])
}

#[test]
fn multi_layer_features_concatenate_with_cls_after_resizing_to_the_first_layer() {
    tch::manual_seed(3);
    let cfg = LinearHeadConfig {
        in_channels: vec![8, 6],
        n_output_channels: 4,
        use_batchnorm: false,
        use_cls_token: true,
        dropout: 0.1,
    };
    let mut spec = HeadSpec::land_cover_linear(8, vec![0, 1], classes(4));
    spec.decoder = DecoderConfig::Linear(cfg);
    let head = DenseHead::new(spec, Device::Cpu).unwrap();
    let geodino_heads::Decoder::Linear(lin) = head.decoder() else { panic!("linear") };
    let (p0, c0, p1, c1) =
        (randn(&[2, 8, 4, 6]), randn(&[2, 8]), randn(&[2, 6, 2, 3]), randn(&[2, 6]));
    let f = lin
        .features(&[
            feats(p0.shallow_clone(), c0.shallow_clone()),
            feats(p1.shallow_clone(), c1.shallow_clone()),
        ])
        .unwrap();
    assert_eq!(f.size(), [2, 2 * (8 + 6), 4, 6]);
    assert!(f.narrow(1, 0, 8).equal(&p0));
    assert!(f.narrow(1, 8, 8).equal(&c0.view([2, 8, 1, 1]).expand([2, 8, 4, 6], false)));
    let up1 = bilinear(&p1, 4, 6);
    assert!(max_diff(&f.narrow(1, 16, 6), &up1) < 1e-6);
    // The CLS of layer 1 is constant over the grid, so resizing leaves it unchanged.
    assert!(
        max_diff(&f.narrow(1, 22, 6), &c1.view([2, 6, 1, 1]).expand([2, 6, 4, 6], false)) < 1e-6
    );
    // The classifier sees all 28 channels.
    let logits = tch::no_grad(|| head.forward_t(&[feats(p0, c0), feats(p1, c1)], false)).unwrap();
    assert_eq!(logits.size(), [2, 4, 4, 6]);
    // Wrong layer counts and widths are errors, not panics.
    let e = lin.features(&[feats(randn(&[1, 8, 4, 6]), randn(&[1, 8]))]).unwrap_err();
    assert!(e.to_string().contains("2 layers"), "{e}");
}

#[test]
fn linear_head_on_a_backbone_upsamples_logits_to_the_input() {
    let bb = backbone();
    tch::manual_seed(11);
    let head =
        DenseHead::new(HeadSpec::land_cover_linear(64, vec![-1, 1], classes(5)), Device::Cpu)
            .unwrap();
    let x = golden_input();
    let out = head.run(&bb, &x, OutputSize::Crop).unwrap();
    assert_eq!(out.logits.size(), [1, 5, 60, 90]);
    assert!(out.height.is_none());
    // By hand: pad 60×90 to 64×96 (2 rows above, 3 columns left), layers 3 and 1, logits on the
    // 4×6 grid, bilinear to 64×96, crop.
    let padded = x.constant_pad_nd([3, 3, 2, 2]);
    let f = tch::no_grad(|| bb.intermediate_layers(&padded, &[3, 1], true, true)).unwrap();
    let raw = tch::no_grad(|| head.forward_t(&f, false)).unwrap();
    assert_eq!(raw.size(), [1, 5, 4, 6]);
    let want = bilinear(&raw, 64, 96).narrow(2, 2, 60).narrow(3, 3, 90);
    assert!(max_diff(&out.logits, &want) < 1e-5);
    assert_eq!(head.predict(&bb, &x).unwrap().size(), [1, 5, 60, 90]);
    // A backbone of another width is refused with a message.
    let narrow =
        DenseHead::new(HeadSpec::land_cover_linear(32, vec![-1], classes(2)), Device::Cpu).unwrap();
    let e = narrow.predict(&bb, &x).unwrap_err().to_string();
    assert!(e.contains("width 32") && e.contains("64"), "{e}");
    let e = head.predict(&bb, &Tensor::zeros([1, 4, 32, 32], (Kind::Float, Device::Cpu)));
    assert!(e.unwrap_err().to_string().contains("(b, 3, h, w)"));
}

#[test]
fn dpt_class_head_is_the_chmv2_trunk_with_class_outputs() {
    // The golden CHMv2 weights read as a 16-class land-cover head give the golden logits.
    let bb = backbone();
    let names = classes(16);
    let opts = HeadOptions {
        layers: Some(vec![0, 1, 2, 3]),
        classes: Some(names.clone()),
        ..Default::default()
    };
    let head = DenseHead::from_file(&path("chmv2_dpt.head.pth"), &opts).unwrap();
    assert_eq!(head.spec().task, Task::LandCover);
    assert_eq!(head.spec().classes, names);
    let out = head.run(&bb, &golden_input(), OutputSize::Padded).unwrap();
    assert!(out.height.is_none());
    let expected = Golden::load(&path("chmv2_dpt.expected.safetensors"));
    let g = expected.get("logits");
    let want = Tensor::from_slice(&g.data).view([1, 16, 64, 96]);
    assert!(max_diff(&out.logits, &want) < 1e-4);
    assert!(out.classes().equal(&want.argmax(1, true)));
    assert_eq!(head.predict(&bb, &golden_input()).unwrap().size(), [1, 16, 60, 90]);
}

#[test]
fn head_files_keep_classes_colours_and_weights() {
    let dir = geodino_testutil::tempdir();
    let names = vec![
        ClassInfo::new("water", [0, 100, 200]),
        ClassInfo { value: Some(10), ..ClassInfo::new("tree cover", [0, 100, 0]) },
        ClassInfo::new("built-up", [250, 0, 0]),
    ];
    let bb = backbone();
    let x = golden_input();
    for spec in [
        HeadSpec::land_cover_linear(64, vec![2, 3], names.clone()),
        HeadSpec::land_cover_dpt(64, vec![0, 1, 2, 3], names.clone()),
    ] {
        tch::manual_seed(5);
        let mut spec = spec;
        spec.name = Some("test land cover".into());
        spec.normalization = geodino_heads::NormalizationSpec::preset("lvd1689m").unwrap();
        let head = DenseHead::new(spec.clone(), Device::Cpu).unwrap();
        let p = dir.path().join("lc.safetensors");
        head.save(&p).unwrap();
        // The description is plain JSON in the safetensors header.
        let (_, meta) = geodino_weights::read_header(&p).unwrap();
        assert_eq!(meta["format"], "geodino-head");
        let json: serde_json::Value = serde_json::from_str(&meta["geodino.head"]).unwrap();
        assert_eq!(json["classes"][1]["name"], "tree cover");
        assert_eq!(json["classes"][1]["color"], serde_json::json!([0, 100, 0]));
        assert_eq!(json["classes"][1]["value"], 10);
        let back = DenseHead::from_file(&p, &HeadOptions::default()).unwrap();
        assert_eq!(back.spec(), &spec);
        assert_eq!(back.spec().classes, names);
        let a = head.predict(&bb, &x).unwrap();
        let b = back.predict(&bb, &x).unwrap();
        assert!(a.equal(&b), "same outputs after the round trip");
    }
}

/// Cross-entropy of the head's logits (at the input's pixels) against fixed labels.
fn class_loss(
    head: &DenseHead,
    f: &[LayerFeatures],
    g: &geodino_heads::Geometry,
    y: &Tensor,
) -> Tensor {
    let raw = head.forward_t(f, true).unwrap();
    let logits = head.outputs(&raw, g, OutputSize::Crop).logits;
    logits.cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0)
}

fn overfit(spec: HeadSpec, steps: usize, lr: f64) -> (f64, f64) {
    tch::manual_seed(0);
    let bb = backbone();
    let head = DenseHead::new(spec, Device::Cpu).unwrap();
    let x = golden_input().narrow(2, 0, 30).narrow(3, 0, 45);
    let x = Tensor::cat(&[&x, &x.flip([2])], 0);
    let (f, g) = tch::no_grad(|| head.features(&bb, &x)).unwrap();
    // Labels: 3 classes in horizontal bands.
    let rows = Tensor::arange(30, (Kind::Int64, Device::Cpu))
        .view([1, 30, 1])
        .divide_scalar_mode(10, "floor");
    let y = rows.expand([2, 30, 45], false).contiguous();
    let mut opt = tch::nn::Adam::default().build(head.var_store(), lr).unwrap();
    let first = class_loss(&head, &f, &g, &y).double_value(&[]);
    let mut last = first;
    for _ in 0..steps {
        let loss = class_loss(&head, &f, &g, &y);
        opt.backward_step(&loss);
        last = loss.double_value(&[]);
        if std::env::var_os("OVERFIT_TRACE").is_some() {
            eprint!("{last:.3} ");
        }
    }
    eprintln!("overfit: loss {first:.4} → {last:.4}");
    (first, last)
}

#[test]
fn linear_head_overfits_a_fixed_batch() {
    let (first, last) = overfit(HeadSpec::land_cover_linear(64, vec![3], classes(3)), 30, 0.05);
    assert!(last < 0.6 * first, "loss {first} → {last}");
}

#[test]
fn dpt_class_head_overfits_a_fixed_batch() {
    let mut spec = HeadSpec::land_cover_dpt(64, vec![0, 1, 2, 3], classes(3));
    if let DecoderConfig::Dpt(c) = &mut spec.decoder {
        (c.channels, c.post_process_channels, c.n_hidden_channels) = (16, vec![8, 8, 16, 16], 8);
    }
    let (first, last) = overfit(spec, 10, 1e-3);
    assert!(last < 0.6 * first, "loss {first} → {last}");
}
