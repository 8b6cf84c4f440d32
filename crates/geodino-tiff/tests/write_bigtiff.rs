//! BigTIFF: forced on request (GDAL reads it back, the COG validator accepts it), and the
//! automatic rule, which the writer applies to the exact size of the laid-out file.

mod write_support;

use geodino_core::{Crs, DataType, GeoTransform, RasterMeta};
use geodino_tiff::write::{BigTiff, Layout, TiffWriteOptions, write_geotiff};
use write_support::{gdal_readback, le_bytes, smooth_buffer, validate_cog};

fn meta() -> RasterMeta {
    let mut m = RasterMeta::new(1100, 700, 3, DataType::Float32);
    m.geotransform = Some(GeoTransform::north_up(300000.0, 10.0, 4100040.0, -10.0));
    m.crs = Some(Crs::from_epsg(32618));
    m.set_nodata(Some(-9999.0));
    m
}

#[test]
fn forced_bigtiff_reads_back_and_validates() {
    let dir = geodino_testutil::tempdir();
    let data = smooth_buffer(DataType::Float32, (3, 700, 1100), 9);
    let big = dir.path().join("big.tif");
    let tiled = dir.path().join("big_tiled.tif");
    let classic = dir.path().join("classic.tif");
    let o = TiffWriteOptions { tile_size: 256, bigtiff: BigTiff::Yes, ..Default::default() };
    write_geotiff(&big, &meta(), &data, &o).unwrap();
    write_geotiff(&tiled, &meta(), &data, &TiffWriteOptions { layout: Layout::Tiled, ..o.clone() })
        .unwrap();
    write_geotiff(&classic, &meta(), &data, &TiffWriteOptions { bigtiff: BigTiff::Auto, ..o })
        .unwrap();
    assert_eq!(&std::fs::read(&big).unwrap()[..8], b"II+\0\x08\0\0\0");
    assert_eq!(&std::fs::read(&tiled).unwrap()[..4], b"II+\0");
    assert_eq!(&std::fs::read(&classic).unwrap()[..4], b"II*\0", "auto stays classic when small");
    if let Some((ok, text)) = validate_cog(&big) {
        assert!(ok, "{text}");
    }
    let Some(back) = gdal_readback(&[&big, &tiled, &classic]) else { return };
    for rb in &back {
        assert!(rb.levels[0] == le_bytes(&data));
        assert_eq!(rb.info["epsg"], 32618);
        assert_eq!(rb.info["band"][2]["nodata"], -9999.0);
    }
    // the overviews are the same bytes whatever the container
    assert_eq!(back[0].info["overviews"], serde_json::json!([[550, 350], [275, 175], [137, 87]]));
    assert!(back[0].levels[1..] == back[2].levels[1..]);
}

/// The automatic rule: classic TIFF while every offset fits in 32 bits, BigTIFF beyond. The
/// writer evaluates it on the exact size of the classic layout, computed after compression.
#[test]
fn automatic_bigtiff_rule() {
    let limit = u32::MAX as u64;
    assert!(!BigTiff::Auto.use_bigtiff(10_000));
    assert!(!BigTiff::Auto.use_bigtiff(limit));
    assert!(BigTiff::Auto.use_bigtiff(limit + 1));
    // an incompressible 30 000² float32 map (3.6 GB) still fits; 40 000² (6.4 GB) does not
    assert!(!BigTiff::Auto.use_bigtiff(30_000 * 30_000 * 4 + 1_000_000));
    assert!(BigTiff::Auto.use_bigtiff(40_000 * 40_000 * 4));
    assert!(BigTiff::Yes.use_bigtiff(8));
    assert!(!BigTiff::No.use_bigtiff(limit * 4));
}
