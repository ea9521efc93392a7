//! End-to-end tests: the real application on port 0, spoken to over HTTP, on every configured
//! database backend (SQLite always; PostgreSQL and MariaDB when TEST_POSTGRES_URL / TEST_MYSQL_URL
//! are set).
mod check_login_id;
mod cli;
mod find_id;
mod helpers;
mod http_edge;
mod password_policy;
mod password_reset;
mod schema;
mod session_store;
mod sessions;
mod smtp_server;
mod token_store;
