//! Periodic evaluation of the frozen result backbone on a validation scene: a dense linear probe
//! (land-cover mIoU), patch-feature locality, and a PCA picture of the features.
//!
//! * The scene region (`eval.window`, else a centred square of at most `eval.max_size`, rounded
//!   down to whole `eval.tile`s) is read and scaled exactly as the training chips are, normalised,
//!   cut into `tile × tile` tiles and passed through the backbone in evaluation mode; the
//!   normalised patch tokens form an `(h, w, D)` feature grid.
//! * **Linear probe.** Each patch is labelled with the majority class of its pixels (ignored
//!   when the majority is the ignore value). The top half of the grid trains a linear classifier
//!   (features standardised with the training half's mean and std — the BatchNorm of the
//!   reference's linear evaluations — zero-initialised weights, full-batch Adam, `probe_steps`
//!   steps, weight decay `probe_weight_decay`: deterministic). Its logits are upsampled
//!   bilinearly to pixels and the bottom half scores **mIoU** (mean over classes with a non-empty
//!   union of per-class IoU) and pixel accuracy.
//! * **Locality**: with L2-normalised patch features, the mean cosine similarity of 4-neighbours
//!   minus the mean similarity of all pairs. Dense features that keep local detail score high;
//!   features collapsing to a global descriptor (the degradation Gram anchoring counters) low.
//! * **PCA picture** (`eval/pca-NNNNNNN.png`): input, the first three principal components of
//!   the features as RGB, the probe's prediction and the labels, side by side.

use std::io::Write;
use std::path::{Path, PathBuf};

use geodino_core::Window;
use ndarray::{Array2, Array3};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

use crate::archive::Archive;
use crate::config::{DataConfig, EvalConfig, PretrainConfig};
use crate::error::{Error, Result};
use crate::model::{Network, Placement};

/// One evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// Iterations completed when evaluated.
    pub iteration: usize,
    /// Linear-probe mIoU on the test half (`None` without labels).
    pub miou: Option<f64>,
    /// Pixel accuracy on the test half.
    pub pixel_accuracy: Option<f64>,
    /// Per-class IoU `(class value, IoU)` (classes with a non-empty union).
    pub class_iou: Vec<(i64, f64)>,
    /// Patch accuracy of the probe on its training half.
    pub train_accuracy: Option<f64>,
    /// Mean cosine similarity of 4-neighbour patch features.
    pub neighbour_similarity: f64,
    /// Mean cosine similarity of all patch pairs.
    pub global_similarity: f64,
    /// `neighbour_similarity − global_similarity`.
    pub locality: f64,
    /// The PCA picture, when written.
    pub picture: Option<PathBuf>,
}

impl ProbeResult {
    /// A one-line summary.
    pub fn summary(&self) -> String {
        let probe = match (self.miou, self.pixel_accuracy) {
            (Some(m), Some(a)) => format!("linear probe mIoU {:.4}, pixel accuracy {:.4}; ", m, a),
            _ => String::new(),
        };
        format!(
            "eval @ {}: {probe}locality {:.4} (neighbours {:.4}, all pairs {:.4})",
            self.iteration, self.locality, self.neighbour_similarity, self.global_similarity
        )
    }
}

/// The validation scene, loaded once.
#[derive(Debug)]
pub struct Evaluator {
    cfg: EvalConfig,
    /// Normalised `(c, H, W)`.
    image: Array3<f32>,
    /// `[0, 1]` input for pictures `(c, H, W)`.
    display: Array3<f32>,
    /// Class indices `(H, W)`, −1 = ignore.
    labels: Option<Array2<i64>>,
    /// Class value of each index.
    classes: Vec<i64>,
    patch: usize,
    out_dir: PathBuf,
}

fn region(cfg: &EvalConfig, w: usize, h: usize, path: &str) -> Result<Window> {
    let win = match cfg.window {
        Some([x, y, ww, hh]) => {
            let ww = ww / cfg.tile * cfg.tile;
            let hh = hh / cfg.tile * cfg.tile;
            Window { col_off: x as i64, row_off: y as i64, width: ww, height: hh }
        }
        None => {
            let side = cfg.max_size.min(w).min(h) / cfg.tile * cfg.tile;
            Window {
                col_off: ((w - side.min(w)) / 2) as i64,
                row_off: ((h - side.min(h)) / 2) as i64,
                width: side,
                height: side,
            }
        }
    };
    if win.width == 0 || win.height == 0 || !win.is_inside(w, h) {
        return Err(Error::Config(format!(
            "{path}: the evaluation region {win} (tiles of {} px) does not fit the {w}x{h} scene; \
             set eval.window or eval.tile",
            cfg.tile
        )));
    }
    Ok(win)
}

impl Evaluator {
    /// Load the scene of `cfg.eval` (`None` without `eval.image`), writing into `out_dir`.
    ///
    /// # Errors
    /// Unreadable rasters, labels on another grid, regions outside the scene.
    pub fn new(cfg: &PretrainConfig, out_dir: &Path) -> Result<Option<Evaluator>> {
        let Some(image_path) = &cfg.eval.image else { return Ok(None) };
        let data = DataConfig { paths: vec![image_path.clone()], ..cfg.data.clone() };
        let archive =
            Archive::open(&data, cfg.student.in_chans, &cfg.crops.rgb_mean, cfg.train.seed)?;
        let src = &archive.sources()[0];
        let win = region(&cfg.eval, src.width, src.height, image_path)?;
        let (display, _) = archive.read_scaled(0, win)?;
        let mut image = display.clone();
        for (b, mut plane) in image.outer_iter_mut().enumerate() {
            let (m, s) = (cfg.crops.rgb_mean[b], cfg.crops.rgb_std[b]);
            plane.mapv_inplace(|v| (v - m) / s);
        }
        let (labels, classes) = match &cfg.eval.labels {
            None => (None, Vec::new()),
            Some(lp) => {
                let r = geodino_raster::open(lp)?;
                let m = r.meta();
                if (m.width, m.height) != (src.width, src.height) {
                    return Err(Error::Data(format!(
                        "{lp} is {}x{} but {image_path} is {}x{}: labels must share the image grid",
                        m.width, m.height, src.width, src.height
                    )));
                }
                let ignore = cfg.eval.ignore_label.or(m.nodata(0).map(|n| n.0 as i64));
                let raw = r.read_window(&[0], win)?.to_f64();
                let raw = raw.index_axis(ndarray::Axis(0), 0).mapv(|v| v.round() as i64);
                let mut classes: Vec<i64> =
                    raw.iter().copied().filter(|&v| Some(v) != ignore).collect();
                classes.sort_unstable();
                classes.dedup();
                if classes.len() < 2 {
                    return Err(Error::Data(format!(
                        "{lp}: the evaluation region holds {} class(es); a probe needs at least 2",
                        classes.len()
                    )));
                }
                let idx = raw.mapv(|v| {
                    if Some(v) == ignore {
                        -1
                    } else {
                        classes.binary_search(&v).map_or(-1, |i| i as i64)
                    }
                });
                (Some(idx), classes)
            }
        };
        std::fs::create_dir_all(out_dir)
            .map_err(|e| Error::Io { path: out_dir.to_path_buf(), source: e })?;
        Ok(Some(Evaluator {
            cfg: cfg.eval.clone(),
            image,
            display,
            labels,
            classes,
            patch: cfg.student.patch_size,
            out_dir: out_dir.to_path_buf(),
        }))
    }

    /// Frozen patch features of the region: `(h, w, D)` as a tensor on the CPU.
    fn features(&self, net: &Network, device: Device) -> Result<Tensor> {
        let (c, hh, ww) = self.image.dim();
        let t = self.cfg.tile;
        let (ty, tx) = (hh / t, ww / t);
        let g = t / self.patch;
        let img = Tensor::f_from_slice(self.image.as_slice().expect("standard layout"))?
            .f_reshape([c as i64, hh as i64, ww as i64])?;
        let mut rows = Vec::with_capacity(ty);
        tch::no_grad(|| -> Result<()> {
            for y in 0..ty {
                let tiles: Vec<Tensor> = (0..tx)
                    .map(|x| {
                        img.narrow(1, (y * t) as i64, t as i64).narrow(2, (x * t) as i64, t as i64)
                    })
                    .collect();
                let batch = Tensor::f_stack(&tiles, 0)?.f_to_device(device)?;
                let f = net.backbone.forward_features(&batch, None)?;
                let d = f.x_norm_patchtokens.size()[2];
                // (tx, g·g, D) → (g, tx·g, D)
                let row = f
                    .x_norm_patchtokens
                    .f_to_kind(Kind::Float)?
                    .f_reshape([tx as i64, g as i64, g as i64, d])?
                    .f_permute([1, 0, 2, 3])?
                    .f_reshape([g as i64, (tx * g) as i64, d])?
                    .f_to_device(Device::Cpu)?;
                rows.push(row);
            }
            Ok(())
        })?;
        Ok(Tensor::f_cat(&rows, 0)?)
    }

    /// Evaluate `net`'s backbone after `iteration` iterations.
    ///
    /// # Errors
    /// libtorch errors; picture or log files that cannot be written.
    pub fn evaluate(
        &self,
        net: &Network,
        iteration: usize,
        placement: Placement,
    ) -> Result<ProbeResult> {
        let feats = self.features(net, placement.device)?; // (gh, gw, D)
        let s = feats.size();
        let (gh, gw, d) = (s[0], s[1], s[2]);
        let (neighbour, global) = locality(&feats)?;
        let mut res = ProbeResult {
            iteration,
            miou: None,
            pixel_accuracy: None,
            class_iou: Vec::new(),
            train_accuracy: None,
            neighbour_similarity: neighbour,
            global_similarity: global,
            locality: neighbour - global,
            picture: None,
        };
        let mut prediction: Option<Array2<i64>> = None;
        if let Some(labels) = &self.labels {
            let (pred, train_acc) = self.probe(&feats, labels)?;
            let split = (gh as usize / 2) * self.patch;
            let (miou, acc, per) = score(&pred, labels, split, self.classes.len());
            res.miou = Some(miou);
            res.pixel_accuracy = Some(acc);
            res.train_accuracy = Some(train_acc);
            res.class_iou = per.into_iter().map(|(i, v)| (self.classes[i], v)).collect();
            prediction = Some(pred);
        }
        if self.cfg.pca {
            let pca = pca_rgb(&feats.f_reshape([gh * gw, d])?, gh as usize, gw as usize)?;
            let path = self.out_dir.join(format!("pca-{iteration:07}.png"));
            crate::report::eval_picture(
                &path,
                &self.display,
                &pca,
                self.patch,
                prediction.as_ref(),
                self.labels.as_ref(),
                &res,
            )?;
            res.picture = Some(path);
        }
        let log = self.out_dir.join("probe.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| Error::Io { path: log.clone(), source: e })?;
        writeln!(f, "{}", serde_json::to_string(&res).expect("plain record"))
            .map_err(|e| Error::Io { path: log, source: e })?;
        Ok(res)
    }

    /// Train the probe on the top half; the per-pixel prediction of the whole region and the
    /// training patch accuracy.
    fn probe(&self, feats: &Tensor, labels: &Array2<i64>) -> Result<(Array2<i64>, f64)> {
        let s = feats.size();
        let (gh, gw, d) = (s[0] as usize, s[1] as usize, s[2]);
        let p = self.patch;
        let n_cls = self.classes.len();
        // Majority label per patch.
        let mut patch_labels = vec![-1i64; gh * gw];
        let mut counts = vec![0usize; n_cls];
        for y in 0..gh {
            for x in 0..gw {
                counts.iter_mut().for_each(|c| *c = 0);
                let (mut valid, mut total) = (0, 0);
                for yy in y * p..(y + 1) * p {
                    for xx in x * p..(x + 1) * p {
                        total += 1;
                        let l = labels[[yy, xx]];
                        if l >= 0 {
                            counts[l as usize] += 1;
                            valid += 1;
                        }
                    }
                }
                if 2 * valid > total {
                    let (best, _) = counts
                        .iter()
                        .enumerate()
                        .max_by_key(|(i, c)| (**c, usize::MAX - i))
                        .expect("classes");
                    patch_labels[y * gw + x] = best as i64;
                }
            }
        }
        let train_rows = gh / 2;
        let x_all = feats.f_reshape([(gh * gw) as i64, d])?;
        let n_train = (train_rows * gw) as i64;
        let x_train_all = x_all.f_narrow(0, 0, n_train)?;
        let y_train_all = Tensor::f_from_slice(&patch_labels[..train_rows * gw])?;
        let keep = y_train_all.f_ge(0)?;
        let x_train = x_train_all.f_index(&[Some(&keep)])?;
        let y_train = y_train_all.f_index(&[Some(&keep)])?;
        if y_train.size()[0] == 0 {
            return Err(Error::Data("the probe's training half has no labelled patch".into()));
        }
        let mean = x_train.f_mean_dim([0i64].as_slice(), true, Kind::Float)?;
        let std = x_train.f_std_dim([0i64].as_slice(), false, true)?.f_clamp_min(1e-6)?;
        let norm = |x: &Tensor| -> Result<Tensor> { Ok(x.f_sub(&mean)?.f_div(&std)?) };
        let xt = norm(&x_train)?;
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().zeros("weight", &[d, n_cls as i64]);
        let b = vs.root().zeros("bias", &[n_cls as i64]);
        let mut opt = nn::AdamW { wd: self.cfg.probe_weight_decay, ..Default::default() }
            .build(&vs, self.cfg.probe_lr)?;
        for _ in 0..self.cfg.probe_steps {
            let logits = xt.f_matmul(&w)?.f_add(&b)?;
            let loss = logits.cross_entropy_for_logits(&y_train);
            opt.backward_step(&loss);
        }
        let (pred_pixels, train_acc) = tch::no_grad(|| -> Result<(Array2<i64>, f64)> {
            let train_pred = xt.f_matmul(&w)?.f_add(&b)?.f_argmax(-1, false)?;
            let acc =
                train_pred.f_eq_tensor(&y_train)?.f_to_kind(Kind::Float)?.f_mean(Kind::Float)?;
            let logits = norm(&x_all)?.f_matmul(&w)?.f_add(&b)?; // (gh·gw, C)
            let map = logits
                .f_reshape([1, gh as i64, gw as i64, n_cls as i64])?
                .f_permute([0, 3, 1, 2])?;
            let up = map.f_upsample_bilinear2d(
                [(gh * p) as i64, (gw * p) as i64].as_slice(),
                false,
                None,
                None,
            )?;
            let pred = up.f_argmax(1, false)?.f_reshape([(gh * p) as i64, (gw * p) as i64])?;
            let v: Vec<i64> = Vec::<i64>::try_from(pred.f_reshape([-1])?)?;
            let arr = Array2::from_shape_vec((gh * p, gw * p), v).expect("shape");
            Ok((arr, acc.f_double_value(&[])?))
        })?;
        Ok((pred_pixels, train_acc))
    }
}

/// Mean cosine similarity of 4-neighbours and of all pairs of an `(h, w, D)` feature grid.
fn locality(feats: &Tensor) -> Result<(f64, f64)> {
    tch::no_grad(|| {
        let f = feats.f_to_kind(Kind::Float)?;
        let n = f.f_norm_scalaropt_dim(2, [-1i64].as_slice(), true)?.f_clamp_min(1e-12)?;
        let f = f.f_div(&n)?;
        let s = f.size();
        let (h, w) = (s[0], s[1]);
        let right = f.f_narrow(1, 0, w - 1)?.f_mul(&f.f_narrow(1, 1, w - 1)?)?.f_sum_dim_intlist(
            [-1i64].as_slice(),
            false,
            Kind::Float,
        )?;
        let down = f.f_narrow(0, 0, h - 1)?.f_mul(&f.f_narrow(0, 1, h - 1)?)?.f_sum_dim_intlist(
            [-1i64].as_slice(),
            false,
            Kind::Float,
        )?;
        let count = (right.numel() + down.numel()) as f64;
        let neighbour = (right.f_sum(Kind::Float)?.f_double_value(&[])?
            + down.f_sum(Kind::Float)?.f_double_value(&[])?)
            / count;
        let flat = f.f_reshape([h * w, s[2]])?;
        let mean = flat.f_mean_dim([0i64].as_slice(), false, Kind::Float)?;
        let all = mean.f_dot(&mean)?.f_double_value(&[])?;
        // ‖mean‖² averages all ordered pairs including p = q; remove the diagonal.
        let m = (h * w) as f64;
        let global = (all * m * m - m) / (m * (m - 1.0));
        Ok((neighbour, global))
    })
}

/// mIoU, pixel accuracy and per-class IoU of `pred` against `labels` on rows `≥ split`.
fn score(
    pred: &Array2<i64>,
    labels: &Array2<i64>,
    split: usize,
    n: usize,
) -> (f64, f64, Vec<(usize, f64)>) {
    let mut conf = vec![0u64; n * n];
    let (h, w) = labels.dim();
    for y in split..h.min(pred.dim().0) {
        for x in 0..w.min(pred.dim().1) {
            let l = labels[[y, x]];
            if l < 0 {
                continue;
            }
            conf[l as usize * n + pred[[y, x]] as usize] += 1;
        }
    }
    let total: u64 = conf.iter().sum();
    let correct: u64 = (0..n).map(|i| conf[i * n + i]).sum();
    let mut per = Vec::new();
    for c in 0..n {
        let tp = conf[c * n + c];
        let fn_: u64 = (0..n).map(|j| conf[c * n + j]).sum::<u64>() - tp;
        let fp: u64 = (0..n).map(|i| conf[i * n + c]).sum::<u64>() - tp;
        let union = tp + fn_ + fp;
        if union > 0 {
            per.push((c, tp as f64 / union as f64));
        }
    }
    let miou =
        if per.is_empty() { 0.0 } else { per.iter().map(|p| p.1).sum::<f64>() / per.len() as f64 };
    let acc = if total == 0 { 0.0 } else { correct as f64 / total as f64 };
    (miou, acc, per)
}

/// The first three principal components of `x` `(n, D)` as `(3, h, w)`.
fn pca_rgb(x: &Tensor, h: usize, w: usize) -> Result<Array3<f32>> {
    tch::no_grad(|| {
        let x = x.f_to_kind(Kind::Double)?;
        let xc = x.f_sub(&x.f_mean_dim([0i64].as_slice(), true, Kind::Double)?)?;
        let cov = xc.f_transpose(0, 1)?.f_matmul(&xc)?;
        let (_, vecs) = cov.f_linalg_eigh("L")?; // ascending eigenvalues
        let d = vecs.size()[1];
        let k = d.min(3);
        let top = vecs.f_narrow(1, d - k, k)?.f_flip([1i64].as_slice())?;
        let proj = xc.f_matmul(&top)?.f_to_kind(Kind::Float)?; // (n, k)
        let mut out = Array3::<f32>::zeros((3, h, w));
        let v: Vec<f32> =
            Vec::<f32>::try_from(proj.f_transpose(0, 1)?.f_contiguous()?.f_reshape([-1])?)?;
        for c in 0..k as usize {
            for i in 0..h * w {
                out[[c, i / w, i % w]] = v[c * h * w + i];
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_perfect_and_a_half_wrong_prediction() {
        let labels = Array2::from_shape_vec((2, 2), vec![0, 1, 0, 1]).unwrap();
        let (m, a, _) = score(&labels, &labels, 0, 2);
        assert_eq!((m, a), (1.0, 1.0));
        let pred = Array2::from_shape_vec((2, 2), vec![0, 0, 0, 0]).unwrap();
        let (m, a, per) = score(&pred, &labels, 0, 2);
        assert_eq!(a, 0.5);
        // class 0: tp 2, fp 2 → 0.5; class 1: tp 0, fn 2 → 0
        assert_eq!(per, vec![(0, 0.5), (1, 0.0)]);
        assert_eq!(m, 0.25);
    }

    #[test]
    fn locality_separates_smooth_and_random_features() {
        let smooth = Tensor::linspace(0.0, 1.0, 16, (Kind::Float, Device::Cpu))
            .reshape([4, 4, 1])
            .repeat([1, 1, 8])
            + Tensor::arange(8, (Kind::Float, Device::Cpu)).reshape([1, 1, 8]) * 0.1;
        let (n, g) = locality(&smooth).unwrap();
        assert!(n > 0.99 && g > 0.9, "{n} {g}");
        tch::manual_seed(0);
        let random = Tensor::randn([16, 16, 64], (Kind::Float, Device::Cpu));
        let (n, g) = locality(&random).unwrap();
        assert!(n.abs() < 0.05 && g.abs() < 0.05, "{n} {g}");
    }
}
