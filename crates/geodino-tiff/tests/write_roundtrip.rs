//! Round trips through GDAL: what the writer produces, GDAL reads back identically — pixels
//! bit for bit, georeferencing, CRS, nodata, band metadata, colour tables.

mod write_support;

use std::path::PathBuf;

use geodino_core::{
    BandMeta, ColorEntry, Crs, DataType, GeoTransform, NoData, RasterBuffer, RasterMeta,
};
use geodino_tiff::write::{
    Layout, Overviews, Predictor, TiffCompression, TiffWriteOptions, write_geotiff,
};
use serde_json::Value;
use write_support::{gdal_readback, le_bytes, random_buffer};

const COMPRESSIONS: [TiffCompression; 4] =
    [TiffCompression::None, TiffCompression::Lzw, TiffCompression::Deflate, TiffCompression::Zstd];

fn gdal_dtype(dt: DataType) -> &'static str {
    match dt {
        // GDAL 3.6 has no Int8: it reads signed bytes as Byte with PIXELTYPE=SIGNEDBYTE
        DataType::Uint8 | DataType::Int8 => "Byte",
        DataType::Uint16 => "UInt16",
        DataType::Int16 => "Int16",
        DataType::Uint32 => "UInt32",
        DataType::Int32 => "Int32",
        DataType::Float32 => "Float32",
        DataType::Float64 => "Float64",
    }
}

fn utm_meta(w: usize, h: usize, bands: usize, dt: DataType) -> RasterMeta {
    let mut m = RasterMeta::new(w, h, bands, dt);
    m.geotransform = Some(GeoTransform::north_up(300000.0, 10.0, 4100040.0, -10.0));
    m.crs = Some(Crs::from_epsg(32633));
    m
}

fn gt_of(info: &Value) -> Vec<f64> {
    info["geotransform"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

/// Every data type × every codec × {no predictor, the type's predictor}: 56 files, 2 bands,
/// 150 × 90 pixels in 32-pixel tiles (edge tiles on both axes), random values over the whole
/// type range (floats with tiny and huge magnitudes). GDAL must read back every byte.
#[test]
fn every_dtype_codec_and_predictor_reads_back_bit_exact() {
    let dir = geodino_testutil::tempdir();
    let mut cases = Vec::new();
    for (i, dt) in DataType::ALL.into_iter().enumerate() {
        let data = random_buffer(dt, (2, 90, 150), 100 + i as u64);
        for c in COMPRESSIONS {
            for p in [Predictor::None, Predictor::Auto] {
                if c == TiffCompression::None && p == Predictor::Auto {
                    continue;
                }
                let path = dir.path().join(format!("{dt}_{c:?}_{p:?}.tif"));
                let opts = TiffWriteOptions {
                    compression: c,
                    predictor: p,
                    tile_size: 32,
                    overviews: Overviews::None,
                    ..Default::default()
                };
                write_geotiff(&path, &utm_meta(150, 90, 2, dt), &data, &opts).unwrap();
                cases.push((path, dt, c, p, data.clone()));
            }
        }
    }
    assert_eq!(cases.len(), 56);
    let paths: Vec<&std::path::Path> = cases.iter().map(|c| c.0.as_path()).collect();
    let Some(back) = gdal_readback(&paths) else { return };
    for ((path, dt, c, p, data), rb) in cases.iter().zip(&back) {
        let what = path.file_name().unwrap().to_string_lossy();
        assert_eq!(rb.info["size"], serde_json::json!([150, 90]), "{what}");
        assert_eq!(rb.info["bands"], 2, "{what}");
        assert_eq!(rb.info["dtype"], gdal_dtype(*dt), "{what}");
        assert_eq!(rb.info["block"], serde_json::json!([32, 32]), "{what}");
        if *dt == DataType::Int8 {
            assert_eq!(rb.info["band_image_structure"]["PIXELTYPE"], "SIGNEDBYTE", "{what}");
        }
        let ims = &rb.info["image_structure"];
        let codec = match c {
            TiffCompression::None => None,
            TiffCompression::Lzw => Some("LZW"),
            TiffCompression::Deflate => Some("DEFLATE"),
            TiffCompression::Zstd => Some("ZSTD"),
        };
        assert_eq!(ims["COMPRESSION"].as_str(), codec, "{what}");
        let pred = match p {
            Predictor::Auto if dt.is_float() => Some("3"),
            Predictor::Auto => Some("2"),
            _ => None,
        };
        assert_eq!(ims["PREDICTOR"].as_str(), pred, "{what}");
        assert_eq!(ims["LAYOUT"], "COG", "{what}");
        assert!(rb.levels[0] == le_bytes(data), "{what}: pixels differ from what was written");
        assert_eq!(rb.info["epsg"], 32633, "{what}");
        assert_eq!(gt_of(&rb.info), vec![300000.0, 10.0, 0.0, 4100040.0, 0.0, -10.0], "{what}");
    }
}

fn described_bands(n: usize) -> Vec<BandMeta> {
    (0..n)
        .map(|i| BandMeta {
            description: Some(format!(
                "band {} <{}> & \"q\"",
                i + 1,
                ["B02", "B03", "B04", "B08", "B11"][i % 5]
            )),
            scale: Some(0.0001 * (i + 1) as f64),
            offset: Some(-0.1 * i as f64),
            ..Default::default()
        })
        .collect()
}

/// Metadata round trips: multi-band descriptions/scale/offset, RGBA photometric, a colour
/// table, NaN nodata, rotated transforms, PixelIsPoint, geographic and user-defined CRSs.
#[test]
fn georeferencing_and_band_metadata_read_back() {
    let dir = geodino_testutil::tempdir();
    let opts = TiffWriteOptions { tile_size: 64, ..Default::default() };
    let mut files: Vec<(PathBuf, RasterMeta, RasterBuffer)> = Vec::new();
    let mut add = |name: &str, meta: RasterMeta, data: RasterBuffer, o: &TiffWriteOptions| {
        let p = dir.path().join(name);
        write_geotiff(&p, &meta, &data, o).unwrap();
        files.push((p, meta, data));
    };

    // 5 bands of uint16 reflectance with descriptions, scale, offset, nodata, dataset items
    let mut m = utm_meta(200, 130, 5, DataType::Uint16);
    m.bands = described_bands(5);
    m.set_nodata(Some(0.0));
    m.metadata.insert("SENSOR".into(), "Sentinel-2 & <MSI>".into());
    m.metadata.insert("AREA_OR_POINT".into(), "Area".into());
    add("s2.tif", m, random_buffer(DataType::Uint16, (5, 130, 200), 1), &opts);

    // RGBA bytes
    let mut m = utm_meta(100, 100, 4, DataType::Uint8);
    for (b, ci) in m.bands.iter_mut().zip(["red", "green", "blue", "alpha"]) {
        b.color_interp = Some(ci.into());
    }
    add("rgba.tif", m, random_buffer(DataType::Uint8, (4, 100, 100), 2), &opts);

    // BGR + NIR: colour interpretation through GDAL_METADATA
    let mut m = utm_meta(100, 100, 4, DataType::Uint8);
    for (b, ci) in m.bands.iter_mut().zip(["blue", "green", "red", "undefined"]) {
        b.color_interp = Some(ci.into());
    }
    add("bgrn.tif", m, random_buffer(DataType::Uint8, (4, 100, 100), 3), &opts);

    // land-cover classes with a colour table
    let mut m = utm_meta(150, 150, 1, DataType::Uint8);
    let table = vec![
        ColorEntry { r: 0, g: 0, b: 0, a: 255 },
        ColorEntry { r: 0, g: 100, b: 0, a: 255 },
        ColorEntry { r: 255, g: 187, b: 34, a: 255 },
        ColorEntry { r: 0, g: 100, b: 200, a: 255 },
    ];
    m.bands[0].color_table = Some(table.clone());
    m.bands[0].nodata = Some(NoData(0.0));
    let classes = match random_buffer(DataType::Uint8, (1, 150, 150), 4) {
        RasterBuffer::Uint8(a) => RasterBuffer::Uint8(a.mapv(|v| v % 4)),
        _ => unreachable!("asked for uint8"),
    };
    add("classes.tif", m, classes, &opts);

    // float32 heights with NaN nodata
    let mut m = utm_meta(140, 70, 1, DataType::Float32);
    m.set_nodata(Some(f64::NAN));
    let mut h = random_buffer(DataType::Float32, (1, 70, 140), 5);
    if let RasterBuffer::Float32(a) = &mut h {
        for (i, v) in a.iter_mut().enumerate() {
            if i % 7 == 0 {
                *v = f32::NAN;
            }
        }
    }
    add("nan.tif", m, h, &opts);

    // rotated transform, float64
    let mut m = utm_meta(90, 60, 1, DataType::Float64);
    m.geotransform = Some(GeoTransform([1000.0, 2.0, 0.5, 5000.0, 0.25, -3.0]));
    add("rotated.tif", m, random_buffer(DataType::Float64, (1, 60, 90), 6), &opts);

    // PixelIsPoint, geographic EPSG:4326
    let mut m = utm_meta(90, 60, 1, DataType::Int16);
    m.geotransform = Some(GeoTransform::north_up(-10.0, 0.1, 50.0, -0.1));
    m.crs = Some(Crs::from_epsg(4326));
    m.pixel_is_point = true;
    add("point4326.tif", m, random_buffer(DataType::Int16, (1, 60, 90), 7), &opts);

    // user-defined CRSs by WKT only: WKT1 transverse Mercator, WKT2 Equal Earth
    let tm = r#"PROJCS["unnamed",GEOGCS["GRS 1980(IUGG, 1980)",DATUM["unknown",SPHEROID["GRS80",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",-33],PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],PARAMETER["false_northing",10000000],UNIT["metre",1]]"#;
    let mut m = utm_meta(64, 64, 1, DataType::Float32);
    m.crs = Some(Crs::from_wkt(tm));
    add("user_tm.tif", m, random_buffer(DataType::Float32, (1, 64, 64), 8), &opts);
    let eqearth = r#"PROJCRS["unknown",BASEGEOGCRS["unknown",DATUM["World Geodetic System 1984",ELLIPSOID["WGS 84",6378137,298.257223563,LENGTHUNIT["metre",1]],ID["EPSG",6326]],PRIMEM["Greenwich",0,ANGLEUNIT["degree",0.0174532925199433],ID["EPSG",8901]]],CONVERSION["unknown",METHOD["Equal Earth",ID["EPSG",1078]],PARAMETER["Longitude of natural origin",0,ANGLEUNIT["degree",0.0174532925199433],ID["EPSG",8802]],PARAMETER["False easting",0,LENGTHUNIT["metre",1],ID["EPSG",8806]],PARAMETER["False northing",0,LENGTHUNIT["metre",1],ID["EPSG",8807]]],CS[Cartesian,2],AXIS["(E)",east,ORDER[1],LENGTHUNIT["metre",1,ID["EPSG",9001]]],AXIS["(N)",north,ORDER[2],LENGTHUNIT["metre",1,ID["EPSG",9001]]]]"#;
    let mut m = utm_meta(64, 64, 1, DataType::Float32);
    m.crs = Some(Crs::from_wkt(eqearth));
    add("user_eqearth.tif", m, random_buffer(DataType::Float32, (1, 64, 64), 9), &opts);

    // a pretty-printed 3100-character WKT2 (BOUNDCRS of a custom Lambert conformal conic, as
    // PROJ exports it): compacted to fit GDAL's 2400-byte ESRI PE citation buffer
    let lcc = r#"BOUNDCRS[
    SOURCECRS[
        PROJCRS["unknown",
            BASEGEOGCRS["unknown",
                DATUM["Unknown based on GRS80 ellipsoid using towgs84=0,0,0,0,0,0,0",
                    ELLIPSOID["GRS 1980",6378137,298.257222101,
                        LENGTHUNIT["metre",1],
                        ID["EPSG",7019]]],
                PRIMEM["Greenwich",0,
                    ANGLEUNIT["degree",0.0174532925199433],
                    ID["EPSG",8901]]],
            CONVERSION["unknown",
                METHOD["Lambert Conic Conformal (2SP)",
                    ID["EPSG",9802]],
                PARAMETER["Latitude of false origin",46.5,
                    ANGLEUNIT["degree",0.0174532925199433],
                    ID["EPSG",8821]],
                PARAMETER["Longitude of false origin",3,
                    ANGLEUNIT["degree",0.0174532925199433],
                    ID["EPSG",8822]],
                PARAMETER["Latitude of 1st standard parallel",49,
                    ANGLEUNIT["degree",0.0174532925199433],
                    ID["EPSG",8823]],
                PARAMETER["Latitude of 2nd standard parallel",44,
                    ANGLEUNIT["degree",0.0174532925199433],
                    ID["EPSG",8824]],
                PARAMETER["Easting at false origin",700000,
                    LENGTHUNIT["metre",1],
                    ID["EPSG",8826]],
                PARAMETER["Northing at false origin",6600000,
                    LENGTHUNIT["metre",1],
                    ID["EPSG",8827]]],
            CS[Cartesian,2],
                AXIS["(E)",east,
                    ORDER[1],
                    LENGTHUNIT["metre",1,
                        ID["EPSG",9001]]],
                AXIS["(N)",north,
                    ORDER[2],
                    LENGTHUNIT["metre",1,
                        ID["EPSG",9001]]]]],
    TARGETCRS[
        GEOGCRS["WGS 84",
            DATUM["World Geodetic System 1984",
                ELLIPSOID["WGS 84",6378137,298.257223563,
                    LENGTHUNIT["metre",1]]],
            PRIMEM["Greenwich",0,
                ANGLEUNIT["degree",0.0174532925199433]],
            CS[ellipsoidal,2],
                AXIS["latitude",north,
                    ORDER[1],
                    ANGLEUNIT["degree",0.0174532925199433]],
                AXIS["longitude",east,
                    ORDER[2],
                    ANGLEUNIT["degree",0.0174532925199433]],
            ID["EPSG",4326]]],
    ABRIDGEDTRANSFORMATION["Transformation from unknown to WGS84",
        METHOD["Position Vector transformation (geog2D domain)",
            ID["EPSG",9606]],
        PARAMETER["X-axis translation",0,
            ID["EPSG",8605]],
        PARAMETER["Y-axis translation",0,
            ID["EPSG",8606]],
        PARAMETER["Z-axis translation",0,
            ID["EPSG",8607]],
        PARAMETER["X-axis rotation",0,
            ID["EPSG",8608]],
        PARAMETER["Y-axis rotation",0,
            ID["EPSG",8609]],
        PARAMETER["Z-axis rotation",0,
            ID["EPSG",8610]],
        PARAMETER["Scale difference",1,
            ID["EPSG",8611]]]]"#;
    let mut m = utm_meta(64, 64, 1, DataType::Uint16);
    m.crs = Some(Crs::from_wkt(lcc));
    add("user_lcc.tif", m, random_buffer(DataType::Uint16, (1, 64, 64), 12), &opts);

    // the same in BigTIFF and in the plain tiled layout
    let big = TiffWriteOptions { bigtiff: geodino_tiff::write::BigTiff::Yes, ..opts.clone() };
    let mut m = utm_meta(200, 130, 5, DataType::Uint16);
    m.bands = described_bands(5);
    add("s2_big.tif", m, random_buffer(DataType::Uint16, (5, 130, 200), 10), &big);
    let tiled = TiffWriteOptions { layout: Layout::Tiled, ..opts.clone() };
    add(
        "tiled.tif",
        utm_meta(200, 130, 1, DataType::Int32),
        random_buffer(DataType::Int32, (1, 130, 200), 11),
        &tiled,
    );

    let paths: Vec<&std::path::Path> = files.iter().map(|f| f.0.as_path()).collect();
    let Some(back) = gdal_readback(&paths) else { return };
    let by_name = |n: &str| {
        let i = files.iter().position(|f| f.0.ends_with(n)).unwrap();
        (&files[i], &back[i])
    };
    for ((path, _, data), rb) in files.iter().zip(&back) {
        assert!(rb.levels[0] == le_bytes(data), "{}: pixels differ", path.display());
        assert_eq!(rb.info["driver"], "GTiff");
        assert_eq!(
            rb.info["files"].as_array().unwrap().len(),
            1,
            "{}: no side-car files",
            path.display()
        );
    }

    // descriptions, scale/offset, nodata, metadata
    for name in ["s2.tif", "s2_big.tif"] {
        let ((_, m, _), rb) = by_name(name);
        for (i, b) in m.bands.iter().enumerate() {
            let g = &rb.info["band"][i];
            assert_eq!(g["description"].as_str(), b.description.as_deref(), "{name} band {i}");
            assert_eq!(g["scale"].as_f64(), b.scale, "{name} band {i}");
            assert_eq!(g["offset"].as_f64(), b.offset, "{name} band {i}");
        }
    }
    let (_, rb) = by_name("s2.tif");
    assert!(rb.info["band"].as_array().unwrap().iter().all(|b| b["nodata"] == 0.0));
    assert_eq!(rb.info["metadata"]["SENSOR"], "Sentinel-2 & <MSI>");
    assert_eq!(rb.info["metadata"]["AREA_OR_POINT"], "Area");

    let ci = |rb: &write_support::Readback| -> Vec<String> {
        rb.info["band"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["color_interp"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ci(by_name("rgba.tif").1), ["Red", "Green", "Blue", "Alpha"]);
    assert_eq!(ci(by_name("bgrn.tif").1), ["Blue", "Green", "Red", "Undefined"]);

    let (_, rb) = by_name("classes.tif");
    assert_eq!(ci(rb), ["Palette"]);
    let ct = rb.info["band"][0]["color_table"].as_array().unwrap();
    assert_eq!(ct.len(), 256);
    for (i, c) in table.iter().enumerate() {
        // TIFF colour maps carry no alpha; GDAL makes the nodata entry (0) transparent
        let alpha = if i == 0 { 0 } else { 255 };
        assert_eq!(ct[i], serde_json::json!([c.r, c.g, c.b, alpha]), "entry {i}");
    }
    assert_eq!(ct[4], serde_json::json!([0, 0, 0, 255]));

    let (_, rb) = by_name("nan.tif");
    assert_eq!(rb.info["band"][0]["nodata"], "nan");

    let (_, rb) = by_name("rotated.tif");
    assert_eq!(gt_of(&rb.info), vec![1000.0, 2.0, 0.5, 5000.0, 0.25, -3.0]);
    assert_eq!(rb.info["epsg"], 32633);

    let (_, rb) = by_name("point4326.tif");
    assert_eq!(gt_of(&rb.info), vec![-10.0, 0.1, 0.0, 50.0, 0.0, -0.1]);
    assert_eq!(rb.info["metadata"]["AREA_OR_POINT"], "Point");
    assert_eq!(rb.info["epsg"], 4326);

    for name in ["user_tm.tif", "user_eqearth.tif", "user_lcc.tif"] {
        let (_, rb) = by_name(name);
        let wkt = rb.info["wkt"].as_str().unwrap_or_else(|| panic!("{name}: GDAL found no CRS"));
        assert!(rb.info["epsg"].is_null(), "{name}");
        // GDAL normalises the WKT (WKT1 export, axis order); the defining numbers survive
        for key in ["6378137", "298.257", "metre"] {
            assert!(wkt.contains(key), "{name}: {key} missing in {wkt}");
        }
        if name == "user_lcc.tif" {
            assert!(
                wkt.contains("Lambert_Conformal_Conic_2SP") && wkt.contains("6600000"),
                "{wkt}"
            );
        } else if name == "user_tm.tif" {
            assert!(
                wkt.contains("Transverse_Mercator")
                    && wkt.contains("-33")
                    && wkt.contains("10000000"),
                "{wkt}"
            );
        } else {
            assert!(wkt.contains("Equal Earth") || wkt.contains("Equal_Earth"), "{wkt}");
        }
    }

    let (_, rb) = by_name("tiled.tif");
    assert!(rb.info["image_structure"]["LAYOUT"].is_null());
    assert_eq!(rb.info["overviews"], serde_json::json!([]));
}
