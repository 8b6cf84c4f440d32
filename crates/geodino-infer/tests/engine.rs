//! The streaming engine against straightforward in-memory references: the rolling band and the
//! pipeline give exactly the full-canvas weighted mean; a scene of one tile equals the model's
//! own prediction on the padded tile; small scenes keep their size; failures leave nothing at
//! the destination.

mod common;

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use common::*;
use geodino_core::{DataType, RasterRead, Window};
use geodino_heads::Head;
use geodino_infer::engine::{self, EngineOptions};
use geodino_infer::input::{InputSpec, Scaling, prepare_tile};
use geodino_infer::output::{Product, RasterSink, SinkOptions, StripSink};
use geodino_infer::{Blend, Error, TileModel, TilePlan};
use geodino_testutil::tempdir;
use ndarray::Array3;
use tch::{Kind, Tensor};

/// A model computing a smooth per-pixel function of the input plus a per-tile constant `tile
/// index × 0.1` (so blending weights show in the output), at output stride `stride`.
struct Probe {
    stride: usize,
    calls: Cell<usize>,
    fail_at: Option<usize>,
}

impl Probe {
    fn new(stride: usize) -> Probe {
        Probe { stride, calls: Cell::new(0), fail_at: None }
    }
}

impl TileModel for Probe {
    fn in_channels(&self) -> usize {
        3
    }
    fn out_channels(&self) -> usize {
        2
    }
    fn stride(&self) -> usize {
        self.stride
    }
    fn patch_size(&self) -> usize {
        16
    }
    fn forward(&self, x: &Tensor) -> geodino_infer::Result<Tensor> {
        let n = self.calls.get();
        self.calls.set(n + 1);
        if self.fail_at == Some(n) {
            return Err(Error::Config("probe failure".into()));
        }
        let s = self.stride as i64;
        let y0 = x.mean_dim(1, true, Kind::Float); // (b, 1, t, t)
        let y1 = x.narrow(1, 0, 1) * 2.0;
        let y = Tensor::cat(&[y0, y1], 1);
        let y =
            if s > 1 { y.avg_pool2d([s, s], [s, s], [0, 0], false, true, None::<i64>) } else { y };
        Ok(y.contiguous())
    }
}

/// A sink keeping every strip in memory, checking that column strips arrive left to right,
/// each top to bottom, every pixel once.
struct Collect {
    h: usize,
    k: usize,
    values: Array3<f32>,
    valid: ndarray::Array2<u8>,
    /// Times each pixel was written.
    written: ndarray::Array2<u8>,
    /// The column strip being written: `(col_off, width, next row)`.
    current: (usize, usize, usize),
}

impl Collect {
    fn new(w: usize, h: usize, k: usize) -> Collect {
        Collect {
            h,
            k,
            values: Array3::from_elem((k, h, w), f32::NAN),
            valid: ndarray::Array2::zeros((h, w)),
            written: ndarray::Array2::zeros((h, w)),
            current: (0, 0, h), // an empty strip left of the first
        }
    }

    /// Every pixel written exactly once.
    fn complete(&self) -> bool {
        self.written.iter().all(|&n| n == 1)
    }
}

impl StripSink for Collect {
    fn write_strip(&mut self, s: &geodino_infer::accumulate::Strip) -> geodino_infer::Result<()> {
        assert_eq!(s.channels, self.k);
        let (col, width, next) = self.current;
        if s.col_off == col && s.width == width {
            assert_eq!(s.row_off, next, "a column strip's rows arrive in order");
        } else {
            assert_eq!((next, s.col_off, s.row_off), (self.h, col + width, 0), "strips in order");
        }
        for c in 0..self.k {
            for r in 0..s.rows {
                for (x, v) in s.row(c, r).iter().enumerate() {
                    self.values[[c, s.row_off + r, s.col_off + x]] = *v;
                }
            }
        }
        for r in 0..s.rows {
            for x in 0..s.width {
                self.valid[[s.row_off + r, s.col_off + x]] = s.valid[r * s.width + x];
                self.written[[s.row_off + r, s.col_off + x]] += 1;
            }
        }
        self.current = (s.col_off, s.width, s.row_off + s.rows);
        assert!(s.row_off + s.rows <= self.h);
        Ok(())
    }
}

fn rgb_spec(reader: &dyn RasterRead) -> InputSpec {
    InputSpec::new(reader, vec![0, 1, 2], Scaling::divide(255.0), vec![0.4; 3], vec![0.2; 3])
        .unwrap()
}

/// The cosine profile written out independently of the crate.
fn cosine(len: usize, lead: usize, trail: usize) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let mut w = 1.0;
            if i < lead {
                w *= (std::f64::consts::FRAC_PI_2 * (i as f64 + 0.5) / lead as f64).sin().powi(2);
            }
            let j = len - 1 - i;
            if j < trail {
                w *= (std::f64::consts::FRAC_PI_2 * (j as f64 + 0.5) / trail as f64).sin().powi(2);
            }
            w
        })
        .collect()
}

/// Full-canvas reference: every tile predicted on its own, weighted with independently computed
/// cosine profiles, summed into whole-scene arrays, divided.
fn reference(
    reader: &dyn RasterRead,
    spec: &InputSpec,
    model: &dyn TileModel,
    tile: usize,
    overlap: usize,
) -> Array3<f64> {
    let plan = TilePlan::new(
        reader.meta().width,
        reader.meta().height,
        tile,
        overlap,
        model.stride(),
        Blend::Cosine,
    )
    .unwrap();
    let (w, h, k) = (plan.out_width, plan.out_height, model.out_channels());
    let to = plan.out_tile();
    let mut sum = Array3::<f64>::zeros((k, h, w));
    let mut wsum = ndarray::Array2::<f64>::zeros((h, w));
    let rs = &plan.grid.rows.starts;
    let cs = &plan.grid.cols.starts;
    let prof = |starts: &[usize], i: usize| {
        let lead = if i > 0 { starts[i - 1] + to - starts[i] } else { 0 };
        let trail = if i + 1 < starts.len() { starts[i] + to - starts[i + 1] } else { 0 };
        cosine(to, lead, trail)
    };
    for i in 0..plan.len() {
        let inp = prepare_tile(reader, spec, plan.input_window(i), plan.stride).unwrap();
        let x = Tensor::from_slice(&inp.data).view([1, 3, tile as i64, tile as i64]);
        let y = Vec::<f32>::try_from(&model.forward(&x).unwrap().view([-1])).unwrap();
        let (gr, gc) = plan.grid_pos(i);
        let (pr, pc) = (prof(rs, gr), prof(cs, gc));
        let ow = plan.output_window(i);
        for r in 0..to {
            for c in 0..to {
                let (yy, xx) = (ow.row_off as usize + r, ow.col_off as usize + c);
                if yy >= h || xx >= w {
                    continue;
                }
                let wt = pr[r] * pc[c];
                wsum[[yy, xx]] += wt;
                for ch in 0..k {
                    sum[[ch, yy, xx]] += wt * y[(ch * to + r) * to + c] as f64;
                }
            }
        }
    }
    for ch in 0..k {
        for ((y, x), ws) in wsum.indexed_iter() {
            sum[[ch, y, x]] /= ws;
        }
    }
    sum
}

fn max_abs_diff(a: &Array3<f32>, b: &Array3<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(&x, &y)| (x as f64 - y).abs()).fold(0.0, f64::max)
}

#[test]
fn streaming_equals_the_full_canvas_reference() {
    let dir = tempdir();
    let path = dir.path().join("scene.tif");
    write_scene(&path, 300, 227, 0.6, None);
    let reader = geodino_raster::open(&path).unwrap();
    let spec = rgb_spec(reader.as_ref());
    for (stride, tile, overlap, batch) in
        [(1usize, 64usize, 16usize, 3usize), (1, 96, 48, 1), (16, 64, 32, 4)]
    {
        let model = Probe::new(stride);
        let opts = EngineOptions {
            tile,
            overlap,
            batch,
            blend: Blend::Cosine,
            prefetch: 2,
            ..EngineOptions::default()
        };
        let plan = TilePlan::new(300, 227, tile, overlap, stride, Blend::Cosine).unwrap();
        let mut sink = Collect::new(plan.out_width, plan.out_height, 2);
        let stats = engine::run(reader.as_ref(), &spec, &model, &opts, &mut sink, &|_| {}).unwrap();
        assert_eq!(stats.tiles, plan.len());
        assert_eq!(stats.batches, plan.len().div_ceil(batch));
        assert!(sink.complete());
        let want = reference(reader.as_ref(), &spec, &Probe::new(stride), tile, overlap);
        let err = max_abs_diff(&sink.values, &want);
        assert!(err < 1e-5, "stride {stride} tile {tile} overlap {overlap}: max error {err}");
        // the band holds one tile of rows of one strip (here the whole width)
        let to = tile / stride;
        assert_eq!(stats.strips, 1);
        assert_eq!(stats.band_bytes, to.min(plan.out_height) * plan.out_width * (2 * 4 + 4 + 1));
        assert!(sink.valid.iter().all(|&v| v == 1));
    }
}

/// Bit patterns of the values and the validity.
fn bits(c: &Collect) -> (Vec<u32>, Vec<u8>) {
    (c.values.iter().map(|v| v.to_bits()).collect(), c.valid.iter().copied().collect())
}

#[test]
fn column_strips_give_the_single_strip_output_bit_for_bit() {
    // Strips narrower than a tile (tiles carried through two or more strips), strips that
    // start no tile, a 1-pixel-wide strip of patch features, nodata crossing strip edges.
    let dir = tempdir();
    let path = dir.path().join("scene.tif");
    write_scene(&path, 300, 227, 0.6, Some(Window::new(50, 40, 120, 60)));
    let reader = geodino_raster::open(&path).unwrap();
    let spec = rgb_spec(reader.as_ref());
    for (stride, tile, overlap) in [(1usize, 64usize, 16usize), (1, 96, 48), (16, 64, 32)] {
        let model = Probe::new(stride);
        let run = |strip: usize| {
            let opts = EngineOptions { tile, overlap, batch: 3, strip, ..EngineOptions::default() };
            let plan = TilePlan::new(300, 227, tile, overlap, stride, Blend::Cosine).unwrap();
            let mut sink = Collect::new(plan.out_width, plan.out_height, 2);
            let stats =
                engine::run(reader.as_ref(), &spec, &model, &opts, &mut sink, &|_| {}).unwrap();
            assert!(sink.complete());
            assert_eq!(stats.tiles, plan.len(), "every tile predicted once");
            (bits(&sink), stats)
        };
        let (one, s1) = run(0);
        assert_eq!((s1.strips, s1.carry_bytes), (1, 0));
        assert!(one.1.contains(&0) && one.1.contains(&1), "nodata reaches the output");
        for strip in [16, 40, 100, 128, 250] {
            let (got, st) = run(strip);
            let cols = strip.div_ceil(stride);
            assert_eq!(st.strips, 300usize.div_ceil(stride).div_ceil(cols));
            assert!(st.strips > 1 && st.carry_bytes > 0);
            let out_w = 300usize.div_ceil(stride);
            let rows = (tile / stride).min(227usize.div_ceil(stride));
            assert_eq!(st.band_bytes, rows * cols.min(out_w) * (2 * 4 + 4 + 1));
            assert!(
                got == one,
                "stride {stride} tile {tile} overlap {overlap} strip {strip}: output differs \
                 from one strip"
            );
        }
    }
}

#[test]
fn strips_through_a_cog_and_zarr_match_one_strip_and_leave_no_scratch_files() {
    let dir = tempdir();
    let path = dir.path().join("scene.tif");
    write_scene(&path, 700, 300, 0.6, Some(Window::new(240, 100, 40, 150)));
    let reader = geodino_raster::open(&path).unwrap();
    let spec = rgb_spec(reader.as_ref());
    let grid = reader.meta().clone();
    let mut outs = Vec::new();
    for ext in ["tif", "zarr"] {
        for strip in [0usize, 1] {
            let out = dir.path().join(format!("out-{strip}.{ext}"));
            let product = Product::Features { channels: 2 };
            let mut sink =
                RasterSink::create(&out, product, &grid, 1, &SinkOptions::default()).unwrap();
            let align = sink.column_align();
            assert_eq!(align, 256, "{ext}: the GeoTIFF tile / Zarr shard width");
            let opts = EngineOptions {
                tile: 128,
                overlap: 32,
                batch: 2,
                strip,
                ..EngineOptions::default()
            };
            let st = engine::run(reader.as_ref(), &spec, &Probe::new(1), &opts, &mut sink, &|_| {})
                .unwrap();
            // strips are aligned to the output's tiles
            assert_eq!(st.strip_columns, if strip == 0 { 700 } else { align });
            assert_eq!(st.strips, if strip == 0 { 1 } else { 3 });
            sink.finish().unwrap();
            outs.push(read_all(&out));
        }
    }
    for o in &outs[1..] {
        assert_eq!(o.dim(), outs[0].dim());
        assert!(outs[0].iter().zip(o.iter()).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
    let mut names = leftovers(dir.path());
    names.sort();
    assert_eq!(names, ["out-0.tif", "out-0.zarr", "out-1.tif", "out-1.zarr"]);
}

#[test]
fn cosine_weights_form_a_partition_of_unity() {
    // The probe's second channel is 2 × the first band; with a constant image, every tile
    // predicts the same value, so the blend must return it exactly — any weight defect shows.
    let dir = tempdir();
    let path = dir.path().join("flat.tif");
    let meta = scene_meta(200, 150, 3, DataType::Uint8, 1.0);
    let px = Array3::<u8>::from_elem((3, 150, 200), 51);
    geodino_tiff::write::write_geotiff(
        &path,
        &meta,
        &geodino_core::RasterBuffer::Uint8(px),
        &Default::default(),
    )
    .unwrap();
    let reader = geodino_raster::open(&path).unwrap();
    let spec = rgb_spec(reader.as_ref());
    for blend in [Blend::Cosine, Blend::Gaussian, Blend::Average] {
        let opts = EngineOptions {
            tile: 64,
            overlap: 24,
            batch: 2,
            blend,
            prefetch: 1,
            ..EngineOptions::default()
        };
        let mut sink = Collect::new(200, 150, 2);
        engine::run(reader.as_ref(), &spec, &Probe::new(1), &opts, &mut sink, &|_| {}).unwrap();
        let v = (51.0 / 255.0 - 0.4) / 0.2;
        for x in sink.values.index_axis(ndarray::Axis(0), 0) {
            assert!((x - v).abs() < 1e-5, "{blend}: {x} vs {v}");
        }
    }
}

#[test]
fn one_tile_scene_equals_the_models_prediction_on_the_padded_tile() {
    let dir = tempdir();
    let path = dir.path().join("small.tif");
    // 90 x 70: smaller than the 128-pixel tile in both directions -> read padded, one tile
    write_scene(&path, 90, 70, 0.6, None);
    let model = tiny_canopy_model();
    let reader = geodino_raster::open(&path).unwrap();
    let n = &model.spec().normalization;
    let spec = InputSpec::new(
        reader.as_ref(),
        vec![0, 1, 2],
        Scaling::divide(255.0),
        n.mean.clone(),
        n.std.clone(),
    )
    .unwrap();
    let opts = EngineOptions { tile: 128, overlap: 32, ..EngineOptions::default() };
    let mut sink = Collect::new(90, 70, 1);
    let stats = engine::run(reader.as_ref(), &spec, &model, &opts, &mut sink, &|_| {}).unwrap();
    assert_eq!(stats.tiles, 1);
    // by hand: the tile (zero = mean colour beyond the scene), the head's own prediction
    let inp = prepare_tile(reader.as_ref(), &spec, Window::new(0, 0, 128, 128), 1).unwrap();
    let x = Tensor::from_slice(&inp.data).view([1, 3, 128, 128]);
    let want = TileModel::forward(&model, &x).unwrap();
    let want = want.narrow(2, 0, 70).narrow(3, 0, 90).contiguous();
    let want: Vec<f32> = Vec::try_from(&want.view([-1])).unwrap();
    let got: Vec<f32> = sink.values.iter().copied().collect();
    let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-5, "max error {err}");
    assert!(got.iter().all(|v| v.is_finite() && *v >= 0.0));
}

#[test]
fn head_model_forward_is_the_heads_prediction() {
    let model = tiny_canopy_model();
    tch::manual_seed(3);
    let x = Tensor::randn([2, 3, 64, 96], (Kind::Float, tch::Device::Cpu));
    let a = TileModel::forward(&model, &x).unwrap();
    let head = tiny_canopy_head(2, 32);
    let bb = tiny_backbone(1);
    let b = head.predict(&bb, &x).unwrap();
    assert_eq!(a.size(), [2, 1, 64, 96]);
    let err = (&a - &b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]);
    eprintln!("max |forward - predict| {err:e} m of heights up to {scale:.2} m");
    assert!(err <= 1e-6 * scale.max(1.0), "max error {err}");
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "scene.tif")
        .collect()
}

#[test]
fn a_failure_mid_run_leaves_nothing_at_the_destination() {
    let dir = tempdir();
    let path = dir.path().join("scene.tif");
    write_scene(&path, 256, 256, 0.6, None);
    let reader = geodino_raster::open(&path).unwrap();
    let spec = rgb_spec(reader.as_ref());
    let out = dir.path().join("out.tif");
    let mut model = Probe::new(1);
    model.fail_at = Some(2);
    let grid = reader.meta().clone();
    let mut sink = RasterSink::create(
        &out,
        Product::Features { channels: 2 },
        &grid,
        1,
        &SinkOptions::default(),
    )
    .unwrap();
    let opts = EngineOptions { tile: 64, overlap: 16, batch: 2, ..EngineOptions::default() };
    let e = engine::run(reader.as_ref(), &spec, &model, &opts, &mut sink, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("probe failure"), "{e}");
    drop(sink);
    assert!(!out.exists());
    assert!(leftovers(dir.path()).is_empty(), "left behind: {:?}", leftovers(dir.path()));
}

#[test]
fn read_errors_name_the_file_and_stop_the_run() {
    /// A reader whose windows below row 100 fail.
    struct Broken(geodino_core::SharedReader);
    impl RasterRead for Broken {
        fn path(&self) -> &Path {
            self.0.path()
        }
        fn meta(&self) -> &geodino_core::RasterMeta {
            self.0.meta()
        }
        fn read_window(
            &self,
            b: &[usize],
            w: Window,
        ) -> geodino_core::Result<geodino_core::RasterBuffer> {
            if w.row_end() > 100 {
                return Err(geodino_core::Error::format(self.path(), "damaged tile"));
            }
            self.0.read_window(b, w)
        }
    }
    let dir = tempdir();
    let path = dir.path().join("scene.tif");
    write_scene(&path, 128, 256, 0.6, None);
    let reader: geodino_core::SharedReader = Arc::new(Broken(geodino_raster::open(&path).unwrap()));
    let spec = rgb_spec(reader.as_ref());
    let mut sink = Collect::new(128, 256, 2);
    let opts = EngineOptions { tile: 64, overlap: 16, batch: 1, ..EngineOptions::default() };
    let e =
        engine::run(reader.as_ref(), &spec, &Probe::new(1), &opts, &mut sink, &|_| {}).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("scene.tif") && msg.contains("damaged tile"), "{msg}");
}

#[test]
fn options_that_do_not_fit_are_refused() {
    let dir = tempdir();
    let path = dir.path().join("scene.tif");
    write_scene(&path, 64, 64, 0.6, None);
    let reader = geodino_raster::open(&path).unwrap();
    let spec = rgb_spec(reader.as_ref());
    let mut sink = Collect::new(64, 64, 2);
    let run = |tile, overlap, batch, sink: &mut Collect| {
        let opts = EngineOptions { tile, overlap, batch, ..EngineOptions::default() };
        engine::run(reader.as_ref(), &spec, &Probe::new(1), &opts, sink, &|_| {})
            .unwrap_err()
            .to_string()
    };
    assert!(run(100, 16, 1, &mut sink).contains("multiple of the patch size"));
    assert!(run(64, 64, 1, &mut sink).contains("smaller than --tile"));
    assert!(run(64, 16, 0, &mut sink).contains("--batch"));
    // two bands selected for a three-band model
    let two = InputSpec::new(
        reader.as_ref(),
        vec![0, 1],
        Scaling::divide(255.0),
        vec![0.4; 2],
        vec![0.2; 2],
    )
    .unwrap();
    let opts = EngineOptions { tile: 64, overlap: 16, ..EngineOptions::default() };
    let e =
        engine::run(reader.as_ref(), &two, &Probe::new(1), &opts, &mut sink, &|_| {}).unwrap_err();
    assert!(e.to_string().contains("scene.tif") && e.to_string().contains("takes 3"), "{e}");
}
