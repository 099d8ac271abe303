//! placeholder, replaced by the model crate
