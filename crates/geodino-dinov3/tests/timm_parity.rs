//! Parity with timm's DINOv3 (`timm.models.eva`), an implementation independent of both the
//! official code and ours, on the same weights. Runs where `.venv-bench` exists
//! (`scripts/setup --bench`: torch + timm); skips with a printed reason otherwise. Where it
//! exists, the server must work: a broken environment fails the test.
//!
//! Two-block versions of the vits16 (MLP) and vits16plus (SwiGLU) presets, with LayerScale
//! gammas re-drawn in [0.3, 1] (the reference initialisation, 1e-5, would make every block
//! almost the identity and the comparison weak), batch 2 on a non-square input and a
//! non-multiple-of-16 one. A control changes one gamma and checks the comparison notices.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, bail};
use geodino_dinov3::{Dinov3Backbone, ViTConfig};
use geodino_weights::StateDict;
use tch::{Device, Kind, Tensor};

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn call(&mut self, req: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        writeln!(self.stdin, "{req}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let v: serde_json::Value =
            serde_json::from_str(&line).with_context(|| format!("timm server said {line:?}"))?;
        if v["ok"] != true {
            bail!("timm server: {}", v["error"]);
        }
        Ok(v)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the timm server of the benchmark, or say why it cannot run here.
fn server() -> Result<Server, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv-bench/bin/python");
    if !python.exists() {
        return Err(format!("{} is missing (scripts/setup --bench)", python.display()));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/timm_server.py");
    let mut child = Command::new(&python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
    let stdin = child.stdin.take().expect("piped");
    let stdout = BufReader::new(child.stdout.take().expect("piped"));
    Ok(Server { child, stdin, stdout })
}

/// All final-normalised tokens `(b, 1 + r + p, d)`, what timm's `forward_features` returns.
fn tokens(bb: &Dinov3Backbone, x: &Tensor) -> Tensor {
    let f = tch::no_grad(|| bb.forward_features(x, None)).unwrap();
    Tensor::cat(&[f.x_norm_clstoken.unsqueeze(1), f.x_storage_tokens, f.x_norm_patchtokens], 1)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn two_block_vits16_and_vits16plus_equal_timm_on_the_same_weights() -> anyhow::Result<()> {
    let mut timm = match server() {
        Ok(s) => s,
        Err(why) => {
            eprintln!("SKIPPED: timm parity needs PyTorch + timm: {why}");
            return Ok(());
        }
    };
    let tmp = tempfile::tempdir()?;
    for (preset, timm_name) in [
        ("vits16", "vit_small_patch16_dinov3_qkvb"),
        ("vits16plus", "vit_small_plus_patch16_dinov3_qkvb"),
    ] {
        let mut cfg = ViTConfig::preset(preset)?;
        cfg.depth = 2;
        tch::manual_seed(7);
        let mut bb = Dinov3Backbone::new(&cfg, Device::Cpu)?;
        tch::no_grad(|| {
            for (name, mut v) in bb.var_store_mut().variables() {
                if name.ends_with(".gamma") {
                    let _ = v.uniform_(0.3, 1.0);
                }
            }
        });
        let weights = tmp.path().join(format!("{preset}.safetensors"));
        geodino_weights::write_safetensors(&weights, &bb.state_dict()?)?;
        timm.call(serde_json::json!({
            "cmd": "load", "model": timm_name, "weights": weights, "threads": 1,
            "kwargs": {"depth": 2}
        }))?;
        for shape in [[2i64, 3, 48, 80], [1, 3, 50, 70]] {
            let x = Tensor::randn(shape, (Kind::Float, Device::Cpu));
            let input = tmp.path().join("x.safetensors");
            // timm refuses sizes that are not multiples of 16 (or pads them); the official
            // patch embedding floors, so timm gets the explicitly cropped image.
            let (h, w) = (shape[2] / 16 * 16, shape[3] / 16 * 16);
            let cropped = x.narrow(2, 0, h).narrow(3, 0, w).contiguous();
            let mut isd = StateDict::new();
            isd.insert("x", geodino_nn::from_tensor(&cropped)?);
            geodino_weights::write_safetensors(&input, &isd)?;
            let out = tmp.path().join("timm.safetensors");
            timm.call(serde_json::json!({"cmd": "features", "input": input, "output": out}))?;
            let theirs = geodino_weights::read_safetensors(&out)?;
            let theirs = geodino_nn::to_tensor(theirs.get("tokens").context("tokens")?)?;
            let ours = tokens(&bb, &x);
            let diff = max_diff(&ours, &theirs);
            let scale = ours.abs().max().double_value(&[]);
            eprintln!("{preset} {shape:?}: max |ours - timm| {diff:.2e} (max |token| {scale:.1})");
            assert!(diff <= 1e-4, "{preset} {shape:?}: differs from timm by {diff:.3e}");

            // Control: a changed LayerScale in the last block must show in the comparison.
            let gamma = bb.var_store().variables()["blocks.1.ls2.gamma"].shallow_clone();
            tch::no_grad(|| {
                let _ = gamma.shallow_clone().g_add_scalar_(0.5);
            });
            let changed = max_diff(&tokens(&bb, &x), &theirs);
            tch::no_grad(|| {
                let _ = gamma.shallow_clone().g_sub_scalar_(0.5);
            });
            assert!(changed > 1e-2, "{preset}: a changed gamma went unnoticed ({changed:.2e})");
        }
    }
    Ok(())
}
