//! Synthetic scenes: determinism, window independence, streaming, label/image alignment.

use geodino_core::{DataType, RasterBuffer, RasterElement, RasterMeta, RasterWrite, Window};
use geodino_data::synth::{Class, SceneGenerator, SceneTile, StreamOptions, SynthConfig};
use ndarray::{Array2, Array3, s};

/// An in-memory [`RasterWrite`] that records every window and checks that each pixel is
/// written exactly once.
struct MemWriter {
    meta: RasterMeta,
    data: RasterBuffer,
    written: Array2<u8>,
    windows: usize,
}

impl MemWriter {
    fn new(meta: RasterMeta) -> Self {
        let data =
            RasterBuffer::filled(meta.dtype, (meta.band_count(), meta.height, meta.width), 0.0);
        let written = Array2::zeros((meta.height, meta.width));
        MemWriter { meta, data, written, windows: 0 }
    }
}

impl RasterWrite for MemWriter {
    fn meta(&self) -> &RasterMeta {
        &self.meta
    }

    fn write_window(&mut self, window: Window, data: &RasterBuffer) -> geodino_core::Result<()> {
        assert!(window.is_inside(self.meta.width, self.meta.height));
        assert_eq!(data.shape(), (self.meta.band_count(), window.height, window.width));
        assert_eq!(data.dtype(), self.meta.dtype);
        self.data.paste(data, window.row_off as usize, window.col_off as usize);
        let (r, c) = (window.row_off as usize, window.col_off as usize);
        self.written
            .slice_mut(s![r..r + window.height, c..c + window.width])
            .mapv_inplace(|v| v + 1);
        self.windows += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> geodino_core::Result<()> {
        Ok(())
    }
}

fn cfg(seed: u64, w: usize, h: usize, preset: &str) -> SynthConfig {
    SynthConfig { width: w, height: h, seed, nir: true, ..SynthConfig::preset(preset).unwrap() }
}

/// Render the scene through `write()` into memory with the given stream layout.
fn stream(g: &SceneGenerator, opts: &StreamOptions) -> (Array3<u8>, Array3<f32>, Array3<u8>) {
    let mut img = MemWriter::new(g.image_meta());
    let mut chm = MemWriter::new(g.chm_meta());
    let mut lc = MemWriter::new(g.landcover_meta());
    let mut last = 0;
    g.write(&mut img, &mut chm, &mut lc, opts, &mut |n| {
        assert!(n > last, "progress increases");
        last = n;
    })
    .unwrap();
    let c = g.config();
    assert_eq!(last, (c.width * c.height) as u64);
    for w in [&img, &chm, &lc] {
        assert!(w.written.iter().all(|&n| n == 1), "every pixel written exactly once");
    }
    (u8::unwrap(img.data).unwrap(), f32::unwrap(chm.data).unwrap(), u8::unwrap(lc.data).unwrap())
}

#[test]
fn same_seed_same_scene_other_seed_other_scene() {
    let w = Window::new(40, 25, 180, 120);
    let a = SceneGenerator::new(&cfg(7, 400, 300, "mixed")).unwrap().render(w).unwrap();
    let b = SceneGenerator::new(&cfg(7, 400, 300, "mixed")).unwrap().render(w).unwrap();
    assert_eq!(a, b);
    let c = SceneGenerator::new(&cfg(8, 400, 300, "mixed")).unwrap().render(w).unwrap();
    assert_ne!(a.image, c.image);
    // The scene size does not change the landscape: the same window of a larger scene of the
    // same seed is the same.
    let d = SceneGenerator::new(&cfg(7, 900, 700, "mixed")).unwrap().render(w).unwrap();
    assert_eq!(a, d);
}

#[test]
fn any_window_layout_gives_the_same_pixels() {
    // A village with trees and buildings: objects and their shadows cross window borders.
    let g = SceneGenerator::new(&cfg(3, 320, 256, "village")).unwrap();
    let whole = g.render(Window::full(320, 256)).unwrap();
    let classes: std::collections::BTreeSet<u8> = whole.landcover.iter().copied().collect();
    assert!(classes.contains(&Class::Building.value()), "the test scene has buildings");
    assert!(classes.contains(&Class::Tree.value()), "the test scene has trees");
    for (rows, cols) in [(37, 100), (256, 64), (1, 320), (97, 13)] {
        let mut img = Array3::<u8>::zeros(whole.image.dim());
        let mut chm = Array2::<f32>::zeros(whole.chm.dim());
        let mut lc = Array2::<u8>::zeros(whole.landcover.dim());
        for w in g.windows(&StreamOptions { band_rows: rows, window_cols: cols, threads: 1 }) {
            let t: SceneTile = g.render(w).unwrap();
            let (r, c) = (w.row_off as usize, w.col_off as usize);
            let (r1, c1) = (r + w.height, c + w.width);
            img.slice_mut(s![.., r..r1, c..c1]).assign(&t.image);
            chm.slice_mut(s![r..r1, c..c1]).assign(&t.chm);
            lc.slice_mut(s![r..r1, c..c1]).assign(&t.landcover);
        }
        assert_eq!(img, whole.image, "image with {rows}x{cols} windows");
        assert_eq!(chm, whole.chm, "canopy height with {rows}x{cols} windows");
        assert_eq!(lc, whole.landcover, "land cover with {rows}x{cols} windows");
    }
}

#[test]
fn streaming_with_two_band_heights_and_threads_is_identical() {
    let g = SceneGenerator::new(&cfg(11, 300, 260, "mixed")).unwrap();
    let a = stream(&g, &StreamOptions { band_rows: 256, window_cols: 1024, threads: 1 });
    let b = stream(&g, &StreamOptions { band_rows: 37, window_cols: 128, threads: 2 });
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2);
    // Writers of the wrong size are refused with a message, not a panic.
    let mut small = MemWriter::new(RasterMeta::new(10, 10, 4, DataType::Uint8));
    let mut chm = MemWriter::new(g.chm_meta());
    let mut lc = MemWriter::new(g.landcover_meta());
    let e =
        g.write(&mut small, &mut chm, &mut lc, &StreamOptions::default(), &mut |_| {}).unwrap_err();
    assert!(e.to_string().contains("image writer is 10x10"), "{e}");
}

#[test]
fn labels_agree_with_the_image() {
    // A lake scene with forest, fields and roads, RGB + NIR.
    let g = SceneGenerator::new(&cfg(5, 512, 512, "lakes")).unwrap();
    let t = g.render(Window::full(512, 512)).unwrap();
    let nir = t.image.index_axis(ndarray::Axis(0), 3);
    let red = t.image.index_axis(ndarray::Axis(0), 0);
    let mut count = [0usize; 8];
    let mut nir_sum = [0f64; 8];
    for ((&c, &h), (&n, &r)) in t.landcover.iter().zip(t.chm.iter()).zip(nir.iter().zip(red.iter()))
    {
        let class = Class::from_value(c).expect("a known class");
        count[c as usize] += 1;
        nir_sum[c as usize] += n as f64;
        match class {
            Class::Water | Class::Road | Class::Building | Class::Bare => {
                assert_eq!(h, 0.0, "{class:?} has canopy height 0")
            }
            Class::Tree => assert!(h > 1.0, "tree pixels have canopy height, got {h}"),
            Class::Crop => assert!((0.0..2.0).contains(&h), "crops are low, got {h}"),
            Class::GrassShrub => assert!((0.0..2.0).contains(&h), "shrubs are low, got {h}"),
            Class::NoData => panic!("the generator never writes nodata"),
        }
        if class == Class::Water {
            // Open water is dark in the near infrared (blur at shores lets a little through).
            assert!(n < 110, "water NIR {n}");
            assert!(r < 120, "water red {r}");
        }
    }
    for class in [Class::Water, Class::Tree, Class::GrassShrub] {
        assert!(count[class.value() as usize] > 500, "the scene has {class:?} ({count:?})");
    }
    let mean = |c: Class| nir_sum[c.value() as usize] / count[c.value() as usize] as f64;
    assert!(mean(Class::Water) < 60.0, "mean water NIR {}", mean(Class::Water));
    assert!(mean(Class::GrassShrub) > 2.0 * mean(Class::Water));
    assert!(mean(Class::Tree) > 2.0 * mean(Class::Water));
}

#[test]
fn rasters_carry_georeferencing_classes_and_nodata() {
    let g = SceneGenerator::new(&cfg(9, 100, 80, "mixed")).unwrap();
    let m = g.image_meta();
    assert_eq!((m.width, m.height, m.band_count(), m.dtype), (100, 80, 4, DataType::Uint8));
    let gt = m.geotransform.unwrap().0;
    assert_eq!((gt[1], gt[5]), (0.6, -0.6));
    assert!(gt[0] >= 300_000.0 && gt[0] < 700_000.0 && gt[0].fract() == 0.0);
    assert_eq!(m.crs.as_ref().unwrap().epsg, Some(32632));
    let c = g.chm_meta();
    assert_eq!(c.dtype, DataType::Float32);
    assert_eq!(c.nodata(0).unwrap().0, -9999.0);
    let l = g.landcover_meta();
    assert_eq!(l.bands[0].category_names.as_ref().unwrap()[5], "water");
    assert_eq!(l.bands[0].color_table.as_ref().unwrap().len(), 256);
    assert_eq!(l.nodata(0).unwrap().0, 0.0);
    // A different seed moves the origin; an explicit origin is kept.
    let o = SceneGenerator::new(&SynthConfig {
        origin: Some([500_000.0, 5_400_000.0]),
        ..cfg(9, 10, 10, "mixed")
    })
    .unwrap();
    assert_eq!(o.geotransform().0[0], 500_000.0);
}

#[test]
fn bad_configurations_and_windows_are_errors() {
    assert!(SceneGenerator::new(&SynthConfig { width: 0, ..Default::default() }).is_err());
    assert!(SceneGenerator::new(&SynthConfig { gsd: -1.0, ..Default::default() }).is_err());
    assert!(
        SceneGenerator::new(&SynthConfig { sun_elevation_deg: 95.0, ..Default::default() })
            .is_err()
    );
    let g = SceneGenerator::new(&cfg(1, 50, 50, "mixed")).unwrap();
    assert!(g.render(Window::new(40, 40, 20, 20)).is_err());
    assert!(g.render(Window::new(0, 0, 0, 5)).is_err());
    assert!(SynthConfig::preset("moon").is_none());
    for p in SynthConfig::PRESETS {
        assert!(SynthConfig::preset(p).is_some());
    }
    // Configurations are typed: unknown keys are rejected.
    let e = serde_json::from_str::<SynthConfig>(r#"{"width": 10, "colour": "red"}"#).unwrap_err();
    assert!(e.to_string().contains("colour"), "{e}");
}
