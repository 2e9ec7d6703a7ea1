-- mpod/record.lua: where the shared modules (mpod.http, mpod.pg) find the
-- history to record their operations in.
--
-- `history` is the scenario file's history (mpod.scenario.history) while
-- the engine records its own operations, and nil otherwise: in the runner,
-- and in a scenario process run with MPOD_ENGINE_HISTORY=off. A module
-- reads it once per call (`local h = record.history; if h then ... end`),
-- so not recording costs one table read.

return { history = nil }
