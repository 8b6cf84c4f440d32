//! The KoLeo regulariser (Kozachenko-Leonenko differential-entropy estimator, Sablayrolles et al.
//! 2018), after `KoLeoLoss` / `KoLeoLossDistributed` (`dinov3/loss/koleo_loss.py`).

use tch::{Kind, Tensor};

use crate::dino_head::l2_normalize;
use crate::error::{Result, SslError, check_rank};

/// `L = −mean_i log(‖x̂_i − x̂_nn(i) + ε‖₂ + ε)` over L2-normalised rows `x̂` (normalised with
/// `eps = ε`), where `nn(i)` is the row with the largest dot product with row `i`, excluding `i`
/// itself. ε = 1e-8 sits exactly where the reference puts it: inside `F.normalize`, inside
/// `nn.PairwiseDistance(2, eps=1e-8)` (added to the difference before the norm) and inside the log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KoLeoLoss {
    /// ε. Default 1e-8.
    pub eps: f64,
}

impl Default for KoLeoLoss {
    fn default() -> Self {
        KoLeoLoss { eps: 1e-8 }
    }
}

impl KoLeoLoss {
    /// Nearest neighbour (max dot product, self excluded) of every row of normalised `x`.
    fn nearest_neighbours(x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let mut dots = x.mm(&x.tr());
            // Self-similarity is 1 for normalised rows; -1 can never beat a neighbour.
            let _ = dots.fill_diagonal_(-1.0, false);
            dots.argmax(1, false)
        })
    }

    fn group_loss(&self, xn: &Tensor) -> Tensor {
        let idx = Self::nearest_neighbours(xn);
        let neighbours = xn.index_select(0, &idx);
        let d = Tensor::pairwise_distance(xn, &neighbours, 2.0, self.eps, false);
        -(d + self.eps).log().mean(Kind::Float)
    }

    /// KoLeo over the whole batch (the reference's `KoLeoLoss`, computed in float32).
    ///
    /// # Shapes
    /// `x: [B, D]` (pre-head class tokens of one crop), `B ≥ 2` → scalar.
    ///
    /// # Errors
    /// [`SslError::Shape`] when `x` is not 2-D or has fewer than 2 rows.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let size = check_rank(x, 2, "KoLeo input", "[B, D]")?;
        if size[0] < 2 {
            return Err(SslError::Shape {
                what: "KoLeo input",
                expected: "at least 2 rows (a nearest neighbour other than itself)".into(),
                got: size,
            });
        }
        let xn = l2_normalize(&x.to_kind(Kind::Float), self.eps);
        Ok(self.group_loss(&xn))
    }

    /// KoLeo within consecutive groups of `group_size` rows, averaged over all rows: the
    /// reference's `KoLeoLossDistributed` with `koleo_distributed_loss_group_size` (16 in the
    /// high-resolution config), where neighbours are searched only inside a sample's group. With
    /// one process holding the whole batch, the groups are consecutive slices of it.
    ///
    /// # Shapes
    /// `x: [B, D]` with `B` a multiple of `group_size ≥ 2` → scalar.
    ///
    /// # Errors
    /// [`SslError::Shape`] / [`SslError::Config`] when the batch does not split into groups.
    pub fn forward_grouped(&self, x: &Tensor, group_size: usize) -> Result<Tensor> {
        let size = check_rank(x, 2, "KoLeo input", "[B, D]")?;
        if group_size < 2 {
            return Err(SslError::Config(format!(
                "KoLeo group size must be >= 2, got {group_size}"
            )));
        }
        if size[0] % group_size as i64 != 0 {
            return Err(SslError::Shape {
                what: "KoLeo input",
                expected: format!("a batch that is a multiple of the group size {group_size}"),
                got: size,
            });
        }
        let xn = l2_normalize(&x.to_kind(Kind::Float), self.eps);
        let n_groups = size[0] / group_size as i64;
        let losses: Vec<Tensor> = (0..n_groups)
            .map(|g| self.group_loss(&xn.narrow(0, g * group_size as i64, group_size as i64)))
            .collect();
        // Equal group sizes: the mean of group means is the mean over all rows.
        Ok(Tensor::stack(&losses, 0).mean(Kind::Float))
    }
}
