//! Importing accounts from the service authd replaces: `authd import django`.

pub mod django;
