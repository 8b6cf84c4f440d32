//! AdamW over tch tensors with per-parameter learning-rate and weight-decay multipliers, and
//! gradient-norm clipping per sub-module.
//!
//! tch's built-in optimisers keep their state inside libtorch where it cannot be saved, and exact
//! resume needs it; this one keeps `exp_avg`, `exp_avg_sq` and the step count as plain tensors
//! that go into the checkpoint ([`AdamW::state`], [`AdamW::load_state`]).
//!
//! The update is PyTorch's `AdamW` (decoupled weight decay, no AMSGrad), per parameter `p` with
//! gradient `g`, at step `t` (counted from 1), learning rate `lr = base·lr_mult` and weight decay
//! `wd = base·wd_mult` of its group ([`crate::param_groups`]):
//!
//! ```text
//! p ← p·(1 − lr·wd)
//! m ← β₁·m + (1 − β₁)·g          v ← β₂·v + (1 − β₂)·g²
//! p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! Parameters without a gradient are skipped (their step count still advances with the others,
//! as PyTorch's shared `step` does for parameters that always have one). `tests/optim.rs`
//! checks it against `tch::nn::AdamW` (libtorch's C++ AdamW) on a toy regression.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::param_groups::{ParamGroup, SubModule};

/// AdamW hyper-parameters that do not follow a schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// β₁. Default 0.9.
    pub beta1: f64,
    /// β₂. Default 0.999.
    pub beta2: f64,
    /// ε. Default 1e-8.
    pub eps: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

/// One optimised parameter.
#[derive(Debug)]
struct Slot {
    name: String,
    param: Tensor,
    /// f32 master copy when the parameter is held in a lower precision for compute.
    master: Option<Tensor>,
    group: ParamGroup,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

/// The optimiser. See the module documentation.
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    slots: Vec<Slot>,
    step: u64,
}

impl AdamW {
    /// An optimiser over `params` (name, tensor, group), states at zero.
    ///
    /// The slots keep the order of `params`, and [`AdamW::clip_grad_norm`] sums the
    /// per-parameter norms in that order: pass the parameters in an order that is the same in
    /// every process (e.g. sorted by name, not a `HashMap`'s order) for reproducible training.
    pub fn new(params: Vec<(String, Tensor, ParamGroup)>, cfg: AdamWConfig) -> AdamW {
        let slots = params
            .into_iter()
            .map(|(name, param, group)| {
                tch::no_grad(|| {
                    let master = (param.is_floating_point() && param.kind() != Kind::Float)
                        .then(|| param.to_kind(Kind::Float).detach());
                    let z = param.zeros_like().to_kind(Kind::Float);
                    Slot { name, exp_avg: z.zeros_like(), exp_avg_sq: z, param, master, group }
                })
            })
            .collect();
        AdamW { cfg, slots, step: 0 }
    }

    /// Optimiser steps taken.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The optimised parameter names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.name.as_str())
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is optimised.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Zero every gradient.
    pub fn zero_grad(&self) {
        for s in &self.slots {
            let mut p = s.param.shallow_clone();
            p.zero_grad();
        }
    }

    /// The global 2-norm of the gradients of `module`'s parameters, and clip them to
    /// `max_norm` as `torch.nn.utils.clip_grad_norm_` does (`g ← g · min(1, max/(norm + 1e-6))`,
    /// applied even when the factor is 1). Returns the norm before clipping (0 without
    /// gradients).
    ///
    /// # Errors
    /// libtorch errors.
    pub fn clip_grad_norm(&self, module: SubModule, max_norm: f64) -> Result<f64> {
        tch::no_grad(|| -> Result<f64> {
            let grads: Vec<Tensor> = self
                .slots
                .iter()
                .filter(|s| s.group.module == module)
                .map(|s| s.param.grad())
                .filter(Tensor::defined)
                .collect();
            if grads.is_empty() {
                return Ok(0.0);
            }
            let norms: Vec<Tensor> = grads
                .iter()
                .map(|g| g.f_norm().and_then(|n| n.f_to_kind(Kind::Float)))
                .collect::<std::result::Result<_, _>>()?;
            let total = Tensor::f_stack(&norms, 0)?.f_norm()?;
            let value = total.f_double_value(&[])?;
            if max_norm > 0.0 {
                let coef = (max_norm / (value + 1e-6)).min(1.0);
                for g in &grads {
                    let mut g = g.shallow_clone();
                    let _ = g.f_mul_scalar_(coef)?;
                }
            }
            Ok(value)
        })
    }

    /// One AdamW step with the scheduled `lr`, `last_layer_lr` and `weight_decay` (each
    /// parameter applies its group's multipliers).
    ///
    /// # Errors
    /// libtorch errors.
    pub fn step(&mut self, lr: f64, last_layer_lr: f64, weight_decay: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let AdamWConfig { beta1, beta2, eps } = self.cfg;
        let bc1 = 1.0 - beta1.powi(t);
        let bc2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        tch::no_grad(|| -> Result<()> {
            for s in &mut self.slots {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                let g = if s.master.is_some() { g.f_to_kind(Kind::Float)? } else { g };
                let (lr, wd) = s.group.apply(lr, last_layer_lr, weight_decay);
                let mut p = s.master.as_ref().unwrap_or(&s.param).shallow_clone();
                if lr * wd != 0.0 {
                    let _ = p.f_mul_scalar_(1.0 - lr * wd)?;
                }
                let _ = s.exp_avg.f_lerp_(&g, 1.0 - beta1)?;
                let _ = s.exp_avg_sq.f_mul_scalar_(beta2)?;
                let _ = s.exp_avg_sq.f_addcmul_(&g, &g.f_mul_scalar(1.0 - beta2)?)?;
                let mut denom = s.exp_avg_sq.f_sqrt()?.f_div_scalar(bc2_sqrt)?;
                let _ = denom.f_add_scalar_(eps)?;
                let update = s.exp_avg.f_div(&denom)?.f_mul_scalar(lr / bc1)?;
                let _ = p.f_sub_(&update)?;
                if let Some(m) = &s.master {
                    s.param.shallow_clone().f_copy_(m)?;
                }
            }
            Ok(())
        })
    }

    /// The f32 value of parameter `name` (its master copy, or the parameter itself).
    pub fn value(&self, name: &str) -> Option<Tensor> {
        self.slots
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.master.as_ref().unwrap_or(&s.param).shallow_clone())
    }

    /// The f32 values of every parameter by name.
    pub fn values(&self) -> BTreeMap<String, Tensor> {
        self.slots
            .iter()
            .map(|s| (s.name.clone(), s.master.as_ref().unwrap_or(&s.param).shallow_clone()))
            .collect()
    }

    /// Overwrite the parameters (and their masters) with saved f32 values.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming missing or mis-shaped values; libtorch errors.
    pub fn set_values(&self, vals: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut problems = Vec::new();
        tch::no_grad(|| -> Result<()> {
            for s in &self.slots {
                match vals.get(&s.name) {
                    None => problems.push(format!("{} is missing", s.name)),
                    Some(v) if v.size() != s.param.size() => problems.push(format!(
                        "{}: saved {:?}, model {:?}",
                        s.name,
                        v.size(),
                        s.param.size()
                    )),
                    Some(v) => {
                        if let Some(m) = &s.master {
                            m.shallow_clone().f_copy_(v)?;
                        }
                        s.param.shallow_clone().f_copy_(v)?;
                    }
                }
            }
            Ok(())
        })?;
        if !problems.is_empty() {
            return Err(Error::Checkpoint(format!("student: {}", problems.join("; "))));
        }
        Ok(())
    }

    /// The state to save: `exp_avg.<name>` and `exp_avg_sq.<name>` for every parameter (the
    /// tensors themselves, not copies), and the step count.
    pub fn state(&self) -> (Vec<(String, Tensor)>, u64) {
        let mut v = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            v.push((format!("exp_avg.{}", s.name), s.exp_avg.shallow_clone()));
            v.push((format!("exp_avg_sq.{}", s.name), s.exp_avg_sq.shallow_clone()));
        }
        (v, self.step)
    }

    /// Restore a saved state (every parameter must be present with its shape).
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming missing or mis-shaped entries; libtorch errors.
    pub fn load_state(&mut self, mut state: BTreeMap<String, Tensor>, step: u64) -> Result<()> {
        let mut problems = Vec::new();
        tch::no_grad(|| -> Result<()> {
            for s in &mut self.slots {
                for (key, dst) in [
                    (format!("exp_avg.{}", s.name), &mut s.exp_avg),
                    (format!("exp_avg_sq.{}", s.name), &mut s.exp_avg_sq),
                ] {
                    match state.remove(&key) {
                        None => problems.push(format!("{key} is missing")),
                        Some(t) if t.size() != dst.size() => problems.push(format!(
                            "{key}: saved {:?}, model {:?}",
                            t.size(),
                            dst.size()
                        )),
                        Some(t) => {
                            dst.f_copy_(&t)?;
                        }
                    }
                }
            }
            Ok(())
        })?;
        problems.extend(state.keys().map(|k| format!("{k} does not belong to any parameter")));
        if !problems.is_empty() {
            return Err(Error::Checkpoint(format!("optimiser state: {}", problems.join("; "))));
        }
        self.step = step;
        Ok(())
    }
}
