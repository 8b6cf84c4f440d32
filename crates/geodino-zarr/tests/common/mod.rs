//! Helpers shared by geodino-zarr's integration tests: the Python oracles and our own per-band
//! statistics.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use std::process::Command;

use geodino_core::RasterRead;
use geodino_testutil::oracle;
use serde_json::Value;

/// `crates/geodino-zarr/tests/oracle.py` (this module is shared by other crates' tests).
pub fn oracle_script() -> PathBuf {
    geodino_testutil::workspace_root()
        .join("crates")
        .join("geodino-zarr")
        .join("tests")
        .join("oracle.py")
}

/// GDAL's view (size, geotransform, EPSG, per-band exact statistics) of each dataset name, or
/// `None` (after a skip notice) when GDAL's Python bindings are missing.
pub fn gdal(names: &[String]) -> Option<Vec<Value>> {
    let py = oracle::gdal_python()?;
    let out = oracle::run(Command::new(py).arg(oracle_script()).arg("gdal").args(names));
    Some(serde_json::from_str::<Vec<Value>>(&out).expect("oracle prints JSON"))
}

/// zarr-python's view of array `name` of `store`, or `None` when zarr-python is missing.
pub fn zarr(store: &Path, name: &str) -> Option<Value> {
    let py = oracle::zarr_python()?;
    let out = oracle::run(Command::new(py).arg(oracle_script()).arg("zarr").arg(store).arg(name));
    Some(serde_json::from_str(&out).expect("oracle prints JSON"))
}

/// Per-band (sum, valid_count, min, max) over valid pixels (not nodata, not NaN).
pub fn stats(r: &dyn RasterRead) -> Vec<(f64, u64, f64, f64)> {
    let m = r.meta();
    let all = r.read_all().expect("read the whole raster");
    let a = all.to_f64();
    (0..m.band_count())
        .map(|b| {
            let nd = m.nodata(b);
            let mut v: Vec<f64> = a
                .index_axis(ndarray::Axis(0), b)
                .iter()
                .copied()
                .filter(|x| !x.is_nan() && !nd.is_some_and(|n| n.matches(*x)))
                .collect();
            v.sort_by(f64::total_cmp);
            let sum = fsum(&v);
            (
                sum,
                v.len() as u64,
                v.first().copied().unwrap_or(f64::NAN),
                v.last().copied().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// Exactly rounded sum (Shewchuk), as Python's `math.fsum`.
pub fn fsum(v: &[f64]) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for &x0 in v {
        let mut x = x0;
        let mut i = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        partials.truncate(i);
        partials.push(x);
    }
    partials.iter().sum()
}

/// Compare our reader with one GDAL oracle entry: size, geotransform, EPSG, nodata, dtype and
/// exact per-band statistics. `band_offset` picks the GDAL entry's bands for our bands.
pub fn assert_matches_gdal(r: &dyn RasterRead, g: &[Value], what: &str) {
    let m = r.meta();
    // One GDAL dataset per band (extra-dimension slices) or one with all bands.
    let gbands: Vec<&Value> =
        g.iter().flat_map(|d| d["bands"].as_array().unwrap().iter()).collect();
    assert_eq!(gbands.len(), m.band_count(), "{what}: band count");
    let g0 = &g[0];
    assert_eq!(g0["size"], serde_json::json!([m.width, m.height]), "{what}: size");
    match (&g0["geotransform"], &m.geotransform) {
        (Value::Null, None) => {}
        (Value::Array(t), Some(gt)) => {
            for (i, (a, b)) in t.iter().zip(gt.0.iter()).enumerate() {
                let a = a.as_f64().unwrap();
                assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                    "{what}: gt[{i}] GDAL {a} ours {b}"
                );
            }
        }
        (a, b) => panic!("{what}: geotransform GDAL {a} ours {b:?}"),
    }
    let epsg = m.crs.as_ref().and_then(|c| c.epsg);
    assert_eq!(g0["epsg"].as_u64().map(|e| e as u32), epsg, "{what}: EPSG");
    let ours = stats(r);
    for (b, gb) in gbands.iter().enumerate() {
        let (sum, count, min, max) = ours[b];
        let nd = match m.nodata(b) {
            None => Value::Null,
            Some(n) if n.0.is_nan() => Value::from("nan"),
            Some(n) => Value::from(n.0),
        };
        let gnd = match &gb["nodata"] {
            Value::Number(n) => Value::from(n.as_f64().unwrap()),
            other => other.clone(),
        };
        assert_eq!(nd, gnd, "{what}: band {} nodata", b + 1);
        assert_eq!(gb["valid_count"].as_u64(), Some(count), "{what}: band {} valid count", b + 1);
        let gsum = gb["sum"].as_f64().unwrap();
        assert_eq!(gsum, sum, "{what}: band {} sum", b + 1);
        if count > 0 {
            assert_eq!(gb["min"].as_f64(), Some(min), "{what}: band {} min", b + 1);
            assert_eq!(gb["max"].as_f64(), Some(max), "{what}: band {} max", b + 1);
        }
    }
}
