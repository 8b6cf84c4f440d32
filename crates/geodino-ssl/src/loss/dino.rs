//! The DINO loss on class tokens, after `DINOLoss.forward` (`dinov3/loss/dino_clstoken_loss.py`).

use tch::{Kind, Tensor};

use crate::error::{Result, SslError, check_rank};

/// Cross-entropy between the teacher's (centred) probabilities and the student's
/// `softmax(z / student_temp)`, averaged over all (student crop, teacher crop, sample) pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DinoLoss {
    /// Student temperature τs. Default 0.1.
    pub student_temp: f64,
}

impl Default for DinoLoss {
    fn default() -> Self {
        DinoLoss { student_temp: 0.1 }
    }
}

impl DinoLoss {
    /// A loss with student temperature `student_temp`.
    pub fn new(student_temp: f64) -> Self {
        DinoLoss { student_temp }
    }

    /// `loss = −Σ_{s,t,b} Σ_k P_t[t,b,k] · log softmax(z[s,b]/τs)_k / count`.
    ///
    /// With `ignore_diagonal` the pairs `s == t` (the same global crop seen by student and
    /// teacher) are left out and `count = B·S·T − B·min(S, T)`; otherwise `count = B·S·T`. This
    /// is the reference's normaliser: the global loss uses `ignore_diagonal = true` with the
    /// student's global crops, the local loss `false` with the student's local crops.
    ///
    /// # Shapes
    /// `student_logits: [S, B, K]`, `teacher_probs: [T, B, K]` → scalar.
    ///
    /// # Errors
    /// [`SslError::Shape`] when the ranks or the `B`, `K` dimensions disagree.
    pub fn forward(
        &self,
        student_logits: &Tensor,
        teacher_probs: &Tensor,
        ignore_diagonal: bool,
    ) -> Result<Tensor> {
        let s_size = check_rank(student_logits, 3, "DINO student logits", "[S, B, K]")?;
        let t_size = check_rank(teacher_probs, 3, "DINO teacher probabilities", "[T, B, K]")?;
        if s_size[1..] != t_size[1..] {
            return Err(SslError::Shape {
                what: "DINO teacher probabilities",
                expected: format!("[T, {}, {}] to match the student", s_size[1], s_size[2]),
                got: t_size,
            });
        }
        let (s, b, _) = (s_size[0], s_size[1], s_size[2]);
        let t = t_size[0];
        let log_p =
            (student_logits.to_kind(Kind::Float) / self.student_temp).log_softmax(-1, Kind::Float);
        let teacher = teacher_probs.to_kind(Kind::Float);
        if !ignore_diagonal {
            let total = Tensor::einsum("sbk,tbk->", &[&log_p, &teacher], None::<i64>);
            return Ok(-total / (b * s * t) as f64);
        }
        // [S, T] pair sums, diagonal zeroed.
        let pairs = Tensor::einsum("sbk,tbk->st", &[&log_p, &teacher], None::<i64>);
        let min_st = s.min(t);
        let keep = Tensor::ones([s, t], (Kind::Float, pairs.device()))
            - Tensor::eye_m(s, t, (Kind::Float, pairs.device()));
        let count = b * s * t - b * min_st;
        if count == 0 {
            return Err(SslError::Shape {
                what: "DINO student logits",
                expected: "at least one student/teacher crop pair off the diagonal".into(),
                got: s_size,
            });
        }
        Ok(-(pairs * keep).sum(Kind::Float) / count as f64)
    }
}
