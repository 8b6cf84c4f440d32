//! The seam test: a scene predicted with two different tile/overlap settings agrees everywhere
//! within a stated tolerance, the jump across tile boundaries is no larger than the image's own
//! pixel-to-pixel variation (unlike plain averaging), and the output's size, transform, CRS and
//! nodata equal the input's as GDAL sees them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use geodino_core::Window;
use geodino_infer::input::prepare_tile;
use geodino_infer::output::{RasterSink, SinkOptions};
use geodino_infer::{
    Blend, EngineOptions, HeadModel, HeightDtype, Product, SceneOptions, TileModel, TilePlan,
};
use geodino_testutil::{oracle, tempdir};
use ndarray::{Array2, Axis};
use tch::Tensor;

fn predict(model: &HeadModel, input: &Path, out: &Path, tile: usize, overlap: usize, blend: Blend) {
    let opts = SceneOptions {
        engine: EngineOptions {
            tile,
            overlap,
            batch: 3,
            blend,
            prefetch: 2,
            ..EngineOptions::default()
        },
        ..SceneOptions::default()
    };
    let product = Product::CanopyHeight { dtype: HeightDtype::Float32 };
    geodino_infer::predict_scene(input, out, model, product, &opts, &|_| {}).unwrap();
}

fn heights(path: &Path) -> Array2<f32> {
    read_all(path).index_axis_move(Axis(0), 0)
}

/// Mean absolute difference between columns `x − 1` and `x`, over valid rows.
fn column_jump(h: &Array2<f32>, x: usize) -> f64 {
    let (mut s, mut n) = (0.0, 0);
    for y in 0..h.nrows() {
        let (a, b) = (h[[y, x - 1]], h[[y, x]]);
        if a.is_finite() && b.is_finite() {
            s += (a - b).abs() as f64;
            n += 1;
        }
    }
    s / n.max(1) as f64
}

/// Columns where a tile starts or ends inside the scene (tile `size`, `overlap`).
fn tile_edges(width: usize, size: usize, overlap: usize) -> Vec<usize> {
    let plan = geodino_infer::TilePlan::new(width, 8, size, overlap, 1, Blend::Cosine).unwrap();
    let mut e: Vec<usize> = Vec::new();
    for &s in &plan.grid.cols.starts {
        if s > 0 {
            e.push(s);
        }
        if s + size < width {
            e.push(s + size);
        }
    }
    e.sort_unstable();
    e.dedup();
    e
}

/// Largest jump at a tile edge over the median column-to-column jump of the whole image.
fn seam_ratio(h: &Array2<f32>, edges: &[usize]) -> f64 {
    let mut all: Vec<f64> = (1..h.ncols()).map(|x| column_jump(h, x)).collect();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = all[all.len() / 2];
    edges.iter().map(|&x| column_jump(h, x)).fold(0.0, f64::max) / median
}

/// Per pixel, the smallest and largest raw prediction of the tiles (of both `plans`) that cover
/// it: the model's own disagreement with itself between contexts.
fn envelope(
    model: &HeadModel,
    input: &Path,
    plans: &[(usize, usize)],
) -> (Array2<f32>, Array2<f32>) {
    let n = &model.spec().normalization;
    let prepared = geodino_infer::scene::prepare_input(
        input,
        3,
        &n.mean,
        &n.std,
        n.scale,
        &SceneOptions::default(),
    )
    .unwrap();
    let meta = prepared.reader.meta().clone();
    let (w, h) = (meta.width, meta.height);
    let mut lo = Array2::from_elem((h, w), f32::INFINITY);
    let mut hi = Array2::from_elem((h, w), f32::NEG_INFINITY);
    for &(tile, overlap) in plans {
        let plan = TilePlan::new(w, h, tile, overlap, 1, Blend::Cosine).unwrap();
        for i in 0..plan.len() {
            let win = plan.input_window(i);
            let t = prepare_tile(prepared.reader.as_ref(), &prepared.spec, win, 1).unwrap();
            let x = Tensor::from_slice(&t.data).view([1, 3, tile as i64, tile as i64]);
            let y: Vec<f32> =
                Vec::try_from(&TileModel::forward(model, &x).unwrap().view([-1])).unwrap();
            for r in 0..tile {
                let yy = win.row_off as usize + r;
                if yy >= h {
                    break;
                }
                for c in 0..tile {
                    let xx = win.col_off as usize + c;
                    if xx >= w {
                        break;
                    }
                    let v = y[r * tile + c];
                    lo[[yy, xx]] = lo[[yy, xx]].min(v);
                    hi[[yy, xx]] = hi[[yy, xx]].max(v);
                }
            }
        }
    }
    (lo, hi)
}

/// A context-free model (each output pixel a function of its own input pixel only): any tiling
/// must give the same output up to float rounding of the weighted mean.
struct PixelModel;

impl TileModel for PixelModel {
    fn in_channels(&self) -> usize {
        3
    }
    fn out_channels(&self) -> usize {
        1
    }
    fn stride(&self) -> usize {
        1
    }
    fn patch_size(&self) -> usize {
        16
    }
    fn forward(&self, x: &Tensor) -> geodino_infer::Result<Tensor> {
        let y = (x.narrow(1, 0, 1) * 3.0 - x.narrow(1, 2, 1)).tanh() * 10.0 + 10.0;
        Ok(y.contiguous())
    }
}

#[test]
fn two_tilings_agree_and_cosine_blending_leaves_no_seams() {
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    let hole = Window::new(150, 100, 40, 30);
    // 352 x 304: every tile origin of both plans lies on the 16-pixel patch grid
    write_scene(&input, 352, 304, 0.6, Some(hole));
    let model = tiny_canopy_model();
    let a = dir.path().join("a.tif");
    let b = dir.path().join("b.tif");
    let avg = dir.path().join("avg.tif");
    predict(&model, &input, &a, 128, 48, Blend::Cosine);
    predict(&model, &input, &b, 128, 64, Blend::Cosine);
    predict(&model, &input, &avg, 128, 48, Blend::Average);
    let (ha, hb, hv) = (heights(&a), heights(&b), heights(&avg));

    // 1. agreement between the two tilings, everywhere, within the stated tolerance: the
    //    blended value is a convex combination of the covering tiles' own predictions, so two
    //    tilings can differ by at most the spread of those predictions (the model's context
    //    sensitivity: global attention, zero padding at tile borders, DPT resampling), plus
    //    float rounding (TOLERANCE_M). Anything beyond it is an engine error (misplaced tiles,
    //    wrong weights, rows mixed up in the band).
    let (lo, hi) = envelope(&model, &input, &[(128, 48), (128, 64)]);
    let (mut max_diff, mut sum_diff, mut sum_spread, mut n) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    for ((y, x), va) in ha.indexed_iter() {
        let vb = hb[[y, x]];
        assert_eq!(va.is_nan(), vb.is_nan(), "nodata differs between tilings at ({x}, {y})");
        if va.is_nan() {
            continue;
        }
        const TOL: f32 = TOLERANCE_M as f32;
        let spread = (hi[[y, x]] - lo[[y, x]]) as f64;
        let d = (va - vb).abs() as f64;
        assert!(
            d <= spread + TOLERANCE_M,
            "({x}, {y}): tilings differ by {d} m, more than the covering tiles' spread {spread} m"
        );
        for v in [*va, vb] {
            assert!(
                v >= lo[[y, x]] - TOL && v <= hi[[y, x]] + TOL,
                "({x}, {y}): {v} outside {} {}",
                lo[[y, x]],
                hi[[y, x]]
            );
        }
        max_diff = max_diff.max(d);
        sum_diff += d;
        sum_spread += spread;
        n += 1;
    }
    eprintln!(
        "tilings 128/48 vs 128/64: max |diff| {max_diff:.4} m, mean {:.4} m; mean spread of the \
         model's own tile predictions {:.4} m",
        sum_diff / n as f64,
        sum_spread / n as f64
    );
    // a context-free model: the same output from both tilings up to rounding
    let (pa, pb) = (dir.path().join("pa.tif"), dir.path().join("pb.tif"));
    for (out, tile, overlap) in [(&pa, 128, 48), (&pb, 96, 32)] {
        let prepared = geodino_infer::scene::prepare_input(
            &input,
            3,
            &[0.5; 3],
            &[0.25; 3],
            255.0,
            &SceneOptions::default(),
        )
        .unwrap();
        let product = Product::CanopyHeight { dtype: HeightDtype::Float32 };
        let grid = prepared.reader.meta().clone();
        let mut sink = RasterSink::create(out, product, &grid, 1, &SinkOptions::default()).unwrap();
        let opts = EngineOptions {
            tile,
            overlap,
            batch: 2,
            blend: Blend::Cosine,
            prefetch: 2,
            ..EngineOptions::default()
        };
        geodino_infer::engine::run(
            prepared.reader.as_ref(),
            &prepared.spec,
            &PixelModel,
            &opts,
            &mut sink,
            &|_| {},
        )
        .unwrap();
        sink.finish().unwrap();
    }
    let (qa, qb) = (heights(&pa), heights(&pb));
    let pix = qa
        .iter()
        .zip(qb.iter())
        .filter(|(x, _)| x.is_finite())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    eprintln!("context-free model, tilings 128/48 vs 96/32: max |diff| {pix:e}");
    assert!(pix < 1e-4, "a context-free model must not depend on the tiling: {pix}");

    // 2. seams: the jump at tile edges against the image's own column-to-column variation
    let ra = seam_ratio(&ha, &tile_edges(352, 128, 48));
    let rb = seam_ratio(&hb, &tile_edges(352, 128, 64));
    let rv = seam_ratio(&hv, &tile_edges(352, 128, 48));
    eprintln!("seam ratio: cosine 128/48 {ra:.2}, cosine 128/64 {rb:.2}, plain averaging {rv:.2}");
    assert!(ra < 2.0 && rb < 2.0, "cosine seams: {ra:.2}, {rb:.2}");
    assert!(rv > 4.0 * ra.max(rb), "plain averaging should show seams: {rv:.2}");

    // 3. nodata: exactly the input's nodata pixels, in both tilings
    let inp = read_all(&input);
    for y in 0..304 {
        for x in 0..352 {
            let nodata_in = (0..3).all(|b| inp[[b, y, x]] == 0.0);
            assert_eq!(ha[[y, x]].is_nan(), nodata_in, "pixel ({x}, {y})");
            assert_eq!(hb[[y, x]].is_nan(), nodata_in, "pixel ({x}, {y})");
        }
    }
    assert!(ha[[110, 160]].is_nan());
}

/// Float rounding allowed on top of the model's own spread (metres): the same tile run in a
/// batch of 3 (the engine) and alone (the envelope) differs by ~1e-4 m at heights of ~40 m
/// (f32 accumulation order in libtorch's convolutions and matmuls); 1 mm is ten times that and
/// 1/100 of the uint16 output's decimetre quantum. See `docs/inference.md` ("Seams").
const TOLERANCE_M: f64 = 1e-3;

#[test]
fn output_grid_and_nodata_equal_the_input_as_gdal_sees_them() {
    if !oracle::gdal() {
        return;
    }
    let Some(py) = oracle::gdal_python() else { return };
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    write_scene(&input, 200, 150, 0.6, Some(Window::new(20, 30, 25, 10)));
    let out = dir.path().join("chm.tif");
    predict(&tiny_canopy_model(), &input, &out, 64, 16, Blend::Cosine);
    let i = oracle::gdalinfo_json(&input, false);
    let o = oracle::gdalinfo_json(&out, false);
    assert_eq!(i["size"], o["size"]);
    assert_eq!(i["geoTransform"], o["geoTransform"]);
    assert_eq!(i["coordinateSystem"]["wkt"], o["coordinateSystem"]["wkt"]);
    assert_eq!(o["bands"][0]["type"], "Float32");
    assert_eq!(o["bands"][0]["noDataValue"], "NaN");
    assert_eq!(o["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG");
    // the nodata masks, as GDAL computes them, are equal
    let script = r#"
import sys
from osgeo import gdal
a = gdal.Open(sys.argv[1]); b = gdal.Open(sys.argv[2])
ma = a.GetRasterBand(1).GetMaskBand().ReadAsArray()
mb = b.GetRasterBand(1).GetMaskBand().ReadAsArray()
print(int((ma != mb).sum()), int((mb == 0).sum()))
"#;
    let res = oracle::run(Command::new(py).arg("-c").arg(script).arg(&input).arg(&out));
    let v: Vec<u64> = res.split_whitespace().map(|t| t.parse().unwrap()).collect();
    assert_eq!(v, vec![0, 250], "mask differences, nodata pixels");
    // and GDAL's validator accepts the COG
    let mut c = Command::new("/usr/bin/python3");
    c.args(["-m", "osgeo_utils.samples.validate_cloud_optimized_geotiff", "--full-check=yes"])
        .arg(&out);
    oracle::run(&mut c);
}
