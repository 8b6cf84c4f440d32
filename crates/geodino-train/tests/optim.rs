//! Our AdamW against libtorch's (`tch::nn::AdamW`) on a toy regression; per-parameter
//! multipliers; state save/restore; gradient clipping as `clip_grad_norm_`.

use std::collections::BTreeMap;

use geodino_train::optim::{AdamW, AdamWConfig};
use geodino_train::param_groups::{ParamGroup, SubModule};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

fn group(lr_mult: f64, wd_mult: f64, last: bool, module: SubModule) -> ParamGroup {
    ParamGroup {
        module,
        layer_id: None,
        lr_multiplier: lr_mult,
        wd_multiplier: wd_mult,
        is_last_layer: last,
    }
}

/// libtorch's generator is global and tests run in parallel: every test that seeds it holds
/// this lock, so another test's draws cannot land between `manual_seed` and `randn`.
fn seed_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn data() -> (Tensor, Tensor) {
    tch::manual_seed(7);
    let x = Tensor::randn([64, 5], (Kind::Float, Device::Cpu));
    let true_w = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
    let y = x.matmul(&true_w) + 0.1 * Tensor::randn([64, 3], (Kind::Float, Device::Cpu));
    (x, y)
}

fn loss(x: &Tensor, y: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
    (x.matmul(w) + b - y).square().mean(Kind::Float)
}

#[test]
fn matches_libtorch_adamw_on_a_toy_regression() {
    let _seeded = seed_lock();
    let (x, y) = data();
    let (lr, wd) = (0.01, 0.05);
    // libtorch's AdamW.
    let vs = nn::VarStore::new(Device::Cpu);
    tch::manual_seed(1);
    let w_ref = vs.root().randn("w", &[5, 3], 0.0, 1.0);
    let b_ref = vs.root().randn("b", &[3], 0.0, 1.0);
    let mut opt_ref = nn::AdamW { beta1: 0.9, beta2: 0.99, wd, eps: 1e-8, amsgrad: false }
        .build(&vs, lr)
        .unwrap();
    // Ours, from the same initial values.
    let w = w_ref.detach().copy().set_requires_grad(true);
    let b = b_ref.detach().copy().set_requires_grad(true);
    let g = group(1.0, 1.0, false, SubModule::Backbone);
    let mut opt = AdamW::new(
        vec![("w".into(), w.shallow_clone(), g), ("b".into(), b.shallow_clone(), g)],
        AdamWConfig { beta1: 0.9, beta2: 0.99, eps: 1e-8 },
    );
    let mut worst = 0f64;
    let first = loss(&x, &y, &w, &b).double_value(&[]);
    for _ in 0..200 {
        opt_ref.zero_grad();
        loss(&x, &y, &w_ref, &b_ref).backward();
        opt_ref.step();
        opt.zero_grad();
        loss(&x, &y, &w, &b).backward();
        opt.step(lr, lr, wd).unwrap();
        for (a, r) in [(&w, &w_ref), (&b, &b_ref)] {
            let d = (a - r).abs().max().double_value(&[]);
            let scale = r.abs().max().double_value(&[]).max(1.0);
            worst = worst.max(d / scale);
        }
    }
    let last = loss(&x, &y, &w, &b).double_value(&[]);
    eprintln!(
        "AdamW vs libtorch: worst relative difference {worst:.2e} over 200 steps; loss {first:.3} -> {last:.4}"
    );
    assert!(worst < 2e-6, "{worst}");
    assert!(last < 0.1 * first, "{first} -> {last}");
    assert_eq!(opt.step_count(), 200);
}

#[test]
fn group_multipliers_and_the_frozen_last_layer() {
    let _seeded = seed_lock();
    let (x, y) = data();
    let make = || {
        tch::manual_seed(3);
        (
            Tensor::randn([5, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true),
            Tensor::randn([3], (Kind::Float, Device::Cpu)).set_requires_grad(true),
        )
    };
    // lr multiplier 0.5 on w equals a plain run at half the learning rate for w.
    let (w1, b1) = make();
    let (w2, b2) = make();
    let mut a = AdamW::new(
        vec![
            ("w".into(), w1.shallow_clone(), group(0.5, 0.0, false, SubModule::Backbone)),
            ("last_layer".into(), b1.shallow_clone(), group(1.0, 1.0, true, SubModule::DinoHead)),
        ],
        AdamWConfig::default(),
    );
    let mut bref = AdamW::new(
        vec![("w".into(), w2.shallow_clone(), group(1.0, 0.0, false, SubModule::Backbone))],
        AdamWConfig::default(),
    );
    let b_start = b1.copy();
    for _ in 0..10 {
        a.zero_grad();
        loss(&x, &y, &w1, &b1).backward();
        // last-layer learning rate 0: frozen, weight decay included.
        a.step(0.02, 0.0, 0.3).unwrap();
        bref.zero_grad();
        loss(&x, &y, &w2, &b2).backward();
        bref.step(0.01, 0.01, 0.3).unwrap();
    }
    assert!(b1.equal(&b_start), "a frozen last layer moved");
    let d = (&w1 - &w2).abs().max().double_value(&[]);
    assert!(d < 1e-6, "{d}");
}

#[test]
fn saved_state_continues_bit_for_bit() {
    let _seeded = seed_lock();
    let (x, y) = data();
    tch::manual_seed(5);
    let w = Tensor::randn([5, 3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let b = Tensor::zeros([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let g = group(1.0, 1.0, false, SubModule::Backbone);
    let params = |w: &Tensor, b: &Tensor| {
        vec![("w".to_string(), w.shallow_clone(), g), ("b".to_string(), b.shallow_clone(), g)]
    };
    let mut a = AdamW::new(params(&w, &b), AdamWConfig::default());
    let run = |o: &mut AdamW, w: &Tensor, b: &Tensor, n: usize| {
        for _ in 0..n {
            o.zero_grad();
            loss(&x, &y, w, b).backward();
            o.step(0.01, 0.01, 0.04).unwrap();
        }
    };
    run(&mut a, &w, &b, 5);
    // Snapshot: parameter values and optimiser state (as a checkpoint would hold them).
    let (state, step) = a.state();
    let saved: BTreeMap<String, Tensor> = state.into_iter().map(|(k, v)| (k, v.copy())).collect();
    let w2 = w.detach().copy().set_requires_grad(true);
    let b2 = b.detach().copy().set_requires_grad(true);
    let mut c = AdamW::new(params(&w2, &b2), AdamWConfig::default());
    c.load_state(saved, step).unwrap();
    run(&mut a, &w, &b, 5);
    run(&mut c, &w2, &b2, 5);
    assert!(w.equal(&w2) && b.equal(&b2), "resumed optimiser diverged");
    // A state without an entry is refused, naming it.
    let mut d = AdamW::new(params(&w2, &b2), AdamWConfig::default());
    let mut partial: BTreeMap<String, Tensor> = BTreeMap::new();
    partial.insert("exp_avg.w".into(), Tensor::zeros([5, 3], (Kind::Float, Device::Cpu)));
    let e = d.load_state(partial, 1).unwrap_err().to_string();
    assert!(e.contains("exp_avg_sq.w") && e.contains("exp_avg.b"), "{e}");
}

#[test]
fn clipping_is_per_module_like_clip_grad_norm() {
    let _seeded = seed_lock();
    let w = Tensor::zeros([4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let h = Tensor::zeros([2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let c = Tensor::from_slice(&[3.0f32, 4.0, 0.0, 0.0]);
    let ch = Tensor::from_slice(&[0.3f32, 0.4]);
    let opt = AdamW::new(
        vec![
            ("backbone.w".into(), w.shallow_clone(), group(1.0, 1.0, false, SubModule::Backbone)),
            ("dino_head.h".into(), h.shallow_clone(), group(1.0, 1.0, false, SubModule::DinoHead)),
        ],
        AdamWConfig::default(),
    );
    ((&w * &c).sum(Kind::Float) + (&h * &ch).sum(Kind::Float)).backward();
    let n = opt.clip_grad_norm(SubModule::Backbone, 1.0).unwrap();
    assert!((n - 5.0).abs() < 1e-6);
    let expected = &c * (1.0 / (5.0 + 1e-6));
    assert!((w.grad() - expected).abs().max().double_value(&[]) < 1e-7);
    // The head's norm 0.5 is below its clip: unchanged (factor 1).
    let nh = opt.clip_grad_norm(SubModule::DinoHead, 1.0).unwrap();
    assert!((nh - 0.5).abs() < 1e-6);
    assert!(h.grad().equal(&ch));
    assert_eq!(opt.clip_grad_norm(SubModule::IbotHead, 1.0).unwrap(), 0.0);
}
