//! Validated inputs: each type can only be built by `parse`, so a value of it is valid.

mod email;
mod name;
mod nid;
mod password;
mod phone;

pub use email::Email;
pub use name::PersonName;
pub use nid::Nid;
pub use password::Password;
pub use phone::Phone;
