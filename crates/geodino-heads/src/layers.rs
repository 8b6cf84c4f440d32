//! The convolution and normalisation layers the heads are built from, each `new(path, &cfg)` +
//! `forward`, with the variable names of their PyTorch modules (`weight`, `bias`,
//! `running_mean`, `running_var`, `num_batches_tracked`).

use tch::{Device, Kind, Tensor, nn};

/// Configuration of a [`Conv2d`] or [`ConvTranspose2d`] (square kernels, no dilation, one group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvConfig {
    /// Input channels.
    pub in_channels: i64,
    /// Output channels.
    pub out_channels: i64,
    /// Kernel edge.
    pub kernel_size: i64,
    /// Stride.
    pub stride: i64,
    /// Zero padding on every side.
    pub padding: i64,
    /// Whether there is a bias.
    pub bias: bool,
}

impl ConvConfig {
    /// A stride-1 convolution with "same" padding for odd kernels (`padding = k / 2`).
    pub fn same(in_channels: i64, out_channels: i64, kernel_size: i64, bias: bool) -> ConvConfig {
        ConvConfig {
            in_channels,
            out_channels,
            kernel_size,
            stride: 1,
            padding: kernel_size / 2,
            bias,
        }
    }
}

/// `nn.Conv2d`. Keys: `weight` `(out, in, k, k)`, `bias` `(out)`.
#[derive(Debug)]
pub struct Conv2d {
    /// `(out, in, k, k)`.
    pub weight: Tensor,
    /// `(out)`.
    pub bias: Option<Tensor>,
    cfg: ConvConfig,
}

impl Conv2d {
    /// Create the variables under `vs` (zero-filled; see the `init_*` methods).
    pub fn new(vs: nn::Path<'_>, cfg: &ConvConfig) -> Conv2d {
        let k = cfg.kernel_size;
        let weight = vs.zeros("weight", &[cfg.out_channels, cfg.in_channels, k, k]);
        let bias = cfg.bias.then(|| vs.zeros("bias", &[cfg.out_channels]));
        Conv2d { weight, bias, cfg: *cfg }
    }

    /// PyTorch's default `reset_parameters`: weight and bias uniform in `±1/√fan_in`
    /// (`kaiming_uniform_(a=√5)`), `fan_in = in·k²`.
    pub fn init_default(&self) {
        let bound = 1.0 / ((self.cfg.in_channels * self.cfg.kernel_size.pow(2)) as f64).sqrt();
        geodino_nn::init::uniform_(&self.weight, -bound, bound);
        if let Some(b) = &self.bias {
            geodino_nn::init::uniform_(b, -bound, bound);
        }
    }

    /// mmcv's `kaiming_init` as dinov3's `ConvModule` applies it: weight normal with
    /// `std = √2 / √fan_out` (`fan_out = out·k²`, ReLU gain), bias 0.
    pub fn init_kaiming_fan_out(&self) {
        let std = (2.0 / (self.cfg.out_channels * self.cfg.kernel_size.pow(2)) as f64).sqrt();
        geodino_nn::init::normal_(&self.weight, 0.0, std);
        if let Some(b) = &self.bias {
            geodino_nn::init::constant_(b, 0.0);
        }
    }

    /// Weight normal(0, `std`), bias 0 (the reference linear heads).
    pub fn init_normal(&self, std: f64) {
        geodino_nn::init::normal_(&self.weight, 0.0, std);
        if let Some(b) = &self.bias {
            geodino_nn::init::constant_(b, 0.0);
        }
    }

    /// # Shapes
    /// `(b, in, h, w) → (b, out, (h + 2p − k) / s + 1, (w + 2p − k) / s + 1)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (s, p) = (self.cfg.stride, self.cfg.padding);
        x.conv2d(&self.weight, self.bias.as_ref(), [s, s], [p, p], [1, 1], 1)
    }
}

/// `nn.ConvTranspose2d` (no output padding). Keys: `weight` `(in, out, k, k)`, `bias` `(out)`.
#[derive(Debug)]
pub struct ConvTranspose2d {
    /// `(in, out, k, k)` (PyTorch's layout for transposed convolutions).
    pub weight: Tensor,
    /// `(out)`.
    pub bias: Option<Tensor>,
    cfg: ConvConfig,
}

impl ConvTranspose2d {
    /// Create the variables under `vs` (zero-filled; see [`ConvTranspose2d::init_default`]).
    pub fn new(vs: nn::Path<'_>, cfg: &ConvConfig) -> ConvTranspose2d {
        let k = cfg.kernel_size;
        let weight = vs.zeros("weight", &[cfg.in_channels, cfg.out_channels, k, k]);
        let bias = cfg.bias.then(|| vs.zeros("bias", &[cfg.out_channels]));
        ConvTranspose2d { weight, bias, cfg: *cfg }
    }

    /// PyTorch's default: uniform in `±1/√fan_in` with PyTorch's `fan_in = weight.size(1)·k²`.
    pub fn init_default(&self) {
        let bound = 1.0 / ((self.cfg.out_channels * self.cfg.kernel_size.pow(2)) as f64).sqrt();
        geodino_nn::init::uniform_(&self.weight, -bound, bound);
        if let Some(b) = &self.bias {
            geodino_nn::init::uniform_(b, -bound, bound);
        }
    }

    /// # Shapes
    /// `(b, in, h, w) → (b, out, (h − 1)·s − 2p + k, (w − 1)·s − 2p + k)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (s, p) = (self.cfg.stride, self.cfg.padding);
        x.conv_transpose2d(&self.weight, self.bias.as_ref(), [s, s], [p, p], [0, 0], 1, [1, 1])
    }
}

/// `nn.Linear` with PyTorch's default initialisation. Keys: `weight` `(out, in)`, `bias`.
#[derive(Debug)]
pub struct Linear {
    /// `(out, in)`.
    pub weight: Tensor,
    /// `(out)`.
    pub bias: Tensor,
}

impl Linear {
    /// Create the variables under `vs` (zero-filled; see [`Linear::init_default`]).
    pub fn new(vs: nn::Path<'_>, in_features: i64, out_features: i64) -> Linear {
        Linear {
            weight: vs.zeros("weight", &[out_features, in_features]),
            bias: vs.zeros("bias", &[out_features]),
        }
    }

    /// Uniform in `±1/√in` for weight and bias.
    pub fn init_default(&self) {
        let bound = 1.0 / (self.weight.size()[1] as f64).sqrt();
        geodino_nn::init::uniform_(&self.weight, -bound, bound);
        geodino_nn::init::uniform_(&self.bias, -bound, bound);
    }

    /// # Shapes
    /// `(…, in) → (…, out)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// `nn.BatchNorm2d` / `nn.SyncBatchNorm` (eps 1e-5, momentum 0.1, affine, running statistics).
/// Keys: `weight`, `bias` (trained), `running_mean`, `running_var` (buffers, f32),
/// `num_batches_tracked` (int64 scalar buffer).
///
/// The statistics are always computed in f32, whatever the input's kind (bf16 inference keeps
/// this numerically sensitive step in full precision).
#[derive(Debug)]
pub struct BatchNorm2d {
    /// `(c)`.
    pub weight: Tensor,
    /// `(c)`.
    pub bias: Tensor,
    /// `(c)`.
    pub running_mean: Tensor,
    /// `(c)`.
    pub running_var: Tensor,
    /// `()`, int64.
    pub num_batches_tracked: Tensor,
}

/// BatchNorm epsilon (PyTorch's default).
pub const BN_EPS: f64 = 1e-5;
/// BatchNorm running-statistics momentum (PyTorch's default).
pub const BN_MOMENTUM: f64 = 0.1;

impl BatchNorm2d {
    /// Create the variables under `vs`: weight 1, bias 0, mean 0, var 1, 0 batches.
    pub fn new(vs: nn::Path<'_>, channels: i64) -> BatchNorm2d {
        let weight = vs.ones("weight", &[channels]);
        let bias = vs.zeros("bias", &[channels]);
        let running_mean = vs.zeros_no_train("running_mean", &[channels]);
        let running_var = vs.ones_no_train("running_var", &[channels]);
        let nbt = Tensor::zeros([], (Kind::Int64, vs.device()));
        let num_batches_tracked = vs.add("num_batches_tracked", nbt, false);
        BatchNorm2d { weight, bias, running_mean, running_var, num_batches_tracked }
    }

    /// Reset to weight 1, bias 0, mean 0, var 1, 0 batches.
    pub fn init(&self) {
        geodino_nn::init::constant_(&self.weight, 1.0);
        geodino_nn::init::constant_(&self.bias, 0.0);
        geodino_nn::init::constant_(&self.running_mean, 0.0);
        geodino_nn::init::constant_(&self.running_var, 1.0);
        tch::no_grad(|| {
            let _ = self.num_batches_tracked.shallow_clone().fill_(0);
        });
    }

    /// Normalise with the running statistics (`train = false`) or with the batch statistics,
    /// updating the running ones (`train = true`). Returns the input's kind.
    ///
    /// # Shapes
    /// `(b, c, h, w) → (b, c, h, w)`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        if train {
            tch::no_grad(|| {
                let _ = self.num_batches_tracked.shallow_clone().g_add_scalar_(1);
            });
        }
        let f32 = |t: &Tensor| t.to_kind(Kind::Float);
        let cudnn = matches!(x.device(), Device::Cuda(_));
        f32(x)
            .batch_norm(
                Some(&f32(&self.weight)),
                Some(&f32(&self.bias)),
                Some(&self.running_mean),
                Some(&self.running_var),
                train,
                BN_MOMENTUM,
                BN_EPS,
                cudnn,
            )
            .to_kind(x.kind())
    }
}
