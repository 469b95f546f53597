//! The shared vocabulary of conversion: leaf modules that every rule table and every convention
//! module may use and that use nothing else of `convert/` (only each other, in this order:
//! `value`, `section`, `content` → `view` → `source`, `rules`, `unflatten`, `messages`).

pub mod content;
pub mod messages;
pub mod rules;
pub mod section;
pub mod source;
pub mod unflatten;
pub mod value;
pub mod view;
