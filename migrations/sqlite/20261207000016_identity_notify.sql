-- PostgreSQL announces identity changes to every serving process (see
-- migrations/postgres). SQLite has one serving process, whose identity
-- cache drops what Mooring changes and expires the rest after 5 s, so
-- there is nothing to create here; the file keeps both sets in step.
SELECT 1;
