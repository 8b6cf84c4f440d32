//! Shared helpers of the reader tests: GDAL as the oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use geodino_core::{DataType, RasterBuffer, RasterRead, Window, with_buffer};
use geodino_tiff::GeoTiffReader;
use serde_json::Value;

/// The oracle script beside this module.
pub fn oracle_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/gdal_oracle.py")
}

/// GDAL's view of `path` (JSON) and, with `raw`, its pixels (band-major, little-endian) followed
/// by the per-dataset mask when there is one.
pub fn gdal_view(py: &Path, path: &Path, raw: bool) -> (Value, Option<Vec<u8>>) {
    let dir = geodino_testutil::tempdir();
    let raw_path = dir.path().join("pixels.raw");
    let mut c = Command::new(py);
    c.arg(oracle_script()).arg(path);
    if raw {
        c.arg(&raw_path);
    }
    let out = geodino_testutil::oracle::run(&mut c);
    let v: Value = serde_json::from_str(&out).expect("oracle prints JSON");
    let bytes = raw.then(|| std::fs::read(&raw_path).expect("oracle wrote pixels"));
    (v, bytes)
}

/// GDAL's view of many files at once (one Python process): JSON and pixels of each.
pub fn gdal_views(py: &Path, paths: &[PathBuf]) -> Vec<(Value, Vec<u8>)> {
    let dir = geodino_testutil::tempdir();
    let pairs: Vec<(String, String)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let raw = dir.path().join(format!("{i}.raw"));
            (p.display().to_string(), raw.display().to_string())
        })
        .collect();
    let list = dir.path().join("list.json");
    std::fs::write(&list, serde_json::to_string(&pairs).unwrap()).unwrap();
    let out = geodino_testutil::oracle::run(
        Command::new(py).arg(oracle_script()).arg("--batch").arg(&list),
    );
    let views: Vec<Value> = serde_json::from_str(&out).expect("oracle prints JSON");
    views
        .into_iter()
        .zip(&pairs)
        .map(|(v, (_, raw))| (v, std::fs::read(raw).expect("oracle wrote pixels")))
        .collect()
}

/// Little-endian bytes of a buffer, band-major.
pub fn le_bytes(b: &RasterBuffer) -> Vec<u8> {
    fn go<T: Copy>(a: &ndarray::Array3<T>, f: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
        a.iter().flat_map(|&v| f(v)).collect()
    }
    match b {
        RasterBuffer::Uint8(a) => a.iter().copied().collect(),
        RasterBuffer::Int8(a) => a.iter().map(|&v| v as u8).collect(),
        RasterBuffer::Uint16(a) => go(a, |v| v.to_le_bytes().to_vec()),
        RasterBuffer::Int16(a) => go(a, |v| v.to_le_bytes().to_vec()),
        RasterBuffer::Uint32(a) => go(a, |v| v.to_le_bytes().to_vec()),
        RasterBuffer::Int32(a) => go(a, |v| v.to_le_bytes().to_vec()),
        RasterBuffer::Float32(a) => go(a, |v| v.to_le_bytes().to_vec()),
        RasterBuffer::Float64(a) => go(a, |v| v.to_le_bytes().to_vec()),
    }
}

/// GDAL's data type name for ours (GDAL 3.6 has no Int8: it reports signed bytes as Byte).
pub fn gdal_type_name(dt: DataType) -> &'static str {
    match dt {
        DataType::Uint8 | DataType::Int8 => "Byte",
        DataType::Uint16 => "UInt16",
        DataType::Int16 => "Int16",
        DataType::Uint32 => "UInt32",
        DataType::Int32 => "Int32",
        DataType::Float32 => "Float32",
        DataType::Float64 => "Float64",
    }
}

/// True when GDAL (osgeo `IsSame`) considers the two WKT strings the same CRS.
pub fn gdal_same_crs(py: &Path, a: &str, b: &str) -> bool {
    let script = "import sys\nfrom osgeo import osr\nosr.UseExceptions()\n\
        x=osr.SpatialReference(); x.SetFromUserInput(sys.argv[1])\n\
        y=osr.SpatialReference(); y.SetFromUserInput(sys.argv[2])\n\
        print('SAME' if x.IsSame(y) else 'DIFFERENT')";
    let out = geodino_testutil::oracle::run(Command::new(py).args(["-c", script, a, b]));
    out.trim() == "SAME"
}

/// How pixels must agree with GDAL's.
#[derive(Debug, Clone, Copy)]
pub enum Pixels {
    /// Bit for bit (lossless codecs).
    Exact,
    /// Lossy codecs: at most `max` apart anywhere and `mean` apart on average.
    Within { max: f64, mean: f64 },
}

/// Summary of one comparison, for the test log.
#[derive(Debug, Default)]
pub struct Report {
    pub max_diff: f64,
    pub mean_diff: f64,
}

/// Compare everything GDAL reports about `path` with what `r` reads. Panics on a mismatch.
pub fn assert_matches_gdal(py: &Path, path: &Path, r: &GeoTiffReader, pixels: Pixels) -> Report {
    let (g, raw) = gdal_view(py, path, true);
    let raw = raw.expect("raw pixels");
    assert_matches_view(py, path, r, pixels, &g, &raw)
}

/// [`assert_matches_gdal`] with GDAL's view already computed.
pub fn assert_matches_view(
    py: &Path,
    path: &Path,
    r: &GeoTiffReader,
    pixels: Pixels,
    g: &Value,
    raw: &[u8],
) -> Report {
    let name = path.display().to_string();
    let m = r.meta();
    assert_eq!(m.width as u64, g["width"].as_u64().unwrap(), "{name}: width");
    assert_eq!(m.height as u64, g["height"].as_u64().unwrap(), "{name}: height");
    assert_eq!(m.band_count() as u64, g["band_count"].as_u64().unwrap(), "{name}: bands");

    // Georeferencing.
    match (&m.geotransform, g["geotransform"].as_array()) {
        (Some(gt), Some(e)) => {
            for (i, (a, b)) in gt.0.iter().zip(e).enumerate() {
                let b = b.as_f64().unwrap();
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{name}: gt[{i}] {a} vs {b}");
            }
        }
        (None, None) => {}
        (ours, theirs) => panic!("{name}: geotransform {ours:?} vs GDAL {theirs:?}"),
    }
    let g_epsg = g["epsg"].as_u64().map(|c| c as u32);
    let crs = m.crs.clone().unwrap_or_default();
    match (g_epsg, g["wkt"].as_str()) {
        (Some(code), _) => assert_eq!(crs.epsg, Some(code), "{name}: EPSG"),
        (None, Some(wkt)) => {
            let ours =
                crs.wkt.as_deref().unwrap_or_else(|| panic!("{name}: no WKT, GDAL has {wkt}"));
            assert!(gdal_same_crs(py, ours, wkt), "{name}: CRS differs\nours: {ours}\nGDAL: {wkt}");
        }
        (None, None) => assert!(crs.is_empty(), "{name}: CRS {crs:?} where GDAL has none"),
    }
    if let Some(aop) = g["metadata"]["AREA_OR_POINT"].as_str() {
        assert_eq!(m.metadata.get("AREA_OR_POINT").map(String::as_str), Some(aop), "{name}");
    }

    // Pixels.
    let all: Vec<usize> = (0..m.band_count()).collect();
    let buf = r.read_window(&all, Window::full(m.width, m.height)).expect("read");
    let ours = le_bytes(&buf);
    let npx = m.width * m.height * m.band_count() * m.dtype.size_bytes();
    assert!(raw.len() >= npx, "{name}: GDAL gave {} bytes", raw.len());
    let mut rep = Report::default();
    match pixels {
        Pixels::Exact => {
            if ours != raw[..npx] {
                let i = ours.iter().zip(raw).position(|(a, b)| a != b).unwrap_or(0);
                panic!("{name}: pixels differ from GDAL's, first at byte {i}");
            }
        }
        Pixels::Within { max, mean } => {
            assert_eq!(m.dtype, DataType::Uint8, "lossy comparison is for bytes");
            let mut sum = 0.0;
            for (a, b) in ours.iter().zip(&raw[..npx]) {
                let d = (*a as f64 - *b as f64).abs();
                sum += d;
                rep.max_diff = rep.max_diff.max(d);
            }
            rep.mean_diff = sum / npx as f64;
            assert!(
                rep.max_diff <= max && rep.mean_diff <= mean,
                "{name}: |ours - GDAL| max {} (limit {max}), mean {} (limit {mean})",
                rep.max_diff,
                rep.mean_diff
            );
        }
    }

    // Per-band facts.
    for (b, gb) in g["bands"].as_array().unwrap().iter().enumerate() {
        assert_eq!(gdal_type_name(m.dtype), gb["dtype"].as_str().unwrap(), "{name}: dtype");
        let bm = &m.bands[b];
        // GDAL's sum is null when it overflows (libtiff-written garbage): pixels are compared.
        if let (Pixels::Exact, Some(e)) = (pixels, gb["sum"].as_f64()) {
            // (GDAL 3.6's Python bindings read PIXELTYPE=SIGNEDBYTE bands as int8.)
            let s = buf.band_sum(b, None);
            assert!(
                (s - e).abs() <= 1e-9 * e.abs().max(1.0),
                "{name}: band {} sum {s} vs {e}",
                b + 1
            );
        }
        match &gb["nodata"] {
            Value::Null => assert!(bm.nodata.is_none(), "{name}: nodata {:?}", bm.nodata),
            Value::String(s) if s == "nan" => {
                assert!(bm.nodata.is_some_and(|n| n.0.is_nan()), "{name}: nodata NaN")
            }
            v => assert_eq!(bm.nodata.map(|n| n.0), v.as_f64(), "{name}: nodata"),
        }
        assert_eq!(
            bm.color_interp.as_deref(),
            gb["color_interp"].as_str(),
            "{name}: band {} colour",
            b + 1
        );
        assert_eq!(bm.description.as_deref(), gb["description"].as_str(), "{name}: description");
        assert_eq!(bm.scale, gb["scale"].as_f64(), "{name}: scale");
        assert_eq!(bm.offset, gb["offset"].as_f64(), "{name}: offset");
        match gb["color_table"].as_array() {
            None => assert!(bm.color_table.is_none(), "{name}: colour table"),
            Some(t) => {
                let ct = bm.color_table.as_ref().expect("colour table");
                assert_eq!(ct.len(), t.len(), "{name}: colour table size");
                for (e, x) in ct.iter().zip(t) {
                    let x: Vec<u64> =
                        x.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                    assert_eq!(
                        [e.r as u64, e.g as u64, e.b as u64, e.a as u64],
                        x[..],
                        "{name}: colour entry"
                    );
                }
            }
        }
        let block = gb["block"].as_array().unwrap();
        assert_eq!(m.block.width as u64, block[0].as_u64().unwrap(), "{name}: block width");
        assert_eq!(m.block.height as u64, block[1].as_u64().unwrap(), "{name}: block height");
        // Overviews: sizes, and sums (exact for lossless).
        let ovs = gb["overviews"].as_array().unwrap();
        assert_eq!(m.overviews.len(), ovs.len(), "{name}: overview count");
        for (k, o) in ovs.iter().enumerate() {
            let ov = r.overview(k).unwrap();
            let om = ov.meta();
            assert_eq!(
                (om.width as u64, om.height as u64),
                (o["width"].as_u64().unwrap(), o["height"].as_u64().unwrap())
            );
            if matches!(pixels, Pixels::Exact) {
                let ob = ov.read_window(&[b], Window::full(om.width, om.height)).unwrap();
                let (s, e) = (ob.band_sum(0, None), o["sum"].as_f64().unwrap_or(f64::NAN));
                assert!(
                    e.is_nan() || (s - e).abs() <= 1e-9 * e.abs().max(1.0),
                    "{name}: overview {k} band {} sum {s} vs {e}",
                    b + 1
                );
            }
        }
    }

    // Mask.
    match g["mask"].as_object() {
        None => assert!(
            r.read_mask(Window::full(m.width, m.height)).unwrap().is_none(),
            "{name}: unexpected mask"
        ),
        Some(gm) => {
            assert!(m.has_mask, "{name}: has_mask");
            let mask = r.read_mask(Window::full(m.width, m.height)).unwrap().expect("mask");
            let s: f64 = mask.iter().map(|&v| v as f64).sum();
            let e = gm["sum"].as_f64().unwrap();
            match pixels {
                Pixels::Exact => {
                    assert_eq!(s, e, "{name}: mask sum");
                    let mraw = &raw[npx..];
                    assert_eq!(
                        mask.iter().copied().collect::<Vec<u8>>(),
                        mraw,
                        "{name}: mask pixels"
                    );
                }
                Pixels::Within { mean, .. } => {
                    let n = (m.width * m.height) as f64;
                    assert!((s - e).abs() / n <= mean, "{name}: mask mean differs: {s} vs {e}");
                }
            }
            for (k, o) in gm["overviews"].as_array().unwrap().iter().enumerate() {
                let ov = r.overview(k).unwrap();
                let om = ov.meta();
                let mk = ov
                    .read_mask(Window::full(om.width, om.height))
                    .unwrap()
                    .expect("overview mask");
                let s: f64 = mk.iter().map(|&v| v as f64).sum();
                let e = o["sum"].as_f64().unwrap();
                let n = (om.width * om.height) as f64;
                let tol = if let Pixels::Within { mean, .. } = pixels { mean * n } else { 0.0 };
                assert!((s - e).abs() <= tol, "{name}: overview {k} mask sum {s} vs {e}");
            }
        }
    }
    with_buffer!(&buf, a => { let _ = a.len(); });
    rep
}
