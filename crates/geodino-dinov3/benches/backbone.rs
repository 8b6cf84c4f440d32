//! Backbone throughput against timm's DINOv3 in PyTorch, side by side in one run.
//!
//! ```text
//! scripts/setup --bench                       # once: .venv-bench with torch 2.13 + timm 1.0.20
//! cargo bench -p geodino-dinov3 --bench backbone [-- --quick] [-- --threads N]
//!     [-- --only vitl16:512 --rounds 6 --precision bf16]   # one case again, no RSS
//! ```
//!
//! For ViT-S/16 and ViT-L/16 with random weights (the reference initialisation, LayerScale
//! gammas re-drawn in [0.3, 1] so that every block matters to the parity check), at 256 and
//! 512 px: our weights are exported in the official layout and loaded into timm through timm's
//! own `checkpoint_filter_fn` (so both run the same weights), both sides use the same number of
//! threads, and rounds alternate between the two (ours f32, timm f32, ours bf16, timm bf16) so
//! machine load affects both alike. Printed: images/s (median over all timed iterations), the
//! ratio ours / timm, and the max |difference| of the final normalised tokens (timm is an
//! independent implementation of DINOv3; the run fails, after writing its report, if that
//! exceeds 1e-4 in f32). Then the peak RSS of a ViT-L/16 forward at 1024 × 1024 for both, each
//! in a fresh process. Results also go to `out/bench/backbone.md`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use geodino_dinov3::{Dinov3Backbone, ViTConfig};
use geodino_nn::Precision;
use geodino_weights::StateDict;
use tch::{Device, Kind, Tensor};

/// f32 agreement with timm required of every case (the golden tolerance of the official code,
/// 1e-4, is met with a wide margin on these depths).
const F32_PARITY_ATOL: f64 = 1e-4;

struct Timm {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Timm {
    fn start(python: &Path, script: &Path) -> anyhow::Result<Timm> {
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Timm { child, stdin, stdout })
    }

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

impl Drop for Timm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// All final-normalised tokens `(b, 1 + r + p, d)` (what timm's `forward_features` returns).
fn tokens(bb: &Dinov3Backbone, x: &Tensor) -> anyhow::Result<Tensor> {
    let f = tch::no_grad(|| bb.forward_features(x, None))?;
    Ok(Tensor::cat(&[f.x_norm_clstoken.unsqueeze(1), f.x_storage_tokens, f.x_norm_patchtokens], 1))
}

fn time_ours(bb: &Dinov3Backbone, x: &Tensor, iters: usize) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        tch::no_grad(|| bb.forward_features(x, None))?;
        out.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// The 1/5/15-minute load averages (`/proc/loadavg`), to judge how shared the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Child mode: one ViT forward at `size` in this fresh process, then print the peak RSS.
fn rss_child(preset: &str, size: i64, threads: i32, bf16: bool) -> anyhow::Result<()> {
    tch::set_num_threads(threads);
    tch::manual_seed(0);
    let mut bb = Dinov3Backbone::new(&ViTConfig::preset(preset)?, Device::Cpu)?;
    if bf16 {
        bb.set_precision(Precision::Bf16);
    }
    let x = Tensor::randn([1, 3, size, size], (Kind::Float, Device::Cpu));
    let process = peak_rss_mb();
    // Reset the high-water mark: the second figure covers the forward only.
    std::fs::write("/proc/self/clear_refs", "5")?;
    tch::no_grad(|| bb.forward_features(&x, None))?;
    println!("{} {}", process.max(peak_rss_mb()), peak_rss_mb());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name);
    let threads: i32 = match flag("--threads") {
        Some(i) => args.get(i + 1).context("--threads N")?.parse()?,
        None => tch::get_num_threads(),
    };
    if let Some(i) = flag("--rss-child") {
        let size = args[i + 2].parse()?;
        return rss_child(&args[i + 1], size, threads, flag("--bf16").is_some());
    }
    let quick = flag("--quick").is_some();
    // `--only vitl16:512` re-measures one case (more rounds with `--rounds N`), without RSS.
    let only: Option<String> = flag("--only").and_then(|i| args.get(i + 1).cloned());
    let rounds_arg: Option<usize> = match flag("--rounds") {
        Some(i) => Some(args.get(i + 1).context("--rounds N")?.parse()?),
        None => None,
    };
    tch::set_num_threads(threads);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv-bench/bin/python");
    if !python.exists() {
        bail!(
            "{} is missing: run scripts/setup --bench (PyTorch + timm baseline)",
            python.display()
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/timm_server.py");
    let tmp = tempfile::Builder::new().prefix("geodino-bench-").tempdir()?;
    let mut timm = Timm::start(&python, &script)?;

    let cases: [(&str, &str, [(i64, i64); 2]); 2] = [
        ("vits16", "vit_small_patch16_dinov3_qkvb", [(256, 8), (512, 2)]),
        ("vitl16", "vit_large_patch16_dinov3_qkvb", [(256, 2), (512, 1)]),
    ];
    let (rounds, iters) = if quick { (1, 1) } else { (3, 2) };
    let rounds = rounds_arg.unwrap_or(rounds);
    let only_precision: Option<String> = flag("--precision").and_then(|i| args.get(i + 1).cloned());
    let mut report = format!(
        "# Backbone throughput: geodino (tch) vs timm {} (PyTorch), {threads} threads\n\n\
         | model | size | batch | precision | geodino img/s | timm img/s | ratio | max abs diff vs timm | max abs token |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        "1.0.20"
    );
    let load_start = load_average();
    println!("load average at start: {load_start}");
    println!(
        "threads: {threads}; rounds {rounds} x {iters} iterations (ViT-L/16: {rounds} x 1), interleaved"
    );
    let mut controls = Vec::new();
    let mut parity_failures = Vec::new();
    let mut speedups = Vec::new();
    for (preset, timm_name, sizes) in cases {
        if only.as_deref().is_some_and(|o| !o.starts_with(&format!("{preset}:"))) {
            continue;
        }
        tch::manual_seed(0);
        let mut f32_bb = Dinov3Backbone::new(&ViTConfig::preset(preset)?, Device::Cpu)?;
        // The reference LayerScale init (1e-5) makes every block nearly the identity, which
        // would make the parity column meaningless: re-draw the gammas in [0.3, 1].
        tch::no_grad(|| {
            for (name, mut v) in f32_bb.var_store_mut().variables() {
                if name.ends_with(".gamma") {
                    let _ = v.uniform_(0.3, 1.0);
                }
            }
        });
        let weights = tmp.path().join(format!("{preset}.safetensors"));
        let sd: StateDict = f32_bb.state_dict()?;
        geodino_weights::write_safetensors(&weights, &sd)?;
        let mut bf16_bb = Dinov3Backbone::from_state_dict(sd, f32_bb.config(), Device::Cpu)?;
        bf16_bb.set_precision(Precision::Bf16);
        let params = timm.call(serde_json::json!({
            "cmd": "load", "model": timm_name, "weights": weights, "threads": threads
        }))?["params"]
            .as_u64()
            .unwrap_or(0);
        println!(
            "{preset}: {:.1} M parameters (timm counts {:.1} M)",
            f32_bb.config().n_params() as f64 / 1e6,
            params as f64 / 1e6
        );
        for (size, batch) in sizes {
            if only.as_deref().is_some_and(|o| o != format!("{preset}:{size}")) {
                continue;
            }
            let x = Tensor::randn([batch, 3, size, size], (Kind::Float, Device::Cpu));
            let input = tmp.path().join("x.safetensors");
            let mut isd = StateDict::new();
            isd.insert("x", geodino_nn::from_tensor(&x)?);
            geodino_weights::write_safetensors(&input, &isd)?;
            // Control: the parity column can be non-zero (bf16 vs f32 of the same model).
            let control =
                (tokens(&bf16_bb, &x)? - tokens(&f32_bb, &x)?).abs().max().double_value(&[]);
            controls.push(format!("{preset} {size}px: {control:.2e}"));
            // ViT-L/16 takes seconds per forward on 2 cores: three interleaved single iterations.
            let iters = if preset == "vitl16" { 1 } else { iters };
            let mut f32_ips = (f64::NAN, f64::NAN);
            for (precision, bb, bf16) in [("f32", &f32_bb, false), ("bf16", &bf16_bb, true)] {
                if only_precision.as_deref().is_some_and(|p| p != precision) {
                    continue;
                }
                // Parity with timm on the same weights and input.
                let feat = tmp.path().join("timm.safetensors");
                timm.call(serde_json::json!({"cmd": "features", "input": input, "output": feat, "bf16": bf16}))?;
                let theirs = geodino_weights::read_safetensors(&feat)?;
                let theirs = geodino_nn::to_tensor(theirs.get("tokens").context("tokens")?)?;
                let ours = tokens(bb, &x)?;
                let diff = (&ours - &theirs).abs().max().double_value(&[]);
                let scale = ours.abs().max().double_value(&[]);
                if !bf16 && diff > F32_PARITY_ATOL {
                    parity_failures.push(format!("{preset} {size}px f32: {diff:.3e}"));
                }
                // Warm-up both, then interleaved timed rounds.
                time_ours(bb, &x, 1)?;
                timm.call(
                    serde_json::json!({"cmd": "time", "input": input, "iters": 1, "bf16": bf16}),
                )?;
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for _ in 0..rounds {
                    a.extend(time_ours(bb, &x, iters)?);
                    let t = timm.call(serde_json::json!({"cmd": "time", "input": input, "iters": iters, "bf16": bf16}))?;
                    b.extend(
                        t["seconds"]
                            .as_array()
                            .context("seconds")?
                            .iter()
                            .filter_map(|v| v.as_f64()),
                    );
                }
                let ours_ips = batch as f64 / median(&mut a);
                let timm_ips = batch as f64 / median(&mut b);
                let line = format!(
                    "| {preset} | {size} | {batch} | {precision} | {ours_ips:.3} | {timm_ips:.3} | {:.2}x | {diff:.2e} | {scale:.1} |",
                    ours_ips / timm_ips
                );
                println!("{line}");
                report.push_str(&line);
                report.push('\n');
                if bf16 && f32_ips.0.is_finite() {
                    speedups.push(format!(
                        "{preset} {size}px: geodino {:.2}x, timm {:.2}x",
                        ours_ips / f32_ips.0,
                        timm_ips / f32_ips.1
                    ));
                } else if !bf16 {
                    f32_ips = (ours_ips, timm_ips);
                }
            }
        }
    }
    drop(timm);
    let line = format!(
        "\nLoad average (1/5/15 min) at start {load_start}, after the throughput runs {} \
         ({} logical CPUs).\n",
        load_average(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    print!("{line}");
    report.push_str(&line);
    let line = format!("\nbf16 images/s over f32 images/s: {}\n", speedups.join("; "));
    print!("{line}");
    report.push_str(&line);
    let line = format!(
        "\nControl, max abs difference geodino bf16 vs geodino f32 tokens: {}\n",
        controls.join("; ")
    );
    print!("{line}");
    report.push_str(&line);

    if only.is_some() {
        println!("(--only: RSS skipped, report not written)");
        if !parity_failures.is_empty() {
            bail!("f32 differs from timm: {}", parity_failures.join("; "));
        }
        return Ok(());
    }
    // Peak RSS of a ViT-L/16 forward at 1024 x 1024, each side in a fresh process.
    report.push_str(
        "\n| ViT-L/16 forward, 1 x 3 x 1024 x 1024 | process peak RSS (MB) | peak RSS from just \
         before the forward (MB) |\n|---|---|---|\n",
    );
    let me = std::env::current_exe()?;
    for bf16 in [false, true] {
        let mut cmd = Command::new(&me);
        cmd.args(["--rss-child", "vitl16", "1024", "--threads", &threads.to_string()]);
        if bf16 {
            cmd.arg("--bf16");
        }
        let out = cmd.output()?;
        if !out.status.success() {
            bail!("RSS child failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut fields = stdout.split_whitespace().map(str::parse::<f64>);
        let (Some(Ok(ours)), Some(Ok(ours_fwd))) = (fields.next(), fields.next()) else {
            bail!("RSS child printed {stdout:?}");
        };
        let weights = tmp.path().join("vitl16.safetensors");
        let mut fresh = Timm::start(&python, &script)?;
        let theirs = fresh.call(serde_json::json!({
            "cmd": "rss", "model": "vit_large_patch16_dinov3_qkvb", "weights": weights,
            "size": 1024, "threads": threads, "bf16": bf16
        }))?;
        let theirs_fwd = theirs["forward_peak_rss_mb"].as_f64().unwrap_or(f64::NAN);
        let theirs = theirs["peak_rss_mb"].as_f64().unwrap_or(f64::NAN);
        let p = if bf16 { "bf16" } else { "f32" };
        let line = format!(
            "| geodino {p} | {ours:.0} | {ours_fwd:.0} |\n\
             | timm {p} (PyTorch process) | {theirs:.0} | {theirs_fwd:.0} |\n"
        );
        print!("{line}");
        report.push_str(&line);
    }
    let dir: PathBuf = root.join("out/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("backbone.md"), &report)?;
    println!("report written to {}", dir.join("backbone.md").display());
    if !parity_failures.is_empty() {
        bail!(
            "f32 differs from timm by more than {F32_PARITY_ATOL:e}: {}",
            parity_failures.join("; ")
        );
    }
    Ok(())
}
