//! Training schedules as pure functions of the iteration, after `dinov3/train/cosine_lr_scheduler.py`
//! and `build_schedulers(_v2)` / the Gram refresh rule in `dinov3/train/train.py`
//! (facebookresearch/dinov3 at 6876159).
//!
//! * [`LinearWarmupCosineDecay`] (the "v2" schedules of the 7B configs): a linear ramp
//!   `start → peak` over `warmup` iterations **excluding** the endpoint
//!   (`np.linspace(..., endpoint=False)`), a half cosine `peak → end` over `cosine_iters`
//!   iterations **including** both ends (`np.linspace(0, π, n)`), then `end`;
//! * [`CosineScheduler`] (the "v1" schedules of `ssl_default_config.yaml`): `freeze_iters` zeros,
//!   a linear warmup **including** its endpoint, then `final + ½(base − final)(1 + cos(π i/n))`;
//! * [`StageSchedules`]: every per-iteration value of a training stage (learning rate with the
//!   batch-size scaling rule, last-layer learning rate with the freeze, weight decay, teacher
//!   momentum, teacher temperature, the local-DINO weight `w_local`, the Gram weight `w_gram`) and
//!   the Gram-teacher refresh rule, with presets for the released 7B stages.
//!
//! The reference materialises each schedule as an array of `total` values and indexes it; an index
//! past the end raises in the reference (v2) or returns the final value (v1). Here every schedule
//! is evaluated in closed form in float64 with the same operations as NumPy, and iterations past
//! the end return the last value.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `np.linspace(start, stop, num, endpoint)[i]`, computed as NumPy does (`i·step + start`, the last
/// value set to `stop` exactly when `endpoint`).
fn linspace_at(start: f64, stop: f64, num: usize, endpoint: bool, i: usize) -> f64 {
    let div = if endpoint { num.saturating_sub(1) } else { num };
    if endpoint && num > 1 && i == num - 1 {
        return stop;
    }
    if div == 0 {
        return start;
    }
    let delta = stop - start;
    let step = delta / div as f64;
    if step == 0.0 { (i as f64 / div as f64) * delta + start } else { i as f64 * step + start }
}

/// The v2 schedule `linear_warmup_cosine_decay(start, peak, end, warmup_iterations,
/// total_iterations, cosine_iterations)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearWarmupCosineDecay {
    /// Value at iteration 0.
    pub start: f64,
    /// Value reached after the warmup (first value of the cosine).
    pub peak: f64,
    /// Final value.
    pub end: f64,
    /// Iterations of the linear ramp.
    pub warmup: usize,
    /// Length of the schedule.
    pub total: usize,
    /// Iterations of the cosine (`total − warmup` when `None` in the reference).
    pub cosine: usize,
}

impl LinearWarmupCosineDecay {
    /// The schedule, checked as the reference asserts (`total − warmup − cosine ≥ 0`).
    ///
    /// # Errors
    /// [`Error::Config`] when warmup and cosine do not fit in `total`.
    pub fn new(
        start: f64,
        peak: f64,
        end: f64,
        warmup: usize,
        total: usize,
        cosine: Option<usize>,
    ) -> Result<Self> {
        let cosine = match cosine {
            Some(c) => c,
            None => total.checked_sub(warmup).ok_or_else(|| {
                Error::Config(format!("warmup {warmup} is longer than the schedule ({total})"))
            })?,
        };
        if warmup + cosine > total {
            return Err(Error::Config(format!(
                "warmup {warmup} + cosine {cosine} iterations exceed the schedule ({total})"
            )));
        }
        Ok(LinearWarmupCosineDecay { start, peak, end, warmup, total, cosine })
    }

    /// A constant schedule.
    pub fn constant(value: f64, total: usize) -> Self {
        LinearWarmupCosineDecay {
            start: value,
            peak: value,
            end: value,
            warmup: 0,
            total,
            cosine: 0,
        }
    }

    /// The value at iteration `it` (the last value for `it ≥ total`).
    pub fn at(&self, it: usize) -> f64 {
        if self.total == 0 {
            return self.end;
        }
        let it = it.min(self.total - 1);
        if it < self.warmup {
            return linspace_at(self.start, self.peak, self.warmup, false, it);
        }
        let j = it - self.warmup;
        if j < self.cosine {
            let c = (linspace_at(0.0, PI, self.cosine, true, j).cos() + 1.0) / 2.0;
            return (self.peak - self.end) * c + self.end;
        }
        self.end
    }

    /// All `total` values (the reference's array).
    pub fn to_vec(&self) -> Vec<f64> {
        (0..self.total).map(|i| self.at(i)).collect()
    }
}

/// The v1 `CosineScheduler(base_value, final_value, total_iters, warmup_iters,
/// start_warmup_value, freeze_iters, trunc_extra)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineScheduler {
    /// Value after the warmup.
    pub base_value: f64,
    /// Value at the end (and past it).
    pub final_value: f64,
    /// Length.
    pub total_iters: usize,
    /// Warmup iterations (linear, endpoint included).
    pub warmup_iters: usize,
    /// First warmup value.
    pub start_warmup_value: f64,
    /// Leading iterations at 0.
    pub freeze_iters: usize,
    /// Compute the cosine over `(1 + trunc_extra)` times the steps and truncate, rescaled to end
    /// at `final_value`.
    pub trunc_extra: f64,
}

impl CosineScheduler {
    /// A schedule without freeze and truncation.
    ///
    /// # Errors
    /// [`Error::Config`] when the warmup is longer than the schedule.
    pub fn new(
        base_value: f64,
        final_value: f64,
        total_iters: usize,
        warmup_iters: usize,
        start_warmup_value: f64,
    ) -> Result<Self> {
        let s = CosineScheduler {
            base_value,
            final_value,
            total_iters,
            warmup_iters,
            start_warmup_value,
            freeze_iters: 0,
            trunc_extra: 0.0,
        };
        s.validate()?;
        Ok(s)
    }

    /// The reference's length assertion.
    ///
    /// # Errors
    /// [`Error::Config`] when `freeze + warmup > total` or `trunc_extra < 0`.
    pub fn validate(&self) -> Result<()> {
        if self.freeze_iters + self.warmup_iters > self.total_iters {
            return Err(Error::Config(format!(
                "freeze {} + warmup {} iterations exceed the schedule ({})",
                self.freeze_iters, self.warmup_iters, self.total_iters
            )));
        }
        if self.trunc_extra.is_nan() || self.trunc_extra < 0.0 {
            return Err(Error::Config(format!(
                "trunc_extra must be >= 0, got {}",
                self.trunc_extra
            )));
        }
        Ok(())
    }

    /// The value at iteration `it` (`final_value` for `it ≥ total_iters`, as the reference).
    pub fn at(&self, it: usize) -> f64 {
        if it >= self.total_iters {
            return self.final_value;
        }
        if it < self.freeze_iters {
            return 0.0;
        }
        let w = it - self.freeze_iters;
        if w < self.warmup_iters {
            return linspace_at(
                self.start_warmup_value,
                self.base_value,
                self.warmup_iters,
                true,
                w,
            );
        }
        let i = w - self.warmup_iters;
        let n = self.total_iters - self.warmup_iters - self.freeze_iters;
        let (base, fin) = (self.base_value, self.final_value);
        if self.trunc_extra == 0.0 {
            fin + 0.5 * (base - fin) * (1.0 + (PI * i as f64 / n as f64).cos())
        } else {
            let m = ((1.0 + self.trunc_extra) * n as f64) as usize;
            let s = |k: usize| (linspace_at(0.0, PI, m, true, k).cos() + 1.0) / 2.0;
            let last = s(n - 1);
            (s(i) - last) / (1.0 - last) * (base - fin) + fin
        }
    }
}

/// One v2 schedule as written in a config's `schedules:` section (epochs are multiplied by
/// `OFFICIAL_EPOCH_LENGTH`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Start value.
    pub start: f64,
    /// Value after the warmup.
    pub peak: f64,
    /// Final value.
    pub end: f64,
    /// Warmup length in epochs.
    pub warmup_epochs: usize,
    /// Cosine length in epochs (`None`: the rest of training).
    #[serde(default)]
    pub cosine_epochs: Option<usize>,
}

impl ScheduleSpec {
    /// A constant value.
    pub fn constant(v: f64) -> Self {
        ScheduleSpec { start: v, peak: v, end: v, warmup_epochs: 0, cosine_epochs: None }
    }

    fn build(&self, epoch_len: usize, total: usize, scale: f64) -> Result<LinearWarmupCosineDecay> {
        LinearWarmupCosineDecay::new(
            self.start,
            self.peak * scale,
            self.end * scale,
            epoch_len * self.warmup_epochs,
            total,
            self.cosine_epochs.map(|c| c * epoch_len),
        )
    }
}

/// The learning-rate schedule of a `schedules:` section, with the last-layer freeze.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSpec {
    /// Start value (not scaled).
    pub start: f64,
    /// Peak before the batch-size scaling.
    pub peak: f64,
    /// End before the batch-size scaling.
    pub end: f64,
    /// Warmup length in epochs.
    pub warmup_epochs: usize,
    /// Epochs during which the heads' `last_layer` has learning rate 0.
    pub freeze_last_layer_epochs: usize,
    /// Cosine length in epochs (`None`: the rest of training).
    #[serde(default)]
    pub cosine_epochs: Option<usize>,
}

/// How the learning rate scales with the global batch size (`optim.scaling_rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingRule {
    /// `lr · 4·√(B/1024)` (every released config).
    #[serde(rename = "sqrt_wrt_1024")]
    SqrtWrt1024,
    /// `lr · B/256`.
    #[serde(rename = "linear_wrt_256")]
    LinearWrt256,
    /// No scaling.
    None,
}

impl ScalingRule {
    /// The factor for a global batch of `global_batch` images.
    pub fn factor(self, global_batch: usize) -> f64 {
        match self {
            ScalingRule::SqrtWrt1024 => 4.0 * (global_batch as f64 / 1024.0).sqrt(),
            ScalingRule::LinearWrt256 => global_batch as f64 / 256.0,
            ScalingRule::None => 1.0,
        }
    }
}

/// The `schedules:` section.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesSpec {
    /// Learning rate.
    pub lr: LrSpec,
    /// Weight decay.
    pub weight_decay: ScheduleSpec,
    /// Teacher EMA momentum.
    pub momentum: ScheduleSpec,
    /// Teacher temperature.
    pub teacher_temp: ScheduleSpec,
}

/// When the Gram teacher is refreshed from the EMA teacher (`gram.rep_update`, `update_frequency`,
/// `it_first_update`, `max_updates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GramRefresh {
    /// Iteration (1-based count of finished steps) of the first refresh.
    pub it_first_update: usize,
    /// Refresh every this many iterations.
    pub update_frequency: usize,
    /// At most this many refreshes (`None`: unlimited).
    pub max_updates: Option<usize>,
}

impl GramRefresh {
    /// After optimiser step `it` (0-based), with `done` refreshes so far: refresh now?
    /// `(it+1) ≥ it_first_update`, `(it+1) mod update_frequency = 0`, `done < max_updates`.
    pub fn due(&self, it: usize, done: usize) -> bool {
        let n = it + 1;
        self.update_frequency > 0
            && n >= self.it_first_update
            && n.is_multiple_of(self.update_frequency)
            && self.max_updates.is_none_or(|m| done < m)
    }

    /// Refreshes already done before resuming at `start_iter` (the reference's
    /// `ceil((start_iter + 1 − it_first_update) / update_frequency)`, 0 before the first).
    pub fn done_before(&self, start_iter: usize) -> usize {
        if self.update_frequency == 0 || start_iter < self.it_first_update {
            return 0;
        }
        (start_iter + 1 - self.it_first_update).div_ceil(self.update_frequency)
    }
}

/// The Gram weight: a constant (`gram.loss_weight`) or a schedule (`gram.loss_weight_schedule`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GramWeight {
    /// No Gram loss (`gram.use_loss: false`): weight 0.
    Off,
    /// A constant weight.
    Constant(f64),
    /// A v2 schedule.
    Schedule(ScheduleSpec),
}

/// All schedules of one training stage, as a typed mirror of the dinov3 config keys.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageScheduleConfig {
    /// `train.OFFICIAL_EPOCH_LENGTH`: iterations per "epoch".
    pub official_epoch_length: usize,
    /// `optim.epochs`: the schedule length in epochs.
    pub epochs: usize,
    /// Global batch size (`batch_size_per_gpu × world size`), for the LR scaling.
    pub global_batch_size: usize,
    /// `optim.scaling_rule`.
    pub scaling_rule: ScalingRule,
    /// The `schedules:` section.
    pub schedules: SchedulesSpec,
    /// `dino.local_loss_weight_schedule` when `dino.reweight_dino_local_loss`; `None`: 1.0.
    pub local_loss_weight: Option<ScheduleSpec>,
    /// The Gram weight.
    pub gram_weight: GramWeight,
    /// The Gram-teacher refresh rule (`gram.rep_update: true`), if any.
    pub gram_refresh: Option<GramRefresh>,
}

const EPOCH_7B: usize = 1000;

impl StageScheduleConfig {
    /// `dinov3_vit7b16_pretrain.yaml`: 1M iterations, batch 4096, LR 5e-5 (scaled ×8 to 4e-4) after
    /// a 100k linear warmup from 0, weight decay 0.04, momentum 0.994, teacher temperature
    /// 0.04 → 0.07 over 100k, last layer frozen 5k iterations.
    pub fn vit7b_pretrain() -> Self {
        StageScheduleConfig {
            official_epoch_length: EPOCH_7B,
            epochs: 1000,
            global_batch_size: 16 * 256,
            scaling_rule: ScalingRule::SqrtWrt1024,
            schedules: SchedulesSpec {
                lr: LrSpec {
                    start: 0.0,
                    peak: 5e-5,
                    end: 5e-5,
                    warmup_epochs: 100,
                    freeze_last_layer_epochs: 5,
                    cosine_epochs: None,
                },
                weight_decay: ScheduleSpec::constant(0.04),
                momentum: ScheduleSpec::constant(0.994),
                teacher_temp: ScheduleSpec {
                    start: 0.04,
                    peak: 0.07,
                    end: 0.07,
                    warmup_epochs: 100,
                    cosine_epochs: None,
                },
            },
            local_loss_weight: None,
            gram_weight: GramWeight::Off,
            gram_refresh: None,
        }
    }

    /// `dinov3_vit7b16_gram_anchor.yaml`: 1.2M iterations; LR 3e-5 (scaled 2.4e-4), momentum
    /// 0.999; at 1M `w_local` goes 1 → 0.5 and `w_gram` 0 → 2 by a cosine over 1000 iterations;
    /// the Gram teacher is refreshed at 1.01M, 1.02M, 1.03M.
    pub fn vit7b_gram_anchor() -> Self {
        let mut c = Self::vit7b_pretrain();
        c.epochs = 1200;
        c.schedules.lr.peak = 3e-5;
        c.schedules.lr.end = 3e-5;
        c.schedules.momentum = ScheduleSpec::constant(0.999);
        c.local_loss_weight = Some(ScheduleSpec {
            start: 1.0,
            peak: 1.0,
            end: 0.5,
            warmup_epochs: 1000,
            cosine_epochs: Some(1),
        });
        c.gram_weight = GramWeight::Schedule(ScheduleSpec {
            start: 0.0,
            peak: 0.0,
            end: 2.0,
            warmup_epochs: 1000,
            cosine_epochs: Some(1),
        });
        c.gram_refresh = Some(GramRefresh {
            it_first_update: 1_010_000,
            update_frequency: 10_000,
            max_updates: Some(3),
        });
        c
    }

    /// `dinov3_vit7b16_high_res_adapt.yaml`: 30k iterations, batch 2048, LR rising 0 → 1.25e-5
    /// (scaled ≈ 7.07e-5) by a cosine over 10k then constant, no last-layer freeze, teacher
    /// temperature 0.07, momentum 0.999, `w_local` 0.5, `w_gram` 1.5, no Gram refresh.
    pub fn vit7b_high_res_adapt() -> Self {
        StageScheduleConfig {
            official_epoch_length: EPOCH_7B,
            epochs: 30,
            global_batch_size: 8 * 256,
            scaling_rule: ScalingRule::SqrtWrt1024,
            schedules: SchedulesSpec {
                lr: LrSpec {
                    start: 0.0,
                    peak: 0.0,
                    end: 1.25e-5,
                    warmup_epochs: 0,
                    freeze_last_layer_epochs: 0,
                    cosine_epochs: Some(10),
                },
                weight_decay: ScheduleSpec::constant(0.04),
                momentum: ScheduleSpec::constant(0.999),
                teacher_temp: ScheduleSpec::constant(0.07),
            },
            local_loss_weight: Some(ScheduleSpec {
                cosine_epochs: Some(0),
                ..ScheduleSpec::constant(0.5)
            }),
            gram_weight: GramWeight::Schedule(ScheduleSpec {
                cosine_epochs: Some(0),
                ..ScheduleSpec::constant(1.5)
            }),
            gram_refresh: None,
        }
    }

    /// Total iterations.
    pub fn total_iterations(&self) -> usize {
        self.official_epoch_length * self.epochs
    }
}

/// The values of every schedule at one iteration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleValues {
    /// Learning rate (before the per-group multipliers).
    pub lr: f64,
    /// Learning rate of the heads' `last_layer` (0 while frozen).
    pub last_layer_lr: f64,
    /// Weight decay (before the per-group multipliers).
    pub weight_decay: f64,
    /// Teacher EMA momentum.
    pub momentum: f64,
    /// Teacher temperature.
    pub teacher_temp: f64,
    /// Weight of the local DINO term.
    pub w_local: f64,
    /// Weight of the Gram term.
    pub w_gram: f64,
}

/// The built schedules of a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageSchedules {
    cfg: StageScheduleConfig,
    lr: LinearWarmupCosineDecay,
    freeze_last_layer: usize,
    weight_decay: LinearWarmupCosineDecay,
    momentum: LinearWarmupCosineDecay,
    teacher_temp: LinearWarmupCosineDecay,
    w_local: Option<LinearWarmupCosineDecay>,
    w_gram: Option<LinearWarmupCosineDecay>,
}

impl StageSchedules {
    /// Build every schedule of `cfg` (`build_schedulers_v2` and the loss-weight schedules of
    /// `SSLMetaArch`).
    ///
    /// # Errors
    /// [`Error::Config`] when a warmup or cosine does not fit in the stage.
    pub fn new(cfg: &StageScheduleConfig) -> Result<Self> {
        let e = cfg.official_epoch_length;
        let total = cfg.total_iterations();
        let s = &cfg.schedules;
        let scale = cfg.scaling_rule.factor(cfg.global_batch_size);
        let lr_spec = ScheduleSpec {
            start: s.lr.start,
            peak: s.lr.peak,
            end: s.lr.end,
            warmup_epochs: s.lr.warmup_epochs,
            cosine_epochs: s.lr.cosine_epochs,
        };
        Ok(StageSchedules {
            cfg: *cfg,
            lr: lr_spec.build(e, total, scale)?,
            freeze_last_layer: e * s.lr.freeze_last_layer_epochs,
            weight_decay: s.weight_decay.build(e, total, 1.0)?,
            momentum: s.momentum.build(e, total, 1.0)?,
            teacher_temp: s.teacher_temp.build(e, total, 1.0)?,
            w_local: cfg.local_loss_weight.map(|w| w.build(e, total, 1.0)).transpose()?,
            w_gram: match cfg.gram_weight {
                GramWeight::Schedule(w) => Some(w.build(e, total, 1.0)?),
                GramWeight::Constant(v) => Some(LinearWarmupCosineDecay::constant(v, total)),
                GramWeight::Off => None,
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &StageScheduleConfig {
        &self.cfg
    }

    /// Every value at iteration `it`.
    pub fn at(&self, it: usize) -> ScheduleValues {
        let lr = self.lr.at(it);
        ScheduleValues {
            lr,
            last_layer_lr: if it < self.freeze_last_layer { 0.0 } else { lr },
            weight_decay: self.weight_decay.at(it),
            momentum: self.momentum.at(it),
            teacher_temp: self.teacher_temp.at(it),
            w_local: self.w_local.as_ref().map_or(1.0, |s| s.at(it)),
            w_gram: self.w_gram.as_ref().map_or(0.0, |s| s.at(it)),
        }
    }

    /// Refresh the Gram teacher after step `it`, given `done` refreshes so far?
    pub fn gram_refresh_due(&self, it: usize, done: usize) -> bool {
        self.cfg.gram_refresh.is_some_and(|g| g.due(it, done))
    }
}

/// The v1 schedules of `ssl_default_config.yaml` (`build_schedulers` without a `schedules:`
/// section): LR 1e-3 after a 10-epoch warmup from 0, cosine to 1e-6 (not batch-scaled in the v1
/// path); weight decay cosine 0.04 → 0.4; momentum cosine 0.992 → 1; teacher temperature
/// 0.04 → 0.07 linearly over 30 epochs then 0.07; last layer frozen for 1 epoch. 100 epochs of
/// 1250 iterations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DefaultRecipeSchedules {
    /// Learning rate.
    pub lr: CosineScheduler,
    /// Weight decay.
    pub weight_decay: CosineScheduler,
    /// Teacher momentum.
    pub momentum: CosineScheduler,
    /// Teacher temperature.
    pub teacher_temp: CosineScheduler,
    /// Iterations with the last layer frozen.
    pub freeze_last_layer: usize,
}

impl DefaultRecipeSchedules {
    /// The reference values for `epochs` epochs of `epoch_length` iterations (100 × 1250 in
    /// `ssl_default_config.yaml`).
    ///
    /// # Errors
    /// [`Error::Config`] when the warmups do not fit.
    pub fn new(epochs: usize, epoch_length: usize) -> Result<Self> {
        let total = epochs * epoch_length;
        Ok(DefaultRecipeSchedules {
            lr: CosineScheduler::new(1e-3, 1e-6, total, 10 * epoch_length, 0.0)?,
            weight_decay: CosineScheduler::new(0.04, 0.4, total, 0, 0.0)?,
            momentum: CosineScheduler::new(0.992, 1.0, total, 0, 0.0)?,
            teacher_temp: CosineScheduler::new(
                0.07,
                0.07,
                30 * epoch_length,
                30 * epoch_length,
                0.04,
            )?,
            freeze_last_layer: epoch_length,
        })
    }

    /// Every value at iteration `it` (no loss-weight schedules in this recipe: `w_local` 1,
    /// `w_gram` 0).
    pub fn at(&self, it: usize) -> ScheduleValues {
        let lr = self.lr.at(it);
        ScheduleValues {
            lr,
            last_layer_lr: if it < self.freeze_last_layer { 0.0 } else { lr },
            weight_decay: self.weight_decay.at(it),
            momentum: self.momentum.at(it),
            teacher_temp: self.teacher_temp.at(it),
            w_local: 1.0,
            w_gram: 0.0,
        }
    }
}
