//! The bicubic resampler against PIL (the library torchvision runs on the reference's images):
//! `tests/fixtures/pil_bicubic.json` holds PIL 13's float ("F" mode) output for downscaling
//! (antialiased), upscaling and crop-then-resize; `gen_pil_bicubic.py` beside it regenerates it.

use geodino_data::augment::resize::{resize_bicubic, resized_crop};
use ndarray::Array3;

#[test]
fn bicubic_resize_matches_pil() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pil_bicubic.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (h, w) =
        (doc["height"].as_u64().unwrap() as usize, doc["width"].as_u64().unwrap() as usize);
    let input: Vec<f32> =
        doc["input"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let img = Array3::from_shape_vec((1, h, w), input).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (oh, ow) =
            (case["out_h"].as_u64().unwrap() as usize, case["out_w"].as_u64().unwrap() as usize);
        let expected: Vec<f32> = case["expected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let out = if case["box"].is_null() {
            resize_bicubic(img.view(), oh, ow, false)
        } else {
            let b = &case["box"];
            let g = |k: &str| b[k].as_u64().unwrap() as usize;
            let crop =
                resized_crop(img.view(), g("top"), g("left"), g("height"), g("width"), oh, ow);
            // resized_crop clips to [0, 1]; compare the clipped PIL values
            let clipped: Vec<f32> = expected.iter().map(|v| v.clamp(0.0, 1.0)).collect();
            let worst =
                crop.iter().zip(&clipped).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
            println!("{name}: {} values, max |ours - PIL| {worst:.2e}", clipped.len());
            assert!(worst < 2e-6, "{name}: {worst}");
            continue;
        };
        assert_eq!(out.len(), expected.len(), "{name}");
        let worst = out.iter().zip(&expected).map(|(a, e)| (a - e).abs()).fold(0.0f32, f32::max);
        println!("{name}: {} values, max |ours - PIL| {worst:.2e}", expected.len());
        assert!(worst < 2e-6, "{name}: {worst}");
    }
}
