//! DINOv3 self-supervised objectives: DINO/iBOT heads and losses, Sinkhorn-Knopp, KoLeo, Gram anchoring.
