-- +goose Up
-- Batches of usage counts written exactly once. A batch the final flush of
-- a shutdown could not confirm goes to a spill file under the same id; the
-- id is inserted in the transaction that writes the counts, so a file met
-- again (a crash between the commit and the file's removal, or a commit
-- whose answer was lost) is recognised and dropped, never counted twice.
CREATE TABLE usage_spills (
    id         uuid PRIMARY KEY,
    written_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE usage_spills;
