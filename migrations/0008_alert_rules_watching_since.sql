-- Since when each rule has watched its samples as they are selected now: its creation, its
-- last enabling, or the last change of its metric, attribute filter, window or kind.
--
-- An absence rule fires once it has watched a whole window without a sample. It used to
-- count from `updated_at`, which any change moves: renaming a firing absence rule (or
-- changing its channels or severity) made the next evaluation resolve the alert although
-- still no sample had arrived, and fire it again a window later as a new episode, with a
-- second notification. Existing rules start from their last change, as before.
ALTER TABLE alert_rules ADD COLUMN watching_since timestamptz;
UPDATE alert_rules SET watching_since = updated_at;
ALTER TABLE alert_rules ALTER COLUMN watching_since SET NOT NULL;
