//! How a read model query's failure is classified, against a real server: what a rebuild's swap
//! or an upgrade's replacement of a generation causes is worth retrying; a wrong query is not.

use projector::QueryFault;
use testkit::TestDatabase;

#[tokio::test]
async fn a_generation_gone_or_of_an_older_version_is_transient_and_a_broken_query_is_not() {
    let database = TestDatabase::empty().await;
    let client = database.owner_client().await;
    client
        .batch_execute("CREATE SCHEMA old_g1; CREATE TABLE old_g1.deals (id integer)")
        .await
        .expect("an old generation");
    for (query, transient) in [
        // A schema a rebuild swapped out, a table or column an older generation lacks.
        (
            "SET search_path TO old_g0; CREATE TABLE deals (id integer)",
            true,
        ),
        ("SELECT id FROM old_g1.stays", true),
        ("SELECT closed_by FROM old_g1.deals", true),
        ("SELEC id FROM old_g1.deals", false),
        ("SELECT id / 0 FROM (VALUES (1)) AS v(id)", false),
    ] {
        let error = client.batch_execute(query).await.expect_err(query);
        let fault = QueryFault::from(error);
        assert_eq!(fault.transient, transient, "{query}: {}", fault.message);
    }
}
