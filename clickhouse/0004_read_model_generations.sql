-- The generation each read model holds. A rebuild request bumps the requested generation in
-- the event store (ReadModel aggregate); the owning processor truncates the read model's
-- tables, records the new generation here, and replays the event store.
CREATE TABLE IF NOT EXISTS read_model_generations
(
    name       String,
    generation UInt64,
    updated_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree(generation)
ORDER BY name;
