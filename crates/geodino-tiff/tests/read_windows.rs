//! Window reads agree with the whole image: random windows and band subsets (permuted,
//! repeated) on every layout, block-aligned iteration, boundless reads, and many threads sharing
//! one reader.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use geodino_core::{RasterBuffer, RasterRead, Window, with_buffer};
use geodino_tiff::GeoTiffReader;
use ndarray::{Array3, s};

/// GDAL-made files of several layouts in `dir`; `None` (skipped) without GDAL.
fn make(dir: &Path) -> Option<Vec<std::path::PathBuf>> {
    if !geodino_testutil::oracle::gdal() {
        return None;
    }
    let py = geodino_testutil::oracle::gdal_python()?;
    let script = r#"
import sys, numpy as np
from osgeo import gdal
gdal.UseExceptions()
d = sys.argv[1]
rng = np.random.default_rng(3)
def src(dt, nb, w, h):
    ds = gdal.GetDriverByName('MEM').Create('', w, h, nb, dt)
    for b in range(nb):
        ds.GetRasterBand(b + 1).WriteArray(rng.integers(0, 250, (h, w)).astype(np.float64))
    return ds
drv = gdal.GetDriverByName('GTiff')
drv.CreateCopy(d + '/a.tif', src(gdal.GDT_Byte, 3, 300, 211), options=['TILED=YES', 'BLOCKXSIZE=64', 'BLOCKYSIZE=32', 'COMPRESS=DEFLATE', 'PREDICTOR=2'])
drv.CreateCopy(d + '/b.tif', src(gdal.GDT_UInt16, 4, 257, 190), options=['INTERLEAVE=BAND', 'TILED=YES', 'BLOCKXSIZE=32', 'BLOCKYSIZE=48', 'COMPRESS=ZSTD'])
drv.CreateCopy(d + '/c.tif', src(gdal.GDT_Float32, 3, 199, 203), options=['BLOCKYSIZE=13', 'COMPRESS=LZW', 'PREDICTOR=3'])
drv.CreateCopy(d + '/d.tif', src(gdal.GDT_Int16, 5, 123, 77), options=['BLOCKYSIZE=9', 'INTERLEAVE=BAND'])
drv.CreateCopy(d + '/e.tif', src(gdal.GDT_Byte, 3, 150, 150), options=['COMPRESS=NONE'])
"#;
    geodino_testutil::oracle::run(Command::new(py).args(["-c", script]).arg(dir));
    Some(["a", "b", "c", "d", "e"].iter().map(|n| dir.join(format!("{n}.tif"))).collect())
}

fn as_f64(b: &RasterBuffer) -> Array3<f64> {
    with_buffer!(b, a => a.mapv(geodino_core::RasterElement::to_f64))
}

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[test]
fn random_windows_and_band_subsets_match_the_full_read() {
    let dir = geodino_testutil::tempdir();
    let Some(files) = make(dir.path()) else { return };
    let mut rng = Lcg(42);
    for f in files {
        let r = GeoTiffReader::open(&f).unwrap();
        let m = r.meta().clone();
        let full = as_f64(&r.read_all().unwrap());
        for _ in 0..60 {
            let w = 1 + rng.next(m.width);
            let h = 1 + rng.next(m.height);
            let c = rng.next(m.width - w + 1);
            let rr = rng.next(m.height - h + 1);
            let nb = 1 + rng.next(m.band_count() + 1);
            let bands: Vec<usize> = (0..nb).map(|_| rng.next(m.band_count())).collect();
            let win = Window::new(c as i64, rr as i64, w, h);
            let got = as_f64(&r.read_window(&bands, win).unwrap());
            assert_eq!(got.dim(), (nb, h, w));
            for (i, &b) in bands.iter().enumerate() {
                let want = full.slice(s![b, rr..rr + h, c..c + w]);
                assert_eq!(got.slice(s![i, .., ..]), want, "{}: {win} band {b}", f.display());
            }
        }
        // Block windows tile the image exactly once.
        let blocks = r.block_windows();
        let area: usize = blocks.iter().map(|w| w.area()).sum();
        assert_eq!(area, m.width * m.height);
        assert!(blocks.iter().all(|w| w.is_inside(m.width, m.height)));
        let mut from_blocks = Array3::<f64>::zeros(full.dim());
        let all: Vec<usize> = (0..m.band_count()).collect();
        for w in &blocks {
            let b = as_f64(&r.read_window(&all, *w).unwrap());
            let (c0, r0) = (w.col_off as usize, w.row_off as usize);
            from_blocks.slice_mut(s![.., r0..r0 + w.height, c0..c0 + w.width]).assign(&b);
        }
        assert_eq!(from_blocks, full, "{}: block iteration", f.display());
        // Boundless: inside pixels equal, outside filled.
        let b = as_f64(
            &r.read_boundless(&[0], Window::new(-3, m.height as i64 - 2, 8, 6), 77.0).unwrap(),
        );
        assert_eq!(b[[0, 0, 0]], 77.0);
        assert_eq!(b[[0, 1, 3]], full[[0, m.height - 1, 0]]);
        assert_eq!(b[[0, 2, 3]], 77.0);
    }
}

#[test]
fn one_reader_serves_many_threads() {
    let dir = geodino_testutil::tempdir();
    let Some(files) = make(dir.path()) else { return };
    let r = Arc::new(GeoTiffReader::open(&files[0]).unwrap());
    let full = as_f64(&r.read_all().unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for k in 0..20 {
                    let w = Window::new(
                        ((t * 37 + k * 11) % 250) as i64,
                        ((t * 13 + k * 7) % 180) as i64,
                        50,
                        31,
                    );
                    out.push((w, as_f64(&r.read_window(&[2, 0], w).unwrap())));
                }
                out
            })
        })
        .collect();
    for h in handles {
        for (w, got) in h.join().unwrap() {
            let (c, rr) = (w.col_off as usize, w.row_off as usize);
            assert_eq!(got.slice(s![0, .., ..]), full.slice(s![2, rr..rr + 31, c..c + 50]));
            assert_eq!(got.slice(s![1, .., ..]), full.slice(s![0, rr..rr + 31, c..c + 50]));
        }
    }
}
