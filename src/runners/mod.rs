//! Background work of an instance: when and how often the use cases' batch steps run.
pub mod audit_pruner;
pub mod delivery_worker;
pub mod reset_resolver;
