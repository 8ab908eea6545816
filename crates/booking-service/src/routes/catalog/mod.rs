//! The native catalog API: business entities, appointment types, products, agents with
//! their hours, and customers.

use actix_web::web;

/// Registers the catalog routes.
pub fn configure(_config: &mut web::ServiceConfig) {}
