//! `sqlx::migrate!` embeds the migrations at compile time: rebuild when a migration is added or
//! changed, so every migrator in a process knows the same set.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
