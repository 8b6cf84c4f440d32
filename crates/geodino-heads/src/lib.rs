//! Dense heads on backbone features: CHMv2-compatible DPT canopy-height head, linear and DPT land-cover heads.
