//! `.pth` and safetensors reading against files written by real `torch.save` /
//! `safetensors.torch` (fixtures made by `tests/fixtures/make_fixtures.py`, goldens by the
//! official DINOv3 code), with the `safetensors` crate as an independent reader.

use std::path::{Path, PathBuf};

use geodino_weights::{Dtype, LoadOptions, PthFile, StateDict, TensorData, dinov3, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Read a safetensors file with the `safetensors` crate (not ours): name → (dtype, shape, bytes).
fn reference_read(path: &Path) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, format!("{:?}", v.dtype()), v.shape().to_vec(), v.data().to_vec()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn assert_same_as_reference(sd: &StateDict, reference: &Path) {
    let want = reference_read(reference);
    let keys: Vec<&String> = sd.keys().collect();
    let want_keys: Vec<&String> = want.iter().map(|w| &w.0).collect();
    assert_eq!(keys, want_keys, "{}", sd.source());
    for (name, dtype, shape, data) in &want {
        let t = sd.get(name).unwrap();
        let ours = match t.dtype() {
            Dtype::Bool => "BOOL".to_string(),
            d => d.safetensors_name().to_string(),
        };
        assert_eq!(&ours, dtype, "{name}: dtype");
        assert_eq!(t.shape(), &shape[..], "{name}: shape");
        assert_eq!(t.bytes(), &data[..], "{name}: values");
    }
}

#[test]
fn pth_of_every_protocol_matches_torch_for_all_dtypes_and_strides() {
    for proto in [2, 4, 5] {
        let sd = load(&fixture(&format!("mixed_p{proto}.pth")), &LoadOptions::default()).unwrap();
        assert_same_as_reference(&sd, &fixture("mixed.expected.safetensors"));
    }
    // Spot-check decoded values, not only bytes: a transposed view and a stride-0 expansion.
    let sd = load(&fixture("mixed_p2.pth"), &LoadOptions::default()).unwrap();
    let t = sd.get("transposed").unwrap();
    assert_eq!(t.shape(), &[6, 4]);
    let e = sd.get("expanded").unwrap().to_f32_vec();
    assert!(e[0] == e[1] && e[1] == e[2] && e[2] == e[3] && e[0] != e[4]);
    assert_eq!(sd.get("i64").unwrap().to_f64_vec(), vec![-3., -2., -1., 0., 1., 2., 3., 4.]);
    assert_eq!(sd.get("scalar").unwrap().shape(), &[] as &[usize]);
    assert_eq!(sd.get("scalar").unwrap().to_f32_vec(), vec![2.5]);
}

#[test]
fn training_checkpoints_find_their_state_dict_and_strip_prefixes() {
    let path = fixture("training.pth");
    let f = PthFile::open(&path).unwrap();
    let top = f.top_level();
    assert!(top.iter().any(|(k, v)| k == "teacher" && v == "dict of 4 tensors"), "{top:?}");
    assert!(top.iter().any(|(k, v)| k == "iteration" && v == "int"), "{top:?}");

    let mut sd = load(&path, &LoadOptions::default()).unwrap();
    assert!(sd.source().ends_with("[teacher]"), "{}", sd.source());
    let dropped = dinov3::strip_training_prefixes(&mut sd);
    assert_eq!(dropped, vec!["dino_head.mlp.0.weight".to_string()]);
    assert_same_as_reference(&sd, &fixture("training.expected.safetensors"));

    // An explicit entry: `model` holds teacher + 1.
    let opts = LoadOptions { checkpoint_key: Some("model".into()) };
    let mut m = load(&path, &opts).unwrap();
    dinov3::strip_training_prefixes(&mut m);
    let a = m.get("norm.weight").unwrap().to_f32_vec();
    let b = sd.get("norm.weight").unwrap().to_f32_vec();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y - 1.0).abs() < 1e-6);
    }

    // `module.backbone.` prefixes (DDP-wrapped training code).
    let mut p = load(&fixture("module_prefix.pth"), &LoadOptions::default()).unwrap();
    let dropped = dinov3::strip_training_prefixes(&mut p);
    assert_eq!(dropped, vec!["dino_head.last_layer.weight".to_string()]);
    assert_same_as_reference(&p, &fixture("training.expected.safetensors"));
}

#[test]
fn bad_files_fail_with_their_name_and_reason() {
    let err = load(&fixture("legacy.pth"), &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("legacy.pth") && err.contains("legacy"), "{err}");

    let opts = LoadOptions { checkpoint_key: Some("nope".into()) };
    let err = load(&fixture("training.pth"), &opts).unwrap_err().to_string();
    assert!(
        err.contains("training.pth") && err.contains("\"nope\"") && err.contains("teacher"),
        "{err}"
    );

    let dir = geodino_testutil::tempdir();
    let bytes = std::fs::read(fixture("mixed_p2.pth")).unwrap();
    let cut = dir.path().join("truncated.pth");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = load(&cut, &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("truncated.pth"), "{err}");

    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"hello, world").unwrap();
    let err = load(&junk, &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("junk.bin") && err.contains("neither"), "{err}");

    let err =
        load(&dir.path().join("absent.pth"), &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("absent.pth"), "{err}");

    // A safetensors header whose offsets overrun the data.
    let bad = dir.path().join("bad.safetensors");
    let header = br#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header);
    b.extend_from_slice(&[0u8; 8]);
    std::fs::write(&bad, b).unwrap();
    let err = load(&bad, &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("bad.safetensors") && err.contains("tensor x"), "{err}");
}

#[test]
fn golden_pth_and_safetensors_hold_identical_tensors() {
    let dir = geodino_testutil::golden_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".pth") else { continue };
        let st = dir.join(format!("{stem}.weights.safetensors"));
        let a = load(&p, &LoadOptions::default()).unwrap();
        let b = load(&st, &LoadOptions::default()).unwrap();
        assert_eq!(a.len(), b.len(), "{name}");
        for (k, t) in a.iter() {
            assert_eq!(Some(t), b.get(k), "{name}: {k}");
        }
        assert_same_as_reference(&a, &st);
        n += 1;
    }
    assert!(n >= 4, "expected the golden .pth files, found {n}");
}

#[test]
fn safetensors_written_atomically_and_readable_by_the_reference_crate() {
    let dir = geodino_testutil::tempdir();
    let mut sd = StateDict::new();
    sd.insert("a.weight", TensorData::from_f32(vec![2, 3], &[1., 2., 3., 4., 5., 6.]));
    sd.insert("b", TensorData::from_f32(vec![3], &[0.1, 0.2, 0.3]).to_float_dtype(Dtype::BF16));
    sd.insert("c", TensorData::new(Dtype::I64, vec![1], 7i64.to_le_bytes().to_vec()).unwrap());
    sd.metadata.insert("format".into(), "geodino".into());
    let path = dir.path().join("out.safetensors");
    geodino_weights::write_safetensors(&path, &sd).unwrap();
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "temporary file left behind: {names:?}");

    let back = geodino_weights::read_safetensors(&path).unwrap();
    assert_eq!(back.metadata.get("format").map(String::as_str), Some("geodino"));
    for (k, t) in sd.iter() {
        assert_eq!(back.get(k), Some(t), "{k}");
    }
    assert_same_as_reference(&back, &path);
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().as_ref().unwrap().get("format").unwrap(), "geodino");

    // A destination in a missing directory fails, naming it.
    let err = geodino_weights::write_safetensors(&dir.path().join("no/such/x.safetensors"), &sd)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no/such/x.safetensors"), "{err}");
}
