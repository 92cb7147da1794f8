//! Building blocks shared by the pages.

pub mod islands;
pub mod layout;
