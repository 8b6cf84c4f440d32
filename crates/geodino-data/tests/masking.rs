//! iBOT masks: exact counts from the float32 linspace, the spread of ratios, block structure,
//! weights, determinism.

use geodino_data::masking::{IbotMaskConfig, MaskingGenerator, ibot_masks};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `int(256 · linspace(0.1, 0.5, n + 1)[k + 1])`, worked out by hand: r_k = 0.1 + 0.4(k+1)/n.
const COUNTS_B16: [usize; 16] =
    [32, 38, 44, 51, 57, 64, 70, 76, 83, 89, 96, 102, 108, 115, 121, 128];
const COUNTS_B8: [usize; 8] = [38, 51, 64, 76, 89, 102, 115, 128];

#[test]
fn exact_counts_and_ratio_spread_on_a_256_token_grid() {
    for (batch, expected) in [(16usize, &COUNTS_B16[..]), (8, &COUNTS_B8[..])] {
        let mut rng = ChaCha8Rng::seed_from_u64(batch as u64);
        let m = ibot_masks(&mut rng, 2 * batch, 16, 16, &IbotMaskConfig::default()).unwrap();
        assert_eq!(m.n_tokens, 256);
        let mut counts = m.counts();
        counts.sort_unstable();
        // half the 2B images unmasked, the others exactly the linspace counts
        assert_eq!(&counts[..batch], vec![0; batch].as_slice());
        assert_eq!(&counts[batch..], expected);
        assert_eq!(m.upperbound, expected.iter().sum::<usize>());
        assert_eq!(m.n_masked_patches(), m.upperbound);
        // the shuffle spreads masked images over both crops (not all first)
        let masked_first_half = m.counts()[..batch].iter().filter(|&&c| c > 0).count();
        assert!(masked_first_half > 0 && masked_first_half < batch, "{:?}", m.counts());
    }
}

#[test]
fn indices_and_weights_follow_the_masks() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let m = ibot_masks(&mut rng, 12, 14, 14, &IbotMaskConfig::default()).unwrap();
    let flat: Vec<i64> =
        m.masks.iter().enumerate().filter(|(_, v)| **v).map(|(i, _)| i as i64).collect();
    assert_eq!(m.mask_indices, flat);
    assert_eq!(m.masks_weight.len(), m.mask_indices.len());
    let counts = m.counts();
    for (idx, w) in m.mask_indices.iter().zip(&m.masks_weight) {
        let img = *idx as usize / m.n_tokens;
        assert_eq!(*w, 1.0 / counts[img] as f32);
    }
    // every masked image's weights sum to 1
    let total: f32 = m.masks_weight.iter().sum();
    let masked_images = counts.iter().filter(|&&c| c > 0).count() as f32;
    assert!((total - masked_images).abs() < 1e-4);
}

#[test]
fn masks_are_deterministic_under_a_seed() {
    let cfg = IbotMaskConfig::default();
    let a = ibot_masks(&mut ChaCha8Rng::seed_from_u64(42), 32, 16, 16, &cfg).unwrap();
    let b = ibot_masks(&mut ChaCha8Rng::seed_from_u64(42), 32, 16, 16, &cfg).unwrap();
    let c = ibot_masks(&mut ChaCha8Rng::seed_from_u64(43), 32, 16, 16, &cfg).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.masks, c.masks);
}

/// Fraction of masked patches whose 4-neighbours (inside the grid) are masked too.
fn neighbour_fraction(mask: &[bool], h: usize, w: usize) -> f64 {
    let (mut same, mut total) = (0usize, 0usize);
    for i in 0..h {
        for j in 0..w {
            if !mask[i * w + j] {
                continue;
            }
            for (di, dj) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (y, x) = (i as i64 + di, j as i64 + dj);
                if y >= 0 && x >= 0 && (y as usize) < h && (x as usize) < w {
                    total += 1;
                    same += mask[y as usize * w + x as usize] as usize;
                }
            }
        }
    }
    same as f64 / total.max(1) as f64
}

#[test]
fn masks_are_made_of_rectangles_before_the_fill() {
    let g = MaskingGenerator::new(16, 16, 4.0, 128.0, 0.3);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (mut block_share, mut n) = (0.0f64, 0usize);
    let (mut block_nb, mut random_nb) = (0.0f64, 0.0f64);
    let mut mostly_blocks = 0usize;
    for &count in COUNTS_B16.iter().cycle().take(160) {
        let m = g.generate(&mut rng, count).unwrap();
        assert_eq!(m.mask.iter().filter(|&&v| v).count(), count);
        // the block part is exactly the union of the accepted rectangles
        let mut union = vec![false; 256];
        for r in &m.rects {
            assert!(r.height >= 1 && r.width >= 1 && r.height < 16 && r.width < 16);
            let area = (r.height * r.width) as f64;
            assert!(area <= 128.0 + 1e-9, "{r:?}");
            for i in r.top..r.top + r.height {
                for j in r.left..r.left + r.width {
                    union[i * 16 + j] = true;
                }
            }
        }
        assert_eq!(union, m.blocks);
        let blocks = m.blocks.iter().filter(|&&v| v).count();
        block_share += blocks as f64 / count as f64;
        mostly_blocks += (blocks * 10 >= count * 7) as usize;
        n += 1;
        block_nb += neighbour_fraction(&m.mask, 16, 16);
        // the same count scattered uniformly
        let random =
            MaskingGenerator::new(16, 16, 1e9, 1e9, 0.3).generate(&mut rng, count).unwrap();
        assert!(random.rects.is_empty()); // rectangles never fit: pure fill
        random_nb += neighbour_fraction(&random.mask, 16, 16);
    }
    let (block_share, block_nb, random_nb) =
        (block_share / n as f64, block_nb / n as f64, random_nb / n as f64);
    println!(
        "blocks cover {:.1}% of the masked patches on average; {mostly_blocks}/{n} masks are >= 70% blocks; \
         masked-neighbour fraction {block_nb:.3} (blocks) vs {random_nb:.3} (uniform)",
        100.0 * block_share
    );
    assert!(block_share > 0.8, "blocks cover only {block_share}");
    assert!(mostly_blocks * 10 >= n * 8, "{mostly_blocks} of {n}");
    assert!(block_nb > random_nb + 0.2, "{block_nb} vs {random_nb}");
}

#[test]
fn bad_configurations_are_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let bad = IbotMaskConfig { mask_ratio_min_max: (0.5, 0.1), ..Default::default() };
    assert!(ibot_masks(&mut rng, 4, 16, 16, &bad).is_err());
    let bad = IbotMaskConfig { mask_sample_probability: 1.5, ..Default::default() };
    assert!(ibot_masks(&mut rng, 4, 16, 16, &bad).is_err());
    assert!(ibot_masks(&mut rng, 4, 0, 16, &IbotMaskConfig::default()).is_err());
    // a circular shift keeps the counts
    let shifted = IbotMaskConfig { random_circular_shift: true, ..Default::default() };
    let m = ibot_masks(&mut rng, 32, 16, 16, &shifted).unwrap();
    let mut counts = m.counts();
    counts.sort_unstable();
    assert_eq!(&counts[16..], &COUNTS_B16);
}
