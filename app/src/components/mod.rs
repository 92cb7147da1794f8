//! Building blocks shared by the pages.

pub mod common;
pub mod format;
pub mod islands;
pub mod layout;
