//! Tests of the test agent itself, over real HTTP with a bare client.
mod support;

#[tokio::test]
async fn compiles() {}
