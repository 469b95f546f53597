//! Operating Spanbridge: metrics, health, limits, shutdown and logs, and the deploy files
//! checked against the binary they deploy.

mod support;

#[path = "operate/deploy_files.rs"]
mod deploy_files;
#[path = "operate/operability.rs"]
mod operability;
