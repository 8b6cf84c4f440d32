//! What the jobs write, checked with GDAL: land cover (uint8, colour table, class names, mode
//! overviews), uint16 decimetre heights, output on a resampled grid (`--target-gsd`), dense
//! features at 1/16 resolution and their PCA on a real NAIP GeoTIFF, and clear errors for
//! inputs that do not fit.

mod common;

use common::*;
use geodino_core::Window;
use geodino_infer::input::Scaling;
use geodino_infer::pca::{Pca, PcaOptions};
use geodino_infer::{
    EmbedModel, EngineOptions, HeadModel, HeightDtype, Product, SceneOptions, embed_scene,
    predict_scene, product_for,
};
use geodino_testutil::{oracle, shared_data, tempdir};

fn opts(tile: usize, overlap: usize) -> SceneOptions {
    SceneOptions {
        engine: EngineOptions { tile, overlap, batch: 2, ..EngineOptions::default() },
        ..SceneOptions::default()
    }
}

#[test]
fn land_cover_is_uint8_with_colours_names_and_nodata() {
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    write_scene(&input, 600, 560, 0.6, Some(Window::new(10, 10, 30, 20)));
    let model = HeadModel::new(Box::new(tiny_backbone(1)), tiny_landcover_head(5, 32)).unwrap();
    let out = dir.path().join("lc.tif");
    let png = dir.path().join("lc.png");
    let o = SceneOptions { preview: Some(png.clone()), ..opts(128, 32) };
    let r =
        predict_scene(&input, &out, &model, product_for(&model, HeightDtype::Float32), &o, &|_| {})
            .unwrap();
    assert_eq!(r.stats.nodata_pixels, 600);
    assert_eq!(r.stats.class_pixels.iter().sum::<u64>(), 600 * 560 - 600);
    let px = read_all(&out);
    let values: std::collections::BTreeSet<u32> = px.iter().map(|&v| v as u32).collect();
    assert!(values.is_subset(&[10, 20, 30, 255].into_iter().collect()), "{values:?}");
    assert_eq!(px[[0, 15, 15]], 255.0);
    assert!(png.exists());
    if !oracle::gdal() {
        return;
    }
    let g = oracle::gdalinfo_json(&out, false);
    let b = &g["bands"][0];
    assert_eq!(b["type"], "Byte");
    assert_eq!(b["noDataValue"], 255.0);
    assert_eq!(b["colorInterpretation"], "Palette");
    let entries = &b["colorTable"]["entries"];
    assert_eq!(entries[20], serde_json::json!([0, 120, 0, 255]));
    assert_eq!(b["categories"][30], "built-up");
    assert_eq!(b["categories"][10], "water");
    // 600 x 560 with 512 tiles: one overview, built by mode (only class values appear)
    assert_eq!(b["overviews"].as_array().map(Vec::len), Some(1));
    assert_eq!(g["metadata"][""]["CLASS_20"], "tree cover");
}

#[test]
fn uint16_heights_are_decimetres_with_a_scale() {
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    write_scene(&input, 160, 120, 0.6, Some(Window::new(0, 0, 8, 8)));
    let model = tiny_canopy_model();
    let f = dir.path().join("f.tif");
    let u = dir.path().join("u.tif");
    let p = |dtype| Product::CanopyHeight { dtype };
    predict_scene(&input, &f, &model, p(HeightDtype::Float32), &opts(64, 16), &|_| {}).unwrap();
    predict_scene(&input, &u, &model, p(HeightDtype::Uint16), &opts(64, 16), &|_| {}).unwrap();
    let (hf, hu) = (read_all(&f), read_all(&u));
    for (a, b) in hf.iter().zip(hu.iter()) {
        if a.is_nan() {
            assert_eq!(*b, 65535.0);
        } else {
            assert_eq!(*b, (a * 10.0).round());
        }
    }
    if oracle::gdal() {
        let g = oracle::gdalinfo_json(&u, false);
        assert_eq!(g["bands"][0]["type"], "UInt16");
        assert_eq!(g["bands"][0]["scale"], 0.1);
        assert_eq!(g["bands"][0]["noDataValue"], 65535.0);
    }
}

#[test]
fn target_gsd_writes_on_the_resampled_grid() {
    let dir = tempdir();
    let input = dir.path().join("scene03.tif");
    write_scene(&input, 200, 180, 0.3, Some(Window::new(100, 100, 20, 20)));
    let model = tiny_canopy_model();
    let out = dir.path().join("chm06.tif");
    let o = SceneOptions { target_gsd: Some(0.6), ..opts(64, 16) };
    let r =
        predict_scene(&input, &out, &model, product_for(&model, HeightDtype::Float32), &o, &|_| {})
            .unwrap();
    assert_eq!(r.output_size, (100, 90));
    assert_eq!(r.gsd, Some(0.6));
    let h = read_all(&out);
    // the 20 x 20 nodata square at 0.3 m is 10 x 10 at 0.6 m
    let nan = h.iter().filter(|v| v.is_nan()).count();
    assert_eq!(nan, 100);
    if oracle::gdal() {
        let g = oracle::gdalinfo_json(&out, false);
        assert_eq!(g["size"], serde_json::json!([100, 90]));
        assert_eq!(
            g["geoTransform"],
            serde_json::json!([500000.0, 0.6, 0.0, 5600000.0, 0.0, -0.6])
        );
        assert_eq!(
            g["coordinateSystem"]["wkt"],
            oracle::gdalinfo_json(&input, false)["coordinateSystem"]["wkt"]
        );
    }
}

#[test]
fn inputs_that_do_not_fit_get_clear_errors() {
    let dir = tempdir();
    let model = tiny_canopy_model();
    let p = Product::CanopyHeight { dtype: HeightDtype::Float32 };
    // one band for an RGB model
    let one = dir.path().join("one.tif");
    let meta = scene_meta(40, 40, 1, geodino_core::DataType::Uint8, 0.6);
    let px = ndarray::Array3::<u8>::from_elem((1, 40, 40), 9);
    geodino_tiff::write::write_geotiff(
        &one,
        &meta,
        &geodino_core::RasterBuffer::Uint8(px),
        &Default::default(),
    )
    .unwrap();
    let out = dir.path().join("out.tif");
    let e = predict_scene(&one, &out, &model, p.clone(), &opts(64, 16), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("one.tif") && e.contains("1 band") && e.contains("takes 3"), "{e}");
    // uint16 without a scaling
    let u16p = dir.path().join("u16.tif");
    let meta = scene_meta(40, 40, 3, geodino_core::DataType::Uint16, 0.6);
    let px = ndarray::Array3::<u16>::from_elem((3, 40, 40), 900);
    geodino_tiff::write::write_geotiff(
        &u16p,
        &meta,
        &geodino_core::RasterBuffer::Uint16(px),
        &Default::default(),
    )
    .unwrap();
    let e = predict_scene(&u16p, &out, &model, p.clone(), &opts(64, 16), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("u16.tif") && e.contains("--sensor"), "{e}");
    // ... and with one it runs
    let o =
        SceneOptions { scaling: Some(Scaling::sensor("sentinel2-l2a").unwrap()), ..opts(64, 16) };
    predict_scene(&u16p, &out, &model, p.clone(), &o, &|_| {}).unwrap();
    // unreadable input, nothing written
    let junk = dir.path().join("junk.tif");
    std::fs::write(&junk, b"II*\0 not really").unwrap();
    let out2 = dir.path().join("out2.tif");
    let e = predict_scene(&junk, &out2, &model, p.clone(), &opts(64, 16), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("junk.tif"), "{e}");
    assert!(!out2.exists());
    // an existing output is kept unless asked to overwrite
    let e = predict_scene(&u16p, &out, &model, p.clone(), &o, &|_| {}).unwrap_err().to_string();
    assert!(e.contains("out.tif") && e.contains("exists"), "{e}");
    // a head for another backbone width
    let e = HeadModel::new(Box::new(tiny_backbone(1)), tiny_canopy_head(2, 64))
        .unwrap_err()
        .to_string();
    assert!(e.contains("width 64") && e.contains("produces 32"), "{e}");
}

#[test]
fn embed_and_pca_on_a_real_naip_geotiff() {
    let Some(naip) = shared_data("geotiff/m_3607824_se_17_1_20160620_sub.tif") else { return };
    let dir = tempdir();
    let bb = tiny_backbone(11);
    let model = EmbedModel::new(Box::new(bb), None, true).unwrap();
    let feats = dir.path().join("naip.features.tif");
    let n = geodino_heads::NormalizationSpec::preset("sat493m").unwrap();
    let r = embed_scene(&naip, &feats, &model, &n.mean, &n.std, 255.0, &opts(128, 32), &|_| {})
        .unwrap();
    // 300 x 300 px (RGB + NIR: red, green, blue chosen) -> 19 x 19 features of width 32
    assert_eq!(r.bands, vec![1, 2, 3]);
    assert_eq!(r.output_size, (19, 19));
    let reader = geodino_raster::open(&feats).unwrap();
    assert_eq!(reader.meta().band_count(), 32);
    let src = geodino_raster::open(&naip).unwrap();
    let g = src.meta().geotransform.unwrap().0;
    assert_eq!(
        reader.meta().geotransform.unwrap().0,
        [g[0], g[1] * 16.0, 0.0, g[3], 0.0, g[5] * 16.0]
    );
    assert_eq!(reader.meta().crs, src.meta().crs);
    let pca = Pca::fit(reader.as_ref(), &PcaOptions::default(), &|_, _| {}).unwrap();
    assert_eq!(pca.samples, 19 * 19);
    let ex = pca.explained();
    assert!(ex[0] >= ex[1] && ex[1] >= ex[2] && ex.iter().sum::<f64>() <= 1.0 + 1e-9, "{ex:?}");
    let stretch = pca.stretch(reader.as_ref(), 1.0, 99.0, 1 << 20, &|_, _| {}).unwrap();
    let (rgb, valid) = pca.render_rows(reader.as_ref(), Window::full(19, 19), &stretch).unwrap();
    assert!(valid.iter().all(|&v| v == 1));
    // stretched: the channels span most of 0..255
    for c in 0..3 {
        let ch = rgb.index_axis(ndarray::Axis(0), c);
        let (lo, hi) = (ch.iter().min().unwrap(), ch.iter().max().unwrap());
        assert!(*lo < 20 && *hi > 235, "channel {c}: {lo}..{hi}");
    }
    if oracle::gdal() {
        let gi = oracle::gdalinfo_json(&feats, false);
        assert_eq!(gi["size"], serde_json::json!([19, 19]));
        assert_eq!(gi["bands"].as_array().map(Vec::len), Some(32));
        let gt: Vec<f64> = serde_json::from_value(gi["geoTransform"].clone()).unwrap();
        assert!((gt[1] - 16.0).abs() < 1e-9 && (gt[5] + 16.0).abs() < 1e-9, "{gt:?}");
    }
}
