//! Training-mode behaviour: `forward_features_list` on [global crops with an iBOT mask, local
//! crops] with drop path 0.25 and RoPE rescale jitter matches the official code run with the
//! same seed (tests/data/make_goldens.py), including the untied `local_cls_norm` on the second
//! element; and the training-only features really are training-only.

mod common;

use common::{check, tensor};
use geodino_dinov3::{CheckpointOptions, Dinov3Backbone};
use tch::{Kind, Tensor};

fn data(name: &str) -> geodino_testutil::Golden {
    geodino_testutil::Golden::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name),
    )
}

fn sat_model(drop_path: f64) -> Dinov3Backbone {
    let path = geodino_testutil::golden_dir().join("vit_swiglu_sat.pth");
    let mut bb = Dinov3Backbone::from_checkpoint(&path, &CheckpointOptions::default()).unwrap();
    bb.model_mut().set_drop_path_rate(drop_path);
    bb
}

#[test]
fn training_list_forward_matches_the_reference_with_the_same_seed() {
    let bb = sat_model(0.25);
    let inputs = data("train_list.inputs.safetensors");
    let expected = data("train_list.expected.safetensors");
    let xs = [tensor(&inputs, "global"), tensor(&inputs, "local")];
    let masks = [Some(tensor(&inputs, "global.mask").to_kind(Kind::Bool)), None];
    tch::manual_seed(1234);
    let out = tch::no_grad(|| bb.model().forward_features_list(&xs, &masks, true).unwrap());
    let mut worst = 0.0f32;
    for (name, f) in ["global", "local"].iter().zip(&out) {
        for (what, t) in [
            ("x_norm_clstoken", &f.x_norm_clstoken),
            ("x_storage_tokens", &f.x_storage_tokens),
            ("x_norm_patchtokens", &f.x_norm_patchtokens),
            ("x_prenorm", &f.x_prenorm),
        ] {
            let key = format!("{name}.{what}");
            worst = worst.max(check(&key, t, expected.get(&key), 1e-4));
        }
    }
    eprintln!("training list forward: max |error| {worst:.3e}");
}

#[test]
fn training_features_change_outputs_only_in_training_mode() {
    let bb = sat_model(0.25);
    let g = Tensor::randn([4, 3, 64, 64], (Kind::Float, tch::Device::Cpu));
    let l = Tensor::randn([4, 3, 32, 32], (Kind::Float, tch::Device::Cpu));
    let xs = [g.shallow_clone(), l.shallow_clone()];
    tch::no_grad(|| {
        let m = bb.model();
        let eval = m.forward_features_list(&xs, &[None, None], false).unwrap();
        // Evaluation mode is deterministic and equals the single-tensor path.
        let single = m.forward_features(&l, None).unwrap();
        let d = (&eval[1].x_prenorm - &single.x_prenorm).abs().max().double_value(&[]);
        assert!(d < 1e-5, "list and single forward differ by {d}");
        let again = m.forward_features_list(&xs, &[None, None], false).unwrap();
        assert!(eval[0].x_prenorm.equal(&again[0].x_prenorm));
        // Training mode draws drop-path subsets and RoPE rescales: outputs change.
        let train = m.forward_features_list(&xs, &[None, None], true).unwrap();
        let d = (&train[0].x_prenorm - &eval[0].x_prenorm).abs().max().double_value(&[]);
        assert!(d > 1e-3, "training mode changed nothing ({d})");
        // local_cls_norm is applied to the second element's CLS in training only: with the
        // model's drop path off and no RoPE jitter, patches agree but the local CLS does not.
    });
    let mut cfg = bb.config().clone();
    cfg.pos_embed_rope_rescale_coords = None;
    cfg.drop_path_rate = 0.0;
    let sd = bb.state_dict().unwrap();
    let plain = Dinov3Backbone::from_state_dict(sd, &cfg, tch::Device::Cpu).unwrap();
    tch::no_grad(|| {
        let m = plain.model();
        let eval = m.forward_features_list(&xs, &[None, None], false).unwrap();
        let train = m.forward_features_list(&xs, &[None, None], true).unwrap();
        let same = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) < 1e-6;
        assert!(same(&eval[0].x_norm_clstoken, &train[0].x_norm_clstoken));
        assert!(same(&eval[1].x_norm_patchtokens, &train[1].x_norm_patchtokens));
        assert!(!same(&eval[1].x_norm_clstoken, &train[1].x_norm_clstoken));
        let local = m.local_cls_norm.as_ref().unwrap().forward(&train[1].x_prenorm.narrow(1, 0, 5));
        assert!(same(&local.select(1, 0), &train[1].x_norm_clstoken));
    });
}

#[test]
fn drop_path_keeps_unselected_samples_unchanged_per_branch() {
    // With rate 0.75 on a batch of 4, one sample per branch gets the residual (scaled by 4):
    // after one block, samples that got neither residual are unchanged.
    let bb = sat_model(0.75);
    let blk = &bb.model().blocks[0];
    let x = Tensor::randn([4, 13, 96], (Kind::Float, tch::Device::Cpu));
    tch::manual_seed(3);
    let y = tch::no_grad(|| blk.forward(&x, None, true));
    let changed: Vec<bool> =
        (0..4).map(|i| (y.get(i) - x.get(i)).abs().max().double_value(&[]) > 0.0).collect();
    let n = changed.iter().filter(|&&c| c).count();
    assert!((1..=2).contains(&n), "samples changed: {changed:?}");
}
