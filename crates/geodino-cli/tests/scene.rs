//! The whole-scene commands end to end: `canopy-height` (model flags, the bundled demo model or
//! a clear error, COG output on the input's grid as GDAL sees it, uint16, preview, Gaussian
//! blending, clean failures that leave nothing behind), `geodino landcover` (uint8 with colour
//! table), `geodino embed` + `geodino pca`. Models: the small CHMv2-style golden backbone and head
//! under `tests/golden/dinov3/`, and a land-cover head made here, so nothing depends on the demo
//! model's files.
#![cfg(feature = "torch")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use geodino_core::{Crs, DataType, GeoTransform, RasterBuffer, RasterMeta, Window};
use geodino_heads::{ClassInfo, DenseHead, HeadOptions, HeadSpec};
use geodino_testutil::{golden_dir, oracle, tempdir};
use geodino_tiff::write::{TiffWriteOptions, write_geotiff};
use ndarray::Array3;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn canopy(args: &[&str], env_demo: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_canopy-height"));
    c.args(args).arg("--quiet");
    if let Some(d) = env_demo {
        c.env("GEODINO_DEMO_MODEL", d);
    }
    c.output().unwrap()
}

fn geodino(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_geodino")).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The golden CHMv2-style backbone (width 64, 4 blocks) and its DPT canopy head, the head saved
/// into `dir` as a geodino head file that records the layers it reads (0–3; the `.pth` alone
/// does not say).
fn golden_model(dir: &Path) -> (PathBuf, PathBuf) {
    let g = golden_dir();
    let head = dir.join("chmv2-golden-head.safetensors");
    if !head.exists() {
        let opts = HeadOptions { layers: Some(vec![0, 1, 2, 3]), ..HeadOptions::default() };
        DenseHead::from_file(&g.join("chmv2_dpt.head.pth"), &opts).unwrap().save(&head).unwrap();
    }
    (g.join("chmv2_dpt.backbone.pth"), head)
}

/// An RGB uint8 UTM scene, textured, with nodata 0 inside `hole`.
fn write_scene(path: &Path, w: usize, h: usize, hole: Option<Window>) {
    let mut px = Array3::<u8>::from_shape_fn((3, h, w), |(b, y, x)| {
        let v = 120.0
            + 60.0 * ((x as f32 / 17.0 + b as f32).sin() * (y as f32 / 23.0).cos())
            + ((x * 7 + y * 13 + b * 5) % 11) as f32;
        v.clamp(1.0, 255.0) as u8
    });
    if let Some(bx) = hole {
        for y in bx.row_off as usize..bx.row_end() as usize {
            for x in bx.col_off as usize..bx.col_end() as usize {
                for b in 0..3 {
                    px[[b, y, x]] = 0;
                }
            }
        }
    }
    let mut meta = RasterMeta::new(w, h, 3, DataType::Uint8);
    meta.geotransform = Some(GeoTransform::north_up(400_000.0, 0.6, 4_500_000.0, -0.6));
    meta.crs = Some(Crs::from_epsg(32617));
    meta.set_nodata(Some(0.0));
    let opts = TiffWriteOptions::preset("tiled").unwrap();
    write_geotiff(path, &meta, &RasterBuffer::Uint8(px), &opts).unwrap();
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn canopy_height_writes_a_cog_on_the_input_grid() {
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    write_scene(&input, 200, 170, Some(Window::new(30, 40, 20, 10)));
    let (w, h) = golden_model(dir.path());
    let out = dir.path().join("chm.tif");
    let png = dir.path().join("chm.png");
    let o = canopy(
        &[
            s(&input),
            s(&out),
            "--weights",
            s(&w),
            "--head",
            s(&h),
            "--tile",
            "96",
            "--overlap",
            "32",
            "--batch",
            "2",
            "--preview",
            s(&png),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    assert!(png.is_file());
    let r = geodino_raster::open(&out).unwrap();
    assert_eq!((r.meta().width, r.meta().height, r.meta().band_count()), (200, 170, 1));
    let px = r.read_all().unwrap().to_f32();
    let nan = px.iter().filter(|v| v.is_nan()).count();
    assert_eq!(nan, 200, "exactly the 20 x 10 nodata pixels of the input");
    assert!(px.iter().filter(|v| v.is_finite()).all(|&v| v >= 0.0), "heights are >= 0");
    // uint16 decimetres and Gaussian blending into another file
    let out16 = dir.path().join("chm16.tif");
    let o = canopy(
        &[
            s(&input),
            s(&out16),
            "--weights",
            s(&w),
            "--head",
            s(&h),
            "--tile",
            "64",
            "--overlap",
            "16",
            "--dtype",
            "uint16",
            "--blend",
            "gaussian",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    if !oracle::gdal() {
        return;
    }
    let gi = oracle::gdalinfo_json(&input, false);
    for path in [&out, &out16] {
        let g = oracle::gdalinfo_json(path, false);
        assert_eq!(g["size"], gi["size"]);
        assert_eq!(g["geoTransform"], gi["geoTransform"]);
        assert_eq!(g["coordinateSystem"]["wkt"], gi["coordinateSystem"]["wkt"]);
        assert_eq!(g["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"], "COG");
    }
    let g = oracle::gdalinfo_json(&out16, false);
    assert_eq!(g["bands"][0]["type"], "UInt16");
    assert_eq!(g["bands"][0]["noDataValue"], 65535.0);
    assert_eq!(g["bands"][0]["scale"], 0.1);
}

#[test]
fn canopy_height_without_a_model_uses_the_demo_model_or_says_what_to_pass() {
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    write_scene(&input, 64, 64, None);
    let out = dir.path().join("chm.tif");
    // no demo model where it is looked for: a clear error, nothing written
    let empty = dir.path().join("no-demo");
    std::fs::create_dir(&empty).unwrap();
    let o = canopy(&[s(&input), s(&out)], Some(&empty));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("--weights") && e.contains("backbone.safetensors"), "{e}");
    assert!(!out.exists());
    // a demo model folder with the expected file names is used without flags
    let demo = dir.path().join("demo-model");
    std::fs::create_dir(&demo).unwrap();
    let g = golden_dir();
    std::fs::copy(
        g.join("chmv2_dpt.backbone.weights.safetensors"),
        demo.join("backbone.safetensors"),
    )
    .unwrap();
    let (_, h) = golden_model(dir.path());
    std::fs::copy(&h, demo.join("canopy-head.safetensors")).unwrap();
    let o = canopy(&[s(&input), s(&out), "--tile", "64", "--overlap", "16"], Some(&demo));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("backbone.safetensors"), "{}", stderr(&o));
    assert!(out.is_file());
}

#[test]
fn canopy_height_failures_are_clean_and_leave_nothing_behind() {
    let dir = tempdir();
    let (w, h) = golden_model(dir.path());
    let out = dir.path().join("out.tif");
    let run = |input: &Path, extra: &[&str]| {
        let mut a = vec![s(input), s(&out), "--weights", s(&w), "--head", s(&h)];
        a.extend_from_slice(extra);
        canopy(&a, None)
    };
    // unreadable input
    let junk = dir.path().join("junk.tif");
    std::fs::write(&junk, b"II*\0 not a tiff").unwrap();
    let o = run(&junk, &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("junk.tif"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    // wrong band count
    let two = dir.path().join("two.tif");
    let meta = {
        let mut m = RasterMeta::new(40, 40, 2, DataType::Uint8);
        m.geotransform = Some(GeoTransform::north_up(0.0, 0.6, 0.0, -0.6));
        m
    };
    write_geotiff(
        &two,
        &meta,
        &RasterBuffer::Uint8(Array3::from_elem((2, 40, 40), 7)),
        &Default::default(),
    )
    .unwrap();
    let o = run(&two, &[]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("two.tif") && e.contains("band"), "{e}");
    // a head for another backbone: the CHMv2 head (width 64) on a width-384 backbone file
    let scene = dir.path().join("scene.tif");
    write_scene(&scene, 64, 64, None);
    let other = golden_dir().join("vit_swiglu_sat.pth");
    let o = canopy(&[s(&scene), s(&out), "--weights", s(&other), "--head", s(&h)], None);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("does not fit") && e.contains("vit_swiglu_sat.pth") && e.contains("width 64"),
        "{e}"
    );
    // bad options
    let o = run(&scene, &["--tile", "100"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("multiple of the patch size"), "{}", stderr(&o));
    // nothing was written anywhere
    assert_eq!(
        files_in(dir.path()),
        vec!["chmv2-golden-head.safetensors", "junk.tif", "scene.tif", "two.tif"]
    );
}

#[test]
fn landcover_embed_and_pca_run_from_the_cli() {
    let dir = tempdir();
    let input = dir.path().join("scene.tif");
    write_scene(&input, 160, 128, Some(Window::new(0, 0, 16, 16)));
    let (w, _) = golden_model(dir.path());
    // a land-cover head on the golden backbone (width 64), with named, coloured classes
    tch::manual_seed(3);
    let classes = vec![
        ClassInfo { value: Some(1), ..ClassInfo::new("water", [0, 90, 200]) },
        ClassInfo { value: Some(2), ..ClassInfo::new("trees", [0, 130, 0]) },
        ClassInfo { value: Some(5), ..ClassInfo::new("built", [200, 40, 40]) },
    ];
    let head = DenseHead::new(HeadSpec::land_cover_linear(64, vec![-1], classes), tch::Device::Cpu)
        .unwrap();
    let head_path = dir.path().join("lc-head.safetensors");
    head.save(&head_path).unwrap();
    let lc = dir.path().join("lc.tif");
    let lc_png = dir.path().join("lc.png");
    let o = geodino(&[
        "landcover",
        s(&input),
        s(&lc),
        "--weights",
        s(&w),
        "--head",
        s(&head_path),
        "--tile",
        "64",
        "--overlap",
        "16",
        "--preview",
        s(&lc_png),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(lc_png.is_file());
    let px = geodino_raster::open(&lc).unwrap().read_all().unwrap().to_f32();
    assert!(px.iter().all(|v| [1.0, 2.0, 5.0, 255.0].contains(v)));
    assert_eq!(px.iter().filter(|&&v| v == 255.0).count(), 256);
    if oracle::gdal() {
        let g = oracle::gdalinfo_json(&lc, false);
        assert_eq!(g["bands"][0]["type"], "Byte");
        assert_eq!(g["bands"][0]["colorTable"]["entries"][2], serde_json::json!([0, 130, 0, 255]));
    }
    // a canopy head is refused by landcover
    let (_, ch) = golden_model(dir.path());
    let o = geodino(&[
        "landcover",
        s(&input),
        s(&dir.path().join("x.tif")),
        "--weights",
        s(&w),
        "--head",
        s(&ch),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("canopy-height head"), "{}", stderr(&o));

    // embed: features at 1/16 resolution, georeferenced; then pca to PNG and GeoTIFF
    let feats = dir.path().join("feats.tif");
    let o = geodino(&[
        "embed",
        s(&input),
        s(&feats),
        "--weights",
        s(&w),
        "--tile",
        "64",
        "--overlap",
        "16",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = geodino_raster::open(&feats).unwrap();
    assert_eq!((f.meta().width, f.meta().height, f.meta().band_count()), (10, 8, 64));
    let gt = f.meta().geotransform.unwrap().0;
    assert_eq!(gt, [400_000.0, 9.6, 0.0, 4_500_000.0, 0.0, -9.6]);
    let pca_png = dir.path().join("pca.png");
    let pca_tif = dir.path().join("pca.tif");
    for out in [&pca_png, &pca_tif] {
        let o = geodino(&["pca", s(&feats), s(out)]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(out.is_file());
    }
    let p = geodino_raster::open(&pca_tif).unwrap();
    assert_eq!((p.meta().width, p.meta().height, p.meta().band_count()), (10, 8, 3));
    assert_eq!(p.meta().geotransform.unwrap().0, gt);
}
