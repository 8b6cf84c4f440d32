//! The schedules of a configured run: every per-iteration value (learning rates, weight decay,
//! teacher momentum and temperature, `w_local`, `w_gram`) and the Gram-teacher refresh rule,
//! from a [`PretrainConfig`], as `build_schedulers(_v2)` and `SSLMetaArch` build them.
//!
//! With a `schedules:` section the v2 schedules of [`StageSchedules`] are used (the LR peak and
//! end scaled by `optim.scaling_rule` with the batch size); without one, the v1 cosine schedules
//! of `optim` and `teacher` ([`CosineScheduler`], no LR scaling, as in the reference).

use crate::config::PretrainConfig;
use crate::error::Result;
use crate::schedule::{
    CosineScheduler, GramRefresh, GramWeight, LinearWarmupCosineDecay, ScheduleValues,
    StageScheduleConfig, StageSchedules,
};

/// The v1 schedules.
#[derive(Debug, Clone)]
struct V1 {
    lr: CosineScheduler,
    wd: CosineScheduler,
    momentum: CosineScheduler,
    teacher_temp: CosineScheduler,
    freeze_last_layer: usize,
    w_local: Option<LinearWarmupCosineDecay>,
    w_gram: Option<LinearWarmupCosineDecay>,
    refresh: Option<GramRefresh>,
}

/// Every schedule of a run. Values are pure functions of the iteration.
#[derive(Debug, Clone)]
pub enum RunSchedules {
    /// A `schedules:` section.
    V2(Box<StageSchedules>),
    /// The v1 values of `optim` / `teacher`.
    V1(Box<V1Schedules>),
}

/// Opaque v1 schedules (see [`RunSchedules::V1`]).
#[derive(Debug, Clone)]
pub struct V1Schedules(V1);

impl RunSchedules {
    /// Build the schedules of `cfg`.
    ///
    /// # Errors
    /// Warmups or cosines that do not fit the run.
    pub fn new(cfg: &PretrainConfig) -> Result<RunSchedules> {
        let e = cfg.train.official_epoch_length;
        let total = cfg.total_iterations();
        let local =
            cfg.dino.reweight_dino_local_loss.then_some(cfg.dino.local_loss_weight_schedule);
        let gram_weight = if !cfg.gram.use_loss {
            GramWeight::Off
        } else if let Some(s) = cfg.gram.loss_weight_schedule {
            GramWeight::Schedule(s)
        } else {
            GramWeight::Constant(cfg.gram.loss_weight)
        };
        let refresh = (cfg.gram.use_loss && cfg.gram.rep_update && cfg.gram.has_gram_teacher())
            .then_some(GramRefresh {
                it_first_update: cfg.gram.it_first_update,
                update_frequency: cfg.gram.update_frequency,
                max_updates: cfg.gram.max_updates,
            });
        if let Some(s) = cfg.schedules {
            let stage = StageScheduleConfig {
                official_epoch_length: e,
                epochs: cfg.optim.epochs,
                global_batch_size: cfg.train.batch_size_per_gpu,
                scaling_rule: cfg.optim.scaling_rule,
                schedules: s,
                local_loss_weight: local,
                gram_weight,
                gram_refresh: refresh,
            };
            return Ok(RunSchedules::V2(Box::new(StageSchedules::new(&stage)?)));
        }
        let o = &cfg.optim;
        let t = &cfg.teacher;
        let mut lr = CosineScheduler::new(o.lr, o.min_lr, total, o.warmup_epochs * e, 0.0)?;
        lr.trunc_extra = o.schedule_trunc_extra;
        lr.validate()?;
        let mut wd = CosineScheduler::new(o.weight_decay, o.weight_decay_end, total, 0, 0.0)?;
        wd.trunc_extra = o.schedule_trunc_extra;
        let mut momentum =
            CosineScheduler::new(t.momentum_teacher, t.final_momentum_teacher, total, 0, 0.0)?;
        momentum.trunc_extra = o.schedule_trunc_extra;
        let tw = t.warmup_teacher_temp_epochs * e;
        let teacher_temp =
            CosineScheduler::new(t.teacher_temp, t.teacher_temp, tw, tw, t.warmup_teacher_temp)?;
        let build = |s: &crate::schedule::ScheduleSpec| {
            LinearWarmupCosineDecay::new(
                s.start,
                s.peak,
                s.end,
                e * s.warmup_epochs,
                total,
                s.cosine_epochs.map(|c| c * e),
            )
        };
        Ok(RunSchedules::V1(Box::new(V1Schedules(V1 {
            lr,
            wd,
            momentum,
            teacher_temp,
            freeze_last_layer: o.freeze_last_layer_epochs * e,
            w_local: local.as_ref().map(build).transpose()?,
            w_gram: match gram_weight {
                GramWeight::Off => None,
                GramWeight::Constant(v) => Some(LinearWarmupCosineDecay::constant(v, total)),
                GramWeight::Schedule(s) => Some(build(&s)?),
            },
            refresh,
        }))))
    }

    /// Every value at iteration `it`.
    pub fn at(&self, it: usize) -> ScheduleValues {
        match self {
            RunSchedules::V2(s) => s.at(it),
            RunSchedules::V1(v) => {
                let v = &v.0;
                let lr = v.lr.at(it);
                ScheduleValues {
                    lr,
                    last_layer_lr: if it < v.freeze_last_layer { 0.0 } else { lr },
                    weight_decay: v.wd.at(it),
                    momentum: v.momentum.at(it),
                    teacher_temp: v.teacher_temp.at(it),
                    w_local: v.w_local.as_ref().map_or(1.0, |s| s.at(it)),
                    w_gram: v.w_gram.as_ref().map_or(0.0, |s| s.at(it)),
                }
            }
        }
    }

    /// The Gram-teacher refresh rule, if any.
    pub fn gram_refresh(&self) -> Option<GramRefresh> {
        match self {
            RunSchedules::V2(s) => s.config().gram_refresh,
            RunSchedules::V1(v) => v.0.refresh,
        }
    }

    /// Refresh the Gram teacher after iteration `it` with `done` refreshes so far?
    pub fn gram_refresh_due(&self, it: usize, done: usize) -> bool {
        self.gram_refresh().is_some_and(|g| g.due(it, done))
    }
}
