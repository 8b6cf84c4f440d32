//! Behaviour of the objective beyond golden parity: gradients flow, the weighting follows the
//! crop counts, Sinkhorn-Knopp is stable where the naive formula overflows, the Gram-teacher resize
//! is the bicubic one, EMA pairs by name, bad inputs are errors.

use geodino_ssl::loss::{
    GramLoss, GramLossConfig, KoLeoLoss, PatchGrid, downsample_patch_features,
};
use geodino_ssl::{
    DinoHead, DinoHeadConfig, GramInputs, ParamPairs, SslError, SslLossConfig, SslLossInputs,
    SslObjective, StepWeights, ema_update, sinkhorn_knopp, state_dict,
};
use tch::{Device, Kind, Tensor, nn, nn::VarStore};

const OPTS: (Kind, Device) = (Kind::Float, Device::Cpu);

fn small_head(vs: &VarStore, path: &str, in_dim: i64, k: i64) -> DinoHead {
    let cfg = DinoHeadConfig {
        in_dim,
        n_prototypes: k,
        hidden_dim: 32,
        bottleneck_dim: 8,
        nlayers: 3,
        mlp_bias: true,
    };
    let p = if path.is_empty() { vs.root() } else { vs.root() / path };
    DinoHead::new(&p, &cfg).unwrap()
}

/// A miniature training step: student features → heads → all five losses → backward.
#[test]
fn all_losses_backpropagate_into_heads_and_student_features() {
    tch::manual_seed(0);
    let (g, l, b, d, n, k) = (2i64, 8i64, 4i64, 16i64, 16i64, 24i64);
    let vs = VarStore::new(Device::Cpu);
    let dino_head = small_head(&vs, "dino_head", d, k);
    let ibot_head = small_head(&vs, "ibot_head", d, k);

    // Student "backbone outputs" as leaves, so that we can check their gradients.
    let g_cls = Tensor::randn([g * b, d], OPTS).set_requires_grad(true);
    let l_cls = Tensor::randn([l * b, d], OPTS).set_requires_grad(true);
    let g_patch = Tensor::randn([g * b, n, d], OPTS).set_requires_grad(true);
    // Teacher side, no gradient.
    let t_cls = Tensor::randn([g * b, d], OPTS);
    let t_patch = Tensor::randn([g * b, n, d], OPTS);
    let gram_teacher = Tensor::randn([g * b, n, d], OPTS);

    // Masks: half of the 2B images masked with 3 tokens each.
    let mut mask_vals = vec![false; (g * b * n) as usize];
    for img in 0..(g * b / 2) as usize {
        for j in 0..3 {
            mask_vals[img * n as usize + 2 * j + img] = true;
        }
    }
    let masks = Tensor::from_slice(&mask_vals).reshape([g * b, n]);
    let idx = masks.flatten(0, 1).nonzero().flatten(0, -1);

    let obj = SslObjective::new(&SslLossConfig::default()).unwrap();
    let (teacher_cls_logits, teacher_masked_logits) = tch::no_grad(|| {
        let t_masked = t_patch.flatten(0, 1).index_select(0, &idx);
        (dino_head.forward(&t_cls).unwrap(), ibot_head.forward(&t_masked).unwrap())
    });
    let targets =
        obj.teacher_targets(&teacher_cls_logits, g, &teacher_masked_logits, 0.04).unwrap();

    let s_global = dino_head.forward(&g_cls).unwrap().reshape([g, b, k]);
    let s_local = dino_head.forward(&l_cls).unwrap().reshape([l, b, k]);
    let s_masked = ibot_head.forward(&g_patch.flatten(0, 1).index_select(0, &idx)).unwrap();
    let cls_3d = g_cls.reshape([g, b, d]);
    let inputs = SslLossInputs {
        student_global_logits: &s_global,
        student_local_logits: &s_local,
        teacher_global_probs: &targets.cls_probs,
        student_masked_patch_logits: &s_masked,
        teacher_masked_patch_probs: &targets.masked_patch_probs,
        masks: &masks,
        masks_weight: None,
        student_global_cls: &cls_3d,
        gram: Some(GramInputs { student_patches: &g_patch, teacher_patches: &gram_teacher }),
    };
    let out = obj.forward(&inputs, StepWeights { w_local: 1.0, w_gram: 2.0 }).unwrap();
    let v = out.values();
    for (name, x) in [
        ("dino_global", v.dino_global),
        ("dino_local", v.dino_local),
        ("ibot", v.ibot),
        ("koleo", v.koleo),
        ("gram", v.gram.unwrap()),
        ("total", v.total),
    ] {
        assert!(x.is_finite(), "{name} = {x}");
    }
    out.total.backward();

    let grad_norm = |t: &Tensor| -> f64 {
        let gr = t.grad();
        assert!(gr.defined(), "no gradient");
        assert!(bool::try_from(gr.isfinite().all()).unwrap(), "non-finite gradient");
        gr.norm().double_value(&[])
    };
    for (name, var) in vs.variables() {
        let gn = grad_norm(&var);
        assert!(gn > 0.0, "head parameter {name} got a zero gradient");
    }
    assert!(grad_norm(&g_cls) > 0.0, "global cls (DINO + KoLeo) got no gradient");
    assert!(grad_norm(&l_cls) > 0.0, "local cls (DINO local) got no gradient");
    assert!(grad_norm(&g_patch) > 0.0, "global patches (iBOT + Gram) got no gradient");
    // Unmasked patch rows only receive the Gram gradient; with the Gram term off they get none.
    let unmasked_row = (g * b - 1) as usize; // last image is unmasked
    let row_grad = g_patch.grad().get(unmasked_row as i64).abs().sum(Kind::Float).double_value(&[]);
    assert!(row_grad > 0.0, "Gram gradient reaches unmasked patches");
}

#[test]
fn pair_count_weighting_follows_the_crop_numbers() {
    let obj = SslObjective::new(&SslLossConfig::default()).unwrap();
    let (sg, sl) = obj.dino_scales(2, 8);
    assert!((sg - 1.0 / 9.0).abs() < 1e-15 && (sl - 8.0 / 9.0).abs() < 1e-15);
    let (sg, sl) = obj.dino_scales(2, 4); // 2 global pairs, 8 local pairs
    assert!((sg - 0.2).abs() < 1e-15 && (sl - 0.8).abs() < 1e-15);
    let with_diag =
        SslObjective::new(&SslLossConfig { global_ignore_diagonal: false, ..Default::default() })
            .unwrap();
    let (sg, sl) = with_diag.dino_scales(2, 8); // 4 global pairs, 16 local
    assert!((sg - 0.2).abs() < 1e-15 && (sl - 0.8).abs() < 1e-15);
}

#[test]
fn total_is_the_reference_weighted_sum() {
    tch::manual_seed(1);
    let (g, l, b, k, d, n) = (2i64, 3i64, 5i64, 12i64, 6i64, 4i64);
    let s_global = Tensor::randn([g, b, k], OPTS);
    let s_local = Tensor::randn([l, b, k], OPTS);
    let t_probs = Tensor::randn([g, b, k], OPTS).softmax(-1, Kind::Float);
    let masks = Tensor::from_slice(&[true, false, true, false]).repeat([g * b, 1]);
    let m = g * b * 2;
    let s_masked = Tensor::randn([m, k], OPTS);
    let t_masked = Tensor::randn([m, k], OPTS).softmax(-1, Kind::Float);
    let cls = Tensor::randn([g, b, d], OPTS);
    let gs = Tensor::randn([g * b, n, d], OPTS);
    let gt = Tensor::randn([g * b, n, d], OPTS);
    let obj = SslObjective::new(&SslLossConfig::default()).unwrap();
    let inputs = SslLossInputs {
        student_global_logits: &s_global,
        student_local_logits: &s_local,
        teacher_global_probs: &t_probs,
        student_masked_patch_logits: &s_masked,
        teacher_masked_patch_probs: &t_masked,
        masks: &masks,
        masks_weight: None,
        student_global_cls: &cls,
        gram: Some(GramInputs { student_patches: &gs, teacher_patches: &gt }),
    };
    let step = StepWeights { w_local: 0.5, w_gram: 2.0 };
    let v = obj.forward(&inputs, step).unwrap().values();
    // 2 global pairs (diagonal skipped), 6 local pairs.
    let (sg, sl) = (2.0 / 8.0, 6.0 / 8.0);
    let expected = sl * 0.5 * v.dino_local
        + sg * v.dino_global
        + 0.1 * 2.0 * v.koleo
        + v.ibot
        + 2.0 * v.gram.unwrap();
    assert!((v.total - expected).abs() <= 1e-5 * expected.abs(), "{} vs {expected}", v.total);
    assert_eq!(v.weights.koleo, 0.2);
    // KoLeo is the mean over the two global crops
    let k0 = KoLeoLoss::default().forward(&cls.get(0)).unwrap().double_value(&[]);
    let k1 = KoLeoLoss::default().forward(&cls.get(1)).unwrap().double_value(&[]);
    assert!((v.koleo - (k0 + k1) / 2.0).abs() < 1e-6);

    // Without Gram inputs the Gram term is absent and not counted.
    let v2 = obj.forward(&SslLossInputs { gram: None, ..inputs }, step).unwrap().values();
    assert!(v2.gram.is_none() && v2.weights.gram == 0.0);
    assert!((v.total - v2.total - 2.0 * v.gram.unwrap()).abs() < 1e-5);
}

#[test]
fn sinkhorn_knopp_is_stable_where_the_naive_exponential_overflows() {
    // Logits of 10 at τ = 0.04: exp(250) overflows float32.
    let logits = Tensor::from_slice(&[10.0f32, 9.0, 8.0, 9.5, 10.0, 7.0]).reshape([3, 2]);
    assert!(bool::try_from((&logits / 0.04).exp().isinf().any()).unwrap());
    let p = sinkhorn_knopp(&logits, 0.04, 3).unwrap();
    assert!(bool::try_from(p.isfinite().all()).unwrap());
    let rows =
        Vec::<f32>::try_from(p.sum_dim_intlist([1i64].as_slice(), false, Kind::Float)).unwrap();
    for r in rows {
        assert!((r - 1.0).abs() < 1e-5, "row sum {r}");
    }
    // A shifted input gives the same probabilities (the max subtraction is exact maths).
    let p2 = sinkhorn_knopp(&(&logits - 9.0), 0.04, 3).unwrap();
    let diff = (&p - &p2).abs().max().double_value(&[]);
    assert!(diff < 1e-6, "shift changed the result by {diff}");
    // Bad inputs are errors.
    assert!(matches!(sinkhorn_knopp(&logits, 0.0, 3), Err(SslError::Config(_))));
    assert!(matches!(sinkhorn_knopp(&logits.flatten(0, 1), 0.04, 3), Err(SslError::Shape { .. })));
}

/// PyTorch's bicubic kernel (A = −0.75), `align_corners=False`, indices clamped at the border:
/// written out independently of libtorch.
fn bicubic_1d_weights(out_len: usize, in_len: usize) -> Vec<Vec<(usize, f64)>> {
    let a = -0.75f64;
    let w1 = |x: f64| ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0; // |x| <= 1
    let w2 = |x: f64| ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a; // 1 < |x| < 2
    let scale = in_len as f64 / out_len as f64;
    (0..out_len)
        .map(|o| {
            let src = (o as f64 + 0.5) * scale - 0.5;
            let i0 = src.floor();
            let t = src - i0;
            let ws = [w2(t + 1.0), w1(t), w1(1.0 - t), w2(2.0 - t)];
            (0..4)
                .map(|j| {
                    let idx = (i0 as i64 - 1 + j as i64).clamp(0, in_len as i64 - 1) as usize;
                    (idx, ws[j])
                })
                .collect()
        })
        .collect()
}

#[test]
fn gram_teacher_features_are_resized_bicubically_to_the_student_grid() {
    tch::manual_seed(2);
    let (b, d) = (2i64, 3i64);
    let (ht, wt, hs, ws) = (8usize, 6usize, 4usize, 3usize);
    let feats = Tensor::randn([b, (ht * wt) as i64, d], OPTS);
    let out = downsample_patch_features(
        &feats,
        PatchGrid { h: ht as i64, w: wt as i64 },
        PatchGrid { h: hs as i64, w: ws as i64 },
        false,
    )
    .unwrap();
    assert_eq!(out.size(), [b, (hs * ws) as i64, d]);
    let x = Vec::<f32>::try_from(feats.flatten(0, -1)).unwrap();
    let y = Vec::<f32>::try_from(out.flatten(0, -1)).unwrap();
    let (wy, wx) = (bicubic_1d_weights(hs, ht), bicubic_1d_weights(ws, wt));
    let mut worst = 0.0f64;
    for bi in 0..b as usize {
        for r in 0..hs {
            for c in 0..ws {
                for di in 0..d as usize {
                    let mut acc = 0.0f64;
                    for &(iy, wyv) in &wy[r] {
                        for &(ix, wxv) in &wx[c] {
                            let tok = iy * wt + ix;
                            acc += wyv * wxv * x[(bi * ht * wt + tok) * d as usize + di] as f64;
                        }
                    }
                    let got = y[(bi * hs * ws + r * ws + c) * d as usize + di] as f64;
                    worst = worst.max((got - acc).abs());
                }
            }
        }
    }
    assert!(worst < 1e-5, "bicubic resize differs from the hand-written kernel by {worst}");
    // equal grids: identity
    let same = downsample_patch_features(
        &feats,
        PatchGrid { h: 8, w: 6 },
        PatchGrid { h: 8, w: 6 },
        false,
    )
    .unwrap();
    assert!(same.equal(&feats));
    // token count must match the grid
    assert!(
        downsample_patch_features(
            &feats,
            PatchGrid { h: 7, w: 6 },
            PatchGrid { h: 4, w: 3 },
            false
        )
        .is_err()
    );
}

#[test]
fn gram_loss_is_zero_for_identical_features_and_rejects_mismatches() {
    tch::manual_seed(3);
    let f = Tensor::randn([2, 5, 4], OPTS);
    let loss = GramLoss::new(&GramLossConfig::default()).unwrap();
    assert_eq!(loss.forward(&f, &f).unwrap().double_value(&[]), 0.0);
    // Scaling features does not matter once normalised.
    assert!(loss.forward(&(&f * 3.0), &f).unwrap().double_value(&[]) < 1e-12);
    assert!(loss.forward(&f, &f.narrow(1, 0, 4)).is_err());
    assert!(loss.forward(&f.flatten(0, 1), &f.flatten(0, 1)).is_err()); // image level needs 3-D
    let batch = GramLoss::new(&GramLossConfig::ssl_default()).unwrap();
    assert!(batch.forward(&f.flatten(0, 1), &f.flatten(0, 1)).is_ok());
    assert!(
        GramLoss::new(&GramLossConfig {
            remove_neg: true,
            remove_only_teacher_neg: true,
            ..Default::default()
        })
        .is_err()
    );
}

#[test]
fn koleo_groups_split_the_batch() {
    tch::manual_seed(4);
    let x = Tensor::randn([8, 5], OPTS);
    let k = KoLeoLoss::default();
    let grouped = k.forward_grouped(&x, 4).unwrap().double_value(&[]);
    let a = k.forward(&x.narrow(0, 0, 4)).unwrap().double_value(&[]);
    let b = k.forward(&x.narrow(0, 4, 4)).unwrap().double_value(&[]);
    assert!((grouped - (a + b) / 2.0).abs() < 1e-6);
    assert!(k.forward_grouped(&x, 3).is_err());
    assert!(k.forward(&x.narrow(0, 0, 1)).is_err());
    // Hand-computable case: two orthogonal unit vectors and their mirror images.
    let e = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).reshape([2, 2]);
    let d = 2f64.sqrt(); // |e1 - e2|
    let expected = -(d + 1e-8).ln();
    assert!((k.forward(&e).unwrap().double_value(&[]) - expected).abs() < 1e-6);
}

/// Build a store whose variables are created in the given order, with values `offset + index`.
fn store(order: &[&str], offset: f64) -> VarStore {
    let vs = VarStore::new(Device::Cpu);
    for (i, name) in order.iter().enumerate() {
        let mut p = vs.root();
        let parts: Vec<&str> = name.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            p = p / *part;
        }
        let _ = p.var(parts[parts.len() - 1], &[3], nn::Init::Const(offset + i as f64));
    }
    vs
}

#[test]
fn ema_pairs_parameters_by_name_not_by_position() {
    let names = [
        "backbone.blocks.0.attn.qkv.weight",
        "dino_head.mlp.0.weight",
        "ibot_head.last_layer.weight",
    ];
    let student = store(&names, 0.0); // values 0, 1, 2
    let rev: Vec<&str> = names.iter().rev().copied().collect();
    let teacher = store(&rev, 10.0); // ibot 10, dino 11, backbone 12
    ema_update(&teacher, &student, 0.9).unwrap();
    let t = teacher.variables();
    let get = |n: &str| t[n].double_value(&[0]);
    // by name: backbone 0.9·12 + 0.1·0, dino 0.9·11 + 0.1·1, ibot 0.9·10 + 0.1·2
    assert!((get(names[0]) - 10.8).abs() < 1e-5);
    assert!((get(names[1]) - 10.0).abs() < 1e-5);
    assert!((get(names[2]) - 9.2).abs() < 1e-5);
    // The student is untouched and the teacher got no gradient requirement.
    assert_eq!(student.variables()[names[0]].double_value(&[0]), 0.0);

    // Gram-teacher refresh: copy the backbone only.
    let gram = store(&["backbone.blocks.0.attn.qkv.weight"], 99.0);
    let pairs = ParamPairs::with_buffers(&gram, &teacher, &["dino_head.", "ibot_head."]).unwrap();
    assert_eq!(pairs.names().collect::<Vec<_>>(), vec![names[0]]);
    pairs.copy().unwrap();
    assert!((gram.variables()[names[0]].double_value(&[0]) - 10.8).abs() < 1e-5);

    // Missing names and shape mismatches are reported.
    let partial = store(&names[..2], 0.0);
    match ema_update(&partial, &student, 0.9) {
        Err(SslError::Pairing(msg)) => {
            assert!(msg.contains("ibot_head.last_layer.weight"), "{msg}")
        }
        other => panic!("expected a pairing error, got {other:?}"),
    }
    assert!(ema_update(&teacher, &student, 1.5).is_err());
}

#[test]
fn strict_loading_names_the_file_and_the_keys() {
    let dir = geodino_testutil::tempdir();
    let path = dir.path().join("head.safetensors");
    let vs = VarStore::new(Device::Cpu);
    let _head = small_head(&vs, "", 4, 6);
    let keys: Vec<String> = vs.variables().into_keys().collect();
    assert!(keys.iter().all(|k| !k.starts_with('.')), "{keys:?}");
    vs.save(&path).unwrap();
    // A store with an extra and a mis-shaped variable.
    let other = VarStore::new(Device::Cpu);
    let cfg = DinoHeadConfig {
        in_dim: 5,
        n_prototypes: 6,
        hidden_dim: 32,
        bottleneck_dim: 8,
        nlayers: 3,
        mlp_bias: true,
    };
    let _h = DinoHead::new(&(other.root() / "x"), &cfg).unwrap();
    let err = state_dict::load_strict(&other, &path, &[]).unwrap_err().to_string();
    assert!(err.contains("head.safetensors"), "{err}");
    assert!(err.contains("missing keys") && err.contains("unexpected keys"), "{err}");
    // The same layout loads, and ignore-prefixes skip keys.
    let same = VarStore::new(Device::Cpu);
    let _h2 = small_head(&same, "", 4, 6);
    let report = state_dict::load_strict(&same, &path, &[]).unwrap();
    assert_eq!(report.loaded, same.variables().len());
    // ignoring the last layer leaves it missing
    let err = state_dict::load_strict(&same, &path, &["last_layer"]).unwrap_err().to_string();
    assert!(err.contains("missing keys") && err.contains("last_layer.weight"), "{err}");
    let wrong_ext = dir.path().join("head.npz");
    std::fs::write(&wrong_ext, b"x").unwrap();
    assert!(state_dict::load_strict(&same, &wrong_ext, &[]).is_err());
}

#[test]
fn head_rejects_wrong_widths_and_bad_configs() {
    let vs = VarStore::new(Device::Cpu);
    let head = small_head(&vs, "h", 8, 5);
    assert!(head.forward(&Tensor::zeros([2, 7], OPTS)).is_err());
    assert_eq!(head.forward(&Tensor::zeros([2, 3, 8], OPTS)).unwrap().size(), [2, 3, 5]);
    let bad = DinoHeadConfig { nlayers: 0, ..Default::default() };
    assert!(DinoHead::new(&vs.root(), &bad).is_err());
    // nlayers = 1: a single Linear named `mlp`.
    let vs1 = VarStore::new(Device::Cpu);
    let cfg = DinoHeadConfig {
        in_dim: 4,
        n_prototypes: 3,
        hidden_dim: 9,
        bottleneck_dim: 2,
        nlayers: 1,
        mlp_bias: true,
    };
    let _h = DinoHead::new(&vs1.root(), &cfg).unwrap();
    let mut keys: Vec<String> = vs1.variables().into_keys().collect();
    keys.sort();
    assert_eq!(keys, ["last_layer.weight", "mlp.bias", "mlp.weight"]);
    // Reference init: std 0.02 weights, zero biases.
    let vs2 = VarStore::new(Device::Cpu);
    let big = DinoHeadConfig {
        in_dim: 256,
        n_prototypes: 512,
        hidden_dim: 256,
        bottleneck_dim: 256,
        nlayers: 3,
        mlp_bias: true,
    };
    let _h = DinoHead::new(&vs2.root(), &big).unwrap();
    let v = vs2.variables();
    let std = v["mlp.2.weight"].std(true).double_value(&[]);
    assert!((std - 0.02).abs() < 0.001, "init std {std}");
    assert_eq!(v["mlp.2.bias"].abs().sum(Kind::Float).double_value(&[]), 0.0);
}

#[test]
fn config_parses_with_reference_defaults_and_rejects_unknown_fields() {
    let cfg: SslLossConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(cfg, SslLossConfig::default());
    assert_eq!(cfg.student_temp, 0.1);
    assert_eq!(cfg.koleo_loss_weight, 0.1);
    assert!(serde_json::from_str::<SslLossConfig>(r#"{"student_tmp": 0.2}"#).is_err());
    let head: DinoHeadConfig = serde_json::from_str(r#"{"in_dim": 384}"#).unwrap();
    assert_eq!(head, DinoHeadConfig::ssl_default(384));
    assert_eq!(DinoHeadConfig::vit7b_dino().n_prototypes, 262_144);
    assert_eq!(DinoHeadConfig::vit7b_ibot().hidden_dim, 4096);
}
