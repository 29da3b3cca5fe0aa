-- Whether a generation's read indexes (`Projection::create_indexes`) exist. A generation is made
-- without them and gets them once it has caught up: building an index once over the caught-up
-- tables costs a fraction of keeping it up row by row through the catch-up. Generations made
-- before this column have theirs (their tables' DDL made them), hence true for the rows already
-- here.

ALTER TABLE projection_generations ADD COLUMN indexed boolean NOT NULL DEFAULT true;
ALTER TABLE projection_generations ALTER COLUMN indexed SET DEFAULT false;
