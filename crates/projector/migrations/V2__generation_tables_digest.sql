-- What a generation's tables were made from: the SHA-256 (hex) of the projection's DDL with the
-- schema name left out. A live generation whose digest is not the running version's (or is
-- null: made before digests were kept) is rebuilt before it is fed, since the version's
-- statements may name tables or columns it lacks.

ALTER TABLE projection_generations ADD COLUMN tables_digest text;
