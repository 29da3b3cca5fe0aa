-- An RFC 6962 Merkle tree over the log, beside the hash chain, and signed tree heads.
-- Released migrations are never edited; add a new V<n>__*.sql instead.
--
-- The leaf of position p is leaf index p - 1; its leaf data is the event's chain hash
-- (events.hash), its leaf hash SHA-256(0x00 || events.hash). merkle_nodes holds the hash of every
-- complete perfect subtree of 2^level leaves at level >= 8 (merkle::STORED_LEVEL): node
-- (level, index) covers leaf indices [index * 2^level, (index + 1) * 2^level). Smaller subtrees are
-- recomputed from events.hash when a proof needs them. A node never changes once written.
CREATE TABLE merkle_nodes (
    level   smallint NOT NULL CHECK (level >= 8 AND level < 64),
    index   bigint   NOT NULL CHECK (index >= 0),
    hash    bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);

-- A checkpoint with a tree_root is a signed tree head: the signature covers the tree size
-- (position), the chain hash there, the Merkle root of the first `position` leaves, the time and
-- the key id ("crm-tree-head-v1", see docs/verifying.md). Checkpoints signed before this
-- migration have none and keep verifying under "crm-checkpoint-v1". New rows always carry one
-- (the code requires it).
ALTER TABLE checkpoints
    ADD COLUMN tree_root bytea CHECK (tree_root IS NULL OR length(tree_root) = 32);

-- Append-only like the rest of the log: the same trigger function, ENABLE ALWAYS.
CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only_table();
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only_table();
ALTER TABLE merkle_nodes ENABLE ALWAYS TRIGGER merkle_nodes_append_only;
ALTER TABLE merkle_nodes ENABLE ALWAYS TRIGGER merkle_nodes_no_truncate;

GRANT SELECT, INSERT ON merkle_nodes TO crm_app;
