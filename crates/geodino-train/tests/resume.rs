//! Exact resume in-process: a run stopped after a checkpoint and resumed reproduces the
//! per-iteration losses of an uninterrupted run bit for bit (CPU, one libtorch thread), Gram
//! teacher, its refresh count, EMA and AdamW state included. The SIGKILL variant runs the CLI:
//! `crates/geodino-cli/tests/pretrain.rs`.

mod common;

use geodino_train::trainer::{RunOptions, Silent, read_metrics};

#[test]
fn stopped_and_resumed_run_matches_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene.zarr");
    common::write_scene(&scene, 240, 200, 30);
    let cfg = common::tiny_config(&scene, common::GRAM);
    assert_eq!(cfg.total_iterations(), 6);

    let full = dir.path().join("full");
    let s = geodino_train::run(&cfg, &full, &RunOptions::default(), &mut Silent).unwrap();
    assert_eq!((s.start, s.end), (0, 6));

    // Stop after 3 iterations (checkpoint at 2, final at 3), then resume twice: from 3, and
    // again from a deleted-final state (latest checkpoint 2).
    let part = dir.path().join("part");
    let mut first = cfg.clone();
    first.train.stop_after_iterations = Some(3);
    geodino_train::run(&first, &part, &RunOptions::default(), &mut Silent).unwrap();
    // Without --resume an existing run is refused.
    let e = geodino_train::run(&cfg, &part, &RunOptions::default(), &mut Silent).unwrap_err();
    assert!(e.to_string().contains("--resume"), "{e}");
    std::fs::remove_file(part.join("checkpoints/ckpt-0000003.safetensors")).unwrap();
    let s = geodino_train::run(&cfg, &part, &RunOptions { resume: true }, &mut Silent).unwrap();
    assert_eq!((s.start, s.end), (2, 6));

    let a = read_metrics(&full.join("metrics.jsonl")).unwrap();
    let b = read_metrics(&part.join("metrics.jsonl")).unwrap();
    assert_eq!(a.len(), 6);
    assert_eq!(b.len(), 6, "metrics of the resumed run are not truncated and continued");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.iteration, y.iteration);
        assert_eq!(x.total_loss.to_bits(), y.total_loss.to_bits(), "iteration {}", x.iteration);
        assert_eq!(x.gram.map(f64::to_bits), y.gram.map(f64::to_bits));
        assert_eq!(x.grad_norm, y.grad_norm);
        assert_eq!(x.gram_updates, y.gram_updates);
    }
    assert!(a.iter().all(|r| r.gram.is_some()));
    assert_eq!(a.last().unwrap().gram_updates, 2);
    eprintln!(
        "losses (uninterrupted = resumed): {:?}",
        a.iter().map(|r| r.total_loss).collect::<Vec<_>>()
    );

    // The final checkpoints hold identical tensors.
    let ca = geodino_weights::read_safetensors(&full.join("checkpoints/ckpt-0000006.safetensors"))
        .unwrap();
    let cb = geodino_weights::read_safetensors(&part.join("checkpoints/ckpt-0000006.safetensors"))
        .unwrap();
    assert_eq!(ca.len(), cb.len());
    for (k, t) in ca.iter() {
        assert_eq!(Some(t), cb.get(k), "{k} differs");
    }
}
