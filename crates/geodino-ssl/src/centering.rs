//! Sinkhorn-Knopp centering of the teacher's prototype scores, after
//! `DINOLoss.sinkhorn_knopp_teacher` (`dinov3/loss/dino_clstoken_loss.py`) and
//! `SinkhornKnoppTeacher` (`dinov3/loss/ibot_patch_loss.py`), facebookresearch/dinov3 at 6876159.
//!
//! Given teacher logits `T [M, K]` and a temperature τ:
//!
//! 1. `Q = exp(T / τ)ᵀ` (`[K, M]`, float32), divided by its total;
//! 2. `n_iterations` times: divide every row (prototype) by its sum and by `K`, then every column
//!    (sample) by its sum and by `B`;
//! 3. multiply by `B` and transpose back: every sample's distribution sums to 1.
//!
//! The two variants differ only in `B`: the DINO one uses the number of samples (rows of `T`), the
//! iBOT one the number of masked patches handed in (`n_masked_patches`, all-reduced in the
//! reference). In one process both equal `M`; the iBOT variant keeps the argument so that a
//! caller that shards the masked tokens can pass the global count.
//!
//! Numerics: we subtract the global maximum of `T` before the exponential. `exp((T − max)/τ)`
//! differs from `exp(T/τ)` by one positive factor for the whole matrix, which the first
//! normalisation divides out, so the result is the reference's; the reference does not do it and
//! overflows to `inf`/`NaN` once a logit exceeds about `88·τ` (3.5 at τ = 0.04).

use tch::{Kind, Tensor};

use crate::error::{Result, SslError, check_rank};

/// Default number of Sinkhorn-Knopp iterations (`n_iterations=3` in the reference).
pub const SINKHORN_ITERATIONS: usize = 3;

fn sinkhorn_core(logits: &Tensor, teacher_temp: f64, b: f64, n_iterations: usize) -> Tensor {
    tch::no_grad(|| {
        let t = logits.to_kind(Kind::Float);
        let shifted = &t - t.max();
        // Q is K-by-M.
        let mut q = (shifted / teacher_temp).exp().tr();
        let k = q.size()[0] as f64;
        q = &q / q.sum(Kind::Float);
        for _ in 0..n_iterations {
            // Rows (prototypes): total weight per prototype 1/K.
            q = &q / q.sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
            q /= k;
            // Columns (samples): total weight per sample 1/B.
            q = &q / q.sum_dim_intlist([0i64].as_slice(), true, Kind::Float);
            q /= b;
        }
        (q * b).tr().contiguous()
    })
}

fn check_logits(logits: &Tensor, what: &'static str) -> Result<i64> {
    let size = check_rank(logits, 2, what, "[samples, prototypes]")?;
    if size[0] == 0 || size[1] == 0 {
        return Err(SslError::Shape {
            what,
            expected: "a non-empty [samples, prototypes] matrix".into(),
            got: size,
        });
    }
    Ok(size[0])
}

fn check_temp(teacher_temp: f64) -> Result<()> {
    if !(teacher_temp > 0.0 && teacher_temp.is_finite()) {
        return Err(SslError::Config(format!(
            "teacher temperature must be > 0, got {teacher_temp}"
        )));
    }
    Ok(())
}

/// The DINO variant: teacher probabilities for the class tokens.
///
/// # Shapes
/// `teacher_logits: [M, K]` (all teacher crops of the batch, crop-major) → `[M, K]`, rows summing
/// to 1. Computed in float32 without gradient.
///
/// # Errors
/// [`SslError::Shape`] for a non-2-D or empty input, [`SslError::Config`] for a non-positive
/// temperature.
pub fn sinkhorn_knopp(
    teacher_logits: &Tensor,
    teacher_temp: f64,
    n_iterations: usize,
) -> Result<Tensor> {
    let m = check_logits(teacher_logits, "Sinkhorn-Knopp teacher logits")?;
    check_temp(teacher_temp)?;
    Ok(sinkhorn_core(teacher_logits, teacher_temp, m as f64, n_iterations))
}

/// The iBOT variant: teacher probabilities for the masked patch tokens, normalised with the
/// masked-token count `n_masked_patches`.
///
/// # Shapes
/// `teacher_masked_logits: [M, K]` (teacher iBOT-head scores at the student's masked positions) →
/// `[M, K]`.
///
/// # Errors
/// As [`sinkhorn_knopp`], and [`SslError::Config`] when `n_masked_patches` is 0.
pub fn sinkhorn_knopp_masked(
    teacher_masked_logits: &Tensor,
    teacher_temp: f64,
    n_masked_patches: usize,
    n_iterations: usize,
) -> Result<Tensor> {
    check_logits(teacher_masked_logits, "iBOT Sinkhorn-Knopp teacher logits")?;
    check_temp(teacher_temp)?;
    if n_masked_patches == 0 {
        return Err(SslError::Config("iBOT Sinkhorn-Knopp needs n_masked_patches > 0".into()));
    }
    Ok(sinkhorn_core(teacher_masked_logits, teacher_temp, n_masked_patches as f64, n_iterations))
}
