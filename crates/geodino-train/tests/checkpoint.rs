//! Checkpoints: atomic files with every state an exact resume needs, keep-last-N, restore into
//! fresh networks, and the export of the result backbone (.safetensors read by
//! `Dinov3Backbone::from_checkpoint`, .pth read back by geodino-weights' pickle reader).

mod common;

use geodino_dinov3::{CheckpointOptions, Dinov3Backbone};
use geodino_train::checkpoint::{self, TrainingCheckpoint};
use geodino_train::model::{Placement, SslModel};
use geodino_train::trainer::{RunOptions, Silent, build_optimizer};
use tch::{Device, Kind, Tensor};

#[test]
fn round_trip_restore_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.zarr");
    common::write_scene(&scene, 200, 160, 0);
    let cfg = common::tiny_config(&scene, &["checkpoint.period=1", "checkpoint.max_to_keep=2"]);
    let run = dir.path().join("run");
    let mut c = cfg.clone();
    c.train.stop_after_iterations = Some(4);
    geodino_train::run(&c, &run, &RunOptions::default(), &mut Silent).unwrap();
    let ck = run.join("checkpoints");
    let names: Vec<usize> = checkpoint::list(&ck).into_iter().map(|(i, _)| i).collect();
    assert_eq!(names, [3, 4], "keep-last-2");
    assert!(run.join("config.toml").is_file());
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&ck)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    let (_, path) = checkpoint::latest(&ck).unwrap();
    let t = TrainingCheckpoint::read(&path).unwrap();
    assert_eq!(t.counters.iteration, 4);
    assert_eq!(t.optim_step, 4);
    assert_eq!(t.config, c);
    assert_eq!(t.teacher_prefix, "teacher");

    // Restore into fresh networks (another initialisation) and compare every tensor.
    let placement = Placement::from_config(&cfg).unwrap();
    tch::manual_seed(999);
    let mut model = SslModel::new(&cfg, placement).unwrap();
    let mut optim = build_optimizer(&cfg, &model);
    t.restore(&mut model, &mut optim).unwrap();
    let saved = |k: &str| geodino_nn::to_tensor(t.tensors.get(k).unwrap()).unwrap();
    for (k, v) in model.student.variables() {
        assert!(v.equal(&saved(&format!("student.{k}"))), "student.{k}");
    }
    for (k, v) in model.teacher.variables() {
        assert!(v.equal(&saved(&format!("teacher.{k}"))), "teacher.{k}");
    }
    let (state, step) = optim.state();
    assert_eq!(step, 4);
    for (k, v) in state {
        assert!(v.equal(&saved(&format!("optim.{k}"))), "optim.{k}");
    }
    // A checkpoint of another architecture is refused, naming tensors.
    let mut other = cfg.clone();
    other.student.embed_dim = Some(32);
    let mut m2 = SslModel::new(&other, placement).unwrap();
    let mut o2 = build_optimizer(&other, &m2);
    let e = t.restore(&mut m2, &mut o2).unwrap_err().to_string();
    assert!(e.contains("backbone"), "{e}");

    // Export: safetensors with the architecture, loadable as a backbone with the teacher's
    // exact features.
    let st = dir.path().join("backbone.safetensors");
    let vit = checkpoint::export_backbone(&path, &st).unwrap();
    assert_eq!(vit.embed_dim, 24);
    let bb = Dinov3Backbone::from_checkpoint(&st, &CheckpointOptions::default()).unwrap();
    tch::manual_seed(0);
    let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    let a = bb.forward_features(&x, None).unwrap();
    let b = model.teacher.backbone.forward_features(&x, None).unwrap();
    assert!(a.x_norm_patchtokens.equal(&b.x_norm_patchtokens));
    assert!(a.x_norm_clstoken.equal(&b.x_norm_clstoken));
    // .pth: the same tensors through torch's zip + pickle format.
    let pth = dir.path().join("backbone.pth");
    checkpoint::export_backbone(&path, &pth).unwrap();
    let from_pth = geodino_weights::load(&pth, &Default::default()).unwrap();
    let from_st = geodino_weights::read_safetensors(&st).unwrap();
    assert_eq!(from_pth.len(), from_st.len());
    for (k, v) in from_st.iter() {
        assert_eq!(Some(v), from_pth.get(k), "{k}");
    }
    assert!(from_pth.contains("blocks.1.attn.qkv.weight") && from_pth.contains("cls_token"));
    let bb2 = Dinov3Backbone::from_checkpoint(&pth, &CheckpointOptions::default()).unwrap();
    assert!(bb2.forward_features(&x, None).unwrap().x_norm_clstoken.equal(&b.x_norm_clstoken));
    let e = checkpoint::export_backbone(&path, &dir.path().join("x.onnx")).unwrap_err();
    assert!(e.to_string().contains(".safetensors or .pth"));
}

#[test]
fn keep_last_spares_multiples_of_keep_every() {
    let dir = tempfile::tempdir().unwrap();
    for i in [10, 20, 30, 40, 50] {
        std::fs::write(dir.path().join(checkpoint::file_name(i)), b"x").unwrap();
    }
    checkpoint::keep_last(dir.path(), 2, Some(20)).unwrap();
    let left: Vec<usize> = checkpoint::list(dir.path()).into_iter().map(|(i, _)| i).collect();
    assert_eq!(left, [20, 40, 50]);
    assert_eq!(checkpoint::parse_file_name("ckpt-0000042.safetensors"), Some(42));
    assert_eq!(checkpoint::parse_file_name("ckpt-x.safetensors"), None);
}
