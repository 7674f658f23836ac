def test_the_fixtures_give_a_migrated_database_and_a_broker(db, broker, fleet):
    assert db.execute("SELECT count(*) FROM piles").fetchone()[0] == 20
    assert db.execute("SELECT count(*) FROM pile_state").fetchone()[0] == 20
