//! Metrics against values computed by hand (the arithmetic is in the comments).

use geodino_core::{NoData, Window};
use geodino_data::metrics::{
    BlockLayout, CanopyAccumulator, CanopyMetricsConfig, LandCoverAccumulator,
    LandCoverMetricsConfig,
};
use ndarray::{Array2, array, s};

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

fn canopy(cfg: &CanopyMetricsConfig, p: &Array2<f32>, t: &Array2<f32>) -> CanopyAccumulator {
    let (h, w) = p.dim();
    let mut acc = CanopyAccumulator::new(cfg, w, h, Some(NoData(-9999.0)), None).unwrap();
    acc.update(Window::full(w, h), p.view(), t.view()).unwrap();
    acc
}

#[test]
fn pixel_metrics_on_a_2x2_scene() {
    // pred  [1 2]   truth [1 1]   error = pred - truth = [0 1 -2 0]
    //       [3 4]         [5 4]
    // MAE  = (0 + 1 + 2 + 0) / 4 = 0.75
    // RMSE = sqrt((0 + 1 + 4 + 0) / 4) = sqrt(1.25)
    // bias = (0 + 1 - 2 + 0) / 4 = -0.25
    // truth mean 2.75; SS_tot = 2·1.75² + 2.25² + 1.25² = 12.75; SS_res = 5
    // R² = 1 - 5 / 12.75
    // Tree cover at 1.5 m: pred > 1.5 = [F T T T], truth > 1.5 = [F F T T]
    // TP 2, FP 1, FN 0: IoU 2/3, precision 2/3, recall 1, F1 0.8.
    let cfg = CanopyMetricsConfig { tree_threshold_m: 1.5, ..Default::default() };
    let m = canopy(&cfg, &array![[1.0, 2.0], [3.0, 4.0]], &array![[1.0, 1.0], [5.0, 4.0]]).finish();
    assert_eq!(m.pixels, 4);
    close(m.mae, 0.75);
    close(m.rmse, 1.25f64.sqrt());
    close(m.bias, -0.25);
    close(m.r2, 1.0 - 5.0 / 12.75);
    close(m.mean_truth, 2.75);
    close(m.mean_pred, 2.5);
    close(m.tree_cover.iou, 2.0 / 3.0);
    close(m.tree_cover.precision, 2.0 / 3.0);
    close(m.tree_cover.recall, 1.0);
    close(m.tree_cover.f1, 0.8);
    assert_eq!((m.tree_cover.true_positive, m.tree_cover.false_positive), (2, 1));
    // Too small for any 50 × 50 block.
    assert_eq!(m.blocks, 0);
    assert!(m.block_r2.is_nan());
    // Height bins [0,2) [2,5) [5,10) ...: truths 1, 1 -> errors 0, 1; truth 4 -> 0; truth 5 -> -2.
    close(m.by_height[0].mae, 0.5);
    close(m.by_height[1].mae, 0.0);
    close(m.by_height[2].bias, -2.0);
    assert_eq!(m.by_height[3].pixels, 0);
    assert!(m.by_height[3].mae.is_nan());
}

#[test]
fn nodata_and_nan_in_either_raster_are_excluded() {
    // The 2 × 2 scene above plus a row whose pixels are nodata in the prediction (-9999) or NaN
    // in the truth: every metric is unchanged.
    let cfg = CanopyMetricsConfig { tree_threshold_m: 1.5, ..Default::default() };
    let base = canopy(&cfg, &array![[1.0, 2.0], [3.0, 4.0]], &array![[1.0, 1.0], [5.0, 4.0]]);
    let with = canopy(
        &cfg,
        &array![[1.0, 2.0], [3.0, 4.0], [-9999.0, 7.0]],
        &array![[1.0, 1.0], [5.0, 4.0], [3.0, f32::NAN]],
    );
    let (a, b) = (base.finish(), with.finish());
    assert_eq!(a.pixels, b.pixels);
    close(a.mae, b.mae);
    close(a.r2, b.r2);
    assert_eq!(a.tree_cover, b.tree_cover);
    // Truth nodata: a label raster with nodata -1 excludes that value too.
    let mut acc = CanopyAccumulator::new(&cfg, 2, 1, None, Some(NoData(-1.0))).unwrap();
    acc.update(Window::full(2, 1), array![[5.0f32, 6.0]].view(), array![[-1.0f32, 6.0]].view())
        .unwrap();
    let m = acc.finish();
    assert_eq!(m.pixels, 1);
    close(m.mae, 0.0);
}

#[test]
fn negative_heights_are_clamped_as_the_reference_does() {
    // pred [-2 3], truth [-1 3]: clamped to [0 3] and [0 3], MAE 0; unclamped, errors [-1 0].
    let p = array![[-2.0f32, 3.0]];
    let t = array![[-1.0f32, 3.0]];
    close(canopy(&CanopyMetricsConfig::default(), &p, &t).finish().mae, 0.0);
    let raw = CanopyMetricsConfig { clamp_negative: false, ..Default::default() };
    let m = canopy(&raw, &p, &t).finish();
    close(m.mae, 0.5);
    close(m.bias, -0.5);
}

/// A 5 × 5 scene with 2 × 2 blocks after a 1-pixel border (so 2 × 2 blocks):
///
/// ```text
///        col 0 | cols 1-2          | cols 3-4
/// row 0  100   | 100 100           | 100 100      (border: in no block)
/// rows 1-2     | truth 2 2 / 2 2   | truth 4 4 / 4 4
///              | pred  1 3 / 2 2   | pred  6 6 / 6 6
/// rows 3-4     | truth 6 6 / 8 8   | truth 10 10 / 10 10
///              | pred  7 7 / 7 7   | pred  9 9 / 9 9
/// ```
/// Block means (truth, pred): (2, 2), (4, 6), (7, 7), (10, 9).
/// Truth mean 5.75, SS_tot = 3.75² + 1.75² + 1.25² + 4.25² = 36.75; SS_res = 0 + 4 + 0 + 1 = 5.
/// Block R² = 1 - 5 / 36.75.
fn block_scene() -> (Array2<f32>, Array2<f32>) {
    let mut t = Array2::from_elem((5, 5), 100.0f32);
    let mut p = Array2::from_elem((5, 5), 100.0f32);
    t.slice_mut(s![1..3, 1..3]).fill(2.0);
    p.slice_mut(s![1..3, 1..3]).assign(&array![[1.0, 3.0], [2.0, 2.0]]);
    t.slice_mut(s![1..3, 3..5]).fill(4.0);
    p.slice_mut(s![1..3, 3..5]).fill(6.0);
    t.slice_mut(s![3..5, 1..3]).assign(&array![[6.0, 6.0], [8.0, 8.0]]);
    p.slice_mut(s![3..5, 1..3]).fill(7.0);
    t.slice_mut(s![3..5, 3..5]).fill(10.0);
    p.slice_mut(s![3..5, 3..5]).fill(9.0);
    // The border pixels disagree wildly; including them would change the result.
    p[[0, 0]] = 0.0;
    p[[4, 0]] = 50.0;
    (p, t)
}

fn small_blocks(min_valid_fraction: f64) -> CanopyMetricsConfig {
    CanopyMetricsConfig {
        blocks: BlockLayout { block: 2, border: 1, crop: None, min_valid_fraction },
        ..Default::default()
    }
}

#[test]
fn block_r2_by_hand_and_independent_of_window_order_and_threads() {
    let (p, t) = block_scene();
    let cfg = small_blocks(1.0);
    let whole = canopy(&cfg, &p, &t).finish();
    assert_eq!(whole.blocks, 4);
    close(whole.block_r2, 1.0 - 5.0 / 36.75);

    // Windows that cut through blocks, fed bottom-up, split between two accumulators that are
    // merged at the end: the same numbers.
    let windows = [Window::new(0, 3, 5, 2), Window::new(2, 0, 3, 3), Window::new(0, 0, 2, 3)];
    let mut a = CanopyAccumulator::new(&cfg, 5, 5, Some(NoData(-9999.0)), None).unwrap();
    let mut b = a.clone();
    for (k, w) in windows.iter().enumerate() {
        let sl =
            s![w.row_off as usize..w.row_end() as usize, w.col_off as usize..w.col_end() as usize];
        let acc = if k == 1 { &mut b } else { &mut a };
        acc.update(*w, p.slice(sl), t.slice(sl)).unwrap();
    }
    assert!(a.pending_blocks() > 0, "blocks split between accumulators are pending");
    a.merge(b).unwrap();
    let m = a.finish();
    assert_eq!((m.blocks, m.blocks_incomplete), (4, 0));
    close(m.block_r2, whole.block_r2);
    close(m.mae, whole.mae);
    close(m.r2, whole.r2);
}

#[test]
fn block_r2_with_nodata_inside_a_block() {
    // Truth NaN in one pixel of the (10, 9) block.
    let (p, mut t) = block_scene();
    t[[4, 4]] = f32::NAN;
    // min_valid_fraction 1: the block is dropped. Blocks (2,2), (4,6), (7,7): truth mean 13/3,
    // SS_tot = (7/3)² + (1/3)² + (8/3)² = 114/9 = 38/3, SS_res = 4: R² = 1 - 4 / (38/3) = 1 - 12/38.
    let m = canopy(&small_blocks(1.0), &p, &t).finish();
    assert_eq!((m.blocks, m.blocks_dropped), (3, 1));
    close(m.block_r2, 1.0 - 12.0 / 38.0);
    // min_valid_fraction 0.75: 3 of 4 valid pixels is enough; the block's means over its valid
    // pixels are still (10, 9), so R² is the nodata-free value.
    let m = canopy(&small_blocks(0.75), &p, &t).finish();
    assert_eq!((m.blocks, m.blocks_dropped), (4, 0));
    close(m.block_r2, 1.0 - 5.0 / 36.75);
}

#[test]
fn block_layouts_follow_tolans_crops() {
    // inference.py: 256 crops, 3 px border, AvgPool2d(50): blocks start at 3, 53, ..., 203 in
    // each crop; pixels 253..256 of a crop are in no block.
    let crops = BlockLayout { crop: Some(256), ..Default::default() };
    assert_eq!(crops.blocks_along(256), 5);
    assert_eq!(crops.blocks_along(600), 10, "two whole crops; the 88 px remainder is dropped");
    assert_eq!(crops.block_of(2, 600), None);
    assert_eq!(crops.block_of(3, 600), Some(0));
    assert_eq!(crops.block_of(252, 600), Some(4));
    assert_eq!(crops.block_of(253, 600), None);
    assert_eq!(crops.block_of(256 + 3, 600), Some(5));
    assert_eq!(crops.block_of(513, 600), None);
    // Whole scene as one crop: blocks continue across the 256 boundary.
    let scene = BlockLayout::default();
    assert_eq!(scene.blocks_along(600), 11); // (600 - 3) / 50
    assert_eq!(scene.block_of(253, 600), Some(5));
    assert_eq!(scene.block_of(553, 600), None);
    assert!(BlockLayout { block: 0, ..Default::default() }.validate().is_err());
    assert!(BlockLayout { crop: Some(40), ..Default::default() }.validate().is_err());
    assert!(BlockLayout { min_valid_fraction: 0.0, ..Default::default() }.validate().is_err());
}

#[test]
fn crop_layout_on_a_scene_of_two_tolan_crops() {
    // A 256 × 512 scene = two 256 crops side by side; truth is constant per block (block index
    // + 1), prediction = truth + 1 everywhere except block (0, 0) of crop 2, which is exact.
    // 2 × 5 × 5 = 50 blocks with truths 1..=25 twice: mean 13, SS_tot = 2 · Σ (k - 13)² = 2 · 1300.
    // SS_res = 49 (every block off by 1 but one).
    let cfg = CanopyMetricsConfig {
        blocks: BlockLayout { crop: Some(256), ..Default::default() },
        ..Default::default()
    };
    let layout = cfg.blocks.clone();
    let mut t = Array2::<f32>::zeros((256, 512));
    let mut p = Array2::<f32>::zeros((256, 512));
    for r in 0..256 {
        for c in 0..512 {
            if let (Some(i), Some(j)) = (layout.block_of(r, 256), layout.block_of(c, 512)) {
                let v = (i * 5 + j % 5 + 1) as f32;
                t[[r, c]] = v;
                p[[r, c]] = if (i, j) == (0, 5) { v } else { v + 1.0 };
            }
        }
    }
    let m = canopy(&cfg, &p, &t).finish();
    assert_eq!(m.blocks, 50);
    close(m.block_r2, 1.0 - 49.0 / 2600.0);
}

#[test]
fn bad_windows_are_errors_not_panics() {
    let cfg = CanopyMetricsConfig::default();
    let mut acc = CanopyAccumulator::new(&cfg, 4, 4, None, None).unwrap();
    let z = Array2::<f32>::zeros((2, 2));
    assert!(acc.update(Window::new(3, 3, 2, 2), z.view(), z.view()).is_err());
    assert!(acc.update(Window::new(0, 0, 3, 2), z.view(), z.view()).is_err());
    let other = CanopyAccumulator::new(&cfg, 5, 4, None, None).unwrap();
    assert!(acc.merge(other).is_err());
}

#[test]
fn landcover_by_hand() {
    // Classes 0..4 (0 ignored). Pixels (truth -> pred):
    //   1->1, 1->2, 2->2, 2->2, 3->1, 0->1 (ignored truth), 1->0, 3->255 (pred nodata, skipped)
    // Counted: 6 pixels. Confusion rows (truth) x cols (pred):
    //   t1: p0 1, p1 1, p2 1   (support 3)
    //   t2: p2 2               (support 2)
    //   t3: p1 1               (support 1)
    // Predicted: p0 1, p1 2, p2 3, p3 0.
    // Class 1: TP 1, FP 1, FN 2 -> IoU 1/4, precision 1/2, recall 1/3, F1 0.4
    // Class 2: TP 2, FP 1, FN 0 -> IoU 2/3, precision 2/3, recall 1, F1 0.8
    // Class 3: TP 0, FP 0, FN 1 -> IoU 0, precision undefined, recall 0
    // mIoU over classes 1..3 = (1/4 + 2/3 + 0) / 3; OA = 3/6.
    // κ: pe = Σ support·predicted / N² = (3·2 + 2·3 + 1·0) / 36 = 1/3, κ = (1/2 - 1/3) / (2/3) = 1/4.
    let cfg = LandCoverMetricsConfig {
        class_names: vec!["none".into(), "a".into(), "b".into(), "c".into()],
        ignore_classes: vec![0],
    };
    let truth = array![[1u8, 1, 2, 2], [3, 0, 1, 3]];
    let pred = array![[1u8, 2, 2, 2], [1, 1, 0, 255]];
    let mut acc = LandCoverAccumulator::new(&cfg, Some(NoData(255.0)), None).unwrap();
    acc.update(Window::full(4, 2), pred.view(), truth.view()).unwrap();
    let m = acc.finish();
    assert_eq!(m.pixels, 6);
    close(m.overall_accuracy, 0.5);
    close(m.per_class[1].iou, 0.25);
    close(m.per_class[1].precision, 0.5);
    close(m.per_class[1].recall, 1.0 / 3.0);
    close(m.per_class[1].f1, 0.4);
    close(m.per_class[2].iou, 2.0 / 3.0);
    close(m.per_class[2].f1, 0.8);
    close(m.per_class[3].iou, 0.0);
    assert!(m.per_class[3].precision.is_nan());
    assert!(m.per_class[0].ignored);
    close(m.miou, (0.25 + 2.0 / 3.0) / 3.0);
    close(m.kappa, 0.25);
    assert_eq!(m.confusion[1], vec![1, 1, 1, 0]);
    assert_eq!((m.per_class[2].support, m.per_class[2].predicted), (2, 3));

    // Merging two halves gives the same matrix.
    let mut a = LandCoverAccumulator::new(&cfg, Some(NoData(255.0)), None).unwrap();
    let mut b = a.clone();
    a.update(Window::new(0, 0, 4, 1), pred.slice(s![0..1, ..]), truth.slice(s![0..1, ..])).unwrap();
    b.update(Window::new(0, 1, 4, 1), pred.slice(s![1..2, ..]), truth.slice(s![1..2, ..])).unwrap();
    a.merge(&b).unwrap();
    let merged = a.finish();
    assert_eq!(merged.confusion, m.confusion);
    close(merged.miou, m.miou);

    // JSON: NaN becomes null.
    let js = serde_json::to_value(&m).unwrap();
    assert!(js["per_class"][3]["precision"].is_null());
}

#[test]
fn landcover_rejects_values_that_are_not_classes() {
    let cfg = LandCoverMetricsConfig::default();
    let mut acc = LandCoverAccumulator::new(&cfg, None, Some(NoData(0.0))).unwrap();
    let e = acc
        .update(Window::full(2, 1), array![[1u8, 9]].view(), array![[1u8, 2]].view())
        .unwrap_err();
    assert!(e.to_string().contains("class value 9"), "{e}");
    // A float class raster with a fractional value is also rejected.
    let e =
        acc.update(Window::full(1, 1), array![[1.5f32]].view(), array![[1u8]].view()).unwrap_err();
    assert!(e.to_string().contains("1.5"), "{e}");
}
