//! Training engines: DINOv3 pretraining with Gram anchoring, head training, schedules, checkpoints.
