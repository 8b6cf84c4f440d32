//! Throughput of the synthetic-scene generator on one core (MPix/s of image + labels).
//!
//! `cargo bench -p geodino-data --bench synth_throughput -- [SIZE] [SEEDS]`
//!
//! Renders `SEEDS` scenes of `SIZE` × `SIZE` pixels (defaults 2048 and 3) in 256 × 1024 windows on
//! one thread, RGB and RGB + NIR, and prints MPix/s and the ratio to the 5 MPix/s target.

use std::time::Instant;

/// CPU time of this thread (ns) from `/proc/thread-self/schedstat`: the machine is shared, so
/// wall time alone would measure the neighbours.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

use geodino_data::synth::{SceneGenerator, StreamOptions, SynthConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let size: usize = args.first().map(|s| s.parse()).transpose()?.unwrap_or(2048);
    let seeds: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(3);
    const TARGET: f64 = 5.0;
    println!("synthetic scenes {size}x{size}, {seeds} seeds, one thread, 256x1024 windows");
    for nir in [false, true] {
        let mut pixels = 0u64;
        let mut secs = 0.0;
        let mut cpu = 0.0;
        for seed in 0..seeds {
            let cfg = SynthConfig { width: size, height: size, seed, nir, ..Default::default() };
            let g = SceneGenerator::new(&cfg)?;
            let t0 = Instant::now();
            let c0 = cpu_ns();
            for w in g.windows(&StreamOptions::default()) {
                let t = g.render(w)?;
                std::hint::black_box(&t);
            }
            secs += t0.elapsed().as_secs_f64();
            if let (Some(a), Some(b)) = (c0, cpu_ns()) {
                cpu += (b - a) as f64 / 1e9;
            }
            pixels += (size * size) as u64;
        }
        let wall = pixels as f64 / secs / 1e6;
        let per_cpu = if cpu > 0.0 { pixels as f64 / cpu / 1e6 } else { wall };
        println!(
            "{:<14} {per_cpu:6.2} MPix/s per CPU-second ({wall:.2} MPix/s wall; {cpu:.2} CPU-s, {secs:.2} s for {:.1} MPix)   {:.2}x the {TARGET} MPix/s target",
            if nir { "RGB+NIR+labels" } else { "RGB+labels" },
            pixels as f64 / 1e6,
            per_cpu / TARGET
        );
    }
    Ok(())
}
