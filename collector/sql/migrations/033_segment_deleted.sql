-- Deleting a saved segment writes a new version of it with deleted = 1 (segments is versioned, like an
-- update would be); readers take argMax(deleted, version). Rows saved before this read as 0, not deleted.
-- Numbered after 032 rather than 022 so that every database applies its migrations in file order.
ALTER TABLE segments ADD COLUMN deleted UInt8 DEFAULT 0;
