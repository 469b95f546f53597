//! The shared vocabulary of conversion: leaf modules that every rule table and every convention
//! module may use and that use nothing else of `convert/`. Among themselves: `value`, `section`
//! and `content` use nothing; `view` uses `value` and `section`; `unflatten` uses `value`;
//! `source`, `rules` and `messages` use `view`, `value` and `content`.

pub mod content;
pub mod messages;
pub mod rules;
pub mod section;
pub mod source;
pub mod unflatten;
pub mod value;
pub mod view;
