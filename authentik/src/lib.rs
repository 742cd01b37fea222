//! The Authentik API as Dezky Jobs uses it (release 2025.12; see `shared/authentik/API-NOTES.md`).
//!
//! [`client`] makes the calls, classifies failures (transient or permanent) and turns "already
//! exists" into "fetch it", so writes are safe to retry. Its simulator, with Authentik's semantics
//! and injectable faults, is the crate `dezky-authentik-sim`.
//!
//! With the `contract-tests` feature, [`openapi`] validates JSON against Authentik's own OpenAPI
//! schema, so tests check every request the client sends and every answer the simulator gives.

pub mod client;
#[cfg(feature = "contract-tests")]
pub mod openapi;

pub use client::{AuthentikClient, AuthentikError, CallGate, ClientConfig, WriteFence};
