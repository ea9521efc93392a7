//! End-to-end tests: the real application on port 0, spoken to over HTTP, on every configured
//! database backend (SQLite always; PostgreSQL and MariaDB when TEST_POSTGRES_URL / TEST_MYSQL_URL
//! are set).
mod architecture;
mod byte_wise_keys;
mod change_report;
mod check_login_id;
mod cli;
mod failures;
mod find_id;
mod hardening;
mod hashing_cap;
mod helpers;
mod http_edge;
mod password_policy;
mod password_reset;
mod processes;
mod production_start;
mod recovery_activity;
mod recovery_codes;
mod redis_cluster;
mod reset_hand_off;
mod reset_transactions;
mod reset_wins;
mod schema;
mod service_process;
mod session_store;
mod session_store_contract;
mod sessions;
mod slow_clients;
mod smtp_server;
mod tcp_proxy;
mod tls;
mod token_store;
mod token_store_contract;
mod trusted_documents;
mod web_pages;
mod wrong_codes;
