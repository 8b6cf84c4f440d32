//! GDAL-made GeoTIFFs covering data type × compression × predictor × layout (tiled/striped,
//! chunky/planar) × BigTIFF × byte order, plus overviews, internal masks, COGs, JPEG/WebP,
//! nodata/NaN, sparse blocks, odd bit depths, half floats, PixelIsPoint, rotated transforms,
//! user-defined CRSs, palettes and GDAL metadata: every one must read as GDAL reads it.
//! The files come from `tests/support/make_tiffs.py` (GDAL's Python bindings) in a temp dir.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Pixels, assert_matches_view, gdal_views};
use geodino_tiff::GeoTiffReader;
use serde_json::Value;

#[test]
fn gdal_made_matrix_reads_as_gdal_reads_it() {
    if !geodino_testutil::oracle::gdal() {
        return;
    }
    let Some(py) = geodino_testutil::oracle::gdal_python() else { return };
    let dir = geodino_testutil::tempdir();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/make_tiffs.py");
    let out = geodino_testutil::oracle::run(Command::new(&py).arg(&script).arg(dir.path()));
    let files: Vec<Value> = serde_json::from_str(&out).expect("file list");
    assert!(files.len() > 250, "the matrix has {} files", files.len());
    let paths: Vec<PathBuf> =
        files.iter().map(|f| PathBuf::from(f["file"].as_str().unwrap())).collect();
    let views = gdal_views(&py, &paths);

    let mut failures = Vec::new();
    let (mut big, mut mm, mut planar, mut p2, mut p3, mut tiled, mut strips) =
        (0, 0, 0, 0, 0, 0, 0);
    for ((f, path), (g, raw)) in files.iter().zip(&paths).zip(&views) {
        let tol = f["lossy"].as_f64().unwrap();
        let pixels =
            if tol == 0.0 { Pixels::Exact } else { Pixels::Within { max: tol, mean: 0.25 } };
        let result = std::panic::catch_unwind(|| {
            let r = GeoTiffReader::open(path).unwrap_or_else(|e| panic!("{e}"));
            let rep = assert_matches_view(&py, path, &r, pixels, g, raw);
            (r.structure(), rep)
        });
        match result {
            Ok((s, rep)) => {
                big += s.bigtiff as usize;
                mm += s.big_endian as usize;
                planar += s.planar as usize;
                p2 += (s.predictor == 2) as usize;
                p3 += (s.predictor == 3) as usize;
                tiled += s.tiled as usize;
                strips += (!s.tiled) as usize;
                if tol > 0.0 {
                    eprintln!(
                        "lossy vs GDAL: {}: max |diff| {}, mean |diff| {:.3}",
                        path.file_name().unwrap().to_string_lossy(),
                        rep.max_diff,
                        rep.mean_diff
                    );
                }
            }
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {msg}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ from GDAL:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    eprintln!("{} GDAL-made files read exactly as GDAL reads them", files.len());
    // The generator must really produce these layouts, or the matrix proves less than it says.
    eprintln!(
        "bigtiff {big}, big-endian {mm}, planar {planar}, predictor 2 {p2}, predictor 3 {p3}, \
         tiled {tiled}, striped {strips}"
    );
    assert!(big >= 20 && mm >= 20 && planar >= 40 && p2 >= 40 && p3 >= 10);
    assert!(tiled >= 40 && strips >= 40);
}
