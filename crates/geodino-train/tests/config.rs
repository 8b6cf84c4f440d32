//! The typed configuration: presets, `--set` overrides (typed, unknown keys rejected), the
//! resolved TOML round trip, and the rules `validate` enforces.

use geodino_train::config::{OneOrMany, PRESETS, PretrainConfig, Scaling};

fn set(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_preset_parses_validates_and_round_trips() {
    for (name, _) in PRESETS {
        let c = PretrainConfig::preset(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = PretrainConfig::from_toml(&c.to_toml()).unwrap();
        assert_eq!(c, again, "{name}: resolved TOML does not round-trip");
        c.student.vit_config().unwrap();
    }
    let smoke = PretrainConfig::preset("smoke").unwrap();
    assert_eq!(smoke.student.patch_size, 8);
    assert_eq!(smoke.total_iterations(), 1500);
    let l = PretrainConfig::preset("vitl16_sat").unwrap();
    let vit = l.student.vit_config().unwrap();
    assert_eq!((vit.embed_dim, vit.depth, vit.num_heads), (1024, 24, 16));
    assert!(vit.untie_global_and_local_cls_norm);
    // The 7B SAT preset is the released 7B architecture (6716 M parameters).
    let b7 = PretrainConfig::preset("vit7b16_sat").unwrap().student.vit_config().unwrap();
    assert!((b7.n_params() as f64 / 1e6 - 6716.0).abs() < 0.1);
    let hr = PretrainConfig::preset("vitl16_sat_highres").unwrap();
    let t = hr.crops.triplets().unwrap();
    assert_eq!(t.len(), 5);
    assert_eq!((t[1].global, t[1].local, t[1].gram), (768, 112, Some(1152)));
    assert!((t.iter().map(|x| x.ratio).sum::<f64>() - 1.0).abs() < 1e-12);
}

#[test]
fn overrides_are_typed_and_applied_in_order() {
    let c = PretrainConfig::load(
        "smoke",
        &set(&[
            "optim.epochs=3",
            "train.batch_size_per_gpu=4",
            "student.arch=vit_small",
            "student.embed_dim=48",
            "crops.global_crops_size=[64, 96]",
            "crops.local_crops_size=32",
            "data.scaling={ divide = 10000.0 }",
            "data.paths=[\"a.tif\", \"b/*.tif\"]",
            "gram.ckpt=runs/x/ckpt.safetensors",
            "optim.epochs=4",
        ]),
    )
    .unwrap();
    assert_eq!(c.optim.epochs, 4);
    assert_eq!(c.train.batch_size_per_gpu, 4);
    assert_eq!(c.student.arch, "vit_small");
    assert_eq!(c.student.embed_dim, Some(48));
    assert_eq!(c.crops.global_crops_size, OneOrMany::Many(vec![64, 96]));
    assert_eq!(c.data.scaling, Scaling::Divide(10000.0));
    assert_eq!(c.data.paths, vec!["a.tif".to_string(), "b/*.tif".to_string()]);
    assert_eq!(c.gram.ckpt.as_deref(), Some("runs/x/ckpt.safetensors"));
    // `null` removes a key: back to the default.
    let c2 = PretrainConfig::load(
        "smoke",
        &set(&[
            "student.arch=vit_small",
            "student.embed_dim=null",
            "student.depth=null",
            "student.num_heads=null",
        ]),
    )
    .unwrap();
    let v = c2.student.vit_config().unwrap();
    assert_eq!((v.embed_dim, v.depth, v.num_heads), (384, 12, 6));
    let e =
        PretrainConfig::load("smoke", &set(&["student.embed_dim=null"])).unwrap_err().to_string();
    assert!(e.contains("student.embed_dim"), "{e}");
    // Nothing else moved.
    let base = PretrainConfig::preset("smoke").unwrap();
    assert_eq!(c.dino, base.dino);
}

#[test]
fn unknown_keys_and_wrong_types_are_rejected_by_name() {
    let e = PretrainConfig::load("smoke", &set(&["optim.lrr=1e-3"])).unwrap_err().to_string();
    assert!(e.contains("optim.lrr") && e.contains("unknown field"), "{e}");
    let e = PretrainConfig::load("smoke", &set(&["nosuchsection.x=1"])).unwrap_err().to_string();
    assert!(e.contains("nosuchsection"), "{e}");
    let e = PretrainConfig::load("smoke", &set(&["optim.epochs=many"])).unwrap_err().to_string();
    assert!(e.contains("optim.epochs"), "{e}");
    let e = PretrainConfig::load("smoke", &set(&["optim.epochs"])).unwrap_err().to_string();
    assert!(e.contains("key=value"), "{e}");
    let e = PretrainConfig::load("nosuchpreset", &[]).unwrap_err().to_string();
    assert!(e.contains("smoke") && e.contains("vitl16_sat"), "{e}");
    // A file with an unknown key is rejected too.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[train]\nbatch_size = 3\n").unwrap();
    let e = PretrainConfig::load(&p.to_string_lossy(), &[]).unwrap_err().to_string();
    assert!(e.contains("batch_size") && e.contains("bad.toml"), "{e}");
}

#[test]
fn validation_names_the_offending_key() {
    let bad = |o: &[&str], needle: &str| {
        let e = PretrainConfig::load("smoke", &set(o)).unwrap_err().to_string();
        assert!(e.contains(needle), "{o:?}: {e}");
    };
    bad(&["student.fp8_enabled=true"], "fp8");
    bad(&["student.arch=vit_huge9"], "student.arch");
    bad(&["crops.rgb_mean=[0.5]"], "rgb_mean");
    bad(&["crops.local_crops_size=[32, 48]"], "local_crops_size");
    bad(&["gram.use_loss=true"], "gram");
    bad(&["gram.use_loss=true", "gram.ema_teacher=true"], "rep_update");
    bad(&["data.bands=[1, 2]"], "data.bands");
    bad(&["data.scaling={ percentile = [50.0, 10.0] }"], "percentile");
    bad(&["train.batch_size_per_gpu=1"], "batch_size_per_gpu");
    bad(&["dino.head_norm_last_layer=true"], "head_norm_last_layer");
    // A valid Gram phase: the EMA teacher is loaded at iteration 100.
    let g = PretrainConfig::load(
        "smoke",
        &set(&[
            "gram.use_loss=true",
            "gram.it_load_ema_teacher=100",
            "crops.gram_teacher_crops_size=128",
            "crops.gram_teacher_no_distortions=true",
        ]),
    )
    .unwrap();
    assert!(g.gram.has_gram_teacher());
}

#[test]
fn v1_schedules_follow_the_reference_defaults() {
    use geodino_train::run_schedule::RunSchedules;
    let mut c = PretrainConfig::default();
    c.optim.epochs = 10;
    c.train.official_epoch_length = 10;
    c.optim.warmup_epochs = 2;
    c.teacher.warmup_teacher_temp_epochs = 3;
    let s = RunSchedules::new(&c).unwrap();
    let v0 = s.at(0);
    assert_eq!(v0.lr, 0.0);
    assert_eq!(v0.last_layer_lr, 0.0);
    assert_eq!(v0.teacher_temp, 0.04);
    assert!((v0.momentum - 0.992).abs() < 1e-15);
    assert!((v0.weight_decay - 0.04).abs() < 1e-15);
    // warmup includes its endpoint: lr = 1e-3 at iteration 19, then cosine to 1e-6
    assert!((s.at(19).lr - 1e-3).abs() < 1e-15);
    assert!(s.at(19).last_layer_lr > 0.0);
    assert!((s.at(29).teacher_temp - 0.07).abs() < 1e-15);
    assert!(s.at(99).lr > 1e-6 && s.at(99).lr < 2e-6, "{}", s.at(99).lr);
    assert!((s.at(99).momentum - 1.0).abs() < 1e-3);
}
