//! Checkpoint import: strict validation naming every bad key, the Hugging Face layout, training
//! prefixes, geodino's own safetensors (f32 and bf16), and multispectral inflation.

mod common;

use std::path::{Path, PathBuf};

use common::{golden, tensor};
use geodino_dinov3::checkpoint::{read_official, with_metadata};
use geodino_dinov3::{CheckpointOptions, Dinov3Backbone, ViTConfig, infer_config};
use geodino_nn::Backbone;
use geodino_weights::{Dtype, StateDict, TensorData, write_safetensors};
use tch::{Device, Kind, Tensor};

fn golden_path(name: &str) -> PathBuf {
    geodino_testutil::golden_dir().join(name)
}

fn official(case: &str) -> StateDict {
    read_official(&golden_path(&format!("{case}.pth")), &CheckpointOptions::default())
        .unwrap()
        .state_dict
}

/// `x_prenorm` and the normalised patches of `bb` on the case's first input.
fn outputs(bb: &Dinov3Backbone, case: &str) -> (Tensor, Tensor) {
    let x = tensor(&golden(&format!("{case}.inputs.safetensors")), "x");
    let f = tch::no_grad(|| bb.forward_features(&x, None).unwrap());
    (f.x_prenorm, f.x_norm_patchtokens)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn load_err(sd: StateDict, cfg: &ViTConfig) -> String {
    Dinov3Backbone::from_state_dict(sd, cfg, Device::Cpu).unwrap_err().to_string()
}

#[test]
fn missing_extra_and_misshaped_keys_are_named() {
    let base = official("vit_mlp");
    let cfg = infer_config(&base).unwrap();

    let mut sd = base.clone();
    sd.remove("blocks.1.attn.proj.weight");
    let e = load_err(sd, &cfg);
    assert!(e.contains("missing keys (1): blocks.1.attn.proj.weight"), "{e}");
    assert!(e.contains("vit_mlp.pth"), "{e}");

    let mut sd = base.clone();
    sd.insert("blocks.0.attn.extra", TensorData::from_f32(vec![1], &[0.0]));
    let e = load_err(sd, &cfg);
    assert!(e.contains("unexpected keys (1): blocks.0.attn.extra"), "{e}");

    let mut sd = base.clone();
    sd.insert("norm.weight", TensorData::from_f32(vec![65], &[1.0; 65]));
    let e = load_err(sd, &cfg);
    assert!(e.contains("wrong shapes (1): norm.weight (model [64], checkpoint [65])"), "{e}");

    // All at once: one error naming each.
    let mut sd = base.clone();
    sd.remove("mask_token");
    sd.insert("head.weight", TensorData::from_f32(vec![1], &[0.0]));
    sd.insert("blocks.2.mlp.fc1.bias", TensorData::from_f32(vec![3], &[0.0; 3]));
    let e = load_err(sd, &cfg);
    for k in ["mask_token", "head.weight", "blocks.2.mlp.fc1.bias"] {
        assert!(e.contains(k), "{k} not named in: {e}");
    }

    // A wrong architecture given explicitly: every mis-shaped key is listed.
    let e = load_err(base, &ViTConfig::preset("vits16").unwrap());
    assert!(e.contains("cls_token (model [1, 1, 384], checkpoint [1, 1, 64])"), "{e}");
    assert!(e.contains("missing keys") && e.contains("blocks.11.norm1.weight"), "{e}");
}

#[test]
fn bias_mask_may_be_absent_and_local_cls_norm_is_ignored_when_unused() {
    let base = official("vit_swiglu_sat");
    let cfg = infer_config(&base).unwrap();
    let want = outputs(
        &Dinov3Backbone::from_state_dict(base.clone(), &cfg, Device::Cpu).unwrap(),
        "vit_swiglu_sat",
    );

    // Drop every bias_mask: the reference mask is used, results are unchanged.
    let mut sd = base.clone();
    for i in 0..cfg.depth {
        assert!(sd.remove(&format!("blocks.{i}.attn.qkv.bias_mask")).is_some());
    }
    let bb = Dinov3Backbone::from_state_dict(sd, &cfg, Device::Cpu).unwrap();
    assert_eq!(bb.load_report().kept.len(), cfg.depth);
    assert_eq!(max_diff(&outputs(&bb, "vit_swiglu_sat").0, &want.0), 0.0);

    // A config without the untied local norm ignores the checkpoint's local_cls_norm.
    let c2 = ViTConfig { untie_global_and_local_cls_norm: false, ..cfg.clone() };
    let bb = Dinov3Backbone::from_state_dict(base.clone(), &c2, Device::Cpu).unwrap();
    assert_eq!(bb.load_report().ignored, vec!["local_cls_norm.bias", "local_cls_norm.weight"]);
    assert_eq!(max_diff(&outputs(&bb, "vit_swiglu_sat").1, &want.1), 0.0);

    // But a model that has it needs it.
    let mut sd = base;
    sd.remove("local_cls_norm.weight");
    assert!(load_err(sd, &cfg).contains("missing keys (1): local_cls_norm.weight"));
}

/// Convert official keys to the transformers `DINOv3ViTModel` layout, written here
/// independently of the library's converter: renames, q/k/v split, key bias and `bias_mask`
/// dropped, periods dropped, mask token `(1, 1, d)`.
fn to_hf(sd: &StateDict, legacy_names: bool) -> StateDict {
    let d = sd.get("cls_token").unwrap().shape()[2];
    let gated = sd.contains("blocks.0.mlp.w1.weight");
    let mut out = StateDict::new();
    for (k, t) in sd.iter() {
        let t = t.clone();
        let (q, kk, v, o) = if legacy_names {
            ("query", "key", "value", "proj")
        } else {
            ("q_proj", "k_proj", "v_proj", "o_proj")
        };
        let new = match k.as_str() {
            "cls_token" => "embeddings.cls_token".to_string(),
            "storage_tokens" => "embeddings.register_tokens".to_string(),
            "mask_token" => {
                out.insert("embeddings.mask_token", t.reshape(vec![1, 1, d]).unwrap());
                continue;
            }
            "patch_embed.proj.weight" if legacy_names => {
                "embeddings.patch_embeddings.proj.weight".into()
            }
            "patch_embed.proj.bias" if legacy_names => {
                "embeddings.patch_embeddings.proj.bias".into()
            }
            "patch_embed.proj.weight" => "embeddings.patch_embeddings.weight".into(),
            "patch_embed.proj.bias" => "embeddings.patch_embeddings.bias".into(),
            "rope_embed.periods" => continue,
            "norm.weight" | "norm.bias" | "local_cls_norm.weight" | "local_cls_norm.bias" => {
                k.clone()
            }
            _ => {
                let rest = k.strip_prefix("blocks.").unwrap();
                let (i, tail) = rest.split_once('.').unwrap();
                let p = format!("layer.{i}.");
                if tail.ends_with("bias_mask") {
                    continue;
                }
                if let Some(which) = tail.strip_prefix("attn.qkv.") {
                    let parts = t.chunk0(3).unwrap();
                    out.insert(format!("{p}attention.{q}.{which}"), parts[0].clone());
                    if which == "weight" {
                        out.insert(format!("{p}attention.{kk}.{which}"), parts[1].clone());
                    }
                    out.insert(format!("{p}attention.{v}.{which}"), parts[2].clone());
                    continue;
                }
                let tail = tail
                    .replace("attn.proj.", &format!("attention.{o}."))
                    .replace("ls1.gamma", "layer_scale1.lambda1")
                    .replace("ls2.gamma", "layer_scale2.lambda1");
                let tail = if gated {
                    tail.replace("mlp.w1.", "mlp.gate_proj.")
                        .replace("mlp.w2.", "mlp.up_proj.")
                        .replace("mlp.w3.", "mlp.down_proj.")
                } else {
                    tail.replace("mlp.fc1.", "mlp.up_proj.").replace("mlp.fc2.", "mlp.down_proj.")
                };
                format!("{p}{tail}")
            }
        };
        out.insert(new, t);
    }
    out
}

#[test]
fn hugging_face_layout_loads_to_the_same_model() {
    for (case, heads) in [("vit_mlp", 2), ("vit_swiglu_sat", 3)] {
        let base = official(case);
        let want = outputs(
            &Dinov3Backbone::from_state_dict(
                base.clone(),
                &infer_config(&base).unwrap(),
                Device::Cpu,
            )
            .unwrap(),
            case,
        );
        for legacy in [false, true] {
            let dir = geodino_testutil::tempdir();
            let path = dir.path().join("model.safetensors");
            let hf = to_hf(&base, legacy);
            assert!(!hf.keys().any(|k| k.contains("qkv") || k.contains("bias_mask")));
            write_safetensors(&path, &hf).unwrap();
            // transformers stores the head count in config.json beside the weights.
            std::fs::write(
                dir.path().join("config.json"),
                format!("{{\"num_attention_heads\": {heads}}}"),
            )
            .unwrap();
            let off = read_official(&path, &CheckpointOptions::default()).unwrap();
            assert_eq!(off.layout, geodino_weights::dinov3::Layout::HuggingFace);
            // Identical tensors, except the regenerated periods (f32 rounding of base^(4j/dh)).
            assert_eq!(off.state_dict.len(), base.len(), "{case}");
            for (k, t) in base.iter() {
                let got = off.state_dict.get(k).unwrap_or_else(|| panic!("{case}: {k} missing"));
                if k.ends_with("attn.qkv.bias") {
                    // The stored K bias is masked by the reference; HF drops it (zeros here).
                    let mask = base.get(&k.replace("bias", "bias_mask")).unwrap().to_f32_vec();
                    let eff = |t: &TensorData| -> Vec<f32> {
                        t.to_f32_vec().iter().zip(&mask).map(|(b, m)| b * m).collect()
                    };
                    assert_eq!(eff(got), eff(t), "{case}: {k}");
                } else if k == "rope_embed.periods" {
                    for (a, b) in got.to_f32_vec().iter().zip(t.to_f32_vec()) {
                        assert!((a - b).abs() <= 1e-6 * b, "{k}: {a} vs {b}");
                    }
                } else {
                    assert_eq!(got, t, "{case}: {k}");
                }
            }
            let bb = Dinov3Backbone::from_checkpoint(&path, &CheckpointOptions::default()).unwrap();
            let got = outputs(&bb, case);
            assert!(max_diff(&got.0, &want.0) < 1e-5, "{case} legacy={legacy}");
            assert!(max_diff(&got.1, &want.1) < 1e-5, "{case} legacy={legacy}");
        }
    }
}

#[test]
fn training_checkpoint_prefixes_and_geodino_safetensors_round_trip() {
    let base = official("vit_mlp");
    let cfg = infer_config(&base).unwrap();
    let want = outputs(
        &Dinov3Backbone::from_state_dict(base.clone(), &cfg, Device::Cpu).unwrap(),
        "vit_mlp",
    );
    let dir = geodino_testutil::tempdir();

    // `module.backbone.` keys plus a DINO head, as a DDP training checkpoint has.
    let mut wrapped = StateDict::new();
    for (k, t) in base.iter() {
        wrapped.insert(format!("module.backbone.{k}"), t.clone());
    }
    wrapped
        .insert("module.dino_head.last_layer.weight", TensorData::from_f32(vec![2, 2], &[0.0; 4]));
    let p = dir.path().join("train.safetensors");
    write_safetensors(&p, &wrapped).unwrap();
    let off = read_official(&p, &CheckpointOptions::default()).unwrap();
    assert_eq!(off.dropped, vec!["dino_head.last_layer.weight".to_string()]);
    let bb = Dinov3Backbone::from_checkpoint(&p, &CheckpointOptions::default()).unwrap();
    assert_eq!(max_diff(&outputs(&bb, "vit_mlp").0, &want.0), 0.0);

    // geodino's own file carries its config; bf16 storage keeps the periods in f32.
    for (dtype, tol) in [(None, 0.0), (Some(Dtype::BF16), 0.2)] {
        let p = dir.path().join("ours.safetensors");
        write_safetensors(&p, &with_metadata(base.clone(), &cfg, dtype)).unwrap();
        let off = read_official(&p, &CheckpointOptions::default()).unwrap();
        assert_eq!(off.stored_config.as_ref(), Some(&cfg));
        assert_eq!(off.state_dict.get("rope_embed.periods").unwrap().dtype(), Dtype::F32);
        let bb = Dinov3Backbone::from_checkpoint(&p, &CheckpointOptions::default()).unwrap();
        let d = max_diff(&outputs(&bb, "vit_mlp").1, &want.1);
        assert!(d <= tol, "{dtype:?}: {d}");
    }
}

#[test]
fn multispectral_inflation_follows_expand_patch_embed() {
    let path: &Path = &golden_path("vit_mlp.pth");
    let rgb = Dinov3Backbone::from_checkpoint(path, &CheckpointOptions::default()).unwrap();
    let w3 = rgb.model().patch_embed.weight.shallow_clone();
    for rescale in [true, false] {
        let opts =
            CheckpointOptions { in_chans: Some(5), inflate_rescale: rescale, ..Default::default() };
        let bb = Dinov3Backbone::from_checkpoint(path, &opts).unwrap();
        assert_eq!(bb.in_chans(), 5);
        let w5 = bb.model().patch_embed.weight.shallow_clone();
        assert_eq!(w5.size(), vec![64, 5, 16, 16]);
        let f = if rescale { 3.0 / 5.0 } else { 1.0 };
        let mean = w3.mean_dim(1, true, Kind::Float);
        assert!(max_diff(&w5.narrow(1, 0, 3), &(&w3 * f)) < 1e-7);
        assert!(max_diff(&w5.narrow(1, 3, 2), &(mean.expand([64, 2, 16, 16], false) * f)) < 1e-7);

        let x = tensor(&golden("vit_mlp.inputs.safetensors"), "x");
        tch::no_grad(|| {
            if rescale {
                // A grey image (every band equal) gives the RGB model's output on that image.
                let grey = x.narrow(1, 0, 1);
                let a = rgb.forward_features(&grey.expand([2, 3, 48, 64], false), None).unwrap();
                let b = bb.forward_features(&grey.expand([2, 5, 48, 64], false), None).unwrap();
                assert!(max_diff(&a.x_prenorm, &b.x_prenorm) < 1e-4);
            } else {
                // Zero extra bands give the RGB model's output.
                let z = Tensor::zeros([2, 2, 48, 64], (Kind::Float, Device::Cpu));
                let a = rgb.forward_features(&x, None).unwrap();
                let b =
                    bb.forward_features(&Tensor::cat(&[x.shallow_clone(), z], 1), None).unwrap();
                assert!(max_diff(&a.x_prenorm, &b.x_prenorm) < 1e-5);
            }
            let e = bb.forward_features(&x, None).unwrap_err().to_string();
            assert!(e.contains("3 channels") && e.contains("takes 5"), "{e}");
        });
    }
    let opts = CheckpointOptions { in_chans: Some(2), ..Default::default() };
    let e = Dinov3Backbone::from_checkpoint(path, &opts).unwrap_err().to_string();
    assert!(e.contains("cannot shrink"), "{e}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let bb =
        Dinov3Backbone::from_checkpoint(&golden_path("vit_mlp.pth"), &CheckpointOptions::default())
            .unwrap();
    let f = |s: &[i64]| Tensor::zeros(s, (Kind::Float, Device::Cpu));
    tch::no_grad(|| {
        let e = bb.forward_features(&f(&[3, 48, 64]), None).unwrap_err().to_string();
        assert!(e.contains("(b, c, h, w)"), "{e}");
        let e = bb.forward_features(&f(&[1, 3, 8, 64]), None).unwrap_err().to_string();
        assert!(e.contains("smaller than one 16×16 patch"), "{e}");
        let e = bb
            .forward_features(&f(&[1, 3, 48, 64]).to_kind(Kind::Double), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Double"), "{e}");
        let e =
            bb.forward_features(&f(&[1, 3, 48, 64]), Some(&f(&[1, 11]))).unwrap_err().to_string();
        assert!(e.contains("masks have shape [1, 11], expected [1, 12]"), "{e}");
        let e =
            bb.intermediate_layers(&f(&[1, 3, 48, 64]), &[3], true, true).unwrap_err().to_string();
        assert!(e.contains("layer 3") && e.contains("3 blocks"), "{e}");
    });
    let e = Dinov3Backbone::from_checkpoint(
        Path::new("/nonexistent/w.pth"),
        &CheckpointOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/nonexistent/w.pth"), "{e}");
    // A state dict that is not a DINOv3 ViT.
    let dir = geodino_testutil::tempdir();
    let p = dir.path().join("other.safetensors");
    let mut sd = StateDict::new();
    sd.insert("fc.weight", TensorData::from_f32(vec![1], &[0.0]));
    write_safetensors(&p, &sd).unwrap();
    let e =
        Dinov3Backbone::from_checkpoint(&p, &CheckpointOptions::default()).unwrap_err().to_string();
    assert!(e.contains("other.safetensors") && e.contains("cls_token is missing"), "{e}");
}

#[test]
fn torch_free_key_table_equals_the_model_variables() {
    let mut configs: Vec<ViTConfig> = ["vit_mlp", "vit_swiglu_sat", "chmv2_dpt.backbone"]
        .iter()
        .map(|c| infer_config(&official(c)).unwrap())
        .collect();
    configs.push(ViTConfig {
        embed_dim: 32,
        depth: 2,
        num_heads: 2,
        qkv_bias: false,
        n_storage_tokens: 0,
        layerscale_init: None,
        untie_cls_and_patch_norms: true,
        norm_layer: geodino_nn::layers::NormLayer::RmsNorm,
        ffn_layer: geodino_nn::layers::FfnLayer::SwiGlu64,
        ..ViTConfig::default()
    });
    for cfg in configs {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let _m = geodino_dinov3::DinoVisionTransformer::new(vs.root(), &cfg).unwrap();
        let vars: std::collections::BTreeMap<String, Vec<usize>> = vs
            .variables()
            .into_iter()
            .map(|(k, v)| (k, v.size().iter().map(|&s| s as usize).collect()))
            .collect();
        assert_eq!(vars, cfg.state_dict_shapes(), "{cfg:?}");
        let params: usize = vs.trainable_variables().iter().map(|t| t.numel()).sum();
        assert_eq!(params, cfg.n_params(), "{cfg:?}");
    }
}
