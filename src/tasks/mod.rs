//! Task rules: the lifecycle state machine.

pub mod lifecycle;
