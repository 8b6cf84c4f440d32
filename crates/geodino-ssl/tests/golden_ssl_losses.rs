//! Parity with the official DINOv3 code: `tests/golden/dinov3/ssl_losses*` (see the README there)
//! were produced by facebookresearch/dinov3 at 6876159 in float32. Losses must agree to a relative
//! error of 1e-5; head outputs and teacher probabilities element-wise to 1e-5 relative + 1e-6
//! absolute.

use geodino_ssl::loss::{DinoLoss, GramLoss, GramLossConfig, IbotPatchLoss, KoLeoLoss};
use geodino_ssl::{DinoHead, DinoHeadConfig, sinkhorn_knopp, sinkhorn_knopp_masked, state_dict};
use geodino_testutil::{Golden, assert_close, golden_dir};
use tch::{Device, Kind, Tensor, nn::VarStore};

struct Case {
    inputs: Golden,
    expected: Golden,
    json: serde_json::Value,
}

fn case() -> Case {
    let dir = golden_dir();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ssl_losses.json")).unwrap())
            .unwrap();
    Case {
        inputs: Golden::load(&dir.join("ssl_losses.inputs.safetensors")),
        expected: Golden::load(&dir.join("ssl_losses.expected.safetensors")),
        json,
    }
}

impl Case {
    fn f(&self, key: &str) -> f64 {
        self.json[key].as_f64().unwrap_or_else(|| panic!("ssl_losses.json has no number {key}"))
    }
    fn i(&self, key: &str) -> i64 {
        self.json[key].as_i64().unwrap_or_else(|| panic!("ssl_losses.json has no integer {key}"))
    }
    fn input(&self, name: &str) -> Tensor {
        let g = self.inputs.get(name);
        let shape: Vec<i64> = g.shape.iter().map(|&d| d as i64).collect();
        Tensor::from_slice(&g.data).reshape(shape)
    }
    fn expected(&self, name: &str) -> &[f32] {
        &self.expected.get(name).data
    }
}

fn values(t: &Tensor) -> Vec<f32> {
    let t = t.to_kind(Kind::Float).contiguous().flatten(0, -1);
    Vec::<f32>::try_from(&t).unwrap()
}

/// Print the largest absolute and relative element errors (for the record), then assert_close.
fn assert_close_report(what: &str, actual: &[f32], expected: &[f32], atol: f32, rtol: f32) {
    let (mut abs, mut rel) = (0.0f32, 0.0f32);
    for (&a, &e) in actual.iter().zip(expected) {
        abs = abs.max((a - e).abs());
        rel = rel.max((a - e).abs() / e.abs().max(1e-30));
    }
    println!("{what}: max |diff| {abs:.2e}, max relative {rel:.2e} over {} values", actual.len());
    assert_close(what, actual, expected, atol, rtol);
}

/// Relative error of a scalar loss against the golden value, asserted ≤ 1e-5 and printed.
fn assert_loss(what: &str, actual: &Tensor, expected: &[f32]) {
    assert_eq!(expected.len(), 1, "{what}: golden value is not a scalar");
    let a = actual.double_value(&[]);
    let e = expected[0] as f64;
    let rel = (a - e).abs() / e.abs().max(f64::MIN_POSITIVE);
    println!("{what}: ours {a:.9} golden {e:.9} relative error {rel:.2e}");
    assert!(rel <= 1e-5, "{what}: {a} vs golden {e}: relative error {rel:.3e} > 1e-5");
}

fn head_cfg(c: &Case) -> DinoHeadConfig {
    DinoHeadConfig {
        in_dim: c.i("dim"),
        n_prototypes: c.i("prototypes"),
        hidden_dim: c.i("head_hidden"),
        bottleneck_dim: c.i("bottleneck"),
        nlayers: 3,
        mlp_bias: true,
    }
}

fn check_head(c: &Case, weights: &str) {
    let vs = VarStore::new(Device::Cpu);
    let head = DinoHead::new(&vs.root(), &head_cfg(c)).unwrap();
    state_dict::load_strict(&vs, &golden_dir().join(weights), &[]).unwrap();
    let out = head.forward_parts(&c.input("head.input")).unwrap();
    assert_close_report(
        &format!("{weights}: bottleneck"),
        &values(&out.bottleneck),
        c.expected("head.bottleneck_normalized"),
        1e-6,
        1e-5,
    );
    assert_close_report(
        &format!("{weights}: logits"),
        &values(&out.logits),
        c.expected("head.output"),
        1e-6,
        1e-5,
    );
    // forward() is forward_parts().logits
    let logits = head.forward(&c.input("head.input")).unwrap();
    assert_close("forward", &values(&logits), &values(&out.logits), 0.0, 0.0);
}

#[test]
fn dino_head_matches_reference_from_safetensors() {
    check_head(&case(), "ssl_losses.dino_head.weights.safetensors");
}

#[test]
fn dino_head_matches_reference_from_pth() {
    check_head(&case(), "ssl_losses.dino_head.pth");
}

#[test]
fn dino_head_state_dict_keys_are_the_reference_keys() {
    let c = case();
    let vs = VarStore::new(Device::Cpu);
    let _head = DinoHead::new(&vs.root(), &head_cfg(&c)).unwrap();
    let mut ours: Vec<String> = vs.variables().into_keys().collect();
    ours.sort();
    let file = Golden::load(&golden_dir().join("ssl_losses.dino_head.weights.safetensors"));
    let theirs: Vec<String> = file.tensors.keys().cloned().collect();
    assert_eq!(ours, theirs);
}

fn teacher_probs(c: &Case) -> Tensor {
    sinkhorn_knopp(
        &c.input("dino.teacher_logits"),
        c.f("teacher_temp"),
        c.i("sinkhorn_iterations") as usize,
    )
    .unwrap()
}

#[test]
fn dino_sinkhorn_knopp_matches_reference() {
    let c = case();
    let probs = teacher_probs(&c);
    assert_close_report(
        "dino teacher probs",
        &values(&probs),
        c.expected("dino.teacher_probs"),
        1e-7,
        1e-5,
    );
    // each row is a distribution
    let rows = probs.sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    assert_close("row sums", &values(&rows), &[1.0; 6], 1e-5, 0.0);
}

#[test]
fn dino_global_and_local_losses_match_reference() {
    let c = case();
    let (b, k) = (c.i("batch"), c.i("prototypes"));
    let t_crops = c.i("teacher_crops");
    let student = c.input("dino.student_logits"); // [S, B, K]
    let probs = teacher_probs(&c).reshape([t_crops, b, k]);
    let loss = DinoLoss::new(c.f("student_temp"));
    let n_student = student.size()[0];
    let global = loss.forward(&student.narrow(0, 0, t_crops), &probs, true).unwrap();
    let local =
        loss.forward(&student.narrow(0, t_crops, n_student - t_crops), &probs, false).unwrap();
    assert_loss(
        "dino global (ignore diagonal)",
        &global,
        c.expected("dino.loss_global_ignore_diagonal"),
    );
    assert_loss("dino local", &local, c.expected("dino.loss_local"));
}

#[test]
fn ibot_sinkhorn_knopp_and_loss_match_reference() {
    let c = case();
    let masks = c.input("ibot.masks").to_kind(Kind::Bool);
    let n_masked = masks.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]) as usize;
    let teacher = c.input("ibot.teacher_logits");
    assert_eq!(teacher.size()[0] as usize, n_masked);
    let probs = sinkhorn_knopp_masked(
        &teacher,
        c.f("teacher_temp"),
        n_masked,
        c.i("sinkhorn_iterations") as usize,
    )
    .unwrap();
    assert_close_report(
        "ibot teacher probs",
        &values(&probs),
        c.expected("ibot.teacher_probs"),
        1e-7,
        1e-5,
    );
    let loss = IbotPatchLoss::new(c.f("student_temp"))
        .forward_masked(&c.input("ibot.student_logits"), &probs, &masks, None)
        .unwrap();
    assert_loss("ibot", &loss, c.expected("ibot.loss"));
    // explicit weights give the same
    let w = geodino_ssl::loss::ibot::masks_weight(&masks).unwrap();
    let loss2 = IbotPatchLoss::new(c.f("student_temp"))
        .forward_masked(&c.input("ibot.student_logits"), &probs, &masks, Some(&w))
        .unwrap();
    assert_eq!(loss.double_value(&[]), loss2.double_value(&[]));
}

#[test]
fn koleo_matches_reference() {
    let c = case();
    let loss = KoLeoLoss::default().forward(&c.input("koleo.input")).unwrap();
    assert_loss("koleo", &loss, c.expected("koleo.loss"));
}

#[test]
fn gram_losses_match_reference() {
    let c = case();
    let (s, t) = (c.input("gram.student"), c.input("gram.teacher"));
    let gram = |cfg: GramLossConfig| GramLoss::new(&cfg).unwrap().forward(&s, &t).unwrap();
    let keep = gram(GramLossConfig::default());
    let remove = gram(GramLossConfig { remove_neg: true, ..Default::default() });
    let batch = gram(GramLossConfig { img_level: false, ..Default::default() });
    assert_loss("gram image level, negatives kept", &keep, c.expected("gram.loss_keep_neg"));
    assert_loss("gram image level, negatives removed", &remove, c.expected("gram.loss_remove_neg"));
    assert_loss("gram batch level", &batch, c.expected("gram.loss_batch_level"));
}
