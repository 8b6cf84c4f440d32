//! Schedules against values worked out by hand from the reference's NumPy definitions.

use geodino_train::schedule::{
    CosineScheduler, DefaultRecipeSchedules, GramRefresh, LinearWarmupCosineDecay, ScalingRule,
    StageScheduleConfig, StageSchedules,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        assert!(close(a, b), "{} = {a}, expected {b}", stringify!($a));
    }};
}

#[test]
fn v2_warmup_excludes_its_endpoint_and_the_cosine_includes_both() {
    // linspace(0, 1, 4, endpoint=False) = 0, .25, .5, .75; cosine over 11 points from 1 to 0.1.
    let s = LinearWarmupCosineDecay::new(0.0, 1.0, 0.1, 4, 20, Some(11)).unwrap();
    assert_close!(s.at(0), 0.0);
    assert_close!(s.at(1), 0.25);
    assert_close!(s.at(3), 0.75); // last warmup value: peak not reached
    assert_close!(s.at(4), 1.0); // first cosine value is the peak
    assert_close!(s.at(9), 0.55); // cosine midpoint: cos(π/2) → (peak + end)/2
    assert_close!(s.at(14), 0.1); // cosine end: exactly `end`
    for it in 15..20 {
        assert_close!(s.at(it), 0.1); // constant tail
    }
    assert_close!(s.at(1000), 0.1);
    assert_eq!(s.to_vec().len(), 20);
    // cosine_iters = None: the rest of training
    let s = LinearWarmupCosineDecay::new(2.0, 4.0, 0.0, 2, 7, None).unwrap();
    assert_eq!(s.cosine, 5);
    assert_close!(s.at(1), 3.0);
    assert_close!(s.at(4), 2.0); // j = 2 of 5: cos(π/2)
    assert_close!(s.at(6), 0.0);
    // one cosine point: stays at the peak
    let s = LinearWarmupCosineDecay::new(0.0, 1.0, 0.0, 1, 2, Some(1)).unwrap();
    assert_close!(s.at(1), 1.0);
    // the reference's assertion
    assert!(LinearWarmupCosineDecay::new(0.0, 1.0, 0.0, 5, 10, Some(6)).is_err());
    assert!(LinearWarmupCosineDecay::new(0.0, 1.0, 0.0, 11, 10, None).is_err());
}

#[test]
fn v1_cosine_scheduler() {
    // warmup linspace(0.1, 1, 3) = .1, .55, 1 (endpoint included); cosine over n = 8 steps.
    let s = CosineScheduler::new(1.0, 0.0, 11, 3, 0.1).unwrap();
    assert_close!(s.at(0), 0.1);
    assert_close!(s.at(1), 0.55);
    assert_close!(s.at(2), 1.0);
    assert_close!(s.at(3), 1.0); // cos(0)
    assert_close!(s.at(7), 0.5); // i = 4 of 8: cos(π/2)
    assert_close!(s.at(10), 0.5 * (1.0 + (std::f64::consts::PI * 7.0 / 8.0).cos()));
    assert_close!(s.at(11), 0.0); // past the end: final value
    // freeze
    let f = CosineScheduler { freeze_iters: 2, ..s };
    let f = CosineScheduler { total_iters: 13, ..f };
    assert_eq!((f.at(0), f.at(1)), (0.0, 0.0));
    assert_close!(f.at(2), 0.1);
    // truncated cosine: starts at base, ends exactly at final
    let t =
        CosineScheduler { trunc_extra: 1.0, ..CosineScheduler::new(2.0, 1.0, 4, 0, 0.0).unwrap() };
    assert_close!(t.at(0), 2.0);
    assert_close!(t.at(3), 1.0);
    let sk = |k: f64| ((k * std::f64::consts::PI / 7.0).cos() + 1.0) / 2.0;
    assert_close!(t.at(1), (sk(1.0) - sk(3.0)) / (1.0 - sk(3.0)) + 1.0);
    assert!(CosineScheduler::new(1.0, 0.0, 5, 6, 0.0).is_err());
}

#[test]
fn vit7b_pretrain_stage() {
    assert_close!(ScalingRule::SqrtWrt1024.factor(4096), 8.0);
    assert_close!(ScalingRule::SqrtWrt1024.factor(2048), 4.0 * 2f64.sqrt());
    assert_close!(ScalingRule::LinearWrt256.factor(1024), 4.0);
    let s = StageSchedules::new(&StageScheduleConfig::vit7b_pretrain()).unwrap();
    let v = s.at(0);
    assert_eq!((v.lr, v.last_layer_lr), (0.0, 0.0));
    assert_close!(v.teacher_temp, 0.04);
    assert_close!(v.momentum, 0.994);
    assert_close!(v.weight_decay, 0.04);
    assert_eq!((v.w_local, v.w_gram), (1.0, 0.0));
    assert_close!(s.at(50_000).lr, 2e-4); // half-way up the 100k ramp to 5e-5 · 8
    assert_close!(s.at(50_000).teacher_temp, 0.055);
    assert_close!(s.at(99_999).lr, 4e-4 * 99_999.0 / 100_000.0);
    assert_close!(s.at(100_000).lr, 4e-4); // peak, then constant (peak = end)
    assert_close!(s.at(999_999).lr, 4e-4);
    assert_close!(s.at(100_000).teacher_temp, 0.07);
    // last layer frozen for 5 epochs of 1000
    assert_eq!(s.at(4_999).last_layer_lr, 0.0);
    assert_eq!(s.at(5_000).last_layer_lr, s.at(5_000).lr);
    assert!(!s.gram_refresh_due(1_009_999, 0));
}

#[test]
fn vit7b_gram_anchor_stage_transitions() {
    let s = StageSchedules::new(&StageScheduleConfig::vit7b_gram_anchor()).unwrap();
    assert_close!(s.at(200_000).lr, 3e-5 * 8.0);
    assert_close!(s.at(200_000).momentum, 0.999);
    // before 1M: w_local 1, w_gram 0
    assert_eq!((s.at(999_999).w_local, s.at(999_999).w_gram), (1.0, 0.0));
    assert_eq!((s.at(1_000_000).w_local, s.at(1_000_000).w_gram), (1.0, 0.0));
    // a third of the 1000-point cosine (j = 333: π/3, (cos + 1)/2 = 0.75)
    assert_close!(s.at(1_000_333).w_local, 0.875);
    assert_close!(s.at(1_000_333).w_gram, 0.5);
    // end of the cosine and after
    assert_eq!((s.at(1_000_999).w_local, s.at(1_000_999).w_gram), (0.5, 2.0));
    assert_eq!((s.at(1_199_999).w_local, s.at(1_199_999).w_gram), (0.5, 2.0));
    // Gram teacher refreshed after steps 1_009_999, 1_019_999, 1_029_999 only
    let due: Vec<usize> = (1_000_000..1_060_000)
        .scan(0usize, |done, it| {
            let d = s.gram_refresh_due(it, *done);
            *done += d as usize;
            Some((it, d))
        })
        .filter(|&(_, d)| d)
        .map(|(it, _)| it)
        .collect();
    assert_eq!(due, [1_009_999, 1_019_999, 1_029_999]);
    let g =
        GramRefresh { it_first_update: 1_010_000, update_frequency: 10_000, max_updates: Some(3) };
    assert_eq!(g.done_before(1_009_999), 0);
    assert_eq!(g.done_before(1_010_000), 1);
    assert_eq!(g.done_before(1_025_000), 2);
}

#[test]
fn vit7b_high_res_adapt_stage() {
    let s = StageSchedules::new(&StageScheduleConfig::vit7b_high_res_adapt()).unwrap();
    let top = 1.25e-5 * 4.0 * 2f64.sqrt(); // batch 2048
    assert_eq!(s.at(0).lr, 0.0); // cosine from peak 0 rising to end
    assert_close!(s.at(3_333).lr, 0.25 * top); // j = 3333 of 10000 points: π/3
    assert_close!(s.at(9_999).lr, top);
    assert_close!(s.at(29_999).lr, top);
    assert_eq!(s.at(0).last_layer_lr, 0.0); // lr itself is 0; no freeze
    assert_eq!(s.at(10).last_layer_lr, s.at(10).lr);
    assert_eq!((s.at(0).w_local, s.at(0).w_gram), (0.5, 1.5));
    assert_close!(s.at(123).teacher_temp, 0.07);
}

#[test]
fn default_recipe_v1_schedules() {
    let s = DefaultRecipeSchedules::new(100, 1250).unwrap();
    assert_eq!(s.at(0).lr, 0.0);
    assert_close!(s.at(12_499).lr, 1e-3); // warmup endpoint included
    assert_close!(s.at(12_500).lr, 1e-3);
    assert_close!(
        s.at(124_999).lr,
        1e-6 + 0.5 * (1e-3 - 1e-6) * (1.0 + (std::f64::consts::PI * 112_499.0 / 112_500.0).cos())
    );
    assert_close!(s.at(125_000).lr, 1e-6);
    assert_close!(s.at(0).weight_decay, 0.04);
    assert_close!(s.at(62_500).weight_decay, 0.22); // cosine midpoint of 0.04 → 0.4
    assert_close!(s.at(62_500).momentum, 0.996);
    assert_close!(s.at(0).teacher_temp, 0.04);
    assert_close!(s.at(37_499).teacher_temp, 0.07);
    assert_close!(s.at(90_000).teacher_temp, 0.07);
    assert_eq!(s.at(1_249).last_layer_lr, 0.0);
    assert_eq!(s.at(1_250).last_layer_lr, s.at(1_250).lr);
}

#[test]
fn stage_config_round_trips_through_toml_and_rejects_unknown_keys() {
    let cfg = StageScheduleConfig::vit7b_gram_anchor();
    let text = toml::to_string(&cfg).unwrap();
    let back: StageScheduleConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, cfg);
    let bad = text.replace("official_epoch_length", "official_epoch_len");
    assert!(toml::from_str::<StageScheduleConfig>(&bad).is_err());
    let mut c = StageScheduleConfig::vit7b_pretrain();
    c.epochs = 50; // warmup of 100 epochs no longer fits
    assert!(StageSchedules::new(&c).is_err());
}
