//! What a running server's listeners answer from: the application state,
//! and the API documents made from its configuration once, at start.
//!
//! The documents live here, not in `App`, because they are the HTTP
//! layer's account of itself (made from the handlers' annotations): the
//! services under `App` must not depend on the edge that calls them.

use crate::app::App;

use super::openapi::{self, forms::Documents};

pub struct Site {
    pub app: App,
    /// The API document in every form it is served in.
    pub docs: Documents,
}

impl Site {
    pub fn new(app: App) -> Site {
        let docs = openapi::documents(&app.config);
        Site { app, docs }
    }
}
