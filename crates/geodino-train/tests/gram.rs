//! Gram anchoring in the engine: the Gram teacher is loaded from the EMA teacher at
//! `it_load_ema_teacher`, refreshed after the iterations the schedule names (at most
//! `max_updates` times) and frozen in between; its 2× crops are downsampled to the student grid;
//! a positive Gram weight without a Gram teacher is an error; the EMA-teacher variant runs.

mod common;

use std::sync::Arc;

use geodino_ssl::StepWeights;
use geodino_train::archive::Archive;
use geodino_train::batch::BatchBuilder;
use geodino_train::model::{MODULES, Placement, SslModel};
use geodino_train::run_schedule::RunSchedules;
use geodino_train::trainer::build_optimizer;
use tch::Tensor;

fn gram_equals_teacher(m: &SslModel) -> bool {
    let g = m.gram_teacher.as_ref().unwrap().var_store().variables();
    m.teacher
        .variables()
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("backbone.")?.to_string(), v)))
        .all(|(k, v)| g[&k].equal(&v))
}

fn snapshot(m: &SslModel) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = m
        .gram_teacher
        .as_ref()
        .unwrap()
        .var_store()
        .variables()
        .into_iter()
        .map(|(k, t)| (k, t.copy()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn gram_teacher_loads_refreshes_on_schedule_and_stays_frozen_between() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.zarr");
    common::write_scene(&scene, 200, 160, 0);
    let cfg = common::tiny_config(&scene, common::GRAM);
    let placement = Placement::from_config(&cfg).unwrap();
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let mut model = SslModel::new(&cfg, placement).unwrap();
    let mut optim = build_optimizer(&cfg, &model);
    let sched = RunSchedules::new(&cfg).unwrap();
    let archive = Archive::open(&cfg.data, 3, &cfg.crops.rgb_mean, 0).unwrap();
    let builder = BatchBuilder::new(Arc::new(archive), &cfg).unwrap();
    assert!(!model.gram_initialized);
    let mut done = 0;
    let mut refreshed_after = Vec::new();
    for it in 0..6 {
        if cfg.gram.it_load_ema_teacher == it as i64 {
            model.refresh_gram_teacher().unwrap();
            assert!(gram_equals_teacher(&model));
        }
        let before = snapshot(&model);
        let sv = sched.at(it);
        let batch = builder.build(it).unwrap();
        assert_eq!(batch.crops.gram_teacher_crops.as_ref().unwrap().shape(), [8, 3, 64, 64]);
        optim.zero_grad();
        let out = model
            .forward_backward(
                &batch,
                sv.teacher_temp,
                StepWeights { w_local: 1.0, w_gram: sv.w_gram },
            )
            .unwrap();
        let g = out.losses.values().gram.unwrap();
        assert!(g.is_finite() && g >= 0.0);
        assert_eq!(out.losses.weights.gram, 2.0);
        for (m, _) in MODULES {
            optim.clip_grad_norm(m, 3.0).unwrap();
        }
        optim.step(sv.lr, sv.last_layer_lr, sv.weight_decay).unwrap();
        let vals = optim.values();
        model.update_ema(sv.momentum, &|n| vals.get(n).map(Tensor::shallow_clone)).unwrap();
        // The Gram teacher never trains: unchanged by the step.
        assert!(snapshot(&model).iter().zip(&before).all(|(a, b)| a.1.equal(&b.1)));
        if sched.gram_refresh_due(it, done) {
            model.refresh_gram_teacher().unwrap();
            done += 1;
            refreshed_after.push(it);
            assert!(gram_equals_teacher(&model));
        } else if it > 0 {
            assert!(
                !gram_equals_teacher(&model),
                "the EMA teacher moved, the Gram teacher did not"
            );
        }
    }
    // update_frequency 2 from it_first_update 2, at most 2 refreshes: after iterations 1 and 3.
    assert_eq!(refreshed_after, [1, 3]);
}

#[test]
fn positive_gram_weight_without_a_gram_teacher_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.zarr");
    common::write_scene(&scene, 160, 160, 0);
    let mut extra = common::GRAM.to_vec();
    extra.push("gram.it_load_ema_teacher=3");
    let cfg = common::tiny_config(&scene, &extra);
    let model = SslModel::new(&cfg, Placement::from_config(&cfg).unwrap()).unwrap();
    let archive = Archive::open(&cfg.data, 3, &cfg.crops.rgb_mean, 0).unwrap();
    let batch = BatchBuilder::new(Arc::new(archive), &cfg).unwrap().build(0).unwrap();
    let e = model
        .forward_backward(&batch, 0.04, StepWeights { w_local: 1.0, w_gram: 2.0 })
        .unwrap_err()
        .to_string();
    assert!(e.contains("Gram teacher is not initialised"), "{e}");
    // With weight 0 (e.g. before a weight schedule rises) the Gram term is skipped.
    let out =
        model.forward_backward(&batch, 0.04, StepWeights { w_local: 1.0, w_gram: 0.0 }).unwrap();
    assert!(out.losses.gram.is_none());
}

#[test]
fn ema_teacher_variant_uses_the_teachers_own_patches() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.zarr");
    common::write_scene(&scene, 160, 160, 0);
    let cfg = common::tiny_config(
        &scene,
        &[
            "gram.use_loss=true",
            "gram.ema_teacher=true",
            "gram.rep_update=false",
            "gram.img_level=true",
        ],
    );
    let model = SslModel::new(&cfg, Placement::from_config(&cfg).unwrap()).unwrap();
    assert!(model.gram_teacher.is_none());
    let archive = Archive::open(&cfg.data, 3, &cfg.crops.rgb_mean, 0).unwrap();
    let batch = BatchBuilder::new(Arc::new(archive), &cfg).unwrap().build(0).unwrap();
    assert!(batch.crops.gram_teacher_crops.is_none());
    let out =
        model.forward_backward(&batch, 0.04, StepWeights { w_local: 1.0, w_gram: 1.0 }).unwrap();
    // Student (masked) and teacher (unmasked) differ only by the masks at initialisation.
    let g = out.losses.values().gram.unwrap();
    assert!(g > 0.0 && g.is_finite(), "{g}");
}
