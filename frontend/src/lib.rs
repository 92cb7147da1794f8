//! The WASM entry point: Leptos's island script calls `hydrate()` once the
//! module loads, then hydrates each `<leptos-island>` on the page.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Also links the app crate, whose islands are exported from this module.
    mooring_app::init_hydrate();
}
