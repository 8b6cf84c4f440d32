//! The crate's own reader reads what the writer wrote: pixels of every level, georeferencing,
//! band metadata. Needs no GDAL, so it also guards builds without the oracle.

mod write_support;

use geodino_core::{
    BandMeta, ColorEntry, Crs, DataType, GeoTransform, NoData, RasterMeta, RasterRead, Window,
};
use geodino_tiff::GeoTiffReader;
use geodino_tiff::write::{
    GeoTiffWriter, Overviews, Resampling, TiffCompression, TiffWriteOptions, write_geotiff,
};
use write_support::{random_buffer, smooth_buffer};

#[test]
fn every_dtype_and_codec_reads_back_through_geotiffreader() {
    let dir = geodino_testutil::tempdir();
    for (i, dt) in DataType::ALL.into_iter().enumerate() {
        for c in [
            TiffCompression::None,
            TiffCompression::Lzw,
            TiffCompression::Deflate,
            TiffCompression::Zstd,
        ] {
            let mut m = RasterMeta::new(150, 90, 2, dt);
            m.geotransform = Some(GeoTransform::north_up(300000.0, 10.0, 4100040.0, -10.0));
            m.crs = Some(Crs::from_epsg(32633));
            let data = random_buffer(dt, (2, 90, 150), 200 + i as u64);
            let p = dir.path().join(format!("{dt}_{c:?}.tif"));
            let opts = TiffWriteOptions { compression: c, tile_size: 32, ..Default::default() };
            let mut w = GeoTiffWriter::create(&p, &m, &opts).unwrap();
            let written = geodino_core::RasterWrite::meta(&w).clone();
            w.write_window(Window::full(150, 90), &data).unwrap();
            w.finish().unwrap();

            let r = GeoTiffReader::open(&p).unwrap();
            let what = format!("{dt} {c:?}");
            assert_eq!(r.read_all().unwrap(), data, "{what}: pixels");
            let rm = r.meta();
            assert_eq!(
                (rm.width, rm.height, rm.dtype, rm.band_count()),
                (150, 90, dt, 2),
                "{what}"
            );
            assert_eq!(rm.geotransform, m.geotransform, "{what}");
            assert_eq!(rm.crs.as_ref().and_then(|c| c.epsg), Some(32633), "{what}");
            assert_eq!(rm.compression, c.to_core(), "{what}");
            assert_eq!(rm.block, written.block, "{what}");
            assert_eq!(rm.overviews, written.overviews, "{what}");
            assert_eq!(rm.overviews, vec![(75, 45), (37, 22), (18, 11)], "{what}");
            // the first overview is the 2x2 average (mean of the four, ints rounded) of the image
            let ov = r.overview(0).unwrap().read_all().unwrap().to_f64();
            let full = data.to_f64();
            for (b, y, x) in [(0, 0, 0), (1, 44, 74), (0, 20, 31)] {
                let s: f64 = (0..2)
                    .flat_map(|dy| (0..2).map(move |dx| (dy, dx)))
                    .map(|(dy, dx)| full[[b, 2 * y + dy, 2 * x + dx]])
                    .sum::<f64>();
                let want = if dt.is_float() { s / 4.0 } else { (s / 4.0).round() };
                let got = ov[[b, y, x]];
                assert!(
                    (got - want).abs() <= want.abs() * 1e-6,
                    "{what}: overview ({b},{y},{x}) {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn metadata_reads_back_through_geotiffreader() {
    let dir = geodino_testutil::tempdir();
    let opts = TiffWriteOptions { tile_size: 64, overviews: Overviews::None, ..Default::default() };

    // bands: descriptions, scale/offset, nodata, colour interpretation
    let mut m = RasterMeta::new(100, 80, 4, DataType::Uint16);
    m.geotransform = Some(GeoTransform([1000.0, 2.0, 0.5, 5000.0, 0.25, -3.0]));
    m.crs = Some(Crs::from_epsg(3857));
    m.bands = ["red", "green", "blue", "alpha"]
        .iter()
        .enumerate()
        .map(|(i, ci)| BandMeta {
            // plain text: GDAL escapes item values twice and the reader (at this commit)
            // unescapes once; write_roundtrip.rs checks special characters through GDAL
            description: Some(format!("b{i} (band {})", i + 1)),
            scale: Some(0.5 + i as f64),
            offset: Some(-(i as f64)),
            color_interp: Some(ci.to_string()),
            nodata: Some(NoData(65535.0)),
            ..Default::default()
        })
        .collect();
    let p = dir.path().join("bands.tif");
    let data = random_buffer(DataType::Uint16, (4, 80, 100), 1);
    write_geotiff(&p, &m, &data, &opts).unwrap();
    let r = GeoTiffReader::open(&p).unwrap();
    assert_eq!(r.read_all().unwrap(), data);
    let rm = r.meta();
    assert_eq!(rm.geotransform, m.geotransform);
    assert_eq!(rm.crs.as_ref().unwrap().epsg, Some(3857));
    for (a, b) in rm.bands.iter().zip(&m.bands) {
        assert_eq!(a.description, b.description);
        assert_eq!(a.scale, b.scale);
        assert_eq!(a.offset, b.offset);
        assert_eq!(a.nodata, b.nodata);
        assert_eq!(a.color_interp.as_deref().map(str::to_ascii_lowercase), b.color_interp);
    }

    // classes with a colour table, PixelIsPoint, geographic CRS
    let mut m = RasterMeta::new(90, 70, 1, DataType::Uint8);
    m.geotransform = Some(GeoTransform::north_up(-10.0, 0.1, 50.0, -0.1));
    m.crs = Some(Crs::from_epsg(4326));
    m.pixel_is_point = true;
    let table =
        vec![ColorEntry { r: 1, g: 2, b: 3, a: 255 }, ColorEntry { r: 200, g: 100, b: 0, a: 255 }];
    m.bands[0].color_table = Some(table.clone());
    let p = dir.path().join("classes.tif");
    let data = random_buffer(DataType::Uint8, (1, 70, 90), 2);
    write_geotiff(
        &p,
        &m,
        &data,
        &TiffWriteOptions { resampling: Resampling::Mode, ..opts.clone() },
    )
    .unwrap();
    let r = GeoTiffReader::open(&p).unwrap();
    let rm = r.meta();
    assert_eq!(rm.geotransform, m.geotransform);
    assert!(rm.pixel_is_point);
    assert_eq!(rm.crs.as_ref().unwrap().epsg, Some(4326));
    let ct = rm.bands[0].color_table.as_ref().unwrap();
    assert_eq!(&ct[..2], &table[..]);

    // user-defined CRS (WKT only) and NaN nodata
    let wkt = r#"PROJCS["unnamed",GEOGCS["GRS 1980(IUGG, 1980)",DATUM["unknown",SPHEROID["GRS80",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",-33],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],PARAMETER["false_northing",10000000],UNIT["metre",1]]"#;
    let mut m = RasterMeta::new(64, 64, 1, DataType::Float32);
    m.crs = Some(Crs::from_wkt(wkt));
    m.geotransform = Some(GeoTransform::north_up(500000.0, 1.0, 100.0, -1.0));
    m.set_nodata(Some(f64::NAN));
    let p = dir.path().join("user.tif");
    let data = smooth_buffer(DataType::Float32, (1, 64, 64), 3);
    write_geotiff(&p, &m, &data, &opts).unwrap();
    let r = GeoTiffReader::open(&p).unwrap();
    assert_eq!(r.read_all().unwrap(), data);
    let crs = r.meta().crs.clone().unwrap();
    assert_eq!(crs.epsg, None);
    assert_eq!(crs.wkt.as_deref(), Some(wkt));
    assert!(r.meta().nodata(0).unwrap().0.is_nan());
}
