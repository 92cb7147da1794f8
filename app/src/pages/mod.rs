//! One module per page (or group of pages).

pub mod admin;
pub mod audit;
pub mod billing_admin;
pub mod cloudpods;
pub mod home;
pub mod identity;
pub mod jobs;
pub mod login;
pub mod not_found;
pub mod portal;
pub mod schedules;
pub mod servers;
