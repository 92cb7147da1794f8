//! Building blocks shared by the pages.

pub mod format;
pub mod islands;
pub mod layout;
