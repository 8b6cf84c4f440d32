//! Our Zarr output read by the reference implementations: v3 (sharded, zstd) by zarr-python,
//! v2 by GDAL 3.6; and read back by our own reader bit for bit. Writes are atomic.

mod common;

use geodino_core::{
    Crs, DataType, GeoTransform, NoData, RasterBuffer, RasterMeta, RasterRead, RasterWrite, Window,
};
use geodino_zarr::{ZarrCodec, ZarrReader, ZarrVersion, ZarrWriteOptions, ZarrWriter};
use ndarray::Array3;
use serde_json::json;

/// A derived test raster: 3 bands of uint16 with a nodata value (0) present in the data,
/// 700 x 530 pixels so that edge chunks and shards are partial.
fn uint16_scene() -> (RasterMeta, RasterBuffer) {
    let (w, h) = (700, 530);
    let a = Array3::from_shape_fn((3, h, w), |(b, y, x)| {
        let v = (x * 7 + y * 13 + b * 1000) % 4001;
        if (x + y) % 97 == 0 { 0u16 } else { v as u16 }
    });
    let mut m = RasterMeta::new(w, h, 3, DataType::Uint16);
    m.set_nodata(Some(0.0));
    m.geotransform = Some(GeoTransform::north_up(101985.0, 30.0, 2826915.0, -30.0));
    m.crs = Some(Crs::from_epsg(32618));
    m.bands[0].description = Some("red".into());
    (m, RasterBuffer::Uint16(a))
}

/// Single-band float32 with NaN nodata and NaN pixels, EPSG:4326.
fn float_scene() -> (RasterMeta, RasterBuffer) {
    let (w, h) = (333, 211);
    let a = Array3::from_shape_fn((1, h, w), |(_, y, x)| {
        if x % 50 == 3 { f32::NAN } else { (x as f32 * 0.25 - y as f32 * 1.5).sin() * 100.0 }
    });
    let mut m = RasterMeta::new(w, h, 1, DataType::Float32);
    m.bands[0].nodata = Some(NoData(f64::NAN));
    m.geotransform = Some(GeoTransform::north_up(-10.0, 0.01, 50.0, -0.01));
    m.crs = Some(Crs::from_epsg(4326));
    (m, RasterBuffer::Float32(a))
}

/// Write `data` in 100 x 77 windows, in an order that is not row order.
fn write(dest: &std::path::Path, meta: &RasterMeta, data: &RasterBuffer, opts: &ZarrWriteOptions) {
    let existed = dest.exists();
    let mut wr: Box<dyn RasterWrite> = Box::new(ZarrWriter::create(dest, meta, opts).unwrap());
    let mut wins = Vec::new();
    for r in (0..meta.height).step_by(77) {
        for c in (0..meta.width).step_by(100) {
            wins.push(Window::new(
                c as i64,
                r as i64,
                100.min(meta.width - c),
                77.min(meta.height - r),
            ));
        }
    }
    wins.reverse();
    wins.swap(0, 3);
    for win in wins {
        let part = slice(data, &win);
        wr.write_window(win, &part).unwrap();
    }
    assert_eq!(dest.exists(), existed, "nothing appears before finish");
    wr.finish().unwrap();
}

fn slice(data: &RasterBuffer, w: &Window) -> RasterBuffer {
    let (r0, c0) = (w.row_off as usize, w.col_off as usize);
    geodino_core::with_buffer!(data, a => geodino_core::RasterElement::wrap(
        a.slice(ndarray::s![.., r0..r0 + w.height, c0..c0 + w.width]).to_owned()))
}

fn source_stats(meta: &RasterMeta, data: &RasterBuffer) -> Vec<(f64, u64)> {
    let a = data.to_f64();
    (0..meta.band_count())
        .map(|b| {
            let nd = meta.nodata(b);
            let v: Vec<f64> = a
                .index_axis(ndarray::Axis(0), b)
                .iter()
                .copied()
                .filter(|x| !x.is_nan() && !nd.is_some_and(|n| n.matches(*x)))
                .collect();
            (common::fsum(&v), v.len() as u64)
        })
        .collect()
}

#[test]
fn v3_sharded_zstd_is_read_by_zarr_python_with_all_georeferencing() {
    let tmp = geodino_testutil::tempdir();
    let dest = tmp.path().join("scene.zarr");
    let (meta, data) = uint16_scene();
    let opts = ZarrWriteOptions { chunk: (128, 128), shard: (256, 256), ..Default::default() };
    write(&dest, &meta, &data, &opts);
    // Only the store is left in the directory: no temporary files.
    let names: Vec<_> =
        std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("scene.zarr")]);

    // Our reader: identical pixels and metadata.
    let r = ZarrReader::open(&dest).unwrap();
    assert_eq!(r.read_all().unwrap(), data);
    let m = r.meta();
    assert_eq!(m.geotransform, meta.geotransform);
    assert_eq!(m.crs.as_ref().unwrap().epsg, Some(32618));
    assert_eq!(m.nodata(1), Some(NoData(0.0)));
    assert_eq!(m.metadata["GEOTRANSFORM_SOURCE"], "GeoZarr spatial:transform");
    assert_eq!((m.block.width, m.block.height), (128, 128));
    assert_eq!(m.compression, geodino_core::Compression::Zstd);
    assert_eq!(m.bands[0].description.as_deref(), Some("red"));

    // zarr-python: sharded layout, pixels, attributes of all three conventions.
    let Some(z) = common::zarr(&dest, "data") else { return };
    assert_eq!(z["zarr_format"], 3);
    assert_eq!(z["shape"], json!([3, 530, 700]));
    assert_eq!(z["dtype"], "uint16");
    assert_eq!(z["chunks"], json!([1, 128, 128]));
    assert_eq!(z["shards"], json!([1, 256, 256]));
    assert_eq!(z["dimension_names"], json!(["band", "y", "x"]));
    let expect = source_stats(&meta, &data);
    for (b, zb) in z["bands"].as_array().unwrap().iter().enumerate() {
        assert_eq!(zb["sum"].as_f64().unwrap(), expect[b].0, "band {}", b + 1);
        assert_eq!(zb["valid_count"].as_u64().unwrap(), expect[b].1, "band {}", b + 1);
    }
    let row0: Vec<f64> = (0..8).map(|x| data.to_f64()[[0, 0, x]]).collect();
    assert_eq!(z["first_row"], json!(row0));
    let at = &z["attrs"];
    assert_eq!(at["proj:code"], "EPSG:32618");
    assert_eq!(at["spatial:transform"], json!([30.0, 0.0, 101985.0, 0.0, -30.0, 2826915.0]));
    assert_eq!(at["spatial:dimensions"], json!(["y", "x"]));
    assert_eq!(at["grid_mapping"], "spatial_ref");
    assert_eq!(at["_CRS"]["url"], "http://www.opengis.net/def/crs/EPSG/0/32618");
    assert_eq!(at["_FillValue"], 0);
    assert!(at["zarr_conventions"].as_array().unwrap().len() == 2);
    let sr = &z["others"]["spatial_ref"]["attrs"];
    assert_eq!(sr["GeoTransform"], "101985.0 30.0 0.0 2826915.0 0.0 -30.0");
    assert_eq!(sr["spatial_ref"], "EPSG:32618");
    let xs = z["others"]["x"].as_array().unwrap();
    assert_eq!((xs.len(), xs[0].as_f64(), xs[1].as_f64()), (700, Some(102000.0), Some(102030.0)));
    let ys = z["others"]["y"].as_array().unwrap();
    assert_eq!((ys.len(), ys[0].as_f64()), (530, Some(2826900.0)));
    assert_eq!(z["others"]["band"], json!([1.0, 2.0, 3.0]));
    assert_eq!(z["group"], json!(["band", "data", "spatial_ref", "x", "y"]));
}

#[test]
fn v3_float_nan_nodata_round_trips_through_zarr_python() {
    let tmp = geodino_testutil::tempdir();
    let dest = tmp.path().join("f.zarr");
    let (meta, data) = float_scene();
    let opts = ZarrWriteOptions { codec: ZarrCodec::Deflate { level: 6 }, ..Default::default() };
    write(&dest, &meta, &data, &opts);
    let r = ZarrReader::open(&dest).unwrap();
    assert!(r.meta().nodata(0).unwrap().0.is_nan());
    let back = r.read_all().unwrap();
    let (a, b) = (back.to_f64(), data.to_f64());
    assert!(a.iter().zip(b.iter()).all(|(x, y)| x == y || (x.is_nan() && y.is_nan())));
    let Some(z) = common::zarr(&dest, "data") else { return };
    // xarray's base64 encoding of a float32 NaN.
    assert_eq!(z["attrs"]["_FillValue"], "AADAfw==");
    let expect = source_stats(&meta, &data);
    assert_eq!(z["bands"][0]["sum"].as_f64().unwrap(), expect[0].0);
    assert_eq!(z["bands"][0]["valid_count"].as_u64().unwrap(), expect[0].1);
}

#[test]
fn v2_is_read_by_gdal_with_pixels_geotransform_and_crs() {
    let tmp = geodino_testutil::tempdir();
    let (meta, data) = uint16_scene();
    let dest = tmp.path().join("gdal3.zarr");
    let opts = ZarrWriteOptions { version: ZarrVersion::V2, ..Default::default() };
    write(&dest, &meta, &data, &opts);
    let r = ZarrReader::open(&dest).unwrap();
    assert_eq!(r.variable(), "/Band1,/Band2,/Band3");
    assert_eq!(r.read_all().unwrap(), data);
    assert_eq!(r.meta().metadata["ZARR_FORMAT"], "2");
    // GDAL 3.6 shows a multi-band GDAL-layout store as one subdataset per band, as for its own
    // output (`gdal_translate -of Zarr`).
    let names: Vec<String> =
        (1..=3).map(|b| format!("ZARR:\"{}\":/Band{b}", dest.display())).collect();
    let Some(g) = common::gdal(&names) else { return };
    common::assert_matches_gdal(&r, &g, "v2 uint16");
    assert_eq!(g[0]["epsg"], 32618);
    assert_eq!(g[0]["geotransform"], json!([101985.0, 30.0, 0.0, 2826915.0, 0.0, -30.0]));
    assert_eq!(g[0]["bands"][0]["dtype"], "UInt16");
    assert_eq!(g[0]["bands"][0]["block"], json!([256, 256]));
    let expect = source_stats(&meta, &data);
    for b in 0..3 {
        assert_eq!(g[b]["bands"][0]["sum"].as_f64().unwrap(), expect[b].0);
    }

    // A single-band store opens directly in GDAL, no subdataset syntax needed.
    let (fm, fd) = float_scene();
    let one = tmp.path().join("one.zarr");
    write(&one, &fm, &fd, &opts);
    let g = common::gdal(&[one.display().to_string()]).unwrap();
    let r = ZarrReader::open(&one).unwrap();
    common::assert_matches_gdal(&r, &g, "v2 float32");
    assert_eq!(g[0]["epsg"], 4326);
    assert_eq!(g[0]["bands"][0]["nodata"], "nan");
}

#[test]
fn writes_are_atomic_and_refuse_to_clobber() {
    let tmp = geodino_testutil::tempdir();
    let (meta, data) = float_scene();
    let dest = tmp.path().join("a.zarr");
    {
        let mut w = ZarrWriter::create(&dest, &meta, &ZarrWriteOptions::default()).unwrap();
        w.write_window(Window::new(0, 0, 10, 10), &slice(&data, &Window::new(0, 0, 10, 10)))
            .unwrap();
        // dropped without finish: nothing at the destination, no temporary directory left
    }
    assert!(!dest.exists());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    write(&dest, &meta, &data, &ZarrWriteOptions::default());
    let e = ZarrWriter::create(&dest, &meta, &ZarrWriteOptions::default()).unwrap_err();
    assert!(e.to_string().contains("a.zarr"), "{e}");
    // overwrite replaces the store
    let (m2, d2) = uint16_scene();
    let opts = ZarrWriteOptions { overwrite: true, ..Default::default() };
    write(&dest, &m2, &d2, &opts);
    assert_eq!(ZarrReader::open(&dest).unwrap().read_all().unwrap(), d2);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    // bad windows and buffers are refused with a message naming the store
    let mut w =
        ZarrWriter::create(tmp.path().join("b.zarr"), &meta, &ZarrWriteOptions::default()).unwrap();
    let e = w.write_window(Window::new(330, 0, 10, 10), &slice(&data, &Window::new(0, 0, 10, 10)));
    assert!(e.unwrap_err().to_string().contains("b.zarr"));
    let e = w.write_window(
        Window::new(0, 0, 10, 10),
        &RasterBuffer::filled(DataType::Uint8, (1, 10, 10), 0.0),
    );
    assert!(e.unwrap_err().to_string().contains("b.zarr"));
}

#[test]
fn v3_without_nodata_reads_back_without_nodata() {
    // Every v3 array has a fill value; a non-NaN fill is not reported as nodata.
    let tmp = geodino_testutil::tempdir();
    let (mut meta, data) = uint16_scene();
    meta.set_nodata(None);
    let dest = tmp.path().join("nn.zarr");
    write(&dest, &meta, &data, &ZarrWriteOptions::default());
    let r = ZarrReader::open(&dest).unwrap();
    assert_eq!(r.meta().nodata(0), None);
    assert_eq!(r.read_all().unwrap(), data);
    let Some(z) = common::zarr(&dest, "data") else { return };
    assert!(z["attrs"].get("_FillValue").is_none());
}
