//! Teacher updates between variable stores, pairing parameters **by name**: the EMA update
//! `θ_t ← m·θ_t + (1−m)·θ_s` (`SSLMetaArch.update_ema`) and the Gram-teacher refresh, a copy of
//! the EMA teacher with the heads skipped (`update_gram(m=0)` / `gram_load_ema_teacher`).
//!
//! The reference zips `parameters()` of student and teacher modules by position; two stores built
//! by the same code pair the same way, but a by-name pairing cannot silently pair the wrong
//! tensors when construction order differs, and it reports what does not match.

use std::collections::BTreeMap;

use tch::{Kind, Tensor, nn::VarStore};

use crate::error::{Result, SslError};

/// Pairs of (target, source) tensors with the same name, checked once and reused every step (as the
/// reference caches `ema_params_lists`).
#[derive(Debug)]
pub struct ParamPairs {
    pairs: Vec<(String, Tensor, Tensor)>,
}

fn is_float(k: Kind) -> bool {
    matches!(k, Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16)
}

impl ParamPairs {
    /// Pair every **parameter** of `source` (a variable with `requires_grad`, i.e. created with
    /// `var`/`zeros`/`randn` rather than a `*_no_train` buffer) with the variable of the same
    /// name in `target`, except names starting with one of `skip_prefixes`.
    ///
    /// # Errors
    /// [`SslError::Pairing`] listing the names missing in `target` and the shape or kind
    /// mismatches.
    pub fn new(target: &VarStore, source: &VarStore, skip_prefixes: &[&str]) -> Result<Self> {
        Self::build(target, source, skip_prefixes, false)
    }

    /// Like [`ParamPairs::new`], but pair every floating-point variable of `source`, buffers
    /// included (for copies such as the Gram-teacher refresh, where buffers must follow too).
    ///
    /// # Errors
    /// As [`ParamPairs::new`].
    pub fn with_buffers(
        target: &VarStore,
        source: &VarStore,
        skip_prefixes: &[&str],
    ) -> Result<Self> {
        Self::build(target, source, skip_prefixes, true)
    }

    fn build(
        target: &VarStore,
        source: &VarStore,
        skip_prefixes: &[&str],
        buffers: bool,
    ) -> Result<Self> {
        let tvars = target.variables();
        let svars: BTreeMap<String, Tensor> = source.variables().into_iter().collect();
        let mut pairs = Vec::new();
        let mut problems = Vec::new();
        for (name, s) in svars {
            if skip_prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            if !(s.requires_grad() || (buffers && is_float(s.kind()))) {
                continue;
            }
            match tvars.get(&name) {
                None => problems.push(format!("{name} is missing in the target")),
                Some(t) if t.size() != s.size() => {
                    problems.push(format!("{name}: target {:?} vs source {:?}", t.size(), s.size()))
                }
                Some(t) if t.kind() != s.kind() => {
                    problems.push(format!("{name}: target {:?} vs source {:?}", t.kind(), s.kind()))
                }
                Some(t) => pairs.push((name, t.shallow_clone(), s)),
            }
        }
        if !problems.is_empty() {
            return Err(SslError::Pairing(problems.join("; ")));
        }
        if pairs.is_empty() {
            return Err(SslError::Pairing("the source has no parameters to pair".into()));
        }
        Ok(ParamPairs { pairs })
    }

    /// Number of paired tensors.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when nothing is paired (never, after a successful construction).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The paired names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _, _)| n.as_str())
    }

    /// `target ← m·target + (1−m)·source` for every pair, without gradient. `m = 0` copies.
    ///
    /// # Errors
    /// [`SslError::Config`] when `m` is not in `[0, 1]`.
    pub fn ema_update(&self, momentum: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&momentum) {
            return Err(SslError::Config(format!(
                "EMA momentum must be in [0, 1], got {momentum}"
            )));
        }
        tch::no_grad(|| -> Result<()> {
            for (_, t, s) in &self.pairs {
                let mut t = t.shallow_clone();
                if momentum == 0.0 {
                    t.f_copy_(s)?;
                } else if momentum < 1.0 {
                    let _ = t.f_mul_scalar_(momentum)?;
                    let _ = t.f_add_(&s.f_mul_scalar(1.0 - momentum)?)?;
                }
            }
            Ok(())
        })
    }

    /// Copy every source tensor into its target (`update_gram(m=0)`).
    ///
    /// # Errors
    /// [`SslError::Torch`] if libtorch refuses a copy.
    pub fn copy(&self) -> Result<()> {
        self.ema_update(0.0)
    }
}

/// One EMA step `θ_t ← m·θ_t + (1−m)·θ_s` over all parameters of `student`, paired by name with
/// `teacher`. For a loop, build [`ParamPairs`] once and call [`ParamPairs::ema_update`].
///
/// # Errors
/// As [`ParamPairs::new`] and [`ParamPairs::ema_update`].
pub fn ema_update(teacher: &VarStore, student: &VarStore, momentum: f64) -> Result<()> {
    ParamPairs::new(teacher, student, &[])?.ema_update(momentum)
}
