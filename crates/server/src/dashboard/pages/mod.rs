//! The dashboard's pages and actions. Each handler gathers what its page shows through the
//! functions the admin API uses, turns it into display strings (view models), and renders
//! a template; actions take a [`actions::CheckedForm`] (a session's form with its CSRF
//! token), act, and send the browser back.

mod actions;
mod format;
mod login;
mod overview;
mod period;
mod portal;
pub(super) mod render;

pub use actions::{backfill, erase, erase_form, reconcile, replay_all, replay_one, uninstall};
pub use login::{login, login_form, logout};
pub use overview::overview;
pub use portal::portal;
