//! Training batches and the multi-threaded prefetcher.
//!
//! [`BatchBuilder::build`] makes the batch of iteration `s` from `(seed, s)` alone: the crop-size
//! triplet, the chips (raster and window per image), the multi-crop augmentation of every image
//! and the iBOT masks each draw from their own stream ([`crate::seed`]). The [`Prefetcher`] runs
//! `train.num_workers` threads that build the next batches into a bounded queue
//! (`train.prefetch` batches ahead of the trainer) and hands them out in iteration order, so the
//! result does not depend on which worker built which batch.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use geodino_core::Window;
use geodino_data::masking::{IbotMaskConfig, IbotMasks, ibot_masks};
use geodino_data::multicrop::{MultiCrop, MultiCropBatch};
use rand::Rng;
use rayon::prelude::*;

use crate::archive::{Archive, Chip};
use crate::config::{CropTriplet, PretrainConfig};
use crate::error::{Error, Result};
use crate::seed::{Stream, derive, rng};

/// The inputs of one training iteration.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The iteration.
    pub step: usize,
    /// The crop sizes used.
    pub triplet: CropTriplet,
    /// Stacked crops (crop-major), normalised.
    pub crops: MultiCropBatch,
    /// iBOT masks of the `2B` global crops on the student's patch grid.
    pub masks: IbotMasks,
    /// Patch-grid side of the global crops.
    pub grid: usize,
    /// Where each image was cut: (raster index, window).
    pub chips: Vec<(usize, Window)>,
    /// Windows rejected for nodata while cutting the chips.
    pub rejected: usize,
}

/// Builds the batch of any iteration (see the module documentation).
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    archive: Arc<Archive>,
    triplets: Vec<CropTriplet>,
    multicrops: Vec<MultiCrop>,
    mask_cfg: IbotMaskConfig,
    batch_size: usize,
    patch_size: usize,
    seed: u64,
}

impl BatchBuilder {
    /// A builder over `archive` with the crops, masks, batch size and seed of `cfg`.
    ///
    /// # Errors
    /// Invalid crop or mask settings.
    pub fn new(archive: Arc<Archive>, cfg: &PretrainConfig) -> Result<BatchBuilder> {
        let triplets = cfg.crops.triplets()?;
        let multicrops = triplets
            .iter()
            .map(|t| MultiCrop::new(&cfg.crops.multicrop(t)).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?;
        let mask_cfg = cfg.ibot.mask_config();
        mask_cfg.validate()?;
        Ok(BatchBuilder {
            archive,
            triplets,
            multicrops,
            mask_cfg,
            batch_size: cfg.train.batch_size_per_gpu,
            patch_size: cfg.student.patch_size,
            seed: cfg.train.seed,
        })
    }

    /// The archive.
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// The triplet index of iteration `step` (weighted draw; always 0 with one triplet).
    pub fn triplet_index(&self, step: usize) -> usize {
        if self.triplets.len() == 1 {
            return 0;
        }
        let u: f64 = rng(self.seed, step as u64, Stream::Resolution, 0).random();
        let mut acc = 0.0;
        for (i, t) in self.triplets.iter().enumerate() {
            acc += t.ratio;
            if u < acc {
                return i;
            }
        }
        self.triplets.len() - 1
    }

    /// The chips of iteration `step` (image `i` from stream `(seed, step, Chip, i)`).
    ///
    /// # Errors
    /// As [`Archive::sample_chip`].
    pub fn chips(&self, step: usize) -> Result<Vec<Chip>> {
        (0..self.batch_size)
            .into_par_iter()
            .map(|i| {
                let mut r = rng(self.seed, step as u64, Stream::Chip, i as u64);
                self.archive.sample_chip(&mut r)
            })
            .collect()
    }

    /// The batch of iteration `step`.
    ///
    /// # Errors
    /// Data errors (unreadable rasters, no acceptable chip), augmentation errors.
    pub fn build(&self, step: usize) -> Result<Batch> {
        let ti = self.triplet_index(step);
        let triplet = self.triplets[ti];
        let chips = self.chips(step)?;
        let views: Vec<_> = chips.iter().map(|c| c.data.view()).collect();
        let crops = self.multicrops[ti]
            .apply_batch(&views, derive(self.seed, step as u64, Stream::Crops, 0))?;
        let grid = triplet.global / self.patch_size;
        let masks = ibot_masks(
            &mut rng(self.seed, step as u64, Stream::Masks, 0),
            2 * self.batch_size,
            grid,
            grid,
            &self.mask_cfg,
        )?;
        Ok(Batch {
            step,
            triplet,
            crops,
            masks,
            grid,
            rejected: chips.iter().map(|c| c.rejected).sum(),
            chips: chips.iter().map(|c| (c.source, c.window)).collect(),
        })
    }
}

struct State {
    next_claim: usize,
    next_take: usize,
    end: usize,
    capacity: usize,
    ready: BTreeMap<usize, Result<Batch>>,
    stop: bool,
}

/// Builds batches `start..end` ahead of the trainer on worker threads; see the module
/// documentation. Dropping it stops and joins the workers.
pub struct Prefetcher {
    shared: Arc<(Mutex<State>, Condvar)>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Prefetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetcher").field("workers", &self.workers.len()).finish()
    }
}

impl Prefetcher {
    /// Start `workers` threads building the batches of iterations `start..end` with at most
    /// `capacity` batches waiting.
    pub fn start(
        builder: Arc<BatchBuilder>,
        start: usize,
        end: usize,
        workers: usize,
        capacity: usize,
    ) -> Prefetcher {
        let shared = Arc::new((
            Mutex::new(State {
                next_claim: start,
                next_take: start,
                end,
                capacity: capacity.max(1),
                ready: BTreeMap::new(),
                stop: false,
            }),
            Condvar::new(),
        ));
        let workers = (0..workers.max(1))
            .map(|w| {
                let shared = Arc::clone(&shared);
                let builder = Arc::clone(&builder);
                std::thread::Builder::new()
                    .name(format!("geodino-data-{w}"))
                    .spawn(move || worker(&shared, &builder))
                    .expect("spawn a data worker thread")
            })
            .collect();
        Prefetcher { shared, workers }
    }

    /// The batch of the next iteration, waiting for it if needed.
    ///
    /// # Errors
    /// The error of the worker that built it; [`Error::Data`] past the end.
    pub fn next_batch(&self) -> Result<Batch> {
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock().expect("prefetch state");
        if st.next_take >= st.end {
            return Err(Error::Data("the prefetcher has no batch left".into()));
        }
        loop {
            let want = st.next_take;
            if let Some(b) = st.ready.remove(&want) {
                st.next_take += 1;
                cv.notify_all();
                return b;
            }
            st = cv.wait(st).expect("prefetch state");
        }
    }
}

fn worker(shared: &(Mutex<State>, Condvar), builder: &BatchBuilder) {
    let (lock, cv) = shared;
    loop {
        let step = {
            let mut st = lock.lock().expect("prefetch state");
            loop {
                if st.stop || st.next_claim >= st.end {
                    return;
                }
                if st.next_claim < st.next_take + st.capacity {
                    break;
                }
                st = cv.wait(st).expect("prefetch state");
            }
            st.next_claim += 1;
            st.next_claim - 1
        };
        let result = builder.build(step);
        let failed = result.is_err();
        let mut st = lock.lock().expect("prefetch state");
        st.ready.insert(step, result);
        cv.notify_all();
        if failed {
            // Later batches would only pile up behind an error the trainer stops at.
            st.end = st.end.min(step + 1);
            return;
        }
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.shared;
            if let Ok(mut st) = lock.lock() {
                st.stop = true;
            }
            cv.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
