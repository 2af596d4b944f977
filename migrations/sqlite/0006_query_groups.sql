-- The group of the list whose rule blocked the query ([[groups]]); NULL when no group's rule
-- decided (custom and built-in rules, rebinding, everything not blocked).
ALTER TABLE queries ADD COLUMN group_name TEXT;
