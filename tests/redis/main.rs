//! The Redis shared state (feature `redis`; each test starts its own throwaway `redis-server`,
//! `support::redis_server`; the `cluster_*` tests share one throwaway Redis Cluster,
//! `support::redis_cluster`): the same behaviour in memory and on Redis, one quota shared by
//! processes, limiters spread over a cluster and a primary failing over, a hostile review.
//!
//! A test of the Redis backend, or of behaviour that must be the same in memory and on Redis,
//! goes here.

#[path = "../support/mod.rs"]
mod support;

mod arrival_billing;
mod both_states;
mod cluster_failover;
mod cluster_replication_lag;
mod cluster_spread;
mod hostile_review;
mod settle_through_the_seam;
mod shared_quota;
mod with_clock_after_shared_on;
